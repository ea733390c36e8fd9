package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonhq/baton/tritonclient"
)

var rows = []string{"M,0.455,0.365,0.095,0.514", "F,0.53,0.42,0.135,0.677", "I,0.33,0.255,0.08,0.205"}

// ensembleTruth is what Triton's own ensemble answers for rows.
func ensembleTruth(t *testing.T) (label, score tritonclient.Tensor) {
	t.Helper()
	c := tritonClient(t, tritons.Instances[0])
	in, err := tritonclient.NewStrings("ROWS", []int64{int64(len(rows)), 1}, rows)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Infer(t.Context(), &tritonclient.InferRequest{Model: "tabular_ensemble", Inputs: []tritonclient.Tensor{in}})
	if err != nil {
		t.Fatal(err)
	}
	label, _ = resp.Output("LABEL")
	score, _ = resp.Output("SCORE")
	if len(label.Raw) == 0 || len(score.Raw) != 4*len(rows) {
		t.Fatalf("ensemble answered %+v", resp.Outputs)
	}
	return label, score
}

// binaryBody builds a v2 request with ROWS as binary data and all outputs
// asked in binary.
func binaryBody(t *testing.T, rows []string) ([]byte, int) {
	t.Helper()
	raw := tritonclient.EncodeBytes(func() [][]byte {
		out := make([][]byte, len(rows))
		for i, r := range rows {
			out[i] = []byte(r)
		}
		return out
	}())
	hdr, _ := json.Marshal(map[string]any{
		"id":         "bin-1",
		"parameters": map[string]any{"binary_data_output": true},
		"inputs":     []any{map[string]any{"name": "ROWS", "datatype": "BYTES", "shape": []int{len(rows), 1}, "parameters": map[string]any{"binary_data_size": len(raw)}}},
	})
	return append(hdr, raw...), len(hdr)
}

// splitBinary cuts a binary v2 response into its JSON header and the raw
// bytes of each output, in order.
func splitBinary(t *testing.T, r httpResult) (map[string]any, map[string][]byte) {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Inference-Header-Content-Length"))
	if err != nil {
		t.Fatalf("no Inference-Header-Content-Length in %v (body %q)", r.header, r.body)
	}
	var hdr map[string]any
	if err := json.Unmarshal(r.body[:n], &hdr); err != nil {
		t.Fatal(err)
	}
	raw := map[string][]byte{}
	off := n
	for _, o := range hdr["outputs"].([]any) {
		o := o.(map[string]any)
		size := int(o["parameters"].(map[string]any)["binary_data_size"].(float64))
		raw[o["name"].(string)] = r.body[off : off+size]
		off += size
	}
	if off != len(r.body) {
		t.Fatalf("binary section has %d bytes left over", len(r.body)-off)
	}
	return hdr, raw
}

