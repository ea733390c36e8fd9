package v2http

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/batonhq/baton/tritonclient"
	"github.com/google/go-cmp/cmp"
)

// must returns v, panicking on err (test fixtures only).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// nestJSON renders flat element literals as JSON arrays nested by shape (row-major).
func nestJSON(shape []int64, elems []string) string {
	if len(shape) <= 1 {
		return "[" + strings.Join(elems, ",") + "]"
	}
	rows := int(shape[0])
	if rows == 0 {
		return "[]"
	}
	per := len(elems) / rows
	parts := make([]string, rows)
	for i := range parts {
		parts[i] = nestJSON(shape[1:], elems[i*per:(i+1)*per])
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func TestDecodeJSONDatatypes(t *testing.T) {
	strs := func(t testing.TB, shape []int64, v ...string) tritonclient.Tensor {
		return must(tritonclient.NewStrings("x", shape, v))
	}
	cases := []struct {
		dt    string
		shape []int64
		elems []string
		want  func(testing.TB) tritonclient.Tensor
	}{
		{"BOOL", []int64{2, 2}, []string{"true", "false", "false", "true"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2, 2}, []bool{true, false, false, true}))
		}},
		{"UINT8", []int64{3}, []string{"0", "255", "-0"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{3}, []uint8{0, 255, 0}))
		}},
		{"UINT16", []int64{1, 2}, []string{"0", "65535"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{1, 2}, []uint16{0, 65535}))
		}},
		{"UINT32", []int64{2, 1}, []string{"7", "4294967295"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2, 1}, []uint32{7, math.MaxUint32}))
		}},
		{"UINT64", []int64{2}, []string{"1", "18446744073709551615"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2}, []uint64{1, math.MaxUint64}))
		}},
		{"INT8", []int64{2, 2}, []string{"-128", "127", "0", "-1"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2, 2}, []int8{-128, 127, 0, -1}))
		}},
		{"INT16", []int64{2}, []string{"-32768", "32767"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2}, []int16{-32768, 32767}))
		}},
		{"INT32", []int64{1, 1, 3}, []string{"-2147483648", "2147483647", "42"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{1, 1, 3}, []int32{math.MinInt32, math.MaxInt32, 42}))
		}},
		{"INT64", []int64{2}, []string{"-9223372036854775808", "9223372036854775807"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2}, []int64{math.MinInt64, math.MaxInt64}))
		}},
		{"FP32", []int64{2, 3}, []string{"1.5", "-2", "3.4028234663852886e38", "1e-45", "0.1", "-0"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2, 3}, []float32{1.5, -2, math.MaxFloat32, 1e-45, 0.1, float32(math.Copysign(0, -1))}))
		}},
		{"FP64", []int64{4}, []string{"0.1", "-1E308", "5e-324", "2"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{4}, []float64{0.1, -1e308, 5e-324, 2}))
		}},
		{"BYTES", []int64{2, 3}, []string{`""`, `"héllo"`, `"tab\t\"q\" \\ \/"`, `"\u00e9\ud83d\ude00"`, `"\u0000"`, `"日本"`},
			func(t testing.TB) tritonclient.Tensor {
				return strs(t, []int64{2, 3}, "", "héllo", "tab\t\"q\" \\ /", "é😀", "\x00", "日本")
			}},
		{"FP32", []int64{}, []string{"7"}, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{}, []float32{7}))
		}},
		{"INT32", []int64{2, 0}, nil, func(t testing.TB) tritonclient.Tensor {
			return must(tritonclient.NewTensor("x", []int64{2, 0}, []int32{}))
		}},
		{"BYTES", []int64{0}, nil, func(t testing.TB) tritonclient.Tensor {
			return strs(t, []int64{0}, []string{}...)
		}},
	}
	for _, tc := range cases {
		shapeJSON := "[" + strings.Join(strings.Fields(strings.Trim(fmt.Sprint(tc.shape), "[]")), ",") + "]"
		flat := "[" + strings.Join(tc.elems, ",") + "]"
		nested := nestJSON(tc.shape, tc.elems)
		if len(tc.shape) > 1 && tc.shape[0] != 0 && len(tc.elems) == 0 {
			nested = "[[],[]]"
		}
		variants := map[string]string{
			"flat":               fmt.Sprintf(`{"inputs":[{"name":"x","shape":%s,"datatype":%q,"data":%s}]}`, shapeJSON, tc.dt, flat),
			"nested":             fmt.Sprintf(`{"inputs":[{"name":"x","shape":%s,"datatype":%q,"data":%s}]}`, shapeJSON, tc.dt, nested),
			"data first":         fmt.Sprintf(`{"inputs":[{"data":%s,"name":"x","datatype":%q,"shape":%s}]}`, flat, tc.dt, shapeJSON),
			"nested, data first": fmt.Sprintf(" {\n \"inputs\" : [ { \"data\" : %s , \"shape\" : %s , \"datatype\" : %q , \"name\" : \"x\" } ] } \n", nested, shapeJSON, tc.dt),
		}
		for variant, body := range variants {
			t.Run(tc.dt+fmt.Sprint(tc.shape)+"/"+variant, func(t *testing.T) {
				req, err := DecodeRequest([]byte(body), -1)
				if err != nil {
					t.Fatalf("DecodeRequest(%s): %v", body, err)
				}
				want := tc.want(t)
				if len(req.Inputs) != 1 {
					t.Fatalf("got %d inputs", len(req.Inputs))
				}
				got := req.Inputs[0]
				if got.Name != want.Name || got.DataType != want.DataType || !equalShape(got.Shape, want.Shape) || !bytes.Equal(got.Raw, want.Raw) {
					t.Errorf("DecodeRequest(%s)\n got %+v\nwant %+v", body, got, want)
				}
				if err := got.Validate(); err != nil {
					t.Errorf("decoded input does not validate: %v", err)
				}
			})
		}
	}
}

