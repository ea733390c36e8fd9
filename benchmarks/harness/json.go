package harness

import (
	"encoding/json"
	"io"
	"math"
	"time"
)

// The JSON document mirrors Result with every duration in microseconds
// (fields ending _us) so it reads like the CSV.

type jsonResult struct {
	Meta   jsonMeta    `json:"meta"`
	Levels []jsonLevel `json:"levels"`
}

type jsonMeta struct {
	Tool        string     `json:"tool"`
	Version     string     `json:"version"`
	Command     string     `json:"command"`
	Started     time.Time  `json:"started"`
	Finished    time.Time  `json:"finished"`
	Machine     Machine    `json:"machine"`
	Target      TargetMeta `json:"target"`
	Load        jsonLoad   `json:"load"`
	Interrupted bool       `json:"interrupted"`
	Notes       []string   `json:"notes,omitempty"`
}

type jsonLoad struct {
	Mode             string  `json:"mode"`
	Distribution     string  `json:"distribution,omitempty"`
	Seed             uint64  `json:"seed"`
	WindowMs         int64   `json:"measurement_interval_ms"`
	StabilityPercent float64 `json:"stability_percentage"`
	StabilityWindows int     `json:"stability_windows"`
	MaxTrials        int     `json:"max_trials"`
	WarmupRequests   int     `json:"warmup_requests"`
	BatchSize        int     `json:"batch_size"`
	InputData        string  `json:"input_data"`
}

type jsonLatency struct {
	Avg float64 `json:"avg_us"`
	Min float64 `json:"min_us"`
	Max float64 `json:"max_us"`
	P50 float64 `json:"p50_us"`
	P90 float64 `json:"p90_us"`
	P95 float64 `json:"p95_us"`
	P99 float64 `json:"p99_us"`
}

type jsonWindow struct {
	StartMs    float64     `json:"start_ms"`
	DurationMs float64     `json:"duration_ms"`
	Partial    bool        `json:"partial,omitempty"`
	Requests   int         `json:"requests"`
	Errors     int         `json:"errors"`
	Delayed    int         `json:"delayed"`
	Throughput float64     `json:"inferences_per_second"`
	Latency    jsonLatency `json:"latency"`
}

type jsonStage struct {
	Model           string   `json:"model"`
	Instances       []string `json:"instances"`
	Calls           uint64   `json:"calls"`
	CallsPerRequest float64  `json:"calls_per_request"`
	Queue           float64  `json:"queue_us"`
	ComputeInput    float64  `json:"compute_input_us"`
	ComputeInfer    float64  `json:"compute_infer_us"`
	ComputeOutput   float64  `json:"compute_output_us"`
	Request         float64  `json:"request_us"`
}

type jsonTimes struct {
	Queue         float64 `json:"queue_us"`
	ComputeInput  float64 `json:"compute_input_us"`
	ComputeInfer  float64 `json:"compute_infer_us"`
	ComputeOutput float64 `json:"compute_output_us"`
}

type jsonServer struct {
	Requests           uint64      `json:"requests"`
	RequestsFromClient bool        `json:"requests_counted_by_client,omitempty"`
	TargetTime         float64     `json:"target_request_us,omitempty"`
	Target             *jsonTimes  `json:"target,omitempty"`
	Queue              float64     `json:"stages_queue_us"`
	ComputeInput       float64     `json:"stages_compute_input_us"`
	ComputeInfer       float64     `json:"stages_compute_infer_us"`
	ComputeOutput      float64     `json:"stages_compute_output_us"`
	StageTime          float64     `json:"stages_request_us"`
	Orchestration      *float64    `json:"orchestration_overhead_us,omitempty"`
	ColdLoads          int         `json:"cold_loads"`
	Stages             []jsonStage `json:"stages"`
}

type jsonTimingStage struct {
	Name  string  `json:"name"`
	Model string  `json:"model,omitempty"`
	Mean  float64 `json:"mean_us"`
}

type jsonTiming struct {
	Requests int               `json:"requests"`
	Baton    float64           `json:"baton_overhead_us"`
	StageSum float64           `json:"stages_us"`
	Total    float64           `json:"total_us"`
	Stages   []jsonTimingStage `json:"stages"`
}

type jsonLevel struct {
	Concurrency   int            `json:"concurrency,omitempty"`
	RequestRate   float64        `json:"request_rate,omitempty"`
	Stable        bool           `json:"stable"`
	Interrupted   bool           `json:"interrupted,omitempty"`
	TputSpread    *float64       `json:"throughput_spread_percent,omitempty"`
	LatSpread     *float64       `json:"latency_spread_percent,omitempty"`
	MergedWindows int            `json:"merged_windows"`
	DurationMs    float64        `json:"measured_ms"`
	Requests      int            `json:"requests"`
	Errors        int            `json:"errors"`
	Delayed       int            `json:"delayed"`
	Throughput    float64        `json:"inferences_per_second"`
	Latency       jsonLatency    `json:"latency"`
	ClientSend    float64        `json:"client_send_us"`
	ClientRecv    float64        `json:"client_recv_us"`
	NetworkServer float64        `json:"network_server_us"`
	ErrorCounts   map[string]int `json:"error_messages,omitempty"`
	Server        *jsonServer    `json:"server,omitempty"`
	StatsError    string         `json:"server_statistics_error,omitempty"`
	Timing        *jsonTiming    `json:"server_timing,omitempty"`
	Windows       []jsonWindow   `json:"windows"`
}

