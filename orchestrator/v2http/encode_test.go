package v2http

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonhq/baton/tritonclient"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// renderBody renders an encoded response for a golden file: the headers a
// handler would set, the JSON header indented, and a hex dump of the binary section.
func renderBody(t *testing.T, body []byte, headerLen int) []byte {
	t.Helper()
	var out bytes.Buffer
	header, bin := body, []byte(nil)
	if headerLen >= 0 {
		header, bin = body[:headerLen], body[headerLen:]
		fmt.Fprintf(&out, "Content-Type: application/octet-stream\n%s: %d\n", InferenceHeaderContentLength, headerLen)
	} else {
		out.WriteString("Content-Type: application/json\n")
	}
	fmt.Fprintf(&out, "Content-Length: %d\n\n", len(body))
	out.Write(header)
	out.WriteString("\n")
	if len(bin) > 0 {
		out.WriteString("\nbinary section:\n")
		out.WriteString(hex.Dump(bin))
	}
	return out.Bytes()
}

// checkGolden compares got with testdata/name, rewriting it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the encoding (run go test -update to accept):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// allJSONTypes returns one output of every datatype JSON can carry.
func allJSONTypes() []tritonclient.Tensor {
	return []tritonclient.Tensor{
		must(tritonclient.NewTensor("bool", []int64{3}, []bool{true, false, true})),
		must(tritonclient.NewTensor("u8", []int64{2}, []uint8{0, 255})),
		must(tritonclient.NewTensor("u16", []int64{2}, []uint16{1, 65535})),
		must(tritonclient.NewTensor("u32", []int64{1}, []uint32{math.MaxUint32})),
		must(tritonclient.NewTensor("u64", []int64{1}, []uint64{math.MaxUint64})),
		must(tritonclient.NewTensor("i8", []int64{2}, []int8{-128, 127})),
		must(tritonclient.NewTensor("i16", []int64{2}, []int16{-32768, 5})),
		must(tritonclient.NewTensor("i32", []int64{2, 1}, []int32{math.MinInt32, 7})),
		must(tritonclient.NewTensor("i64", []int64{2}, []int64{math.MinInt64, math.MaxInt64})),
		must(tritonclient.NewTensor("f32", []int64{2, 3}, []float32{0.1, -2, 1e-45, math.MaxFloat32, 1e6, float32(math.Copysign(0, -1))})),
		must(tritonclient.NewTensor("f64", []int64{3}, []float64{0.1, 5e-324, -1e300})),
		must(tritonclient.NewStrings("str", []int64{4}, []string{"", "héllo \"q\"", "tab\tnew\nline\x01", "日本😀"})),
		must(tritonclient.NewTensor("empty", []int64{0, 3}, []float32{})),
		must(tritonclient.NewTensor("scalar", nil, []int32{42})),
	}
}

