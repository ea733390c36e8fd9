package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/tritonclient"
	"github.com/batonhq/baton/tritonclient/localfleet"
)

// TestBadInputGetsTheRight4xx: every client mistake is a 4xx whose
// {"error": ...} body names the field; the bodies are golden.
func TestBadInputGetsTheRight4xx(t *testing.T) {
	b := startBaton(t, batonOpts{bodyLimit: 1 << 20})
	okJSON := func(mut func(map[string]any)) []byte {
		doc := map[string]any{"inputs": []any{map[string]any{"name": "ROWS", "datatype": "BYTES", "shape": []int{1, 1}, "data": []string{rows[0]}}}}
		if mut != nil {
			mut(doc)
		}
		out, _ := json.Marshal(doc)
		return out
	}
	input := func(doc map[string]any) map[string]any { return doc["inputs"].([]any)[0].(map[string]any) }
	bin, n := binaryBody(t, rows[:1])
	badPrefix := append([]byte(nil), bin...)
	badPrefix[n] = 0xff // first element's length prefix now runs past the end

	tests := []struct {
		name   string
		path   string
		body   []byte
		header map[string]string
		status int
	}{
		{"empty body", "/v2/models/tabular/infer", nil, nil, 400},
		{"not JSON", "/v2/models/tabular/infer", []byte("{inputs:"), nil, 400},
		{"unknown pipeline", "/v2/models/nope/infer", okJSON(nil), nil, 404},
		{"unknown input", "/v2/models/tabular/infer", okJSON(func(d map[string]any) { input(d)["name"] = "COLUMNS" }), nil, 400},
		{"wrong dtype", "/v2/models/tabular/infer", okJSON(func(d map[string]any) {
			input(d)["datatype"] = "FP32"
			input(d)["data"] = []float64{1}
		}), nil, 400},
		{"shape data mismatch", "/v2/models/tabular/infer", okJSON(func(d map[string]any) { input(d)["shape"] = []int{2, 1} }), nil, 400},
		{"wrong rank", "/v2/models/tabular/infer", okJSON(func(d map[string]any) { input(d)["shape"] = []int{1} }), nil, 400},
		{"unknown output", "/v2/models/tabular/infer", okJSON(func(d map[string]any) { d["outputs"] = []any{map[string]any{"name": "PROBS"}} }), nil, 400},
		{"truncated binary body", "/v2/models/tabular/infer", bin[:len(bin)-3], map[string]string{"Inference-Header-Content-Length": strconv.Itoa(n)}, 400},
		{"header length past the body", "/v2/models/tabular/infer", bin, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(bin) + 10)}, 400},
		{"BYTES length prefix past the end", "/v2/models/tabular/infer", badPrefix, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(n)}, 400},
		{"bad timeout header", "/v2/models/tabular/infer", okJSON(nil), map[string]string{"X-Baton-Timeout": "soon"}, 400},
		{"invalid CSV row", "/v2/models/tabular/infer", okJSON(func(d map[string]any) { input(d)["data"] = []string{"M,0.4,abc,0.1,0.5"} }), nil, 400},
		{"invalid CSV row via invocations", "/pipelines/tabular/invocations", []byte("X,1,2,3,4\n"), map[string]string{"Content-Type": "text/csv"}, 400},
		{"missing target on a group stage", "/v2/models/churn/infer", okJSON(nil), nil, 400},
		{"10 MB over the body limit", "/v2/models/tabular/infer", bytes.Repeat([]byte(" "), 11<<20), nil, 413},
		{"unsupported content type", "/pipelines/tabular/invocations", []byte("x"), map[string]string{"Content-Type": "image/png"}, 415},
	}
	var goldenOut bytes.Buffer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.do(t, http.MethodPost, tt.path, tt.body, tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			msg := errorJSON(t, r)
			goldenOut.WriteString(tt.name + " -> " + strconv.Itoa(r.status) + "\n  " + msg + "\n")
		})
	}
	golden(t, "bad_input.txt", goldenOut.Bytes())
}