func usf(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// finite replaces ±Inf and NaN (not JSON) with nil.
func finite(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

func latencyJSON(l LatencyStats) jsonLatency {
	return jsonLatency{Avg: usf(l.Avg), Min: usf(l.Min), Max: usf(l.Max), P50: usf(l.P50), P90: usf(l.P90), P95: usf(l.P95), P99: usf(l.P99)}
}

// WriteJSON writes r as one indented JSON document.
func WriteJSON(w io.Writer, r *Result) error {
	m := r.Meta
	doc := jsonResult{Meta: jsonMeta{
		Tool: m.Tool, Version: m.Version, Command: m.Command, Started: m.Started, Finished: m.Finished,
		Machine: m.Machine, Target: m.Target, Interrupted: m.Interrupted, Notes: m.Notes,
		Load: jsonLoad{Mode: m.Load.Mode, Distribution: m.Load.Distribution, Seed: m.Load.Seed, WindowMs: m.Load.Window.Milliseconds(),
			StabilityPercent: m.Load.StabilityPercent, StabilityWindows: m.Load.StabilityWindows, MaxTrials: m.Load.MaxTrials,
			WarmupRequests: m.Load.WarmupRequests, BatchSize: m.Load.BatchSize, InputData: m.Load.InputData},
	}, Levels: []jsonLevel{}}
	for _, lv := range r.Levels {
		jl := jsonLevel{
			Concurrency: lv.Concurrency, RequestRate: lv.RequestRate, Stable: lv.Stable, Interrupted: lv.Interrupted,
			MergedWindows: lv.Merged, DurationMs: msf(lv.Duration), Requests: lv.Requests, Errors: lv.Errors, Delayed: lv.Delayed,
			Throughput: lv.Throughput, Latency: latencyJSON(lv.Latency), ClientSend: usf(lv.ClientSend), ClientRecv: usf(lv.ClientRecv),
			NetworkServer: usf(NetworkServer(&lv)), ErrorCounts: lv.ErrorCounts, StatsError: lv.StatsError, Windows: []jsonWindow{},
		}
		if lv.Stability.Windows > 0 {
			jl.TputSpread, jl.LatSpread = finite(lv.Stability.ThroughputSpread), finite(lv.Stability.LatencySpread)
		}
		if s := lv.Server; s != nil {
			js := &jsonServer{Requests: s.Requests, RequestsFromClient: s.RequestsFromClient, TargetTime: usf(s.TargetTime),
				Queue: usf(s.Queue), ComputeInput: usf(s.ComputeInput), ComputeInfer: usf(s.ComputeInfer), ComputeOutput: usf(s.ComputeOutput),
				StageTime: usf(s.StageTime), ColdLoads: s.ColdLoads, Stages: []jsonStage{}}
			if o, ok := s.Orchestration(); ok {
				js.Orchestration = finite(usf(o))
			}
			if t := s.Target; t != nil {
				js.Target = &jsonTimes{Queue: usf(t.Queue), ComputeInput: usf(t.ComputeInput), ComputeInfer: usf(t.ComputeInfer), ComputeOutput: usf(t.ComputeOutput)}
			}
			for _, st := range s.Stages {
				js.Stages = append(js.Stages, jsonStage{Model: st.Model, Instances: st.Instances, Calls: st.Calls, CallsPerRequest: st.CallsPerRequest,
					Queue: usf(st.Queue), ComputeInput: usf(st.ComputeInput), ComputeInfer: usf(st.ComputeInfer), ComputeOutput: usf(st.ComputeOutput), Request: usf(st.Request)})
			}
			jl.Server = js
		}
		if t := lv.Timing; t != nil {
			jt := &jsonTiming{Requests: t.Requests, Baton: usf(t.Baton), StageSum: usf(t.StageSum), Total: usf(t.Total), Stages: []jsonTimingStage{}}
			for _, st := range t.Stages {
				jt.Stages = append(jt.Stages, jsonTimingStage{Name: st.Name, Model: st.Model, Mean: usf(st.Mean)})
			}
			jl.Timing = jt
		}
		var t0 time.Time
		if len(lv.Windows) > 0 {
			t0 = lv.Windows[0].Start
		}
		for _, w := range lv.Windows {
			jl.Windows = append(jl.Windows, jsonWindow{StartMs: msf(w.Start.Sub(t0)), DurationMs: msf(w.End.Sub(w.Start)), Partial: w.Partial,
				Requests: w.Requests, Errors: w.Errors, Delayed: w.Delayed, Throughput: w.Throughput, Latency: latencyJSON(w.Latency)})
		}
		doc.Levels = append(doc.Levels, jl)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
