// Command crosscheck runs NVIDIA's perf_analyzer and `baton bench` on the
// same endpoints with the same load, one after the other, and records how
// far apart their throughput and p50 latency are: the check that baton
// bench's numbers can be trusted and compared with NVIDIA's tool.
//
// Endpoints: the 3-stage tabular pipeline through Baton over gRPC, and
// Triton's own tabular_ensemble directly over gRPC, both on one local
// tritonserver, closed loop at each concurrency. Both tools read the same
// perf_analyzer input-data file and the same window, stability, trial and
// warm-up settings. Each tool measures every point -rounds times in ABBA
// order (perf_analyzer, baton bench, baton bench, perf_analyzer, then the
// other way round at the next point), so a drifting host favours neither,
// and each tool's own run-to-run spread is reported next to the gap
// between the tools. The report is Markdown with the machine, versions and
// every exact command.
//
//	go run ./benchmarks/crosscheck -interval 3000 -rounds 2 -concurrency 1,4 -out benchmarks/results/crosscheck.md
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/batonhq/baton/benchmarks/harness"
	"github.com/batonhq/baton/benchmarks/harness/scenario"
)

const rows = `{"data":[{"ROWS":["M,0.455,0.365,0.095,0.514"]},{"ROWS":["F,0.53,0.42,0.135,0.677"]},{"ROWS":["I,0.33,0.255,0.08,0.205"]}]}`

// tolerance is how far apart (as a ratio) the tools may be and still agree.
const tolerance = 0.10

type settings struct {
	intervalMs  int
	stability   float64
	maxTrials   int
	warmup      int
	rounds      int
	concurrency []int
	out         string
	note        string
}

func main() {
	var s settings
	concs := flag.String("concurrency", "1,4", "comma-separated concurrencies")
	flag.IntVar(&s.intervalMs, "interval", 3000, "measurement window (ms) for both tools")
	flag.Float64Var(&s.stability, "stability", 30, "stability percentage for both tools (perf_analyzer needs a loose one on a busy 2-core host)")
	flag.IntVar(&s.maxTrials, "max-trials", 10, "most windows per measurement for both tools")
	flag.IntVar(&s.warmup, "warmup", 500, "warm-up requests each tool sends and drops before measuring (--warmup-request-count)")
	flag.IntVar(&s.rounds, "rounds", 2, "measurements per tool and point (ABBA order)")
	flag.StringVar(&s.out, "out", filepath.Join("benchmarks", "results", "crosscheck.md"), "report path")
	flag.StringVar(&s.note, "note", "", "a remark to record in the report (e.g. what was built)")
	flag.Parse()
	for _, c := range strings.Split(*concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			log.Fatalf("-concurrency: %q is not a positive integer", c)
		}
		s.concurrency = append(s.concurrency, n)
	}
	if err := run(s); err != nil {
		log.Fatal(err)
	}
}

// endpoint is one thing both tools measure.
type endpoint struct {
	name, model, url string
	benchExtra       []string // bench-only flags that do not change the load
}

// measurement is one tool's row for one endpoint and concurrency.
type measurement struct {
	command    string
	throughput float64
	p50, p99   float64 // µs
	compute    float64 // µs, perf_analyzer's three Server Compute columns added up
	raw        string  // the CSV row as written
	err        string  // why there is no row
	seconds    float64 // wall time of the command
}

// pair is one endpoint and concurrency measured by both tools, rounds times each.
type pair struct {
	ep          endpoint
	concurrency int
	paFirst     bool // in the first round
	pa, bench   []measurement
}

