package e2e

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func perfAnalyzer(t *testing.T) string {
	t.Helper()
	py := python(t) // $BATON_HOME/venv/bin/python
	pa := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(py))), "bin", "perf_analyzer")
	if _, err := os.Stat(pa); err != nil {
		t.Fatalf("%s missing (run deploy/local/install.sh): %v", pa, err)
	}
	return pa
}

// TestPerfAnalyzerAgainstPipeline runs NVIDIA's perf_analyzer, unchanged,
// against the tabular pipeline over gRPC and HTTP: a short measurement
// must complete without errors and report throughput.
func TestPerfAnalyzerAgainstPipeline(t *testing.T) {
	b := startBaton(t, batonOpts{})
	pa := perfAnalyzer(t)
	data := filepath.Join(t.TempDir(), "rows.json")
	if err := os.WriteFile(data, []byte(`{"data":[{"ROWS":["`+rows[0]+`"]},{"ROWS":["`+rows[1]+`"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []struct{ name, url string }{{"grpc", b.grpcAddr}, {"http", strings.TrimPrefix(b.httpURL, "http://")}} {
		t.Run(proto.name, func(t *testing.T) {
			before, _ := b.svc.Statistics("tabular")
			out := filepath.Join(t.TempDir(), "pa.csv")
			// Count windows of 50 requests and a loose stability bound keep
			// this short and steady on a 2-core machine; it is a
			// compatibility check, not a measurement.
			cmd := exec.CommandContext(t.Context(), pa, "-m", "tabular", "-u", proto.url, "-i", proto.name,
				"--input-data", data, "--concurrency-range", "2", "--measurement-mode", "count_windows",
				"--measurement-request-count", "50", "-s", "50", "--max-trials", "10", "-f", out)
			log, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("perf_analyzer: %v\n%s", err, log)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatalf("no CSV: %v\n%s", err, log)
			}
			defer f.Close()
			recs, err := csv.NewReader(f).ReadAll()
			if err != nil || len(recs) != 2 {
				t.Fatalf("CSV %v (%v), want a header and one row\n%s", recs, err, log)
			}
			if recs[0][0] != "Concurrency" || recs[0][1] != "Inferences/Second" {
				t.Errorf("CSV header %v", recs[0])
			}
			if tput, _ := strconv.ParseFloat(recs[1][1], 64); tput <= 0 {
				t.Errorf("throughput %q", recs[1][1])
			}
			after, _ := b.svc.Statistics("tabular")
			if d := after.Success.Count - before.Success.Count; d < 100 || after.Fail.Count != before.Fail.Count {
				t.Errorf("Baton served %d requests (%d failed) for perf_analyzer, want >= 100 and none failed", d, after.Fail.Count-before.Fail.Count)
			}
		})
	}
}
