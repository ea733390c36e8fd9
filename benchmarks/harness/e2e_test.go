package harness_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/batonhq/baton/benchmarks/harness"
	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/grpcapi"
	"github.com/batonhq/baton/orchestrator/httpapi"
	"github.com/batonhq/baton/tritonclient/localfleet"
	"github.com/batonhq/baton/tritonclient/localfleet/fleettest"
)

// tritons is this package's real Triton, started by TestMain.
var tritons *localfleet.Fleet

const row = "M,0.455,0.365,0.095,0.514"

func TestMain(m *testing.M) {
	flag.Parse()
	code := fleettest.Main(m, localfleet.Options{Instances: 1, LoadModels: []string{
		"identity_fp32", "tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble",
	}}, &tritons)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// quick is a short measurement: sanity, not performance. The loose
// stability bound keeps the levels to 3 windows on a busy machine.
func quick(cfg harness.Config) harness.Config {
	cfg.Window, cfg.StabilityPercent, cfg.MaxTrials, cfg.WarmupRequests = 300*time.Millisecond, 1000, 3, 5
	return cfg
}

// bench opens ep, builds payloads from spec, plans statistics and runs cfg,
// then writes every output into a temporary directory.
func bench(t *testing.T, ep harness.Endpoint, spec harness.InputSpec, cfg harness.Config, so harness.StatsOptions) (*harness.Result, harness.Outputs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := harness.Open(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payloads, err := harness.BuildPayloads(conn.Info(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Prepare(payloads); err != nil {
		t.Fatal(err)
	}
	plan, notes, closeStats, err := harness.PlanStats(ctx, conn, so)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStats()
	if err := conn.Check(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Stats = plan
	levels, err := harness.Run(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info := conn.Info()
	r := &harness.Result{Meta: harness.Meta{Tool: "harness test", Command: t.Name(), Machine: harness.ThisMachine(), Notes: notes,
		Target: harness.TargetMeta{URL: ep.URL, Protocol: string(ep.Protocol), Door: string(ep.Door), Model: ep.Model, Server: info.ServerName, ServerVersion: info.ServerVersion}},
		Levels: levels}
	dir := t.TempDir()
	out := harness.Outputs{CSV: filepath.Join(dir, "r.csv"), JSON: filepath.Join(dir, "r.json"), SVGDir: filepath.Join(dir, "svg")}
	if err := harness.CheckOutputs(out); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WriteFiles(r, out); err != nil {
		t.Fatal(err)
	}
	return r, out
}

// checkOutputs reads the files back: perf_analyzer's header first, one row
// per level with positive throughput and ordered percentiles, a JSON
// document with the same levels, two SVG documents.
func checkOutputs(t *testing.T, out harness.Outputs, levels int, rateMode bool) map[string]string {
	t.Helper()
	f, err := os.Open(out.CSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != levels+1 {
		t.Fatalf("CSV has %d rows, want a header and %d levels", len(recs), levels)
	}
	if !slices.Equal(recs[0][:13], harness.PerfAnalyzerHeader(rateMode)) {
		t.Errorf("CSV header starts %v, want perf_analyzer's %v", recs[0][:13], harness.PerfAnalyzerHeader(rateMode))
	}
	var last map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		num := func(col string) float64 {
			v, err := strconv.ParseFloat(row[col], 64)
			if err != nil {
				t.Errorf("column %q = %q: %v", col, row[col], err)
			}
			return v
		}
		if num("Inferences/Second") <= 0 || num("Requests") <= 0 || num("Errors") != 0 {
			t.Errorf("row %v: want positive throughput and requests, no errors", rec[:2])
		}
		p50, p90, p95, p99 := num("p50 latency"), num("p90 latency"), num("p95 latency"), num("p99 latency")
		if !(0 < p50 && p50 <= p90 && p90 <= p95 && p95 <= p99 && p99 <= num("Max latency")) {
			t.Errorf("percentiles out of order: p50 %v p90 %v p95 %v p99 %v", p50, p90, p95, p99)
		}
		last = row
	}
	raw, err := os.ReadFile(out.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Meta struct {
			Machine struct {
				Cores int `json:"cores"`
			} `json:"machine"`
		} `json:"meta"`
		Levels []struct {
			Throughput float64           `json:"inferences_per_second"`
			Windows    []json.RawMessage `json:"windows"`
		} `json:"levels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if len(doc.Levels) != levels || doc.Meta.Machine.Cores <= 0 || doc.Levels[0].Throughput <= 0 || len(doc.Levels[0].Windows) == 0 {
		t.Errorf("JSON document: %d levels, %d cores, first level %+v", len(doc.Levels), doc.Meta.Machine.Cores, doc.Levels[0])
	}
	for _, name := range []string{harness.LatencyThroughputSVG, harness.BreakdownSVG} {
		b, err := os.ReadFile(filepath.Join(out.SVGDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var svg struct {
			XMLName xml.Name
		}
		if err := xml.Unmarshal(b, &svg); err != nil || svg.XMLName.Local != "svg" {
			t.Errorf("%s: not an SVG document (%v, root %q)", name, err, svg.XMLName.Local)
		}
	}
	return last
}

func TestTritonModelOverGRPC(t *testing.T) {
	ep := harness.Endpoint{URL: tritons.Instances[0].GRPCAddr, Protocol: harness.GRPC, Model: "identity_fp32"}
	r, out := bench(t, ep, harness.InputSpec{Data: harness.DataRandom, Shapes: map[string][]int64{"INPUT0": {16}}, BatchSize: 2},
		quick(harness.Config{Concurrency: []int{1, 2}, BatchSize: 2}), harness.StatsOptions{})
	row := checkOutputs(t, out, 2, false)
	lv := r.Levels[1]
	if lv.Concurrency != 2 || lv.Server == nil || len(lv.Server.Stages) != 1 || lv.Server.Stages[0].Model != "identity_fp32" {
		t.Fatalf("level %+v: want the model itself as the one stage", lv)
	}
	// With batch 2, inferences are twice the requests Triton counted.
	if s := lv.Server; s.Stages[0].CallsPerRequest != 1 || s.ComputeInfer <= 0 || s.Requests == 0 {
		t.Errorf("breakdown %+v", s)
	}
	if row["identity_fp32 Calls/Request"] != "1" || row["Orchestration Overhead"] != "" {
		t.Errorf("stage columns: calls %q, orchestration %q", row["identity_fp32 Calls/Request"], row["Orchestration Overhead"])
	}
}

func TestTritonEnsembleOverHTTP(t *testing.T) {
	data := filepath.Join(t.TempDir(), "rows.json")
	if err := os.WriteFile(data, []byte(`{"data":[{"ROWS":["`+row+`"]},{"ROWS":["F,0.53,0.42,0.135,0.677"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ep := harness.Endpoint{URL: "http://" + tritons.Instances[0].HTTPAddr, Protocol: harness.HTTP, Model: "tabular_ensemble", JSON: true}
	r, out := bench(t, ep, harness.InputSpec{Data: data}, quick(harness.Config{RequestRates: []float64{40}, Distribution: harness.Poisson, Seed: 1}), harness.StatsOptions{})
	checkOutputs(t, out, 1, true)
	s := r.Levels[0].Server
	if s == nil {
		t.Fatalf("no breakdown: %s", r.Levels[0].StatsError)
	}
	var models []string
	for _, st := range s.Stages {
		models = append(models, st.Model)
	}
	// The composing models, in the ensemble's step order.
	if want := []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess"}; !slices.Equal(models, want) {
		t.Errorf("stages %v, want %v", models, want)
	}
	if _, ok := s.Orchestration(); !ok || s.TargetTime <= 0 {
		t.Errorf("ensemble breakdown without its own request time: %+v", s)
	}
}

func TestBatonPipelineDoors(t *testing.T) {
	b := startBaton(t)
	data := filepath.Join(t.TempDir(), "rows.json")
	if err := os.WriteFile(data, []byte(`{"data":[{"ROWS":["`+row+`"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	stages := []string{"preprocess", "classify", "postprocess"}
	models := []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess"}
	for _, ep := range []harness.Endpoint{
		{URL: b.httpAddr, Protocol: harness.HTTP, Model: "tabular"},
		{URL: b.httpAddr, Protocol: harness.HTTP, Door: harness.DoorInvocations, Model: "tabular"},
		{URL: b.grpcAddr, Protocol: harness.GRPC, Model: "tabular"},
	} {
		t.Run(string(ep.Protocol)+"-"+string(ep.Door), func(t *testing.T) {
			// Over HTTP the admin API is found at the same address; over
			// gRPC it is named.
			so := harness.StatsOptions{}
			if ep.Protocol == harness.GRPC {
				so.AdminURL = b.httpAddr
			}
			r, out := bench(t, ep, harness.InputSpec{Data: data}, quick(harness.Config{Concurrency: []int{2}}), so)
			row := checkOutputs(t, out, 1, false)
			lv := r.Levels[0]
			if lv.Server == nil {
				t.Fatalf("no breakdown: %s (notes %v)", lv.StatsError, r.Meta.Notes)
			}
			var got []string
			for _, st := range lv.Server.Stages {
				got = append(got, st.Model)
			}
			if !slices.Equal(got, models) || lv.Server.TargetTime <= 0 {
				t.Errorf("stage models %v, pipeline time %v; want %v from the pipeline's spec", got, lv.Server.TargetTime, models)
			}
			if _, err := strconv.Atoi(row["Orchestration Overhead"]); err != nil {
				t.Errorf("Orchestration Overhead %q: %v", row["Orchestration Overhead"], err)
			}
			if ep.Protocol == harness.GRPC {
				if lv.Timing != nil {
					t.Error("Server-Timing over gRPC")
				}
				return
			}
			// HTTP doors carry Server-Timing: the three stages, Baton's overhead
			// and a total that contains them.
			tm := lv.Timing
			if tm == nil || tm.Requests != lv.Requests {
				t.Fatalf("timing %+v for %d requests", tm, lv.Requests)
			}
			var names []string
			for _, st := range tm.Stages {
				names = append(names, st.Name)
			}
			if !slices.Equal(names, stages) || tm.Total < tm.StageSum || tm.Total <= 0 || row["preprocess Server-Timing"] == "" || row["Baton Overhead"] == "" {
				t.Errorf("timing %+v", tm)
			}
		})
	}
}

func TestPerfAnalyzerWritesTheSameHeader(t *testing.T) {
	pa := perfAnalyzer(t)
	for _, mode := range []struct {
		name string
		args []string
		rate bool
	}{
		{"concurrency", []string{"--concurrency-range", "1"}, false},
		{"request-rate", []string{"--request-rate-range", "100"}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "pa.csv")
			// Count windows of 50 requests and a loose bound keep this to a
			// few seconds; only the header matters here.
			args := append([]string{"-m", "identity_fp32", "-u", tritons.Instances[0].GRPCAddr, "-i", "grpc", "--shape", "INPUT0:4",
				"--measurement-mode", "count_windows", "--measurement-request-count", "50", "-s", "100", "--max-trials", "10", "-f", out}, mode.args...)
			log, err := exec.CommandContext(t.Context(), pa, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("perf_analyzer: %v\n%s", err, log)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatalf("perf_analyzer wrote no CSV: %v\n%s", err, log)
			}
			defer f.Close()
			header, err := csv.NewReader(f).Read()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(header, harness.PerfAnalyzerHeader(mode.rate)) {
				t.Errorf("perf_analyzer's header\n %q\nharness's\n %q", header, harness.PerfAnalyzerHeader(mode.rate))
			}
		})
	}
}

func TestProbeFailsBeforeLoad(t *testing.T) {
	ctx := t.Context()
	closed := freeAddr(t)
	_, err := harness.Open(ctx, harness.Endpoint{URL: closed, Protocol: harness.GRPC, Model: "m", ProbeTimeout: 2 * time.Second})
	if !errors.Is(err, harness.ErrUnreachable) || !strings.Contains(err.Error(), closed) {
		t.Errorf("gRPC to a closed port: %v; want ErrUnreachable naming %s", err, closed)
	}
	_, err = harness.Open(ctx, harness.Endpoint{URL: closed, Protocol: harness.HTTP, Model: "m", ProbeTimeout: 2 * time.Second})
	if !errors.Is(err, harness.ErrUnreachable) {
		t.Errorf("HTTP to a closed port: %v; want ErrUnreachable", err)
	}
	_, err = harness.Open(ctx, harness.Endpoint{URL: tritons.Instances[0].GRPCAddr, Protocol: harness.GRPC, Model: "no_such_model"})
	if !errors.Is(err, harness.ErrNotReady) || !strings.Contains(err.Error(), "no_such_model") {
		t.Errorf("unknown model: %v; want ErrNotReady naming it", err)
	}
	_, err = harness.Open(ctx, harness.Endpoint{URL: tritons.Instances[0].HTTPAddr, Protocol: harness.HTTP, Door: harness.DoorInvocations, Model: "tabular_ensemble"})
	if !errors.Is(err, harness.ErrBadFlag) {
		t.Errorf("/invocations on Triton: %v; want ErrBadFlag", err)
	}
	// Random strings are not CSV rows: the ensemble's first model refuses
	// them, and Check says so before any load.
	conn, err := harness.Open(ctx, harness.Endpoint{URL: tritons.Instances[0].GRPCAddr, Protocol: harness.GRPC, Model: "tabular_ensemble"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payloads, err := harness.BuildPayloads(conn.Info(), harness.InputSpec{Data: harness.DataRandom})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Prepare(payloads); err != nil {
		t.Fatal(err)
	}
	if err := conn.Check(ctx); !errors.Is(err, harness.ErrRejected) {
		t.Errorf("Check with random strings: %v; want ErrRejected", err)
	}
}

func perfAnalyzer(t *testing.T) string {
	t.Helper()
	home := os.Getenv("BATON_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		home = filepath.Join(h, ".cache", "baton")
	}
	pa := filepath.Join(home, "bin", "perf_analyzer")
	if _, err := os.Stat(pa); err != nil {
		t.Fatalf("%s missing (run deploy/local/install.sh): %v", pa, err)
	}
	return pa
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// batonServer is an in-process Baton serving deploy/local/pipelines'
// tabular pipeline on the package's Triton, wired as `baton serve` wires it.
type batonServer struct {
	httpAddr, grpcAddr string
}

func startBaton(t *testing.T) *batonServer {
	t.Helper()
	root, err := fleettest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	specs := t.TempDir()
	spec, err := os.ReadFile(filepath.Join(root, "deploy", "local", "pipelines", "tabular.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(specs, "tabular.yaml"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	in := tritons.Instances[0]
	fl, err := fleet.New(&fleet.File{Instances: []fleet.InstanceSpec{{Name: in.Name, GRPC: in.GRPCAddr, HTTP: in.HTTPAddr, Metrics: in.MetricsAddr, Kind: "cpu"}}},
		fleet.Options{PollInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl.Refresh(ctx)
	exec, err := executor.New(fl, executor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := orchestrator.NewService(orchestrator.Config{Executor: exec, Metadata: fl.Metadata})
	if err := svc.LoadDir(specs); err != nil {
		t.Fatal(err)
	}
	hsrv, err := httpapi.New(svc, httpapi.Options{Fleet: fl, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpcapi.ServerOptions(64 << 20)...)
	grpcapi.New(svc, grpcapi.Options{ServerVersion: "test", MaxMessageBytes: 64 << 20}).Register(gs)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: hsrv.Handler(), ErrorLog: nil}
	done := make(chan struct{}, 3)
	go func() { _ = hs.Serve(hl); done <- struct{}{} }()
	go func() { _ = gs.Serve(gl); done <- struct{}{} }()
	go func() { fl.Run(ctx); done <- struct{}{} }()
	svc.SetReady(true)
	t.Cleanup(func() {
		svc.SetReady(false)
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
		gs.GracefulStop()
		cancel()
		for range 3 {
			<-done
		}
		fl.Close()
	})
	return &batonServer{httpAddr: hl.Addr().String(), grpcAddr: gl.Addr().String()}
}