// TestEveryFrontDoorMatchesTheEnsemble: the tabular pipeline through each
// front door gives the bytes Triton's in-server ensemble gives.
func TestEveryFrontDoorMatchesTheEnsemble(t *testing.T) {
	b := startBaton(t, batonOpts{})
	label, score := ensembleTruth(t)
	labels, _ := label.BytesValues()
	scores, _ := tritonclient.Values[float32](score)

	t.Run("v2 HTTP binary", func(t *testing.T) {
		body, n := binaryBody(t, rows)
		r := b.do(t, http.MethodPost, "/v2/models/tabular/infer", body, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(n)})
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		hdr, raw := splitBinary(t, r)
		if hdr["id"] != "bin-1" || hdr["model_name"] != "tabular" {
			t.Errorf("header %v: want id bin-1, model_name tabular", hdr)
		}
		if !bytes.Equal(raw["LABEL"], label.Raw) || !bytes.Equal(raw["SCORE"], score.Raw) {
			t.Errorf("binary outputs differ from the ensemble: LABEL %q vs %q, SCORE %x vs %x", raw["LABEL"], label.Raw, raw["SCORE"], score.Raw)
		}
		checkServerTiming(t, r.header.Get("Server-Timing"), []string{"preprocess", "classify", "postprocess"})
	})

	t.Run("v2 HTTP JSON", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "ROWS", "datatype": "BYTES", "shape": []int{3, 1}, "data": rows}}})
		r := b.do(t, http.MethodPost, "/v2/models/tabular/infer", body, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var resp struct {
			Outputs []struct {
				Name  string
				Shape []int64
				Data  []json.RawMessage
			}
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		for _, o := range resp.Outputs {
			if diff := cmp.Diff([]int64{3, 1}, o.Shape); diff != "" {
				t.Errorf("%s shape (-want +got):\n%s", o.Name, diff)
			}
			for i, d := range o.Data {
				switch o.Name {
				case "LABEL":
					var s string
					_ = json.Unmarshal(d, &s)
					if s != string(labels[i]) {
						t.Errorf("LABEL[%d] = %q, ensemble %q", i, s, labels[i])
					}
				case "SCORE":
					f, _ := strconv.ParseFloat(string(d), 32)
					if math.Float32bits(float32(f)) != math.Float32bits(scores[i]) {
						t.Errorf("SCORE[%d] = %s, ensemble %v", i, d, scores[i])
					}
				}
			}
		}
		if len(resp.Outputs) != 2 {
			t.Fatalf("got %d outputs, want LABEL and SCORE", len(resp.Outputs))
		}
	})

	t.Run("v2 gRPC", func(t *testing.T) {
		in, _ := tritonclient.NewStrings("ROWS", []int64{3, 1}, rows)
		resp, err := b.client(t).Infer(t.Context(), &tritonclient.InferRequest{Model: "tabular", ID: "g-1", Inputs: []tritonclient.Tensor{in}})
		if err != nil {
			t.Fatal(err)
		}
		gl, _ := resp.Output("LABEL")
		gs, _ := resp.Output("SCORE")
		if !bytes.Equal(gl.Raw, label.Raw) || !bytes.Equal(gs.Raw, score.Raw) || resp.ID != "g-1" {
			t.Errorf("gRPC outputs differ from the ensemble (id %q)", resp.ID)
		}
	})

	t.Run("invocations CSV", func(t *testing.T) {
		r := b.do(t, http.MethodPost, "/pipelines/tabular/invocations", []byte(strings.Join(rows, "\n")+"\n"), map[string]string{"Content-Type": "text/csv", "Accept": "text/csv"})
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var want strings.Builder
		for i := range rows {
			fmt.Fprintf(&want, "%s,%s\n", labels[i], strconv.FormatFloat(float64(scores[i]), 'g', -1, 32))
		}
		if string(r.body) != want.String() {
			t.Errorf("CSV answer %q, want %q", r.body, want.String())
		}
	})

	t.Run("invocations JSON", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"instances": rows})
		r := b.do(t, http.MethodPost, "/pipelines/tabular/invocations", body, map[string]string{"Content-Type": "application/json"})
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var resp struct {
			Predictions []struct {
				LABEL string
				SCORE float64
			}
		}
		if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Predictions) != 3 {
			t.Fatalf("body %s (%v)", r.body, err)
		}
		for i, p := range resp.Predictions {
			if p.LABEL != string(labels[i]) || float32(p.SCORE) != scores[i] {
				t.Errorf("prediction %d = %+v, ensemble %s %v", i, p, labels[i], scores[i])
			}
		}
	})
}

func TestMetadataAndConfigGolden(t *testing.T) {
	b := startBaton(t, batonOpts{})
	for _, path := range []string{"/v2/models/tabular", "/v2/models/tabular/config", "/v2"} {
		r := b.do(t, http.MethodGet, path, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, r.status, r.body)
		}
		golden(t, "get"+strings.ReplaceAll(path, "/", "_")+".json", indentJSON(t, r.body))
	}
	md, err := b.client(t).ModelMetadata(t.Context(), "tabular", "")
	if err != nil {
		t.Fatal(err)
	}
	if md.Name != "tabular" || len(md.Inputs) != 1 || md.Inputs[0].DataType != tritonclient.Bytes {
		t.Errorf("gRPC metadata %+v", md)
	}
}

