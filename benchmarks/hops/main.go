// Command hops measures how Baton's cost grows with the number of stages:
// pipelines of 2, 4, 8 and 15 identity_fp32 stages (each passes a 16-float
// tensor through unchanged, so the stages themselves cost next to nothing),
// created through Baton's admin API, against one identity_fp32 call made
// directly to the same tritonserver in the same run.
//
// For each pipeline it records, at concurrency 1 over Baton's v2 HTTP door
// (binary tensors, so every answer carries Server-Timing): latency and
// throughput; Baton's own overhead per request (Server-Timing "baton",
// time outside stage calls); the stage calls as Baton timed them; Triton's
// own request time for the stages (ModelStatistics); and from these the
// cost per hop: Baton's overhead ÷ hops, and the rest of a hop (network
// and gRPC between Baton and Triton, Triton's request handling) ÷ hops. A
// least-squares line over the four pipelines separates the fixed cost from
// the per-hop cost. Every latency is also a ratio against the direct call.
//
//	go run ./benchmarks/hops -interval 1500 -out benchmarks/results/hop-scaling.md
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/batonhq/baton/benchmarks/harness"
	"github.com/batonhq/baton/benchmarks/harness/scenario"
	"github.com/batonhq/baton/orchestrator/adminclient"
)

type settings struct {
	hops        []int
	intervalMs  int
	stability   float64
	maxTrials   int
	warmup      int
	concurrency int
	out, svg    string
	note        string
}

func main() {
	var s settings
	hops := flag.String("hops", "2,4,8,15", "comma-separated pipeline lengths")
	flag.IntVar(&s.intervalMs, "interval", 1500, "measurement window (ms)")
	flag.Float64Var(&s.stability, "stability", 15, "stability percentage")
	flag.IntVar(&s.maxTrials, "max-trials", 8, "most windows per target")
	flag.IntVar(&s.warmup, "warmup", 300, "warm-up requests per target")
	flag.IntVar(&s.concurrency, "concurrency", 1, "closed-loop concurrency")
	flag.StringVar(&s.out, "out", filepath.Join("benchmarks", "results", "hop-scaling.md"), "report path")
	flag.StringVar(&s.note, "note", "", "a remark to record in the report (e.g. what was built)")
	flag.StringVar(&s.svg, "svg", filepath.Join("benchmarks", "results", "hop-scaling.svg"), "stacked-bar chart path (\"\" for none)")
	flag.Parse()
	for _, h := range strings.Split(*hops, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(h))
		if err != nil || n < 1 {
			log.Fatalf("-hops: %q is not a positive integer", h)
		}
		s.hops = append(s.hops, n)
	}
	if err := run(s); err != nil {
		log.Fatal(err)
	}
}

// spec is an n-stage chain of identity_fp32: t0 → s0 → t1 → … → tn.
func spec(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "name: hops%d\ndescription: %d identity_fp32 stages in a row\n", n, n)
	fmt.Fprintf(&b, "inputs: [{name: t0, datatype: FP32, shape: [-1, -1]}]\noutputs: [{name: t%d, datatype: FP32, shape: [-1, -1]}]\nstages:\n", n)
	for i := range n {
		fmt.Fprintf(&b, "  - {name: s%d, model: identity_fp32, inputs: {INPUT0: t%d}, outputs: {OUTPUT0: t%d}}\n", i, i, i+1)
	}
	return []byte(b.String())
}

// point is one target's measurement.
type point struct {
	name string
	hops int // 0 for the direct call
	lv   harness.Level
}

