package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/batonhq/baton/telemetry"
)

// simAgent is an Agent over two simulated H100s and a fake host, serving on
// an httptest server.
type simAgent struct {
	agent *telemetry.Agent
	sim   *telemetry.SimulatedGPUs
	srv   *httptest.Server
	clock *fakeClock
}

func newSimAgent(t *testing.T) *simAgent {
	t.Helper()
	sim := newSimulated(t, 2, "sim-node")
	clock := newClock()
	reg := prometheus.NewRegistry()
	a, err := telemetry.NewAgent(telemetry.AgentOptions{
		Sampler:    telemetry.NewSampler(telemetry.SamplerOptions{Node: "sim-node", GPUs: sim, Host: idleHost, Now: clock.Now}),
		Registerer: reg, Gatherer: reg, Simulation: sim, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &simAgent{agent: a, sim: sim, srv: srv, clock: clock}
}

// do sends a request and returns the status and body.
func (s *simAgent) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metrics scrapes GET /metrics into name → label set → value, where the
// label set is written "k=v,k=v" in label-name order.
func (s *simAgent) metrics(t *testing.T) map[string]map[string]float64 {
	t.Helper()
	status, body := s.do(t, http.MethodGet, "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	out := map[string]map[string]float64{}
	for name, f := range fams {
		out[name] = map[string]float64{}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[name][strings.Join(labels, ",")] = value(f.GetType(), m)
		}
	}
	return out
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	if typ == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func TestAgentBeforeTheFirstSample(t *testing.T) {
	s := newSimAgent(t)
	for _, path := range []string{"/snapshot", "/healthz"} {
		if status, body := s.do(t, http.MethodGet, path, ""); status != http.StatusServiceUnavailable {
			t.Errorf("GET %s before any sample: %d %s, want 503", path, status, body)
		}
	}
	if m := s.metrics(t); len(m["baton_gpu_memory_used_bytes"]) != 0 {
		t.Errorf("GPU series before any sample: %v", m["baton_gpu_memory_used_bytes"])
	}
}

func TestAgentServesSnapshotJSON(t *testing.T) {
	s := newSimAgent(t)
	want := s.agent.Refresh(t.Context())

	status, body := s.do(t, http.MethodGet, "/snapshot", "")
	if status != http.StatusOK {
		t.Fatalf("GET /snapshot: %d %s", status, body)
	}
	var got telemetry.Snapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot over HTTP (-want +got):\n%s", diff)
	}
	if !got.Simulated || len(got.GPUs) != 2 || got.Node != "sim-node" {
		t.Errorf("snapshot simulated %v, %d GPUs, node %q: want true, 2, sim-node", got.Simulated, len(got.GPUs), got.Node)
	}
	// Consumers in other languages read these names.
	for _, key := range []string{`"memoryUsedBytes":`, `"cpuUtilization":`, `"simulated":true`, `"uuid":"GPU-`, `"taken":"2026-03-01T12:00:00Z"`} {
		if !strings.Contains(body, key) {
			t.Errorf("JSON lacks %s:\n%s", key, body)
		}
	}
}

func TestAgentMetricsHaveSimulatedGPUSeries(t *testing.T) {
	s := newSimAgent(t)
	if _, err := s.sim.Set(1, telemetry.SimulatedLoad{MemoryUsedBytes: 40 << 30, Utilization: 0.5}); err != nil {
		t.Fatal(err)
	}
	snap := s.agent.Refresh(t.Context())
	gpu := func(i int) string { return fmt.Sprintf("index=%d,uuid=%s", i, snap.GPUs[i].UUID) }

	m := s.metrics(t)
	want := map[string]map[string]float64{
		"baton_gpu_memory_used_bytes":   {gpu(0): 0, gpu(1): 40 << 30},
		"baton_gpu_memory_total_bytes":  {gpu(0): h100Bytes, gpu(1): h100Bytes},
		"baton_gpu_memory_free_bytes":   {gpu(0): h100Bytes, gpu(1): 40 << 30}, // 80 − 40 GiB
		"baton_gpu_utilization":         {gpu(0): 0, gpu(1): 0.5},
		"baton_gpu_temperature_celsius": {gpu(0): 30, gpu(1): 53},  // 30 + 45·0.5 = 52.5 → 53
		"baton_gpu_power_watts":         {gpu(0): 70, gpu(1): 385}, // 70 + 630·0.5
		"baton_gpu_power_limit_watts":   {gpu(0): 700, gpu(1): 700},
		"baton_gpu_info": {
			"index=0,name=NVIDIA H100 80GB HBM3,uuid=" + snap.GPUs[0].UUID: 1,
			"index=1,name=NVIDIA H100 80GB HBM3,uuid=" + snap.GPUs[1].UUID: 1,
		},
		"baton_node_cpu_utilization":        {"": 0.25},
		"baton_node_memory_total_bytes":     {"": 64 << 30},
		"baton_node_memory_available_bytes": {"": 48 << 30},
		"baton_node_memory_used_bytes":      {"": 16 << 30},
		"baton_node_load1":                  {"": 1.5},
		"baton_node_gpus":                   {"": 2},
		"baton_node_info":                   {"node=sim-node": 1},
		"baton_telemetry_simulated":         {"": 1},
		"baton_telemetry_samples_total":     {"": 1},
	}
	for name, series := range want {
		if diff := cmp.Diff(series, m[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestAgentMetricsLeaveOutMissingFields(t *testing.T) {
	srv, devs := newDGXH100(t)
	devs[2].GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
	defer src.Close()
	reg := prometheus.NewRegistry()
	a, err := telemetry.NewAgent(telemetry.AgentOptions{
		Sampler:    telemetry.NewSampler(telemetry.SamplerOptions{GPUs: src, Host: idleHost}),
		Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Refresh(t.Context())
	s := &simAgent{agent: a, srv: httptest.NewServer(a.Handler())}
	defer s.srv.Close()

	m := s.metrics(t)
	if n := len(m["baton_gpu_power_watts"]); n != 7 {
		t.Errorf("%d power series, want 7: GPU 2's unreadable power must be absent, not 0", n)
	}
	if n := len(m["baton_gpu_memory_used_bytes"]); n != 8 {
		t.Errorf("%d memory series, want 8", n)
	}
	if got := m["baton_telemetry_sample_errors"][""]; got != 1 {
		t.Errorf("baton_telemetry_sample_errors = %v, want 1", got)
	}
	if got := m["baton_telemetry_simulated"][""]; got != 0 {
		t.Errorf("baton_telemetry_simulated = %v, want 0 for a source not marked simulated", got)
	}
}

func TestAgentSimulatePUTChangesTheNextSnapshot(t *testing.T) {
	s := newSimAgent(t)
	before := s.agent.Refresh(t.Context())

	// Raise GPU 1 to 72 GiB: the scenario that should push an `any` stage to CPU.
	status, body := s.do(t, http.MethodPut, "/simulate/gpus/1", `{"memoryUsedBytes": 77309411328, "utilization": 0.8}`)
	if status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	var st telemetry.SimulatedGPU
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Index != 1 || st.MemoryUsedBytes != 72<<30 || st.UUID != before.GPUs[1].UUID {
		t.Errorf("PUT answered %+v", st)
	}
	raised, err := telemetry.Fetch(t.Context(), s.srv.Client(), s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if raised.Seq <= before.Seq || raised.GPUs[1].MemoryUsedBytes != 72<<30 || raised.GPUs[1].MemoryFreeBytes != 8<<30 || raised.GPUs[1].Utilization != 0.8 {
		t.Errorf("after raising: seq %d (before %d), GPU 1 %+v", raised.Seq, before.Seq, raised.GPUs[1])
	}
	if raised.GPUs[0].MemoryUsedBytes != 0 {
		t.Errorf("GPU 0 changed: %+v", raised.GPUs[0])
	}
	if got := s.metrics(t)["baton_gpu_memory_used_bytes"]["index=1,uuid="+st.UUID]; got != 72<<30 {
		t.Errorf("metric after raising = %v, want %v", got, 72<<30)
	}

	// And back down.
	if status, body := s.do(t, http.MethodPut, "/simulate/gpus/1", `{"memoryUsedBytes": 0, "utilization": 0}`); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, body)
	}
	lowered, err := telemetry.Fetch(t.Context(), s.srv.Client(), s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if lowered.GPUs[1].MemoryUsedBytes != 0 || lowered.Seq <= raised.Seq {
		t.Errorf("after lowering: seq %d, GPU 1 used %d", lowered.Seq, lowered.GPUs[1].MemoryUsedBytes)
	}

	status, body = s.do(t, http.MethodGet, "/simulate/gpus", "")
	var list []telemetry.SimulatedGPU
	if status != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 {
		t.Errorf("GET /simulate/gpus: %d %s", status, body)
	}
}

func TestAgentSimulatePUTErrors(t *testing.T) {
	s := newSimAgent(t)
	tests := []struct {
		name, path, body string
		status           int
		inError          string
	}{
		{"no such GPU", "/simulate/gpus/2", `{"memoryUsedBytes": 1}`, http.StatusNotFound, "no such simulated gpu"},
		{"index not a number", "/simulate/gpus/one", `{}`, http.StatusBadRequest, `"one" is not a number`},
		{"more than 80 GiB", "/simulate/gpus/0", `{"memoryUsedBytes": 85899345921}`, http.StatusUnprocessableEntity, "exceeds total"},
		{"utilization above 1", "/simulate/gpus/0", `{"utilization": 80}`, http.StatusUnprocessableEntity, "outside [0, 1]"},
		{"misspelt field", "/simulate/gpus/0", `{"memoryUsed": 1}`, http.StatusBadRequest, "unknown field"},
		{"negative memory", "/simulate/gpus/0", `{"memoryUsedBytes": -1}`, http.StatusBadRequest, "simulated load"},
		{"not JSON", "/simulate/gpus/0", `lots`, http.StatusBadRequest, "simulated load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := s.do(t, http.MethodPut, tt.path, tt.body)
			var eb struct{ Error string }
			if status != tt.status || json.Unmarshal([]byte(body), &eb) != nil || !strings.Contains(eb.Error, tt.inError) {
				t.Errorf("PUT %s %s: %d %s, want %d with an error containing %q", tt.path, tt.body, status, body, tt.status, tt.inError)
			}
		})
	}
	for _, g := range s.sim.GPUs() {
		if g.MemoryUsedBytes != 0 || g.Utilization != 0 {
			t.Errorf("a rejected PUT changed GPU %d: %+v", g.Index, g)
		}
	}
}

func TestAgentWithoutSimulationHasNoSimulateRoutes(t *testing.T) {
	a, err := telemetry.NewAgent(telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{Host: idleHost})})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/simulate/gpus/0", strings.NewReader(`{}`)))
	if rec.Code != http.StatusNotFound {
		t.Errorf("PUT /simulate/gpus/0 on a real agent: %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without a Gatherer: %d, want 404", rec.Code)
	}
}

func TestAgentHealthGoesStale(t *testing.T) {
	s := newSimAgent(t)
	s.agent.Refresh(t.Context())
	steps := []struct {
		advance time.Duration
		status  int
		text    string
	}{
		{0, http.StatusOK, `"status":"ok"`},
		{6 * time.Second, http.StatusOK, `"status":"ok"`},            // 3 × 2 s: the limit itself is fine
		{time.Millisecond, http.StatusServiceUnavailable, `"stale"`}, // past 3 intervals without a sample
	}
	for _, st := range steps {
		s.clock.Advance(st.advance)
		if status, body := s.do(t, http.MethodGet, "/healthz", ""); status != st.status || !strings.Contains(body, st.text) {
			t.Errorf("after +%v: %d %s, want %d %s", st.advance, status, body, st.status, st.text)
		}
	}
	s.agent.Refresh(t.Context())
	if status, _ := s.do(t, http.MethodGet, "/healthz", ""); status != http.StatusOK {
		t.Errorf("after a fresh sample: %d, want 200", status)
	}
}

func TestAgentLogsChangesInUnreadableFields(t *testing.T) {
	logger, logs := newLogger()
	gpus := &switchableGPUs{}
	a, err := telemetry.NewAgent(telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{GPUs: gpus, Host: idleHost}), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Refresh(t.Context()) // clean: nothing to say
	gpus.errs = []string{"gpu 0: power: ERROR_NOT_SUPPORTED"}
	a.Refresh(t.Context()) // newly unreadable: one warning
	a.Refresh(t.Context()) // same again: silence
	gpus.errs = nil
	a.Refresh(t.Context()) // readable again: one line
	lines := logs.lines()
	if len(lines) != 2 || !strings.Contains(lines[0], "ERROR_NOT_SUPPORTED") || !strings.Contains(lines[1], "readable again") {
		t.Errorf("log:\n%s\nwant one warning naming the field, then one recovery line", strings.Join(lines, "\n"))
	}
}

// switchableGPUs is a GPUSource whose errors the test changes between samples.
type switchableGPUs struct{ errs []string }

func (s *switchableGPUs) SampleGPUs(context.Context) ([]telemetry.GPU, []string) {
	return nil, append([]string(nil), s.errs...)
}
func (s *switchableGPUs) Simulated() bool { return false }

// TestAgentRunSamplesOnItsInterval runs the loop in a synctest bubble, where
// time only moves when every goroutine is blocked.
func TestAgentRunSamplesOnItsInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		a, err := telemetry.NewAgent(telemetry.AgentOptions{
			Sampler:  telemetry.NewSampler(telemetry.SamplerOptions{Host: idleHost}),
			Interval: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx) }()

		type sample struct {
			Seq uint64
			At  time.Duration
		}
		latest := func() sample {
			synctest.Wait()
			s, ok := a.Latest()
			if !ok {
				return sample{}
			}
			return sample{s.Seq, s.Taken.Sub(start)}
		}
		var got []sample
		got = append(got, latest()) // at once
		time.Sleep(1999 * time.Millisecond)
		got = append(got, latest()) // not yet
		time.Sleep(time.Millisecond)
		got = append(got, latest()) // first tick
		time.Sleep(4 * time.Second)
		got = append(got, latest()) // two more ticks
		want := []sample{{1, 0}, {1, 0}, {2, 2 * time.Second}, {4, 6 * time.Second}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("samples (-want +got):\n%s", diff)
		}

		cancel()
		<-done // Run returns once ctx is done
		time.Sleep(10 * time.Second)
		if s := latest(); s.Seq != 4 {
			t.Errorf("sampled after Run returned: seq %d", s.Seq)
		}
	})
}

func TestNewAgentOptions(t *testing.T) {
	if _, err := telemetry.NewAgent(telemetry.AgentOptions{}); err == nil {
		t.Error("an agent without a sampler was built")
	}
	if _, err := telemetry.NewAgent(telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{}), Interval: -time.Second}); err == nil {
		t.Error("a negative interval was accepted")
	}
	reg := prometheus.NewRegistry()
	opts := telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{}), Registerer: reg}
	if _, err := telemetry.NewAgent(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := telemetry.NewAgent(opts); err == nil {
		t.Error("a second agent registered the same metrics on one registry")
	}
}

func TestAgentKeepsNoSampleFromAnEndedContext(t *testing.T) {
	s := newSimAgent(t)
	first := s.agent.Refresh(t.Context())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	partial := s.agent.Refresh(ctx)
	// NVMLSource stops between devices once ctx has ended.
	if len(partial.GPUs) != 0 || len(partial.Errors) != 1 || !strings.Contains(partial.Errors[0], "gpus 0 to 1 not read: context canceled") {
		t.Errorf("sample under an ended ctx: %d GPUs, errors %q", len(partial.GPUs), partial.Errors)
	}
	if latest, _ := s.agent.Latest(); latest.Seq != first.Seq || len(latest.GPUs) != 2 {
		t.Errorf("latest is seq %d with %d GPUs, want the complete seq %d", latest.Seq, len(latest.GPUs), first.Seq)
	}
}