func TestAdminValidationListsEveryProblem(t *testing.T) {
	b := startBaton(t, batonOpts{noFiles: true})
	spec := `
name: broken
inputs: [{name: ROWS, datatype: BYTES, shape: [-1, 1]}]
outputs: [{name: LABEL, datatype: BYTES, shape: [-1, 1]}]
stages:
  - {name: pre, model: tabular_preprocess, inputs: {ROWS: ROWS}, outputs: {FEATURES: feat}}
  - {name: cls, model: no_such_model, inputs: {FEATURES: feat}, outputs: {PROBABILITIES: probs}}
  - {name: post, model: tabular_postprocess, inputs: {PROBABILITIES: prob}, outputs: {LABEL: LABEL}}
`
	r := b.do(t, http.MethodPost, "/admin/pipelines", []byte(spec), map[string]string{"Content-Type": "application/yaml"})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", r.status, r.body)
	}
	golden(t, "admin_invalid.json", indentJSON(t, r.body))
	if r := b.do(t, http.MethodPost, "/admin/pipelines", []byte("name: [oops"), nil); r.status != http.StatusBadRequest {
		t.Errorf("malformed YAML: status %d, want 400: %s", r.status, r.body)
	}
	if r := b.do(t, http.MethodDelete, "/admin/pipelines/ghost", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("delete unknown: status %d, want 404", r.status)
	}
}

// TestAPIPipelinesSurviveRestart: what the admin API created is served
// again by a new Baton on the same data directory.
func TestAPIPipelinesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	spec := []byte(`{"name":"ident","inputs":[{"name":"X","datatype":"FP32","shape":[-1,-1]}],"outputs":[{"name":"Y","datatype":"FP32","shape":[-1,-1]}],"stages":[{"model":"identity_fp32","inputs":{"INPUT0":"X"},"outputs":{"OUTPUT0":"Y"}}]}`)
	first := startBaton(t, batonOpts{dataDir: dir, noFiles: true})
	if r := first.do(t, http.MethodPut, "/admin/pipelines/ident", spec, map[string]string{"Content-Type": "application/json"}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	first.stop()

	second := startBaton(t, batonOpts{dataDir: dir, noFiles: true})
	r := second.do(t, http.MethodGet, "/admin/pipelines/ident", nil, nil)
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"identity_fp32"`)) {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	body := []byte(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,2],"data":[1,2]}]}`)
	if r := second.do(t, http.MethodPost, "/v2/models/ident/infer", body, nil); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`[1.0,2.0]`)) && !bytes.Contains(r.body, []byte(`[1,2]`)) {
		t.Fatalf("infer after restart: %d %s", r.status, r.body)
	}
}