func TestDecodeBinaryInputs(t *testing.T) {
	fp32 := must(tritonclient.NewTensor("a", []int64{2}, []float32{1, -2.5}))
	strs := must(tritonclient.NewStrings("s", []int64{3}, []string{"", "héllo", "\xff"}))
	half := must(tritonclient.NewFP16("h", []int64{1, 2}, []float32{0.5, -1}))
	bf := must(tritonclient.NewBF16("g", []int64{1}, []float32{3}))
	header := fmt.Sprintf(`{"id":"bin-1","inputs":[`+
		`{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":%d}},`+
		`{"name":"j","shape":[2],"datatype":"INT16","data":[-1,300]},`+
		`{"name":"s","shape":[3],"datatype":"BYTES","parameters":{"binary_data_size":%d,"extra":"ignored"}},`+
		`{"name":"h","shape":[1,2],"datatype":"FP16","parameters":{"binary_data_size":%d}},`+
		`{"name":"e","shape":[0],"datatype":"UINT8","parameters":{"binary_data_size":0}},`+
		`{"name":"g","shape":[1],"datatype":"BF16","parameters":{"binary_data_size":%d}}]}`,
		len(fp32.Raw), len(strs.Raw), len(half.Raw), len(bf.Raw))
	body, headerLen := binarySeed(header, fp32.Raw, strs.Raw, half.Raw, bf.Raw)
	req, err := DecodeRequest(body, headerLen)
	if err != nil {
		t.Fatal(err)
	}
	want := []tritonclient.Tensor{
		fp32,
		must(tritonclient.NewTensor("j", []int64{2}, []int16{-1, 300})),
		strs,
		half,
		{Name: "e", DataType: tritonclient.Uint8, Shape: []int64{0}, Raw: []byte{}},
		bf,
	}
	if diff := cmp.Diff(want, req.Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if req.ID != "bin-1" {
		t.Errorf("ID = %q", req.ID)
	}
	// Binary inputs are sub-slices of the body, capped so appends copy.
	off := headerLen
	for _, i := range []int{0, 2, 3, 5} {
		raw := req.Inputs[i].Raw
		if &raw[0] != &body[off] {
			t.Errorf("inputs[%d].Raw is a copy, not body[%d:]", i, off)
		}
		if cap(raw) != len(raw) {
			t.Errorf("inputs[%d].Raw has cap %d > len %d", i, cap(raw), len(raw))
		}
		off += len(raw)
	}
	// A JSON input's bytes do not alias the body.
	j := req.Inputs[1].Raw
	start, end := uintptr(unsafe.Pointer(&body[0])), uintptr(unsafe.Pointer(&body[0]))+uintptr(len(body))
	if p := uintptr(unsafe.Pointer(&j[0])); p >= start && p < end {
		t.Errorf("JSON input aliases the body")
	}
}

func TestDecodeParameters(t *testing.T) {
	body := `{
		"id": "req-7",
		"model_name": "ignored", "extra": {"nested": [1, {"a": null}, "x"]},
		"parameters": {"timeout": 1000, "priority": 2, "sequence_id": -3, "target_model": "tabular_ensemble",
			"ratio": 0.25, "whole": 2.0, "exp": 1e3, "big": 18446744073709551616, "flag": false, "binary_data_output": true},
		"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "parameters": {"note": "dropped"}}],
		"outputs": [
			{"name": "a"},
			{"name": "b", "parameters": {"binary_data": false}},
			{"name": "c", "parameters": {"binary_data": true, "topk": 3, "extra": "v"}},
			{"name": "d", "parameters": null, "unknown": [1]}
		]
	}`
	req, err := DecodeRequest([]byte(body), -1)
	if err != nil {
		t.Fatal(err)
	}
	f, tr := false, true
	want := &Request{
		ID: "req-7",
		Parameters: map[string]any{
			"timeout": int64(1000), "priority": int64(2), "sequence_id": int64(-3), "target_model": "tabular_ensemble",
			"ratio": 0.25, "whole": 2.0, "exp": 1000.0, "big": 18446744073709551616.0, "flag": false,
		},
		Inputs: []tritonclient.Tensor{must(tritonclient.NewTensor("x", []int64{1}, []float32{1}))},
		Outputs: []RequestedOutput{
			{Name: "a"},
			{Name: "b", Binary: &f},
			{Name: "c", Binary: &tr, Parameters: map[string]any{"topk": int64(3), "extra": "v"}},
			{Name: "d"},
		},
		BinaryDataOutput: true,
	}
	if diff := cmp.Diff(want, req); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}

	// Absent and null optional fields.
	req, err = DecodeRequest([]byte(`{"id":null,"parameters":null,"outputs":null,"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[true]}]}`), -1)
	if err != nil {
		t.Fatal(err)
	}
	if req.ID != "" || req.Parameters != nil || req.Outputs != nil || req.BinaryDataOutput {
		t.Errorf("null fields decoded as %+v", req)
	}
}

