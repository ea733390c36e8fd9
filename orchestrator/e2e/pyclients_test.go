package e2e

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// python is the interpreter of the project's virtualenv, where
// deploy/local/install.sh puts tritonclient. Missing means a broken
// install: the test fails, it does not skip.
func python(t *testing.T) string {
	t.Helper()
	home := os.Getenv("BATON_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		home = filepath.Join(h, ".cache", "baton")
	}
	py := filepath.Join(home, "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s missing (run deploy/local/install.sh): %v", py, err)
	}
	return py
}

// TestNVIDIAPythonClients drives Baton with tritonclient.http and
// tritonclient.grpc from PyPI: a pipeline must look like a Triton model.
func TestNVIDIAPythonClients(t *testing.T) {
	b := startBaton(t, batonOpts{})
	label, score := ensembleTruth(t)
	labels, _ := label.BytesValues()
	var want []string
	for _, l := range labels {
		want = append(want, string(l))
	}
	args := append([]string{filepath.Join("testdata", "triton_clients.py"), strings.TrimPrefix(b.httpURL, "http://"), b.grpcAddr, "tabular"}, rows...)
	cmd := exec.CommandContext(t.Context(), python(t), args...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("python clients: %v\n%s", err, stderr)
	}
	type door struct {
		MetadataInputs []string `json:"metadata_inputs"`
		Labels         []string `json:"labels"`
		ScoresHex      string   `json:"scores_hex"`
		ID             string   `json:"id"`
	}
	var got struct {
		HTTP        door   `json:"http"`
		GRPC        door   `json:"grpc"`
		GRPCUnknown string `json:"grpc_unknown"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	wantScores := hex.EncodeToString(score.Raw)
	for name, d := range map[string]door{"http": got.HTTP, "grpc": got.GRPC} {
		if diff := cmp.Diff(want, d.Labels); diff != "" {
			t.Errorf("%s labels (-ensemble +python):\n%s", name, diff)
		}
		if d.ScoresHex != wantScores {
			t.Errorf("%s scores %s, ensemble %s", name, d.ScoresHex, wantScores)
		}
		if diff := cmp.Diff([]string{"ROWS"}, d.MetadataInputs); diff != "" {
			t.Errorf("%s metadata inputs (-want +got):\n%s", name, diff)
		}
	}
	if got.GRPC.ID != "py-grpc-1" {
		t.Errorf("gRPC response id %q, want the request's", got.GRPC.ID)
	}
	if !strings.Contains(got.GRPCUnknown, "no_such_pipeline") {
		t.Errorf("unknown pipeline error %q should name it", got.GRPCUnknown)
	}
}
