// Command overhead measures what Baton's chaining costs: the 3-stage
// tabular pipeline through Baton (gRPC and HTTP binary) against Triton's
// in-server ensemble of the same three models on the same tritonserver,
// and against a client that chains the three calls itself, at several
// concurrencies. It starts one local tritonserver and the real `baton serve`
// binary, runs closed-loop load, and writes a Markdown report with every
// figure as a ratio against the ensemble measured in the same run.
//
//	go run ./benchmarks/overhead -duration 10s -concurrency 1,8 -out benchmarks/results/pipeline-overhead.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/batonhq/baton/benchmarks/harness"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonhq/baton/benchmarks/harness/scenario"
	"github.com/batonhq/baton/tritonclient"
)

const row = "M,0.455,0.365,0.095,0.514"

func main() {
	duration := flag.Duration("duration", 10*time.Second, "measurement time per scenario and concurrency")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up time before each measurement")
	concs := flag.String("concurrency", "1,8", "comma-separated concurrency levels")
	out := flag.String("out", filepath.Join("benchmarks", "results", "pipeline-overhead.md"), "report path")
	flag.Parse()
	if err := run(*duration, *warmup, *concs, *out); err != nil {
		log.Fatal(err)
	}
}

// loadTarget sends one request and reports Baton's own overhead if known.
type loadTarget struct {
	name string
	call func(ctx context.Context) (overhead time.Duration, err error)
}

type result struct {
	scenario    string
	concurrency int
	n           int
	errors      int
	throughput  float64 // requests per second
	p50, p99    time.Duration
	overheadP50 time.Duration // Baton's own time per request (Server-Timing), 0 if unknown
}

func run(duration, warmup time.Duration, concs, out string) error {
	ctx := context.Background()
	root, err := scenario.RepoRoot()
	if err != nil {
		return err
	}
	run, err := scenario.Start(ctx, scenario.Options{
		Models:       []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble"},
		PipelinesDir: filepath.Join(root, "deploy", "local", "pipelines"),
	})
	if err != nil {
		return err
	}
	defer run.Stop()
	tr, httpAddr, grpcAddr := run.Triton, run.BatonHTTP, run.BatonGRPC

	triton, err := tritonclient.New(tr.GRPCAddr, tritonclient.Options{})
	if err != nil {
		return err
	}
	defer triton.Close()
	baton, err := tritonclient.New(grpcAddr, tritonclient.Options{})
	if err != nil {
		return err
	}
	defer baton.Close()
	rows, err := tritonclient.NewStrings("ROWS", []int64{1, 1}, []string{row})
	if err != nil {
		return err
	}
	httpBody, hdrLen := binaryRequest(rows.Raw)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	scenarios := []loadTarget{
		{"triton ensemble (gRPC)", func(ctx context.Context) (time.Duration, error) {
			_, err := triton.Infer(ctx, &tritonclient.InferRequest{Model: "tabular_ensemble", Inputs: []tritonclient.Tensor{rows}})
			return 0, err
		}},
		{"client chains 3 calls (gRPC)", func(ctx context.Context) (time.Duration, error) {
			r1, err := triton.Infer(ctx, &tritonclient.InferRequest{Model: "tabular_preprocess", Inputs: []tritonclient.Tensor{rows}})
			if err != nil {
				return 0, err
			}
			f, _ := r1.Output("FEATURES")
			r2, err := triton.Infer(ctx, &tritonclient.InferRequest{Model: "tabular_classifier", Inputs: []tritonclient.Tensor{f}})
			if err != nil {
				return 0, err
			}
			p, _ := r2.Output("PROBABILITIES")
			_, err = triton.Infer(ctx, &tritonclient.InferRequest{Model: "tabular_postprocess", Inputs: []tritonclient.Tensor{p}})
			return 0, err
		}},
		{"baton pipeline (gRPC)", func(ctx context.Context) (time.Duration, error) {
			_, err := baton.Infer(ctx, &tritonclient.InferRequest{Model: "tabular", Inputs: []tritonclient.Tensor{rows}})
			return 0, err
		}},
		{"baton pipeline (HTTP binary)", func(ctx context.Context) (time.Duration, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/v2/models/tabular/infer", bytes.NewReader(httpBody))
			req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(hdrLen))
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return batonOverhead(resp.Header.Get("Server-Timing")), nil
		}},
	}

	var results []result
	for _, c := range strings.Split(concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return fmt.Errorf("-concurrency: %q", c)
		}
		for _, sc := range scenarios {
			load(ctx, sc, n, warmup)
			r := load(ctx, sc, n, duration)
			log.Printf("%-30s c=%-3d n=%-6d err=%d %.1f req/s p50 %v p99 %v", r.scenario, n, r.n, r.errors, r.throughput, r.p50, r.p99)
			results = append(results, r)
		}
	}
	return os.WriteFile(out, report(results, duration, tr.Version), 0o644)
}

