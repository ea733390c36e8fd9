package v2http

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/batonhq/baton/tritonclient"
)

// jsonSeeds are request headers, well-formed and not, shared by the fuzz targets.
var jsonSeeds = []string{
	``,
	`{}`,
	`[]`,
	`{"inputs":[]}`,
	`{"id":"r1","parameters":{"timeout":1000,"priority":2,"target_model":"m","f":0.5,"binary_data_output":true},` +
		`"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3.5,-4e-3]]}],` +
		`"outputs":[{"name":"y","parameters":{"binary_data":false,"k":"v"}},{"name":"z"}]}`,
	`{"inputs":[{"data":[1,2,3],"datatype":"INT8","shape":[3],"name":"a"}]}`,
	`{"inputs":[{"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]}]}`,
	`{"inputs":[{"name":"s","shape":[3],"datatype":"BYTES","data":["","h\u00e9llo","\ud83d\ude00\n"]}]}`,
	`{"inputs":[{"name":"u","shape":[1,2],"datatype":"UINT64","data":[[0,18446744073709551615]]}]}`,
	`{"inputs":[{"name":"i","shape":[2],"datatype":"INT64","data":[-9223372036854775808,9223372036854775807]}]}`,
	`{"inputs":[{"name":"d","shape":[2],"datatype":"FP64","data":[1e308,5e-324]}]}`,
	`{"inputs":[{"name":"h","shape":[2],"datatype":"FP16","data":[1,2]}]}`,
	`{"inputs":[{"name":"z","shape":[0],"datatype":"UINT16","data":[]}]}`,
	`{"inputs":[{"name":"x","shape":[2,-1],"datatype":"FP32","data":[1,2]}]}`,
	`{"inputs":[{"name":"x","shape":[4611686018427387904,4],"datatype":"FP32","data":[1]}]}`,
	`{"inputs":[{"name":"x","shape":[2],"datatype":"INT32","data":[1.5,2]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1]},{"name":"x","shape":[1],"datatype":"INT32","data":[1]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["1"]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[[[[[1]]]]]}]}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"model_name":"m","extra":{"a":[null,true,{"b":"\u0041"}]}}`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]} trailing`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1`,
	`{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["\ud800"]}]}`,
}

// binarySeed builds a request body from a JSON header and binary parts, returning it with the header length.
func binarySeed(header string, parts ...[]byte) ([]byte, int) {
	body := []byte(header)
	for _, p := range parts {
		body = append(body, p...)
	}
	return body, len(header)
}

// binarySeeds are binary-extension requests shared by the fuzz targets and tests.
func binarySeeds() []struct {
	body      []byte
	headerLen int
} {
	var out []struct {
		body      []byte
		headerLen int
	}
	add := func(body []byte, headerLen int) {
		out = append(out, struct {
			body      []byte
			headerLen int
		}{body, headerLen})
	}
	add(binarySeed(`{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`,
		[]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}))
	add(binarySeed(`{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},`+
		`{"name":"b","shape":[1],"datatype":"INT8","data":[-1]},`+
		`{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}},`+
		`{"name":"h","shape":[1],"datatype":"FP16","parameters":{"binary_data_size":2}}],`+
		`"parameters":{"binary_data_output":true},"outputs":[{"name":"s","parameters":{"binary_data":false}}]}`,
		[]byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0xff},
		tritonclient.EncodeBytes([][]byte{[]byte("a"), {0xff, 0xfe}}),
		[]byte{0x00, 0x3c}))
	add(binarySeed(`{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":7}}]}`,
		[]byte{100, 0, 0, 0, 'a', 'b', 'c'}))
	add(binarySeed(`{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`,
		[]byte{1, 2, 3}))
	add(binarySeed(`{"inputs":[{"name":"a","shape":[1],"datatype":"BOOL","parameters":{"binary_data_size":1}}]}`,
		[]byte{2}))
	add([]byte(`{"inputs":[]}`), 100)
	return out
}

// badSeeds returns the bodies of the bad-request table with their header lengths.
func badSeeds() (bodies [][]byte, headerLens []int) {
	for _, tc := range badCases {
		body, headerLen := []byte(tc.body), tc.headerLen
		if headerLen == -2 {
			headerLen = 0
		} else if headerLen == 0 {
			headerLen = len(body)
			body = append(body, tc.bin...)
		}
		bodies, headerLens = append(bodies, body), append(headerLens, headerLen)
	}
	return bodies, headerLens
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	bodies, _ := badSeeds()
	for _, b := range bodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, body, -1)
	})
}