func TestDeadlinesAndStageTimeouts(t *testing.T) {
	b := startBaton(t, batonOpts{noFiles: true})
	spec := `{"name":"slow","inputs":[{"name":"X","datatype":"FP32","shape":[-1,-1]}],"outputs":[{"name":"Y","datatype":"FP32","shape":[-1,-1]}],
	 "stages":[{"name":"nap","model":"slow_identity","inputs":{"INPUT0":"X"},"outputs":{"OUTPUT0":"Y"}}]}`
	if r := b.do(t, http.MethodPut, "/admin/pipelines/slow", []byte(spec), nil); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	body := []byte(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,1],"data":[1]}]}`)
	r := b.do(t, http.MethodPost, "/v2/models/slow/infer", body, map[string]string{"X-Baton-Timeout": "50ms"})
	if r.status != http.StatusGatewayTimeout || !strings.Contains(errorJSON(t, r), `stage "nap"`) {
		t.Errorf("header deadline: status %d body %s; want 504 naming the stage", r.status, r.body)
	}
	withParam := []byte(`{"parameters":{"timeout":50000},"inputs":[{"name":"X","datatype":"FP32","shape":[1,1],"data":[1]}]}`)
	if r := b.do(t, http.MethodPost, "/v2/models/slow/infer", withParam, nil); r.status != http.StatusGatewayTimeout {
		t.Errorf("v2 timeout parameter: status %d body %s; want 504", r.status, r.body)
	}
	// gRPC: the caller's deadline propagates and maps back.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	in, _ := tritonclient.NewTensor("X", []int64{1, 1}, []float32{1})
	_, err := b.client(t).Infer(ctx, &tritonclient.InferRequest{Model: "slow", Inputs: []tritonclient.Tensor{in}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("gRPC deadline: err = %v, want DeadlineExceeded", err)
	}
	// Without a deadline it completes.
	if r := b.do(t, http.MethodPost, "/v2/models/slow/infer", body, nil); r.status != http.StatusOK {
		t.Errorf("no deadline: status %d body %s", r.status, r.body)
	}
}

// TestKilledInstance: a stage's Triton dies mid-run. An idempotent stage
// moves to the other instance; a stage whose model only the dead instance
// had answers 503 naming the stage; other pipelines keep working.
func TestKilledInstance(t *testing.T) {
	ctx := t.Context()
	victim, err := localfleet.Start(ctx, localfleet.Options{
		ModelRepository: repoRoot(t) + "/model_repository", NamePrefix: "victim-",
		LoadModels: []string{"identity_fp32", "churn_af_south"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Stop(context.WithoutCancel(ctx))
	// Fleet order puts the victim first, so routing prefers it.
	b := startBaton(t, batonOpts{noFiles: true, instances: append([]*localfleet.Instance{victim.Instances[0]}, tritons.Instances...)})
	for name, model := range map[string]string{"ident": "identity_fp32", "only_victim": "churn_af_south"} {
		dtype, shape := "FP32", "[-1,-1]"
		in, out := "INPUT0", "OUTPUT0"
		if model == "churn_af_south" {
			shape, in, out = "[-1,7]", "FEATURES", "PROBABILITIES"
		}
		spec := `{"name":"` + name + `","inputs":[{"name":"X","datatype":"` + dtype + `","shape":` + shape + `}],"outputs":[{"name":"Y","datatype":"FP32","shape":[-1,-1]}],
		 "stages":[{"name":"s-` + name + `","model":"` + model + `","inputs":{"` + in + `":"X"},"outputs":{"` + out + `":"Y"}}]}`
		if r := b.do(t, http.MethodPut, "/admin/pipelines/"+name, []byte(spec), nil); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
	}
	identBody := []byte(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,2],"data":[1,2]}]}`)
	r := b.do(t, http.MethodPost, "/v2/models/ident/infer", identBody, nil)
	if r.status != 200 || !strings.Contains(r.header.Get("Server-Timing"), "@victim-0") {
		t.Fatalf("before the kill: %d, Server-Timing %q: want served by victim-0", r.status, r.header.Get("Server-Timing"))
	}

	if err := victim.Instances[0].Kill(ctx); err != nil {
		t.Fatal(err)
	}
	// Straight after the kill (before any health poll notices), the
	// refused connection is retried on a live instance.
	r = b.do(t, http.MethodPost, "/v2/models/ident/infer", identBody, nil)
	if r.status != 200 || !strings.Contains(r.header.Get("Server-Timing"), "@triton-") {
		t.Fatalf("after the kill: %d %s, Server-Timing %q: want 200 from a triton-* instance", r.status, r.body, r.header.Get("Server-Timing"))
	}
	featBody := []byte(`{"inputs":[{"name":"X","datatype":"FP32","shape":[1,7],"data":[1,0,0,0.1,0.2,0.3,0.4]}]}`)
	r = b.do(t, http.MethodPost, "/v2/models/only_victim/infer", featBody, nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(errorJSON(t, r), `stage "s-only_victim"`) {
		t.Fatalf("stage on the dead instance: %d %s; want 503 naming the stage", r.status, r.body)
	}
	// The rest of Baton keeps serving.
	for range 5 {
		if r := b.do(t, http.MethodPost, "/v2/models/ident/infer", identBody, nil); r.status != 200 {
			t.Fatalf("after the kill, ident: %d %s", r.status, r.body)
		}
	}
	fleetView := b.do(t, http.MethodGet, "/admin/fleet", nil, nil)
	if !bytes.Contains(fleetView.body, []byte(`"name":"victim-0"`)) || !bytes.Contains(fleetView.body, []byte(`"healthy":false`)) {
		t.Errorf("fleet view %s: want victim-0 unhealthy", fleetView.body)
	}
}

func TestGroupStageTargetModel(t *testing.T) {
	b := startBaton(t, batonOpts{})
	body := []byte(`{"inputs":[{"name":"ROWS","datatype":"BYTES","shape":[1,1],"data":["M,0.455,0.365,0.095,0.514"]}]}`)
	r := b.do(t, http.MethodPost, "/v2/models/churn/infer", body, map[string]string{"X-Baton-Target-Model": "churn_us_east"})
	if r.status != 200 || !strings.Contains(r.header.Get("Server-Timing"), `churn_us_east@`) {
		t.Fatalf("header target: %d %s (Server-Timing %q)", r.status, r.body, r.header.Get("Server-Timing"))
	}
	r = b.do(t, http.MethodPost, "/pipelines/churn/invocations", []byte(rows[0]+"\n"), map[string]string{"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Model": "churn_us_east"})
	if r.status != 200 {
		t.Fatalf("SageMaker header target: %d %s", r.status, r.body)
	}
	withParam := []byte(`{"parameters":{"target_model":"churn_us_east"},"inputs":[{"name":"ROWS","datatype":"BYTES","shape":[1,1],"data":["M,0.455,0.365,0.095,0.514"]}]}`)
	if r := b.do(t, http.MethodPost, "/v2/models/churn/infer", withParam, nil); r.status != 200 {
		t.Fatalf("parameter target: %d %s", r.status, r.body)
	}
}
