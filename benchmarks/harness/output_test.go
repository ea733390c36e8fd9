package harness

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// perfAnalyzerHeader is perf_analyzer 2.60.0's CSV header, verbatim.
const perfAnalyzerHeader = "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency"

func TestPerfAnalyzerHeader(t *testing.T) {
	if got := strings.Join(PerfAnalyzerHeader(false), ","); got != perfAnalyzerHeader {
		t.Errorf("concurrency header\n got %s\nwant %s", got, perfAnalyzerHeader)
	}
	want := "Request Rate" + strings.TrimPrefix(perfAnalyzerHeader, "Concurrency")
	if got := strings.Join(PerfAnalyzerHeader(true), ","); got != want {
		t.Errorf("request-rate header\n got %s\nwant %s", got, want)
	}
	if PerfAnalyzerColumns[0] != "Concurrency" {
		t.Error("PerfAnalyzerHeader modified the shared column list")
	}
}

// pipelineLevel is a measured level of a 2-stage Baton pipeline with known
// figures (µs in comments).
func pipelineLevel() Level {
	return Level{
		Concurrency: 4, Stable: true, Merged: 3, Duration: ms(3000),
		Windows:  []Window{win(400, 10), win(400, 10), win(400, 10)},
		Requests: 1200, Throughput: 400.123456,
		Latency:    LatencyStats{Avg: ms(10), Min: ms(4), Max: ms(30), P50: ms(9), P90: ms(12), P95: ms(14), P99: ms(20.5)},
		ClientSend: ms(0.05), ClientRecv: ms(0.02),
		Server: &ServerBreakdown{
			Requests: 1200, TargetTime: ms(8),
			Stages: []StageStats{
				{Model: "pre", Instances: []string{"t0"}, Calls: 1200, CallsPerRequest: 1, Queue: ms(0.5), ComputeInfer: ms(2), Request: ms(3)},
				{Model: "post", Instances: []string{"t0"}, Calls: 1200, CallsPerRequest: 1, Queue: ms(0.5), ComputeInput: ms(0.1), ComputeInfer: ms(3), ComputeOutput: ms(0.4), Request: ms(4.5)},
			},
			Queue: ms(1), ComputeInput: ms(0.1), ComputeInfer: ms(5), ComputeOutput: ms(0.4), StageTime: ms(7.5),
		},
		Timing: &TimingStats{Requests: 1200, Stages: []StageTiming{{"s-pre", "pre", ms(3.4)}, {"s-post", "post", ms(4.5)}}, Baton: ms(0.1), Total: ms(8), StageSum: ms(7.9)},
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	levels := []Level{pipelineLevel(), {Concurrency: 8, Windows: []Window{win(0, 0)}, Errors: 3, ErrorCounts: map[string]int{"boom": 3}}}
	if err := WriteCSV(&buf, levels); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want a header and 2 rows", len(recs))
	}
	if got := strings.Join(recs[0][:13], ","); got != perfAnalyzerHeader {
		t.Errorf("the first 13 columns differ from perf_analyzer's:\n got %s\nwant %s", got, perfAnalyzerHeader)
	}
	row := func(i int) map[string]string {
		m := map[string]string{}
		for j, h := range recs[0] {
			m[h] = recs[i][j]
		}
		return m
	}
	// Rows go by increasing throughput, as perf_analyzer sorts them: the
	// level that served nothing comes first.
	empty, pipe := row(1), row(2)
	// Without the pipeline's own statistics, the Server columns add up the
	// stages. Network+Server = avg 10000 − send 50 − recv 20 − queue 1000 −
	// compute (100 + 5000 + 400) = 3430 µs.
	want := map[string]string{
		"Concurrency": "4", "Inferences/Second": "400.123", "Client Send": "50", "Network+Server Send/Recv": "3430",
		"Server Queue": "1000", "Server Compute Input": "100", "Server Compute Infer": "5000", "Server Compute Output": "400",
		"Client Recv": "20", "p50 latency": "9000", "p90 latency": "12000", "p95 latency": "14000", "p99 latency": "20500",
		"Requests": "1200", "Errors": "0", "Stable": "true", "Windows": "3", "Measured ms": "3000",
		"Server Request Time": "8000", "Stages Queue": "1000", "Stages Compute Infer": "5000", "Stages Request Time": "7500",
		"Orchestration Overhead": "500", "Baton Overhead": "100", "Server-Timing Stages": "7900", "Server-Timing Total": "8000",
		"pre Calls/Request": "1", "pre Queue": "500", "pre Compute Infer": "2000", "pre Request": "3000",
		"post Compute Output": "400", "s-pre Server-Timing": "3400", "s-post Server-Timing": "4500",
	}
	for k, v := range want {
		if pipe[k] != v {
			t.Errorf("column %q = %q, want %q", k, pipe[k], v)
		}
	}
	// The level without statistics: those cells are empty, not 0.
	for _, k := range []string{"Server Request Time", "Stages Queue", "Baton Overhead", "pre Queue", "s-pre Server-Timing"} {
		if empty[k] != "" {
			t.Errorf("level without statistics: column %q = %q, want empty", k, empty[k])
		}
	}
	if empty["Concurrency"] != "8" || empty["Errors"] != "3" || empty["Server Queue"] != "0" {
		t.Errorf("first row: concurrency %q, errors %q, server queue %q; want 8, 3 and 0", empty["Concurrency"], empty["Errors"], empty["Server Queue"])
	}
}