func FuzzDecodeBinaryRequest(f *testing.F) {
	for _, s := range binarySeeds() {
		f.Add(s.body, s.headerLen)
	}
	for _, s := range jsonSeeds {
		f.Add([]byte(s), len(s))
	}
	bodies, headerLens := badSeeds()
	for i, b := range bodies {
		f.Add(b, headerLens[i])
	}
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		checkDecode(t, body, headerLen)
	})
}

// checkDecode decodes body and checks what any outcome must satisfy: errors
// are *FieldError wrapping ErrBadRequest, and only for headers that are not
// valid JSON do they say "invalid JSON"; decoded requests are valid JSON,
// hold valid tensors that agree with encoding/json, and survive an
// EncodeResponse round trip.
func checkDecode(t *testing.T, body []byte, headerLen int) {
	input := bytes.Clone(body)
	req, err := DecodeRequest(body, headerLen)
	if !bytes.Equal(body, input) {
		t.Fatalf("DecodeRequest modified its input")
	}
	header := body
	if headerLen >= 0 && headerLen <= len(body) {
		header = body[:headerLen]
	}
	if err != nil {
		var fe *FieldError
		if !errors.Is(err, ErrBadRequest) || !errors.As(err, &fe) {
			t.Fatalf("error %v (%T) is not a *FieldError wrapping ErrBadRequest", err, err)
		}
		if req != nil {
			t.Fatalf("request returned with error %v", err)
		}
		if strings.Contains(err.Error(), "invalid JSON") && json.Valid(header) {
			t.Fatalf("error %q, but encoding/json finds the header valid", err)
		}
		return
	}
	if !json.Valid(header) {
		t.Fatalf("decoded a header that encoding/json rejects: %q", header)
	}
	if len(req.Inputs) == 0 {
		t.Fatalf("decoded a request with no inputs")
	}
	names := make(map[string]bool)
	for i, in := range req.Inputs {
		if err := in.Validate(); err != nil {
			t.Fatalf("inputs[%d] does not validate: %v", i, err)
		}
		if names[in.Name] {
			t.Fatalf("duplicate input %q decoded", in.Name)
		}
		names[in.Name] = true
	}
	ref, err := referenceInputs(header)
	if err != nil {
		t.Fatalf("encoding/json cannot decode an accepted request: %v", err)
	}
	for _, in := range req.Inputs {
		want, ok := ref[in.Name]
		if !ok {
			continue // binary input
		}
		if want.DataType != in.DataType || !bytes.Equal(want.Raw, in.Raw) {
			t.Fatalf("input %q: decoded %s %x, encoding/json gives %s %x", in.Name, in.DataType, in.Raw, want.DataType, want.Raw)
		}
	}
	out, hl, err := EncodeResponse(&Response{ModelName: "m", ModelVersion: "1", Outputs: req.Inputs}, req)
	if err != nil {
		t.Fatalf("EncodeResponse of decoded inputs: %v", err)
	}
	resp, tensors, binary := decodeResponse(t, out, hl)
	if resp.ID != req.ID {
		t.Fatalf("response id %q, request id %q", resp.ID, req.ID)
	}
	for i, got := range tensors {
		want := req.Inputs[i]
		wantRaw := want.Raw
		if !binary[i] {
			wantRaw = normalizeBool(want)
		}
		if got.Name != want.Name || got.DataType != want.DataType || !equalShape(got.Shape, want.Shape) || !bytes.Equal(got.Raw, wantRaw) {
			t.Fatalf("round trip of outputs[%d]: got %+v, want %+v", i, got, want)
		}
	}
}

// normalizeBool returns t's raw bytes with BOOL elements as 0 or 1, as they come back from JSON.
func normalizeBool(t tritonclient.Tensor) []byte {
	if t.DataType != tritonclient.Bool {
		return t.Raw
	}
	out := make([]byte, len(t.Raw))
	for i, b := range t.Raw {
		if b != 0 {
			out[i] = 1
		}
	}
	return out
}

// equalShape compares shapes, treating nil and empty as equal.
func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