func run(s settings) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	loadStart := scenario.LoadAverage()
	env, err := scenario.Start(ctx, scenario.Options{Models: []string{"identity_fp32"}, Logger: logger})
	if err != nil {
		return err
	}
	defer env.Stop()
	admin := adminclient.New("http://"+env.BatonHTTP, nil)
	for _, n := range s.hops {
		if _, _, err := admin.Apply(ctx, spec(n)); err != nil {
			return fmt.Errorf("create hops%d: %w", n, err)
		}
	}
	cfg := harness.Config{Concurrency: []int{s.concurrency}, Window: time.Duration(s.intervalMs) * time.Millisecond,
		StabilityPercent: s.stability, MaxTrials: s.maxTrials, WarmupRequests: s.warmup, Logger: logger}

	started := time.Now().UTC()
	var points []point
	direct, err := measure(ctx, harness.Endpoint{URL: env.Triton.HTTPAddr, Protocol: harness.HTTP, Model: "identity_fp32"}, map[string][]int64{"INPUT0": {16}}, cfg)
	if err != nil {
		return fmt.Errorf("direct identity_fp32: %w", err)
	}
	points = append(points, point{name: "identity_fp32 on Triton, direct", lv: direct})
	for _, n := range s.hops {
		lv, err := measure(ctx, harness.Endpoint{URL: env.BatonHTTP, Protocol: harness.HTTP, Model: fmt.Sprintf("hops%d", n)}, map[string][]int64{"t0": {1, 16}}, cfg)
		if err != nil {
			return fmt.Errorf("hops%d: %w", n, err)
		}
		points = append(points, point{name: fmt.Sprintf("hops%d through Baton", n), hops: n, lv: lv})
	}
	if s.svg != "" {
		var bars []harness.Bar
		for _, p := range points {
			label := "direct"
			if p.hops > 0 {
				label = fmt.Sprintf("%d hops", p.hops)
			}
			bars = append(bars, harness.BreakdownBar(label, &p.lv))
		}
		f, err := os.Create(s.svg)
		if err != nil {
			return err
		}
		if err := harness.WriteBreakdownSVG(f, "hop scaling: where a request's time goes (identity_fp32 stages)", bars); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	facts := facts{started: started, settings: s, triton: env.Triton.Version, commit: env.BatonCommit, loadStart: loadStart, loadEnd: scenario.LoadAverage()}
	return os.WriteFile(s.out, report(points, facts), 0o644)
}

// measure runs one target in process: probe, payload, statistics plan
// (Baton's admin API finds the stages and the fleet), one request to
// check, then the load.
func measure(ctx context.Context, ep harness.Endpoint, shapes map[string][]int64, cfg harness.Config) (harness.Level, error) {
	conn, err := harness.Open(ctx, ep)
	if err != nil {
		return harness.Level{}, err
	}
	defer conn.Close()
	payloads, err := harness.BuildPayloads(conn.Info(), harness.InputSpec{Data: harness.DataRandom, Shapes: shapes, Seed: 1})
	if err != nil {
		return harness.Level{}, err
	}
	if err := conn.Prepare(payloads); err != nil {
		return harness.Level{}, err
	}
	plan, notes, closeStats, err := harness.PlanStats(ctx, conn, harness.StatsOptions{})
	if err != nil {
		return harness.Level{}, err
	}
	defer closeStats()
	for _, n := range notes {
		cfg.Logger.Warn(n, "target", ep.Model)
	}
	if err := conn.Check(ctx); err != nil {
		return harness.Level{}, err
	}
	cfg.Stats = plan
	cfg.Progress = func(p harness.Progress) {
		if p.Phase == harness.PhaseDone {
			cfg.Logger.Info("measured", "target", ep.Model, "result", harness.Summary(p.Result))
		}
	}
	levels, err := harness.Run(ctx, conn, cfg)
	if err != nil {
		return harness.Level{}, err
	}
	return levels[0], nil
}

type facts struct {
	started            time.Time
	settings           settings
	triton, commit     string
	loadStart, loadEnd string
}

// us renders µs, with a decimal below 100 µs where whole µs would hide
// Baton's own few microseconds.
func us(d time.Duration) string {
	v := float64(d) / 1e3
	if math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// fit is the least-squares line y = a + b·x.
func fit(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		b = (n*sxy - sx*sy) / d
	}
	return (sy - b*sx) / n, b
}