// TestLongPipeline chains 15 identity stages over both instances.
func TestLongPipeline(t *testing.T) {
	b := startBaton(t, batonOpts{noFiles: true})
	var spec strings.Builder
	spec.WriteString("name: long\ninputs: [{name: t0, datatype: FP32, shape: [-1, -1]}]\noutputs: [{name: t15, datatype: FP32, shape: [-1, -1]}]\nstages:\n")
	for i := range 15 {
		fmt.Fprintf(&spec, "  - {name: s%d, model: identity_fp32, inputs: {INPUT0: t%d}, outputs: {OUTPUT0: t%d}}\n", i, i, i+1)
	}
	r := b.do(t, http.MethodPut, "/admin/pipelines/long", []byte(spec.String()), map[string]string{"Content-Type": "application/yaml"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", r.status, r.body)
	}
	vals := []float32{1.5, -2, 3.25, 4}
	raw := make([]byte, 16)
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	in := tritonclient.Tensor{Name: "t0", DataType: tritonclient.FP32, Shape: []int64{1, 4}, Raw: raw}
	resp, err := b.client(t).Infer(t.Context(), &tritonclient.InferRequest{Model: "long", Inputs: []tritonclient.Tensor{in}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := resp.Output("t15")
	if !bytes.Equal(out.Raw, raw) {
		t.Errorf("15 identities turned %x into %x", raw, out.Raw)
	}
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "t0", "datatype": "FP32", "shape": []int{1, 4}, "data": vals}}})
	hr := b.do(t, http.MethodPost, "/v2/models/long/infer", body, nil)
	if hr.status != http.StatusOK {
		t.Fatalf("status %d: %s", hr.status, hr.body)
	}
	var stages []string
	for i := range 15 {
		stages = append(stages, fmt.Sprintf("s%d", i))
	}
	checkServerTiming(t, hr.header.Get("Server-Timing"), stages)
}

// checkServerTiming parses a Server-Timing header and checks it has the
// stages in order, each with a positive duration, then Baton's overhead and
// the total, with the parts adding up to the total.
func checkServerTiming(t *testing.T, header string, stages []string) {
	t.Helper()
	var names []string
	durs := map[string]float64{}
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		names = append(names, fields[0])
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, "dur="); ok {
				d, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("Server-Timing %q: bad dur %q", header, v)
				}
				durs[fields[0]] = d
			}
		}
	}
	if diff := cmp.Diff(append(slices.Clone(stages), "baton", "total"), names); diff != "" {
		t.Fatalf("Server-Timing %q entries (-want +got):\n%s", header, diff)
	}
	sum := durs["baton"]
	for _, s := range stages {
		if durs[s] <= 0 {
			t.Errorf("Server-Timing %q: stage %s has no duration", header, s)
		}
		sum += durs[s]
	}
	// Each figure is rounded to the microsecond.
	if math.Abs(sum-durs["total"]) > 0.001*float64(len(stages)+2) || durs["baton"] < 0 {
		t.Errorf("Server-Timing %q: stages + overhead = %.3f ms, total %.3f ms", header, sum, durs["total"])
	}
}

func TestMetricsPage(t *testing.T) {
	b := startBaton(t, batonOpts{})
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "ROWS", "datatype": "BYTES", "shape": []int{1, 1}, "data": rows[:1]}}})
	for range 2 {
		if r := b.do(t, http.MethodPost, "/v2/models/tabular/infer", body, nil); r.status != 200 {
			t.Fatalf("infer: %d %s", r.status, r.body)
		}
	}
	b.do(t, http.MethodPost, "/v2/models/tabular/infer", []byte("{"), nil)
	m := string(b.do(t, http.MethodGet, "/metrics", nil, nil).body)
	for _, want := range []string{
		`baton_requests_total{code="200",door="v2http",pipeline="tabular"} 2`,
		`baton_requests_total{code="400",door="v2http",pipeline="tabular"} 1`,
		`baton_request_duration_seconds_count{pipeline="tabular"} 2`,
		`baton_stage_duration_seconds_count{instance="triton-0",pipeline="tabular",stage="classify"} 2`,
		`baton_requests_in_flight 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