// badCase is a request DecodeRequest must reject with exactly msg.
type badCase struct {
	name      string
	body      string
	headerLen int // -1: pure JSON; 0: body is the JSON header and bin follows; -2: a header length of 0
	bin       []byte
	msg       string
	tensorErr bool // the error also wraps tritonclient.ErrInvalidTensor
}

// in wraps one input object in a request.
func in(input string) string {
	return `{"inputs":[` + input + `]}`
}

var badCases = []badCase{
	{name: "empty body", body: ``, headerLen: -1, msg: "body: empty"},
	{name: "whitespace body", body: " \n", headerLen: -1, msg: "body: no JSON object (the JSON header is empty)"},
	{name: "not JSON", body: `not json`, headerLen: -1, msg: "body: invalid JSON at byte 1: unexpected 'o'"},
	{name: "not an object", body: `[1,2]`, headerLen: -1, msg: "body: must be a JSON object, got an array"},
	{name: "truncated JSON", body: `{"inputs":[{"name":"x","shape":[2],`, headerLen: -1,
		msg: "inputs[0]: invalid JSON at byte 35: unexpected end of JSON (truncated?)"},
	{name: "truncated data", body: `{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,`, headerLen: -1,
		msg: "inputs[0].data: invalid JSON at byte 63: unexpected end of JSON (truncated?)"},
	{name: "truncated nested data", body: `{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3`, headerLen: -1,
		msg: "inputs[0].data[1]: invalid JSON at byte 71: unexpected end of JSON (truncated?)"},
	{name: "truncated data, data first", body: `{"inputs":[{"data":[[1,2],[3`, headerLen: -1,
		msg: "inputs[0].data: invalid JSON at byte 28: unexpected end of JSON (truncated?)"},
	{name: "trailing garbage", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":[1]}`) + `xyz`, headerLen: -1,
		msg: "body: invalid JSON at byte 66: unexpected 'x' after the JSON object (binary data without an Inference-Header-Content-Length header?)"},
	{name: "bad escape", body: `{"id":"a\qb","inputs":[]}`, headerLen: -1, msg: `id: invalid JSON at byte 8: invalid escape "\\q" in string`},
	{name: "missing inputs", body: `{"id":"a"}`, headerLen: -1, msg: "inputs: missing"},
	{name: "empty inputs", body: `{"inputs":[]}`, headerLen: -1, msg: "inputs: empty: a request needs at least one input"},
	{name: "inputs not array", body: `{"inputs":{}}`, headerLen: -1, msg: "inputs: must be an array, got an object"},
	{name: "input not object", body: `{"inputs":["x"]}`, headerLen: -1, msg: "inputs[0]: must be an object, got a string"},
	{name: "id not string", body: `{"id":7,"inputs":[]}`, headerLen: -1, msg: "id: must be a string, got a number"},
	{name: "duplicate key", body: `{"inputs":[],"inputs":[]}`, headerLen: -1, msg: "inputs: appears twice"},
	{name: "missing name", body: in(`{"shape":[1],"datatype":"FP32","data":[1]}`), headerLen: -1, msg: "inputs[0].name: missing"},
	{name: "empty name", body: in(`{"name":"","shape":[1],"datatype":"FP32","data":[1]}`), headerLen: -1, msg: "inputs[0].name: empty"},
	{name: "duplicate input", body: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[1],"datatype":"FP32","data":[2]}]}`,
		headerLen: -1, msg: `inputs[1].name: duplicate input "x" (also inputs[0])`},
	{name: "missing datatype", body: in(`{"name":"x","shape":[1],"data":[1]}`), headerLen: -1, msg: "inputs[0].datatype: missing"},
	{name: "unknown datatype", body: in(`{"name":"x","shape":[1],"datatype":"FP8","data":[1]}`), headerLen: -1, msg: `inputs[0].datatype: unknown datatype "FP8"`},
	{name: "lower-case datatype", body: in(`{"name":"x","shape":[1],"datatype":"fp32","data":[1]}`), headerLen: -1, msg: `inputs[0].datatype: unknown datatype "fp32"`},
	{name: "missing shape", body: in(`{"name":"x","datatype":"FP32","data":[1]}`), headerLen: -1, msg: "inputs[0].shape: missing"},
	{name: "negative dim", body: `{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[2,-2],"datatype":"FP32","data":[1]}]}`,
		headerLen: -1, msg: "inputs[1].shape[1]: -2 is negative"},
	{name: "fractional dim", body: in(`{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}`), headerLen: -1, msg: "inputs[0].shape[0]: 1.5 is not an integer"},
	{name: "string dim", body: in(`{"name":"x","shape":["2"],"datatype":"FP32","data":[1]}`), headerLen: -1, msg: "inputs[0].shape[0]: must be an integer, got a string"},
	{name: "shape overflow", body: in(`{"name":"x","shape":[4294967296,4294967296],"datatype":"FP32","data":[1]}`), headerLen: -1,
		msg: "inputs[0].shape: invalid tensor: shape [4294967296 4294967296] element count overflows int64", tensorErr: true},
	{name: "too few elements", body: in(`{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3]]}`), headerLen: -1,
		msg: "inputs[0].data: has 3 elements, but shape [2 2] needs 4"},
	{name: "too many elements", body: in(`{"data":[1,2,3],"name":"x","shape":[2],"datatype":"INT32"}`), headerLen: -1,
		msg: "inputs[0].data: has 3 elements, but shape [2] needs 2"},
	{name: "huge shape", body: in(`{"name":"x","shape":[1000000000000],"datatype":"FP64","data":[1]}`), headerLen: -1,
		msg: "inputs[0].data: has 1 elements, but shape [1000000000000] needs 1000000000000"},
	{name: "string in FP32", body: in(`{"name":"x","shape":[2],"datatype":"FP32","data":[1,"2"]}`), headerLen: -1,
		msg: "inputs[0].data[1]: FP32 needs a number, got a string"},
	{name: "fraction in INT32", body: in(`{"name":"x","shape":[2,2],"datatype":"INT32","data":[[1,2],[3,4.5]]}`), headerLen: -1,
		msg: "inputs[0].data[1][1]: INT32 needs an integer, got 4.5"},
	{name: "exponent in INT64", body: in(`{"name":"x","shape":[1],"datatype":"INT64","data":[1e3]}`), headerLen: -1,
		msg: "inputs[0].data[0]: INT64 needs an integer, got 1e3"},
	{name: "INT8 out of range", body: in(`{"name":"x","shape":[3],"datatype":"INT8","data":[1,-129,2]}`), headerLen: -1,
		msg: "inputs[0].data[1]: INT8 needs -128 to 127, got -129"},
	{name: "UINT8 out of range", body: in(`{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}`), headerLen: -1,
		msg: "inputs[0].data[0]: UINT8 needs 0 to 255, got 256"},
	{name: "negative UINT16", body: in(`{"name":"x","shape":[1],"datatype":"UINT16","data":[-1]}`), headerLen: -1,
		msg: "inputs[0].data[0]: UINT16 needs a non-negative integer, got -1"},
	{name: "UINT64 overflow", body: in(`{"name":"x","shape":[1],"datatype":"UINT64","data":[18446744073709551616]}`), headerLen: -1,
		msg: "inputs[0].data[0]: UINT64 needs 0 to 18446744073709551615, got 18446744073709551616"},
	{name: "INT64 overflow", body: in(`{"name":"x","shape":[1],"datatype":"INT64","data":[9223372036854775808]}`), headerLen: -1,
		msg: "inputs[0].data[0]: INT64 needs -9223372036854775808 to 9223372036854775807, got 9223372036854775808"},
	{name: "FP32 out of range", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":[1e39]}`), headerLen: -1,
		msg: "inputs[0].data[0]: 1e39 is out of range for FP32"},
	{name: "number in BOOL", body: in(`{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}`), headerLen: -1,
		msg: "inputs[0].data[0]: BOOL needs true or false, got a number"},
	{name: "bool in FP64", body: in(`{"name":"x","shape":[1],"datatype":"FP64","data":[true]}`), headerLen: -1,
		msg: "inputs[0].data[0]: FP64 needs a number, got a bool"},
	{name: "null in INT32", body: in(`{"name":"x","shape":[2],"datatype":"INT32","data":[1,null]}`), headerLen: -1,
		msg: "inputs[0].data[1]: INT32 needs an integer, got null"},
	{name: "number in BYTES", body: in(`{"name":"x","shape":[1],"datatype":"BYTES","data":[1]}`), headerLen: -1,
		msg: "inputs[0].data[0]: BYTES needs a string, got a number"},
	{name: "object in data", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":[{}]}`), headerLen: -1,
		msg: "inputs[0].data[0]: FP32 needs a number, got an object"},
	{name: "NaN in data", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":[NaN]}`), headerLen: -1,
		msg: "inputs[0].data[0]: invalid JSON at byte 61: unexpected 'N'"},
	{name: "invalid UTF-8 in BYTES", body: in(`{"name":"x","shape":[1],"datatype":"BYTES","data":["a` + "\xff" + `"]}`), headerLen: -1,
		msg: "inputs[0].data[0]: invalid UTF-8 in string at byte 64"},
	{name: "lone surrogate in BYTES", body: in(`{"name":"x","shape":[1],"datatype":"BYTES","data":["\udc00"]}`), headerLen: -1,
		msg: `inputs[0].data[0]: lone UTF-16 surrogate \udc00 in string at byte 63`},
	{name: "data not array", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":1}`), headerLen: -1,
		msg: "inputs[0].data: must be an array, got a number"},
	{name: "data too deep", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":` + strings.Repeat("[", 70) + `1` + strings.Repeat("]", 70) + `}`), headerLen: -1,
		msg: "inputs[0].data" + strings.Repeat("[0]", 64) + ": arrays nested deeper than 64 levels"},
	{name: "FP16 in JSON", body: in(`{"name":"x","shape":[1],"datatype":"FP16","data":[1]}`), headerLen: -1,
		msg: "inputs[0].data: FP16 is not supported in JSON: send it as binary data (parameters.binary_data_size)"},
	{name: "BF16 in JSON", body: in(`{"name":"x","shape":[1],"datatype":"BF16","data":[1]}`), headerLen: -1,
		msg: "inputs[0].data: BF16 is not supported in JSON: send it as binary data (parameters.binary_data_size)"},
	{name: "no data", body: in(`{"name":"x","shape":[1],"datatype":"FP32"}`), headerLen: -1,
		msg: "inputs[0].data: missing (and no parameters.binary_data_size)"},
	{name: "data and binary", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}`), headerLen: 0,
		msg: "inputs[0]: has both data and parameters.binary_data_size"},
	{name: "shared memory", body: in(`{"name":"x","shape":[1],"datatype":"FP32","parameters":{"shared_memory_region":"r"}}`), headerLen: -1,
		msg: "inputs[0].parameters.shared_memory_region: shared memory is not supported"},
	{name: "input parameter object", body: in(`{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"p":{}}}`), headerLen: -1,
		msg: "inputs[0].parameters.p: must be a bool, number or string, got an object"},
	{name: "negative binary size", body: in(`{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":-4}}`), headerLen: 0,
		msg: "inputs[0].parameters.binary_data_size: must be a non-negative integer, got -4"},
	{name: "binary without header", body: in(`{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}`), headerLen: -1,
		msg: "inputs[0].parameters.binary_data_size: is set, but the request has no binary data (no Inference-Header-Content-Length header)"},
	{name: "binary size mismatch", body: in(`{"name":"x","shape":[2,3],"datatype":"FP32","parameters":{"binary_data_size":20}}`), headerLen: 0,
		bin: make([]byte, 20), msg: "inputs[0].parameters.binary_data_size: is 20, but FP32 shape [2 3] needs 24 bytes"},
	{name: "zero header length", body: `{"inputs":[]}`, headerLen: -2, msg: "Inference-Header-Content-Length: is 0: the body has no JSON header"},
	{name: "header length past the body", body: `{"inputs":[]}`, headerLen: 14,
		msg: "Inference-Header-Content-Length: 14 is past the end of the 13-byte body"},
	{name: "truncated binary body", body: in(`{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}`), headerLen: 0,
		bin: []byte{1, 2, 3, 4, 5}, msg: "inputs[0].parameters.binary_data_size: is 8, but only 5 bytes of binary data are left (the binary section has 5 bytes; truncated body?)"},
	{name: "leftover binary bytes", body: in(`{"name":"x","shape":[1],"datatype":"INT16","parameters":{"binary_data_size":2}}`), headerLen: 0,
		bin: []byte{1, 2, 3}, msg: "body: 1 bytes of binary data left over: the binary section has 3 bytes and the inputs' binary_data_size add up to 2"},
	{name: "binary section with JSON inputs only", body: in(`{"name":"x","shape":[1],"datatype":"INT16","data":[1]}`), headerLen: 0,
		bin: []byte{9}, msg: "body: 1 bytes of binary data left over: the binary section has 1 bytes and the inputs' binary_data_size add up to 0"},
	{name: "BYTES length prefix past the end", body: in(`{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":12}}`), headerLen: 0,
		bin: []byte{1, 0, 0, 0, 'a', 100, 0, 0, 0, 'b', 'c', 'd'},
		msg: `inputs[0]: invalid tensor: tensor "s": BYTES shape [2]: element 1 at offset 5: length 100 runs past the end (3 of 100 bytes present)`, tensorErr: true},
	{name: "BYTES fewer elements than shape", body: in(`{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":5}}`), headerLen: 0,
		bin: []byte{1, 0, 0, 0, 'a'}, msg: `inputs[0]: invalid tensor: tensor "s": BYTES shape [2] needs 2 elements, got 1`, tensorErr: true},
	{name: "outputs not array", body: `{"outputs":"y","inputs":[]}`, headerLen: -1, msg: "outputs: must be an array, got a string"},
	{name: "output missing name", body: `{"outputs":[{"parameters":{}}],"inputs":[]}`, headerLen: -1, msg: "outputs[0].name: missing"},
	{name: "duplicate output", body: `{"outputs":[{"name":"y"},{"name":"z"},{"name":"y"}],"inputs":[]}`, headerLen: -1,
		msg: `outputs[2].name: duplicate output "y" (also outputs[0])`},
	{name: "binary_data not bool", body: `{"outputs":[{"name":"y","parameters":{"binary_data":1}}],"inputs":[]}`, headerLen: -1,
		msg: "outputs[0].parameters.binary_data: must be a bool, got a number"},
	{name: "classification", body: `{"outputs":[{"name":"y","parameters":{"classification":3}}],"inputs":[]}`, headerLen: -1,
		msg: "outputs[0].parameters.classification: the classification extension is not supported"},
	{name: "binary_data_output not bool", body: `{"parameters":{"binary_data_output":"true"},"inputs":[]}`, headerLen: -1,
		msg: "parameters.binary_data_output: must be a bool, got a string"},
	{name: "parameter array", body: `{"parameters":{"timeout":[1]},"inputs":[]}`, headerLen: -1,
		msg: "parameters.timeout: must be a bool, number or string, got an array"},
	{name: "parameter null", body: `{"parameters":{"timeout":null},"inputs":[]}`, headerLen: -1,
		msg: "parameters.timeout: must be a bool, number or string, got null"},
	{name: "parameter huge", body: `{"parameters":{"x":1e999},"inputs":[]}`, headerLen: -1,
		msg: "parameters.x: 1e999 is out of range for a number parameter"},
	{name: "unknown field broken", body: `{"model_name":tru,"inputs":[]}`, headerLen: -1,
		msg: "model_name: invalid JSON at byte 17: unexpected ','"},
}