func report(points []point, f facts) []byte {
	var b strings.Builder
	m := harness.ThisMachine()
	s := f.settings
	fmt.Fprintf(&b, "# Hop scaling: Baton's cost per stage\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", f.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s; shared by tritonserver, its Python stubs, Baton and the load generator, and by other engineers' jobs (load average %s at the start, %s at the end): a noisy host, so expect several percent between runs\n", m.CPU, m.Cores, m.OS+"/"+m.Arch, f.loadStart, f.loadEnd)
	fmt.Fprintf(&b, "- Versions: tritonserver %s (nvidia-pytriton 0.7.0, Python backend), baton %s, %s\n", f.triton, f.commit, runtime.Version())
	fmt.Fprintf(&b, "- Workload: pipelines of identity_fp32 stages created with `PUT /admin/pipelines/hops<N>`, one [1,16] FP32 tensor per request, v2 HTTP with binary tensors, closed loop at concurrency %d; %d warm-up requests, windows of %d ms until the last 3 agree within %g%% (at most %d windows); baseline: one identity_fp32 call sent straight to the same tritonserver over v2 HTTP in the same run\n", s.concurrency, s.warmup, s.intervalMs, s.stability, s.maxTrials)
	if s := f.settings.note; s != "" {
		fmt.Fprintf(&b, "- Note: %s\n", s)
	}
	fmt.Fprintf(&b, "- Command: `%s`\n\n", strings.TrimSpace("go run ./benchmarks/hops "+harness.ShellQuote(os.Args[1:])))

	base := points[0].lv
	b.WriteString("Columns (means per request unless marked p50, µs): **Baton overhead** is Server-Timing's `baton` entry, the executor's time outside its stages (binding inputs, handing tensors on, collecting outputs); **stage calls** is Server-Timing's stages added up, Baton's clock around each stage (routing, building the stage's request, the gRPC call, taking its outputs); **Triton request** is the stage models' own request time from Triton's statistics (queue, compute and Triton's handling of the request); **hop cost** = stage calls − Triton request: Baton's per-stage work, gRPC marshalling on both sides and the loopback network; **client↔Baton** = mean latency − Server-Timing total: the client's network, Baton's HTTP handling and v2 body decoding and encoding. p50 × direct is the ratio against the direct call in the same run.\n\n")
	b.WriteString("| target | hops | req/s | p50 | mean | p50 × direct | Baton overhead | per hop | stage calls | Triton request | hop cost | per hop | client↔Baton | stable | requests |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var xs, over, transport, lat []float64
	for _, p := range points {
		lv := p.lv
		stable := "yes"
		if !lv.Stable {
			stable = fmt.Sprintf("no (%d windows)", len(lv.Windows))
		}
		ratio := float64(lv.Latency.P50) / float64(base.Latency.P50)
		if p.hops == 0 {
			triton := "–"
			if lv.Server != nil {
				triton = us(lv.Server.StageTime)
			}
			fmt.Fprintf(&b, "| %s | – | %.1f | %s | %s | 1.00 | – | – | – | %s | – | – | – | %s | %d |\n", p.name, lv.Throughput, us(lv.Latency.P50), us(lv.Latency.Avg), triton, stable, lv.Requests)
			continue
		}
		tm, sv := lv.Timing, lv.Server
		if tm == nil || sv == nil {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %.2f | (no breakdown: %s) | | | | | | | %s | %d |\n", p.name, p.hops, lv.Throughput, us(lv.Latency.P50), us(lv.Latency.Avg), ratio, lv.StatsError, stable, lv.Requests)
			continue
		}
		h := time.Duration(p.hops)
		hop := tm.StageSum - sv.StageTime
		fmt.Fprintf(&b, "| %s | %d | %.1f | %s | %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", p.name, p.hops, lv.Throughput,
			us(lv.Latency.P50), us(lv.Latency.Avg), ratio, us(tm.Baton), us(tm.Baton/h), us(tm.StageSum), us(sv.StageTime),
			us(hop), us(hop/h), us(lv.Latency.Avg-tm.Total), stable, lv.Requests)
		xs = append(xs, float64(p.hops))
		over = append(over, float64(tm.Baton)/1e3)
		transport = append(transport, float64(hop)/1e3)
		lat = append(lat, float64(lv.Latency.Avg)/1e3)
	}
	if len(xs) >= 2 {
		a1, b1 := fit(xs, over)
		a2, b2 := fit(xs, transport)
		a3, b3 := fit(xs, lat)
		fmt.Fprintf(&b, "\nLeast-squares lines over the %d pipelines (y = fixed + per hop × hops, µs):\n\n", len(xs))
		fmt.Fprintf(&b, "- Baton overhead: %.1f + %.1f × hops\n", a1, b1)
		fmt.Fprintf(&b, "- hop cost (Baton's per-stage work, gRPC both sides, loopback network): %.1f + %.1f × hops\n", a2, b2)
		fmt.Fprintf(&b, "- mean latency: %.1f + %.1f × hops (the direct call's mean: %s µs)\n\n", a3, b3, us(base.Latency.Avg))
		fmt.Fprintf(&b, "So each added stage costs about %.0f µs end to end on this host: %.1f µs of Baton's executor outside the stages, about %.0f µs of calling Triton (Baton's per-stage work, gRPC, network) and the rest Triton's own request time for the model; a client calling the same model directly pays %s µs per call.\n\n", b3, b1, b2, us(base.Latency.Avg))
	}
	b.WriteString("The stacked bars in [hop-scaling.svg](hop-scaling.svg) split each target's mean latency the same way.\n\n")
	b.WriteString("Notes: Baton's overhead and the stage calls are Baton's own clocks (Server-Timing); Triton's request time is Triton's. A direct client pays gRPC or HTTP, the network and Triton's request handling once per call, as Baton does once per stage; stages run one after another, so these costs add up per hop. The host is shared and noisy: compare ratios within this run, not absolute µs across runs.\n")
	return []byte(b.String())
}
