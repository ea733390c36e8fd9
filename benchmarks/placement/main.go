// Command placement measures latency while Baton moves a stage: three
// tritonservers, one declared a GPU instance whose GPU is simulated (go-nvml's
// mock behind a real telemetry agent; models load with KIND_CPU), the tabular
// pipeline whose `classify` stage is `any`. Under steady closed-loop load the
// simulated GPU fills up (the stage moves to a CPU instance), then frees up
// (the stage moves back after the dwell time). It writes per-interval
// latency, throughput, errors and where the stage ran, with ratios against
// the steady phase before the first move.
//
//	go run ./benchmarks/placement -out benchmarks/results/placement-under-pressure.md
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/batonhq/baton/benchmarks/harness"
	"github.com/batonhq/baton/benchmarks/harness/scenario"
	"github.com/batonhq/baton/telemetry"
	"github.com/batonhq/baton/tritonclient"
)

const gib = 1 << 30

type sample struct {
	at  time.Duration // completion, since start
	lat time.Duration
	err bool
}

type where struct {
	at       time.Duration
	instance string
}

func main() {
	out := flag.String("out", filepath.Join("benchmarks", "results", "placement-under-pressure.md"), "report path")
	conc := flag.Int("concurrency", 4, "closed-loop clients")
	phase := flag.Duration("phase", 10*time.Second, "length of each phase (steady, GPU full, GPU free ×2)")
	flag.Parse()
	if err := run(*out, *conc, *phase); err != nil {
		log.Fatal(err)
	}
}

func run(out string, conc int, phase time.Duration) error {
	ctx := context.Background()
	sim, err := telemetry.NewSimulatedGPUs(telemetry.SimulatedOptions{Count: 1, Node: "sim"})
	if err != nil {
		return err
	}
	defer sim.Close()
	if _, err := sim.Set(0, telemetry.SimulatedLoad{MemoryUsedBytes: 2 * gib, Utilization: 0.1}); err != nil {
		return err
	}
	agent, err := telemetry.NewAgent(telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{Node: "sim", GPUs: sim, Host: telemetry.NewHostStats()}), Interval: 250 * time.Millisecond, Simulation: sim})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	agentSrv := &http.Server{Handler: agent.Handler()}
	go agentSrv.Serve(l)
	defer agentSrv.Close()
	actx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	go agent.Run(actx)

	root, err := scenario.RepoRoot()
	if err != nil {
		return err
	}
	env, err := scenario.Start(ctx, scenario.Options{
		Models:       []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess"},
		Instances:    3,
		GPUInstances: []int{2},
		Agent:        l.Addr().String(),
		PipelinesDir: filepath.Join(root, "deploy", "local", "pipelines"),
		ServeArgs:    []string{"--simulate-gpus", "--placement-interval", "1s", "--min-dwell", "5s", "--poll-interval", "250ms"},
	})
	if err != nil {
		return err
	}
	defer env.Stop()

	classifyOn := func() string {
		resp, err := http.Get("http://" + env.BatonHTTP + "/admin/placements?pipeline=tabular")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var ex struct {
			Stages []struct {
				Stage      string `json:"stage"`
				Assignment struct {
					Instance string `json:"instance"`
				} `json:"assignment"`
			} `json:"stages"`
		}
		if json.NewDecoder(resp.Body).Decode(&ex) != nil {
			return ""
		}
		for _, s := range ex.Stages {
			if s.Stage == "classify" {
				return s.Assignment.Instance
			}
		}
		return ""
	}
	gpuName := env.Tritons[2].Name
	deadline := time.Now().Add(60 * time.Second)
	for classifyOn() != gpuName {
		if time.Now().After(deadline) {
			return fmt.Errorf("classify never placed on the simulated GPU instance %s", gpuName)
		}
		time.Sleep(200 * time.Millisecond)
	}

	client, err := tritonclient.New(env.BatonGRPC, tritonclient.Options{})
	if err != nil {
		return err
	}
	defer client.Close()
	rows, _ := tritonclient.NewStrings("ROWS", []int64{1, 1}, []string{"M,0.455,0.365,0.095,0.514"})

	total := 4 * phase
	start := time.Now()
	lctx, stop := context.WithTimeout(ctx, total)
	defer stop()
	var mu sync.Mutex
	var samples []sample
	var wheres []where
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for lctx.Err() == nil {
				t0 := time.Now()
				_, err := client.Infer(context.WithoutCancel(lctx), &tritonclient.InferRequest{Model: "tabular", Inputs: []tritonclient.Tensor{rows}})
				s := sample{at: time.Since(start), lat: time.Since(t0), err: err != nil}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for lctx.Err() == nil {
			w := where{at: time.Since(start), instance: classifyOn()}
			mu.Lock()
			wheres = append(wheres, w)
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	})
	events := []string{}
	time.Sleep(phase)
	if _, err := sim.Set(0, telemetry.SimulatedLoad{MemoryUsedBytes: 80 * gib, Utilization: 0.1}); err != nil {
		return err
	}
	events = append(events, fmt.Sprintf("t=%.1fs: simulated GPU memory 80 GiB of 80 (full)", time.Since(start).Seconds()))
	time.Sleep(phase)
	if _, err := sim.Set(0, telemetry.SimulatedLoad{MemoryUsedBytes: 2 * gib, Utilization: 0.1}); err != nil {
		return err
	}
	events = append(events, fmt.Sprintf("t=%.1fs: simulated GPU memory back to 2 GiB", time.Since(start).Seconds()))
	wg.Wait()
	return os.WriteFile(out, report(samples, wheres, events, conc, phase, env), 0o644)
}