// load runs a closed loop of n workers for d and summarises it.
func load(ctx context.Context, sc loadTarget, n int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lat, over []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				o, err := sc.call(context.WithoutCancel(ctx))
				el := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, el)
					if o > 0 {
						over = append(over, o)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return result{scenario: sc.name, concurrency: n, n: len(lat), errors: errs,
		throughput: float64(len(lat)) / elapsed.Seconds(), p50: harness.PercentileOf(lat, 50), p99: harness.PercentileOf(lat, 99), overheadP50: harness.PercentileOf(over, 50)}
}

func batonOverhead(serverTiming string) time.Duration {
	for _, part := range strings.Split(serverTiming, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "baton;") {
			continue
		}
		for _, kv := range strings.Split(part, ";") {
			if v, ok := strings.CutPrefix(kv, "dur="); ok {
				ms, _ := strconv.ParseFloat(v, 64)
				return time.Duration(ms * float64(time.Millisecond))
			}
		}
	}
	return 0
}

func binaryRequest(raw []byte) ([]byte, int) {
	hdr, _ := json.Marshal(map[string]any{
		"parameters": map[string]any{"binary_data_output": true},
		"inputs":     []any{map[string]any{"name": "ROWS", "datatype": "BYTES", "shape": []int{1, 1}, "parameters": map[string]any{"binary_data_size": len(raw)}}},
	})
	return append(hdr, raw...), len(hdr)
}

func report(rs []result, d time.Duration, tritonVersion string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Pipeline overhead: Baton vs Triton's ensemble vs client-side chaining\n\n")
	fmt.Fprintf(&b, "- Date: %s\n- Machine: %s, %d cores (shared by tritonserver, its Python stubs, Baton and the load generator)\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), harness.ThisMachine().CPU, runtime.NumCPU())
	fmt.Fprintf(&b, "- Versions: tritonserver %s (nvidia-pytriton 0.7.0, Python backend), %s\n", tritonVersion, runtime.Version())
	fmt.Fprintf(&b, "- Workload: the 3-stage tabular pipeline (`deploy/local/pipelines/tabular.yaml`), one CSV row per request, closed loop, %s per point after warm-up, one tritonserver serving every scenario\n", d)
	fmt.Fprintf(&b, "- Command: `go run ./benchmarks/overhead %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(&b, "Ratios are against `triton ensemble (gRPC)` at the same concurrency in this run (p50/p99: lower is better; throughput: higher is better).\n\n")
	fmt.Fprintf(&b, "| concurrency | scenario | req/s | p50 | p99 | p50 × ensemble | p99 × ensemble | req/s × ensemble | Baton overhead p50 (per hop) | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	base := map[int]result{}
	for _, r := range rs {
		if strings.HasPrefix(r.scenario, "triton ensemble") {
			base[r.concurrency] = r
		}
	}
	for _, r := range rs {
		bs := base[r.concurrency]
		over := "–"
		if r.overheadP50 > 0 {
			over = fmt.Sprintf("%v (%v)", r.overheadP50, r.overheadP50/3)
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f | %v | %v | %.2f | %.2f | %.2f | %s | %d |\n", r.concurrency, r.scenario, r.throughput,
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
			ratio(r.p50, bs.p50), ratio(r.p99, bs.p99), r.throughput/bs.throughput, over, r.errors)
	}
	return []byte(b.String())
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