func TestDecodeBadRequests(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			headerLen := tc.headerLen
			if headerLen == -2 {
				headerLen = 0
			} else if headerLen == 0 {
				headerLen = len(body)
				body = append(body, tc.bin...)
			}
			req, err := DecodeRequest(body, headerLen)
			if err == nil {
				t.Fatalf("DecodeRequest(%q) = %+v, want error %q", body, req, tc.msg)
			}
			if got := err.Error(); got != tc.msg {
				t.Errorf("DecodeRequest(%q)\nerror %q\n want %q", body, got, tc.msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrBadRequest) {
				t.Errorf("error %v is not a *FieldError wrapping ErrBadRequest", err)
			}
			if got := errors.Is(err, tritonclient.ErrInvalidTensor); got != tc.tensorErr {
				t.Errorf("errors.Is(err, ErrInvalidTensor) = %v, want %v", got, tc.tensorErr)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	e := &FieldError{Field: "inputs[1].shape[0]", Msg: "-2 is negative"}
	if got, want := e.Error(), "inputs[1].shape[0]: -2 is negative"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&FieldError{Msg: "just a message"}).Error(); got != "just a message" {
		t.Errorf("Error() without field = %q", got)
	}
	if !errors.Is(e, ErrBadRequest) || errors.Is(e, tritonclient.ErrInvalidTensor) {
		t.Errorf("plain FieldError wraps the wrong sentinels")
	}
}

func TestDecodeManyInputsAndOutputs(t *testing.T) {
	// Past linearScanMax names, duplicates are found through a map.
	var inputs, outputs []string
	for i := range 40 {
		inputs = append(inputs, fmt.Sprintf(`{"name":"in%d","shape":[1],"datatype":"INT8","data":[%d]}`, i, i))
		outputs = append(outputs, fmt.Sprintf(`{"name":"out%d"}`, i))
	}
	ok := `{"inputs":[` + strings.Join(inputs, ",") + `],"outputs":[` + strings.Join(outputs, ",") + `]}`
	req, err := DecodeRequest([]byte(ok), -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Inputs) != 40 || len(req.Outputs) != 40 || req.Inputs[39].Raw[0] != 39 {
		t.Fatalf("decoded %d inputs, %d outputs", len(req.Inputs), len(req.Outputs))
	}
	dupIn := `{"inputs":[` + strings.Join(append(inputs, inputs[25]), ",") + `]}`
	if _, err := DecodeRequest([]byte(dupIn), -1); err == nil || err.Error() != `inputs[40].name: duplicate input "in25" (also inputs[25])` {
		t.Errorf("duplicate input: %v", err)
	}
	dupOut := `{"inputs":[` + inputs[0] + `],"outputs":[` + strings.Join(append(outputs, outputs[30]), ",") + `]}`
	if _, err := DecodeRequest([]byte(dupOut), -1); err == nil || err.Error() != `outputs[40].name: duplicate output "out30" (also outputs[30])` {
		t.Errorf("duplicate output: %v", err)
	}
}

func TestDecodeSeeds(t *testing.T) {
	// The fuzz seeds run through the same checks as the fuzz targets.
	for _, s := range jsonSeeds {
		checkDecode(t, []byte(s), -1)
	}
	for _, s := range binarySeeds() {
		checkDecode(t, s.body, s.headerLen)
	}
	bodies, headerLens := badSeeds()
	for i, b := range bodies {
		checkDecode(t, b, headerLens[i])
	}
}