func report(samples []sample, wheres []where, events []string, conc int, phase time.Duration, env *scenario.Env) []byte {
	const bucket = 2 * time.Second
	var b strings.Builder
	fmt.Fprintf(&b, "# Latency while a stage moves (simulated GPU pressure)\n\n")
	fmt.Fprintf(&b, "- Date: %s; machine: %s (tritonservers, Baton, the agent and the load share it); %s; load average %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), harness.ThisMachine(), runtime.Version(), scenario.LoadAverage())
	fmt.Fprintf(&b, "- Setup: 3 tritonservers (%s), the last declared `kind: gpu` with a SIMULATED GPU (go-nvml mock via `baton agent`-style telemetry; models load with KIND_CPU); `baton serve --simulate-gpus --placement-interval 1s --min-dwell 5s --poll-interval 250ms` (commit %s); pipeline `tabular` (classify is `device: any`); %d closed-loop gRPC clients, one CSV row per request\n", env.Triton.Version, env.BatonCommit, conc)
	fmt.Fprintf(&b, "- Command: `go run ./benchmarks/placement %s`\n", strings.Join(os.Args[1:], " "))
	for _, e := range events {
		fmt.Fprintf(&b, "- %s\n", e)
	}
	var base []time.Duration
	errs := 0
	for _, s := range samples {
		if s.err {
			errs++
		} else if s.at < phase {
			base = append(base, s.lat)
		}
	}
	fmt.Fprintf(&b, "- Requests: %d, failed: %d\n\nRatios are against the steady phase before the first move (t < %s): p50 %v, p99 %v.\n\n", len(samples), errs, phase, harness.PercentileOf(base, 50).Round(time.Microsecond), harness.PercentileOf(base, 99).Round(time.Microsecond))
	fmt.Fprintf(&b, "| interval | classify on | req/s | errors | p50 | p99 | p50 × steady | p99 × steady |\n|---|---|---|---|---|---|---|---|\n")
	end := 4 * phase
	for t0 := time.Duration(0); t0 < end; t0 += bucket {
		var lat []time.Duration
		n, e := 0, 0
		for _, s := range samples {
			if s.at >= t0 && s.at < t0+bucket {
				n++
				if s.err {
					e++
				} else {
					lat = append(lat, s.lat)
				}
			}
		}
		var on []string
		for _, w := range wheres {
			if w.at >= t0 && w.at < t0+bucket && w.instance != "" && !slices.Contains(on, w.instance) {
				on = append(on, w.instance)
			}
		}
		fmt.Fprintf(&b, "| %4.0f–%.0f s | %s | %.0f | %d | %v | %v | %.2f | %.2f |\n", t0.Seconds(), (t0 + bucket).Seconds(), strings.Join(on, " → "),
			float64(n)/bucket.Seconds(), e, harness.PercentileOf(lat, 50).Round(time.Microsecond), harness.PercentileOf(lat, 99).Round(time.Microsecond),
			float64(harness.PercentileOf(lat, 50))/float64(max(harness.PercentileOf(base, 50), 1)), float64(harness.PercentileOf(lat, 99))/float64(max(harness.PercentileOf(base, 99), 1)))
	}
	return []byte(b.String())
}