// mean averages a field over the measurements that produced a row.
func mean(ms []measurement, field func(measurement) float64) float64 {
	sum, n := 0.0, 0
	for _, m := range ms {
		if v := field(m); v > 0 && !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// selfSpread is a tool's own max/min − 1 over its rounds, in percent.
func selfSpread(ms []measurement, field func(measurement) float64) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, m := range ms {
		if v := field(m); v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 || len(ms) < 2 {
		return math.NaN()
	}
	return (hi/lo - 1) * 100
}

func tput(m measurement) float64 { return m.throughput }

func p50(m measurement) float64 { return m.p50 }

func p99(m measurement) float64 { return m.p99 }

func compute(m measurement) float64 { return m.compute }

func run(s settings) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	pa, paVersion, err := scenario.PerfAnalyzer()
	if err != nil {
		return err
	}
	root, err := scenario.RepoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "crosscheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	pipelines := filepath.Join(work, "pipelines")
	if err := os.Mkdir(pipelines, 0o755); err != nil {
		return err
	}
	spec, err := os.ReadFile(filepath.Join(root, "deploy", "local", "pipelines", "tabular.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pipelines, "tabular.yaml"), spec, 0o644); err != nil {
		return err
	}
	data := filepath.Join(work, "rows.json")
	if err := os.WriteFile(data, []byte(rows), 0o644); err != nil {
		return err
	}
	loadStart := scenario.LoadAverage()
	env, err := scenario.Start(ctx, scenario.Options{
		Models:       []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble"},
		PipelinesDir: pipelines, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer env.Stop()

	endpoints := []endpoint{
		{name: "Baton pipeline `tabular` (gRPC)", model: "tabular", url: env.BatonGRPC, benchExtra: []string{"--admin-url", env.BatonHTTP}},
		{name: "Triton ensemble `tabular_ensemble` (gRPC)", model: "tabular_ensemble", url: env.Triton.GRPCAddr},
	}
	var pairs []pair
	started := time.Now().UTC()
	for _, ep := range endpoints {
		for _, c := range s.concurrency {
			p := pair{ep: ep, concurrency: c, paFirst: len(pairs)%2 == 0}
			load := []string{"-m", ep.model, "-u", ep.url, "-i", "grpc", "--input-data", data,
				"--concurrency-range", strconv.Itoa(c), "-p", strconv.Itoa(s.intervalMs),
				"-s", strconv.FormatFloat(s.stability, 'g', -1, 64), "-r", strconv.Itoa(s.maxTrials),
				"--warmup-request-count", strconv.Itoa(s.warmup)}
			runPA := func() { p.pa = append(p.pa, measure(ctx, work, pa, nil, load)) }
			runBench := func() {
				p.bench = append(p.bench, measure(ctx, work, env.BatonBin, []string{"bench"}, append(append(load, "--seed", "1"), ep.benchExtra...)))
			}
			for r := range s.rounds {
				paFirst := p.paFirst == (r%2 == 0) // ABBA
				logger.Info("measuring", "endpoint", ep.model, "concurrency", c, "round", r+1, "perf_analyzer first", paFirst)
				if paFirst {
					runPA()
					runBench()
				} else {
					runBench()
					runPA()
				}
				last := func(ms []measurement) string {
					m := ms[len(ms)-1]
					return fmt.Sprintf("%.1f/s p50 %.0fµs %s", m.throughput, m.p50, m.err)
				}
				logger.Info("measured", "endpoint", ep.model, "concurrency", c, "perf_analyzer", last(p.pa), "baton bench", last(p.bench))
			}
			pairs = append(pairs, p)
		}
	}
	facts := reportFacts{
		started: started, settings: s, paVersion: paVersion, triton: env.Triton.Version, commit: env.BatonCommit,
		loadStart: loadStart, loadEnd: scenario.LoadAverage(), data: rows,
	}
	return os.WriteFile(s.out, report(pairs, facts), 0o644)
}

// measure runs one tool (perf_analyzer, or baton with pre = ["bench"])
// with args plus -f FILE, and reads its CSV's first row.
func measure(ctx context.Context, work, bin string, pre, args []string) measurement {
	out, err := os.CreateTemp(work, "row-*.csv")
	if err != nil {
		return measurement{err: err.Error()}
	}
	out.Close()
	full := append(append(append([]string{}, pre...), args...), "-f", out.Name())
	m := measurement{command: harness.ShellQuote(append([]string{filepath.Base(bin)}, full...))}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	log, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	m.seconds = time.Since(start).Seconds()
	if err != nil {
		m.err = fmt.Sprintf("%v: %s", err, lastLine(string(log)))
	}
	f, ferr := os.Open(out.Name())
	if ferr != nil {
		m.err = strings.TrimSpace(m.err + " (no CSV)")
		return m
	}
	defer f.Close()
	recs, rerr := csv.NewReader(f).ReadAll()
	if rerr != nil || len(recs) < 2 {
		m.err = strings.TrimSpace(fmt.Sprintf("%s (CSV without a row: %v)", m.err, rerr))
		return m
	}
	col := func(name string) float64 {
		for i, h := range recs[0] {
			if h == name && i < len(recs[1]) {
				v, _ := strconv.ParseFloat(recs[1][i], 64)
				return v
			}
		}
		return math.NaN()
	}
	m.throughput, m.p50, m.p99 = col("Inferences/Second"), col("p50 latency"), col("p99 latency")
	m.compute = col("Server Compute Input") + col("Server Compute Infer") + col("Server Compute Output")
	m.raw = strings.Join(recs[1][:min(13, len(recs[1]))], ",")
	return m
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

type reportFacts struct {
	started                   time.Time
	settings                  settings
	paVersion, triton, commit string
	loadStart, loadEnd, data  string
}

func ratio(a, b float64) string {
	if !(b > 0) || math.IsNaN(a) {
		return "–"
	}
	return fmt.Sprintf("%.3f", a/b)
}

func agrees(a, b float64) bool {
	return b > 0 && !math.IsNaN(a) && math.Abs(a/b-1) <= tolerance
}

func report(pairs []pair, f reportFacts) []byte {
	var b strings.Builder
	m := harness.ThisMachine()
	fmt.Fprintf(&b, "# Cross-check: `baton bench` against NVIDIA's perf_analyzer\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", f.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s; shared by tritonserver, its Python stubs, Baton and the load generator, and by other engineers' jobs (load average %s at the start, %s at the end): a noisy host, so single runs move by several percent\n", m.CPU, m.Cores, m.OS+"/"+m.Arch, f.loadStart, f.loadEnd)
	fmt.Fprintf(&b, "- Versions: perf_analyzer %s (PyPI wheel, `deploy/local/install.sh`), tritonserver %s (nvidia-pytriton 0.7.0, Python backend), baton %s, %s\n", f.paVersion, f.triton, f.commit, runtime.Version())
	fmt.Fprintf(&b, "- Load: closed loop, both tools with `-p %d -s %g -r %d --warmup-request-count %d` (window ms, stability %%, max trials, requests dropped first), one request of one CSV row at a time from the same input-data file:\n  `%s`\n", f.settings.intervalMs, f.settings.stability, f.settings.maxTrials, f.settings.warmup, f.data)
	if s := f.settings.note; s != "" {
		fmt.Fprintf(&b, "- Note: %s\n", s)
	}
	fmt.Fprintf(&b, "- Command: `%s`\n\n", strings.TrimSpace("go run ./benchmarks/crosscheck "+harness.ShellQuote(os.Args[1:])))

	within, explained := 0, 0
	fmt.Fprintf(&b, "Each figure is the mean of %d runs per tool, in ABBA order (the first column says who opened). Ratios are `baton bench` ÷ perf_analyzer (1.000 = identical). \"Self spread\" is each tool's own max/min − 1 over its runs on that point: the host's noise floor. \"Triton compute\" is the ratio of the Server Compute columns (input + infer + output) in the two tools' rows: the same server's own time per request, so it shows whether the host itself was slower during one tool's runs (the Baton pipeline reports no compute of its own: –). \"Agree\" means throughput and p50 both within ±%.0f%%; where they are not, the gap is put down to noise when it is no larger than either tool's own spread, or to the host when Triton's own compute moved the same way by at least half as much.\n\n", f.settings.rounds, tolerance*100)
	fmt.Fprintf(&b, "| endpoint | concurrency | first | perf_analyzer infer/s | baton bench infer/s | throughput ratio | self spread PA / bench | perf_analyzer p50 µs | baton bench p50 µs | p50 ratio | self spread PA / bench | Triton compute ratio | perf_analyzer p99 µs | baton bench p99 µs | agree |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range pairs {
		ptA, ptB := mean(p.pa, tput), mean(p.bench, tput)
		p5A, p5B := mean(p.pa, p50), mean(p.bench, p50)
		cr := mean(p.bench, compute) / mean(p.pa, compute)
		gap := p5B/p5A - 1
		ok := agrees(ptB, ptA) && agrees(p5B, p5A)
		verdict := "yes"
		switch {
		case ok:
			within++
		case gapWithinNoise(ptB/ptA, p.pa, p.bench, tput) && gapWithinNoise(p5B/p5A, p.pa, p.bench, p50):
			explained++
			verdict = "no: within noise"
		case !math.IsNaN(cr) && gap*(cr-1) > 0 && math.Abs(cr-1) >= math.Abs(gap)/2:
			explained++
			verdict = "no: Triton slower too"
		default:
			verdict = "**no**"
		}
		first := "baton bench"
		if p.paFirst {
			first = "perf_analyzer"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.ep.name, p.concurrency, first,
			num(ptA, 1), num(ptB, 1), ratio(ptB, ptA), spreads(p, tput),
			num(p5A, 0), num(p5B, 0), ratio(p5B, p5A), spreads(p, p50), ratio(mean(p.bench, compute), mean(p.pa, compute)),
			num(mean(p.pa, p99), 0), num(mean(p.bench, p99), 0), verdict)
	}
	fmt.Fprintf(&b, "\n%d of %d points agree within ±%.0f%% on both throughput and p50", within, len(pairs), tolerance*100)
	if explained > 0 {
		fmt.Fprintf(&b, "; at %d more the gap is explained by the host (see the last column)", explained)
	}
	b.WriteString(".\n\n")

	var failures []string
	for _, p := range pairs {
		for _, m := range p.pa {
			if m.err != "" {
				failures = append(failures, fmt.Sprintf("- perf_analyzer, %s, concurrency %d: %s", p.ep.name, p.concurrency, m.err))
			}
		}
		for _, m := range p.bench {
			if m.err != "" {
				failures = append(failures, fmt.Sprintf("- baton bench, %s, concurrency %d: %s", p.ep.name, p.concurrency, m.err))
			}
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(&b, "Commands that did not finish cleanly (a tool that gives up on stability still writes its last row, used above):\n\n%s\n\n", strings.Join(failures, "\n"))
	}

	b.WriteString(`## Why the two tools can differ

- **Percentiles.** baton bench takes the nearest rank (the ⌈p·N⌉-th smallest);
  perf_analyzer takes index round(p·(N−1)). At thousands of requests per
  measurement the two are at most one rank apart: well under 1%.
- **Measured windows.** Both count requests by completion time and merge
  the last 3 windows once they agree within the bound, but each tool stops
  at its own first stable triple, so the merged windows are different
  seconds of a host that is never quiet; the tools run one after the other,
  not at once. perf_analyzer's profiler also sleeps 1.2 × the interval per
  window (its windows here last 3.6 s, baton bench's 3 s).
- **Client.** perf_analyzer is C++ (gRPC core, one thread per concurrent
  request, shared channels); baton bench is Go (grpc-go, one goroutine per
  concurrent request, one HTTP/2 connection). On a 2-core host whose cores
  also run tritonserver and its Python stubs, the client's own CPU use moves
  the server's throughput: a leaner client leaves more CPU to the server.
  The tools also time the client side differently: perf_analyzer's Client
  Send and Recv are its gRPC (un)marshalling, baton bench's are from the
  call's start to the request leaving, and from the response arriving to the
  call's return.
- **Server columns.** Both tools fill perf_analyzer's Server columns from
  the measured model's own statistics: 0 for the Baton pipeline (Baton
  reports a pipeline's time but no queue or compute of its own), Triton's
  ensemble-level figures for the ensemble. baton bench adds the stage
  models' own statistics after perf_analyzer's columns (the Stages columns;
  found through --admin-url for the pipeline, the ensemble's steps for the
  ensemble). None of this changes throughput or latency.

## Exact commands

`)
	for _, p := range pairs {
		fmt.Fprintf(&b, "- %s, concurrency %d:\n", p.ep.name, p.concurrency)
		for i := range max(len(p.pa), len(p.bench)) {
			if i < len(p.pa) {
				fmt.Fprintf(&b, "  - `%s` (%.0f s)\n", p.pa[i].command, p.pa[i].seconds)
			}
			if i < len(p.bench) {
				fmt.Fprintf(&b, "  - `%s` (%.0f s)\n", p.bench[i].command, p.bench[i].seconds)
			}
		}
	}
	b.WriteString("\nThe input-data path is a temporary copy of the file shown above; Baton's and Triton's addresses are free loopback ports of that run.\n\n## Raw rows (perf_analyzer's 13 columns, µs), in the order measured\n\n```\n")
	b.WriteString(strings.Join(harness.PerfAnalyzerHeader(false), ",") + "\n")
	for _, p := range pairs {
		fmt.Fprintf(&b, "# %s, concurrency %d\n", strings.ReplaceAll(p.ep.name, "`", ""), p.concurrency)
		for r := range max(len(p.pa), len(p.bench)) {
			rows := []string{fmt.Sprintf("%s  (perf_analyzer, round %d)", rowOf(p.pa, r), r+1), fmt.Sprintf("%s  (baton bench, round %d)", rowOf(p.bench, r), r+1)}
			if p.paFirst != (r%2 == 0) {
				rows[0], rows[1] = rows[1], rows[0]
			}
			b.WriteString(strings.Join(rows, "\n") + "\n")
		}
	}
	b.WriteString("```\n")
	return []byte(b.String())
}

func rowOf(ms []measurement, i int) string {
	if i >= len(ms) || ms[i].raw == "" {
		return "(no row)"
	}
	return ms[i].raw
}

// spreads renders both tools' self spreads, "3.1% / 0.8%".
func spreads(p pair, field func(measurement) float64) string {
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", v)
	}
	return f(selfSpread(p.pa, field)) + " / " + f(selfSpread(p.bench, field))
}

// gapWithinNoise reports whether the tools' ratio r is no further from 1
// than the larger of the two tools' own spreads.
func gapWithinNoise(r float64, pa, bench []measurement, field func(measurement) float64) bool {
	noise := max(selfSpread(pa, field), selfSpread(bench, field)) / 100
	return !math.IsNaN(noise) && math.Abs(r-1) <= noise
}

func num(v float64, decimals int) string {
	if math.IsNaN(v) || v == 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