func TestEncodeGolden(t *testing.T) {
	f := false
	nan32 := math.Float32frombits(0x7fc00001)
	cases := []struct {
		name string
		resp *Response
		req  *Request
	}{
		{
			name: "json_all_types.golden",
			resp: &Response{
				ModelName: "echo_types", ModelVersion: "1", ID: "req-1",
				Parameters: map[string]any{"sequence_end": true, "count": 3, "ratio": 0.5, "whole": 2.0, "note": "ok"},
				Outputs:    allJSONTypes(),
			},
		},
		{
			name: "binary_mixed.golden",
			req: &Request{
				ID:               "from-request",
				BinaryDataOutput: true,
				Outputs:          []RequestedOutput{{Name: "labels", Binary: &f}, {Name: "probs"}, {Name: "half"}},
			},
			resp: &Response{
				ModelName: "tabular_ensemble", ModelVersion: "",
				Outputs: []tritonclient.Tensor{
					must(tritonclient.NewTensor("probs", []int64{2, 3}, []float32{0.1, 0.2, 0.7, 0.5, 0.25, 0.25})),
					must(tritonclient.NewStrings("labels", []int64{2}, []string{"churn", "stay"})),
					must(tritonclient.NewFP16("half", []int64{2}, []float32{1, -0.5})),
					must(tritonclient.NewTensor("ids", []int64{2}, []int64{7, -7})),
				},
			},
		},
		{
			name: "json_requested_falls_back_to_binary.golden",
			req:  &Request{Outputs: []RequestedOutput{{Name: "nan", Binary: &f}, {Name: "ok", Binary: &f}}},
			resp: &Response{
				ModelName: "m", ModelVersion: "2",
				Outputs: []tritonclient.Tensor{
					must(tritonclient.NewTensor("nan", []int64{2}, []float32{1, nan32})),
					must(tritonclient.NewTensor("inf", []int64{1}, []float64{math.Inf(-1)})),
					must(tritonclient.NewBytes("raw", []int64{2}, [][]byte{[]byte("ok"), {0xff, 0x00}})),
					must(tritonclient.NewBF16("bf", []int64{1}, []float32{3})),
					must(tritonclient.NewTensor("ok", []int64{2}, []int32{1, 2})),
				},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, headerLen, err := EncodeResponse(tc.resp, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			// Whatever the encoding, encoding/json must read it back to the same tensors.
			resp, tensors, _ := decodeResponse(t, body, headerLen)
			if resp.ModelName != tc.resp.ModelName || resp.ModelVersion != tc.resp.ModelVersion {
				t.Errorf("model %q version %q", resp.ModelName, resp.ModelVersion)
			}
			for i, got := range tensors {
				want := tc.resp.Outputs[i]
				if got.Name != want.Name || got.DataType != want.DataType || !equalShape(got.Shape, want.Shape) || !bytes.Equal(got.Raw, want.Raw) {
					t.Errorf("outputs[%d] read back as %+v, want %+v", i, got, want)
				}
			}
			checkGolden(t, tc.name, renderBody(t, body, headerLen))
		})
	}
	t.Run("error_body.golden", func(t *testing.T) {
		checkGolden(t, "error_body.golden", ErrorBody("inputs[0].data[3]: FP32 needs a number, got a string \"x\"\n\x01 \xff end"))
	})
}

func TestEncodeBinaryChoice(t *testing.T) {
	tr, f := true, false
	out := []tritonclient.Tensor{
		must(tritonclient.NewTensor("a", []int64{1}, []float32{1})),
		must(tritonclient.NewTensor("b", []int64{1}, []float32{2})),
		must(tritonclient.NewFP16("h", []int64{1}, []float32{3})),
	}
	cases := []struct {
		name string
		req  *Request
		want []bool // binary per output
	}{
		{"nil request", nil, []bool{false, false, true}},
		{"default JSON", &Request{}, []bool{false, false, true}},
		{"binary_data_output", &Request{BinaryDataOutput: true}, []bool{true, true, true}},
		{"per-output true", &Request{Outputs: []RequestedOutput{{Name: "b", Binary: &tr}}}, []bool{false, true, true}},
		{"per-output false overrides request", &Request{BinaryDataOutput: true, Outputs: []RequestedOutput{{Name: "a", Binary: &f}, {Name: "b"}}}, []bool{false, true, true}},
		{"FP16 stays binary", &Request{Outputs: []RequestedOutput{{Name: "h", Binary: &f}}}, []bool{false, false, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, headerLen, err := EncodeResponse(&Response{ModelName: "m", Outputs: out}, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			_, _, got := decodeResponse(t, body, headerLen)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("binary outputs %v, want %v", got, tc.want)
			}
			if anyBinary := strings.Contains(fmt.Sprint(tc.want), "true"); (headerLen >= 0) != anyBinary {
				t.Errorf("headerLen %d with binary outputs %v", headerLen, tc.want)
			}
		})
	}
	// No outputs at all is pure JSON.
	body, headerLen, err := EncodeResponse(&Response{ModelName: "m", ModelVersion: "1"}, nil)
	if err != nil || headerLen != -1 || string(body) != `{"model_name":"m","model_version":"1","outputs":[]}` {
		t.Errorf("empty response = %s, %d, %v", body, headerLen, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	good := must(tritonclient.NewTensor("a", []int64{1}, []float32{1}))
	cases := []struct {
		name   string
		resp   *Response
		msg    string
		tensor bool
	}{
		{"nil response", nil, "v2http: nil response", false},
		{"short output", &Response{Outputs: []tritonclient.Tensor{good, {Name: "b", DataType: tritonclient.FP32, Shape: []int64{2}, Raw: make([]byte, 4)}}},
			`v2http: response outputs[1]: invalid tensor: tensor "b": FP32 shape [2] needs 8 bytes, got 4`, true},
		{"bad BYTES output", &Response{Outputs: []tritonclient.Tensor{{Name: "s", DataType: tritonclient.Bytes, Shape: []int64{1}, Raw: []byte{9, 0, 0, 0}}}},
			`v2http: response outputs[0]: invalid tensor: tensor "s": BYTES shape [1]: element 0 at offset 0: length 9 runs past the end (0 of 9 bytes present)`, true},
		{"unnamed output", &Response{Outputs: []tritonclient.Tensor{{DataType: tritonclient.FP32, Shape: []int64{0}}}},
			`v2http: response outputs[0]: invalid tensor: empty name`, true},
		{"parameter type", &Response{Parameters: map[string]any{"x": []int{1}}, Outputs: []tritonclient.Tensor{good}},
			`v2http: response parameter "x": unsupported type []int (want bool, string, integer or float)`, false},
		{"NaN parameter", &Response{Parameters: map[string]any{"x": math.NaN()}}, `v2http: response parameter "x": NaN cannot be sent as JSON`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, _, err := EncodeResponse(tc.resp, nil)
			if err == nil {
				t.Fatalf("EncodeResponse = %s, want error", body)
			}
			if err.Error() != tc.msg {
				t.Errorf("error %q\n want %q", err, tc.msg)
			}
			if errors.Is(err, tritonclient.ErrInvalidTensor) != tc.tensor {
				t.Errorf("errors.Is(ErrInvalidTensor) = %v", !tc.tensor)
			}
			if errors.Is(err, ErrBadRequest) {
				t.Errorf("encode error %v wraps ErrBadRequest", err)
			}
		})
	}
}

func TestEncodeParametersAndID(t *testing.T) {
	resp := &Response{
		ModelName: "m\"x", ModelVersion: "3",
		Parameters: map[string]any{
			"b": true, "i": int64(-5), "u": uint64(math.MaxUint64), "f": 2.0, "g": float32(0.5), "s": "\u2028",
			"small": int8(-1), "e": 1e21,
		},
	}
	req := &Request{ID: "echo-me"}
	body, headerLen, err := EncodeResponse(resp, req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name":"m\"x","model_version":"3","id":"echo-me","parameters":{"b":true,"e":1e+21,"f":2.0,"g":0.5,"i":-5,"s":"` + "\u2028" + `","small":-1,"u":18446744073709551615},"outputs":[]}`
	if headerLen != -1 || string(body) != want {
		t.Errorf("EncodeResponse =\n%s\nwant\n%s", body, want)
	}
	// Response parameters read back through DecodeRequest's parameter parser keep their types.
	reqBody := strings.Replace(string(body), `"outputs":[]`, `"inputs":[{"name":"x","shape":[0],"datatype":"BOOL","data":[]}]`, 1)
	back, err := DecodeRequest([]byte(reqBody), -1)
	if err != nil {
		t.Fatal(err)
	}
	if back.Parameters["f"] != 2.0 || back.Parameters["i"] != int64(-5) || back.Parameters["b"] != true || back.Parameters["e"] != 1e21 {
		t.Errorf("parameters read back as %#v", back.Parameters)
	}
	// The response's own ID wins over the request's.
	resp.ID = "own"
	body, _, _ = EncodeResponse(resp, req)
	if !bytes.Contains(body, []byte(`"id":"own"`)) {
		t.Errorf("response ID not used: %s", body)
	}
}

func TestRoundTrip(t *testing.T) {
	// decode → echo the inputs as outputs → encode → read back with encoding/json.
	requests := []struct {
		name      string
		body      []byte
		headerLen int
		binary    []bool
	}{}
	add := func(name string, body []byte, headerLen int, binary ...bool) {
		requests = append(requests, struct {
			name      string
			body      []byte
			headerLen int
			binary    []bool
		}{name, body, headerLen, binary})
	}
	var elems []string
	for _, o := range allJSONTypes() {
		vals, err := jsonElems(o)
		if err != nil {
			t.Fatal(err)
		}
		shape, _ := json.Marshal(o.Shape)
		if o.Shape == nil {
			shape = []byte("[]")
		}
		elems = append(elems, fmt.Sprintf(`{"name":%q,"datatype":%q,"shape":%s,"data":%s}`, o.Name, o.DataType, shape, vals))
	}
	all := `{"id":"rt","inputs":[` + strings.Join(elems, ",") + `]}`
	add("all types JSON", []byte(all), -1, make([]bool, len(elems))...)
	allBin := strings.Replace(all, `{"id":"rt",`, `{"id":"rt","parameters":{"binary_data_output":true},`, 1)
	binFlags := make([]bool, len(elems))
	for i := range binFlags {
		binFlags[i] = true
	}
	add("all types, binary out", []byte(allBin), -1, binFlags...)
	for _, s := range binarySeeds()[:2] {
		add("binary seed", s.body, s.headerLen)
	}
	for _, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			req, err := DecodeRequest(r.body, r.headerLen)
			if err != nil {
				t.Fatal(err)
			}
			body, headerLen, err := EncodeResponse(&Response{ModelName: "echo", ModelVersion: "1", Outputs: req.Inputs}, req)
			if err != nil {
				t.Fatal(err)
			}
			resp, tensors, binary := decodeResponse(t, body, headerLen)
			if resp.ID != req.ID {
				t.Errorf("id %q, want %q", resp.ID, req.ID)
			}
			if len(tensors) != len(req.Inputs) {
				t.Fatalf("%d outputs for %d inputs", len(tensors), len(req.Inputs))
			}
			for i, got := range tensors {
				want := req.Inputs[i]
				if got.Name != want.Name || got.DataType != want.DataType || !equalShape(got.Shape, want.Shape) || !bytes.Equal(got.Raw, want.Raw) {
					t.Errorf("outputs[%d] = %+v, want %+v", i, got, want)
				}
			}
			if r.binary != nil && fmt.Sprint(binary) != fmt.Sprint(r.binary) {
				t.Errorf("binary outputs %v, want %v", binary, r.binary)
			}
		})
	}
}

// jsonElems renders a tensor's data as a JSON array with the encoder under test.
func jsonElems(o tritonclient.Tensor) (string, error) {
	buf, ok := appendData([]byte("["), o)
	if !ok {
		return "", fmt.Errorf("%s cannot go as JSON", o.Name)
	}
	return string(append(buf, ']')), nil
}

func TestErrorBody(t *testing.T) {
	for _, msg := range []string{"", "plain", `quote " and \ backslash`, "ctl \x00\x1f\n\t", "bad utf8 \xff\xfe", "日本"} {
		var got struct {
			Error string `json:"error"`
		}
		body := ErrorBody(msg)
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("ErrorBody(%q) = %s is not JSON: %v", msg, body, err)
		}
		var want strings.Builder // each invalid byte becomes U+FFFD
		for _, r := range msg {
			want.WriteRune(r)
		}
		if got.Error != want.String() {
			t.Errorf("ErrorBody(%q) reads back as %q", msg, got.Error)
		}
	}
}
