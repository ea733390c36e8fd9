package harness

import (
	"cmp"
	"encoding/csv"
	"io"
	"slices"
	"strconv"
	"time"
)

// PerfAnalyzerColumns is perf_analyzer's CSV header (-f), verbatim from
// perf_analyzer 2.60.0, in concurrency mode; in request-rate mode the first
// column is "Request Rate". Every duration column is in microseconds.
var PerfAnalyzerColumns = []string{
	"Concurrency", "Inferences/Second", "Client Send", "Network+Server Send/Recv",
	"Server Queue", "Server Compute Input", "Server Compute Infer", "Server Compute Output",
	"Client Recv", "p50 latency", "p90 latency", "p95 latency", "p99 latency",
}

// PerfAnalyzerHeader is PerfAnalyzerColumns for the load mode.
func PerfAnalyzerHeader(requestRate bool) []string {
	h := slices.Clone(PerfAnalyzerColumns)
	if requestRate {
		h[0] = "Request Rate"
	}
	return h
}

// extraColumns follow perf_analyzer's, in this order, durations in µs.
// Stage columns come after them (see stageColumns).
var extraColumns = []string{
	"Avg latency", "Min latency", "Max latency",
	"Requests", "Errors", "Delayed Requests", "Stable", "Windows", "Measured ms",
	"Cold Loads", "Server Requests", "Server Request Time",
	"Stages Queue", "Stages Compute Input", "Stages Compute Infer", "Stages Compute Output", "Stages Request Time",
	"Orchestration Overhead", "Baton Overhead", "Server-Timing Stages", "Server-Timing Total",
}

// stageFields are the per-stage-model columns, each named "<model> <field>".
var stageFields = []string{"Calls/Request", "Queue", "Compute Input", "Compute Infer", "Compute Output", "Request"}

// CSVHeader is the full header WriteCSV writes for levels.
func CSVHeader(levels []Level) []string {
	h := append(PerfAnalyzerHeader(isRateMode(levels)), extraColumns...)
	models, timings := stageNames(levels)
	for _, m := range models {
		for _, f := range stageFields {
			h = append(h, m+" "+f)
		}
	}
	for _, s := range timings {
		h = append(h, s+" Server-Timing")
	}
	return h
}

func isRateMode(levels []Level) bool {
	return len(levels) > 0 && levels[0].RequestRate > 0
}

// stageNames lists the stage models (statistics) and Server-Timing stage
// names seen at any level, in first-seen order.
func stageNames(levels []Level) (models, timings []string) {
	for _, lv := range levels {
		if lv.Server != nil {
			for _, st := range lv.Server.Stages {
				if !slices.Contains(models, st.Model) {
					models = append(models, st.Model)
				}
			}
		}
		if lv.Timing != nil {
			for _, st := range lv.Timing.Stages {
				if !slices.Contains(timings, st.Name) {
					timings = append(timings, st.Name)
				}
			}
		}
	}
	return models, timings
}

// us renders a duration in whole microseconds (truncated, as perf_analyzer does).
func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

// WriteCSV writes one row per level, sorted by increasing throughput as
// perf_analyzer sorts them: perf_analyzer's columns first, with its
// definitions (the Server columns are the measured model's own statistics;
// Network+Server Send/Recv is the average latency less client send, client
// receive, server queue and compute, floored at 0), then Baton's extra
// columns (the Stages columns add up the stage models' statistics per
// request). Unknown values are empty.
func WriteCSV(w io.Writer, levels []Level) error {
	cw := csv.NewWriter(w)
	header := CSVHeader(levels)
	if err := cw.Write(header); err != nil {
		return err
	}
	models, timings := stageNames(levels)
	levels = slices.Clone(levels)
	slices.SortStableFunc(levels, func(a, b Level) int { return cmp.Compare(a.Throughput, b.Throughput) })
	for _, lv := range levels {
		row := perfAnalyzerRow(&lv)
		row = append(row, us(lv.Latency.Avg), us(lv.Latency.Min), us(lv.Latency.Max),
			strconv.Itoa(lv.Requests), strconv.Itoa(lv.Errors), strconv.Itoa(lv.Delayed),
			strconv.FormatBool(lv.Stable), strconv.Itoa(len(lv.Windows)), strconv.FormatInt(lv.Duration.Milliseconds(), 10))
		if s := lv.Server; s != nil {
			orch := ""
			if o, ok := s.Orchestration(); ok {
				orch = us(o)
			}
			target := ""
			if s.TargetTime > 0 {
				target = us(s.TargetTime)
			}
			row = append(row, strconv.Itoa(s.ColdLoads), strconv.FormatUint(s.Requests, 10), target,
				us(s.Queue), us(s.ComputeInput), us(s.ComputeInfer), us(s.ComputeOutput), us(s.StageTime), orch)
		} else {
			row = append(row, make([]string, 9)...)
		}
		if t := lv.Timing; t != nil {
			row = append(row, us(t.Baton), us(t.StageSum), us(t.Total))
		} else {
			row = append(row, "", "", "")
		}
		for _, m := range models {
			i := -1
			if lv.Server != nil {
				i = slices.IndexFunc(lv.Server.Stages, func(s StageStats) bool { return s.Model == m })
			}
			if i < 0 {
				row = append(row, make([]string, len(stageFields))...)
				continue
			}
			st := lv.Server.Stages[i]
			row = append(row, strconv.FormatFloat(st.CallsPerRequest, 'g', 4, 64), us(st.Queue), us(st.ComputeInput),
				us(st.ComputeInfer), us(st.ComputeOutput), us(st.Request))
		}
		for _, name := range timings {
			i := -1
			if lv.Timing != nil {
				i = slices.IndexFunc(lv.Timing.Stages, func(s StageTiming) bool { return s.Name == name })
			}
			if i < 0 {
				row = append(row, "")
				continue
			}
			row = append(row, us(lv.Timing.Stages[i].Mean))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// perfAnalyzerRow is the 13 perf_analyzer columns of a level.
func perfAnalyzerRow(lv *Level) []string {
	load := strconv.Itoa(lv.Concurrency)
	if lv.RequestRate > 0 {
		load = strconv.FormatFloat(lv.RequestRate, 'g', 6, 64)
	}
	var srv ModelTimes
	if s := lv.Server; s != nil {
		srv = s.PerfAnalyzerServer()
	}
	return []string{
		load,
		strconv.FormatFloat(lv.Throughput, 'g', 6, 64), // C++ ostream's default precision
		us(lv.ClientSend), us(NetworkServer(lv)), us(srv.Queue), us(srv.ComputeInput), us(srv.ComputeInfer), us(srv.ComputeOutput), us(lv.ClientRecv),
		us(lv.Latency.P50), us(lv.Latency.P90), us(lv.Latency.P95), us(lv.Latency.P99),
	}
}

// NetworkServer is perf_analyzer's "Network+Server Send/Recv": average
// latency less client send and receive, less the Server Queue and Compute
// columns, floored at 0.
func NetworkServer(lv *Level) time.Duration {
	d := lv.Latency.Avg - lv.ClientSend - lv.ClientRecv
	if s := lv.Server; s != nil {
		t := s.PerfAnalyzerServer()
		d -= t.Queue + t.ComputeInput + t.ComputeInfer + t.ComputeOutput
	}
	return max(d, 0)
}