func TestWriteCSVTargetStatistics(t *testing.T) {
	// With the pipeline's own statistics (Baton reports no queue or compute
	// of its own), perf_analyzer's Server columns are 0, as perf_analyzer
	// itself shows them, and Network+Server = 10000 − 50 − 20 = 9930 µs;
	// the stages stay in the Stages columns.
	lv := pipelineLevel()
	lv.Server.Target = &ModelTimes{}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, []Level{lv}); err != nil {
		t.Fatal(err)
	}
	recs, _ := csv.NewReader(&buf).ReadAll()
	got := map[string]string{}
	for i, h := range recs[0] {
		got[h] = recs[1][i]
	}
	for k, v := range map[string]string{"Server Queue": "0", "Server Compute Infer": "0", "Network+Server Send/Recv": "9930", "Stages Queue": "1000", "Stages Compute Infer": "5000"} {
		if got[k] != v {
			t.Errorf("column %q = %q, want %q", k, got[k], v)
		}
	}
}

func TestWriteCSVRequestRate(t *testing.T) {
	var buf bytes.Buffer
	lv := pipelineLevel()
	lv.Concurrency, lv.RequestRate = 0, 250.5
	if err := WriteCSV(&buf, []Level{lv}); err != nil {
		t.Fatal(err)
	}
	recs, _ := csv.NewReader(&buf).ReadAll()
	if recs[0][0] != "Request Rate" || recs[1][0] != "250.5" {
		t.Errorf("request-rate CSV starts %q / %q", recs[0][0], recs[1][0])
	}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	r := &Result{Meta: Meta{Tool: "baton bench", Command: "baton bench -m x", Machine: ThisMachine(), Load: LoadMeta{Mode: "concurrency", Seed: 42}},
		Levels: []Level{pipelineLevel()}}
	r.Levels[0].Stability = Stability{Stable: true, Windows: 3}
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Meta struct {
			Command string `json:"command"`
			Machine struct {
				CPU   string `json:"cpu"`
				Cores int    `json:"cores"`
			} `json:"machine"`
			Load struct {
				Seed uint64 `json:"seed"`
			} `json:"load"`
		} `json:"meta"`
		Levels []struct {
			Concurrency int `json:"concurrency"`
			Latency     struct {
				P99 float64 `json:"p99_us"`
			} `json:"latency"`
			Server struct {
				Orchestration float64 `json:"orchestration_overhead_us"`
				Stages        []struct {
					Model string `json:"model"`
				} `json:"stages"`
			} `json:"server"`
			Timing struct {
				Baton float64 `json:"baton_overhead_us"`
			} `json:"server_timing"`
			Windows []json.RawMessage `json:"windows"`
		} `json:"levels"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.Bytes())
	}
	if doc.Meta.Command != "baton bench -m x" || doc.Meta.Machine.Cores <= 0 || doc.Meta.Machine.CPU == "" || doc.Meta.Load.Seed != 42 {
		t.Errorf("meta = %+v", doc.Meta)
	}
	lv := doc.Levels[0]
	if lv.Concurrency != 4 || lv.Latency.P99 != 20500 || lv.Server.Orchestration != 500 || len(lv.Server.Stages) != 2 || lv.Timing.Baton != 100 || len(lv.Windows) != 3 {
		t.Errorf("level = %+v", lv)
	}
}

func TestBreakdownBar(t *testing.T) {
	lv := pipelineLevel()
	bar := BreakdownBar("c=4", &lv)
	// client 0.07; pre compute 2; post compute 3.5; queue 1; stage calls
	// other 7.9 − 6.5 = 1.4; Baton 0.1; rest 10 − 0.07 − 7.9 − 0.1 = 1.93.
	want := []Segment{
		{SegClient, ms(0.07)}, {"pre compute", ms(2)}, {"post compute", ms(3.5)}, {SegQueue, ms(1)},
		{SegStageOther, ms(1.4)}, {SegBaton, ms(0.1)}, {SegRest, ms(1.93)},
	}
	if diff := cmp.Diff(want, bar.Segments); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if bar.Total() != lv.Latency.Avg {
		t.Errorf("segments add up to %v, want the average latency %v", bar.Total(), lv.Latency.Avg)
	}
	// Without Server-Timing (gRPC door), the statistics' orchestration
	// overhead (8 − 7.5 ms) stands in for Baton's.
	lv.Timing = nil
	bar = BreakdownBar("c=4", &lv)
	if i := segmentIndex(bar, SegOrchestration); i < 0 || bar.Segments[i].Value != ms(0.5) || bar.Total() != lv.Latency.Avg {
		t.Errorf("gRPC segments %+v", bar.Segments)
	}
}

func segmentIndex(b Bar, name string) int {
	for i, s := range b.Segments {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	lv2 := pipelineLevel()
	lv2.Concurrency, lv2.Throughput, lv2.Latency.P99 = 8, 600, ms(30)
	r := &Result{Meta: Meta{Target: TargetMeta{Model: "pipe", Protocol: "grpc", Door: "v2"}}, Levels: []Level{pipelineLevel(), lv2}}
	out := Outputs{CSV: filepath.Join(dir, "r.csv"), JSON: filepath.Join(dir, "r.json"), SVGDir: filepath.Join(dir, "svg")}
	if err := CheckOutputs(out); err != nil {
		t.Fatal(err)
	}
	written, err := WriteFiles(r, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 4 {
		t.Errorf("wrote %v, want 4 files", written)
	}
	checkSVG(t, filepath.Join(out.SVGDir, LatencyThroughputSVG), "pipe", "p99", "c=8")
	checkSVG(t, filepath.Join(out.SVGDir, BreakdownSVG), "pipe", SegBaton, "pre compute", "c=8")
	if err := CheckOutputs(Outputs{CSV: filepath.Join(dir, "missing", "r.csv")}); err == nil {
		t.Error("an output in a missing directory passed the check")
	}
}

// checkSVG asserts path is a well-formed SVG document containing the words.
func checkSVG(t *testing.T, path string, words ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("%s: not XML: %v", path, err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	for _, w := range words {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("%s does not mention %q", path, w)
		}
	}
}
