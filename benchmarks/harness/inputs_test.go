package harness

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonhq/baton/tritonclient"
)

// Model descriptions as the probe reports them.
var (
	identityInfo = &ModelInfo{Model: "identity_fp32", MaxBatchSize: 8,
		Inputs: []tritonclient.TensorMetadata{{Name: "INPUT0", DataType: tritonclient.FP32, Shape: []int64{-1, -1}}}}
	rowsInfo = &ModelInfo{Model: "tabular", MaxBatchSize: 32,
		Inputs: []tritonclient.TensorMetadata{{Name: "ROWS", DataType: tritonclient.Bytes, Shape: []int64{-1, 1}}}}
	fixedInfo = &ModelInfo{Model: "fixed", MaxBatchSize: 0,
		Inputs: []tritonclient.TensorMetadata{{Name: "A", DataType: tritonclient.Int32, Shape: []int64{2, 3}}, {Name: "B", DataType: tritonclient.Bool, Shape: []int64{1}}}}
)

func writeData(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildPayloadsGenerated(t *testing.T) {
	ps, err := BuildPayloads(identityInfo, InputSpec{Data: DataZero, Shapes: map[string][]int64{"INPUT0": {16}}, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	in := ps[0].Inputs[0]
	// batch 4 × 16 FP32 zeros = 256 bytes of zeros.
	if len(ps) != 1 || !cmp.Equal(in.Shape, []int64{4, 16}) || len(in.Raw) != 256 || strings.Trim(string(in.Raw), "\x00") != "" {
		t.Errorf("zero payload: shape %v, %d bytes", in.Shape, len(in.Raw))
	}
	a, err := BuildPayloads(identityInfo, InputSpec{Data: DataRandom, Shapes: map[string][]int64{"INPUT0": {16}}, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := BuildPayloads(identityInfo, InputSpec{Data: DataRandom, Shapes: map[string][]int64{"INPUT0": {16}}, Seed: 7})
	vals, _ := tritonclient.Values[float32](a[0].Inputs[0])
	if !cmp.Equal(a, b) || vals[0] == vals[1] || vals[0] < 0 || vals[0] >= 1 {
		t.Errorf("random payloads: same seed must give the same data, values in [0,1): %v", vals[:2])
	}
	ps, err = BuildPayloads(rowsInfo, InputSpec{Data: DataRandom, StringLength: 5})
	if err != nil {
		t.Fatal(err)
	}
	strs, _ := ps[0].Inputs[0].BytesValues()
	if !cmp.Equal(ps[0].Inputs[0].Shape, []int64{1, 1}) || len(strs) != 1 || len(strs[0]) != 5 {
		t.Errorf("random BYTES: shape %v values %q", ps[0].Inputs[0].Shape, strs)
	}
}

func TestBuildPayloadsFromFile(t *testing.T) {
	// perf_analyzer's format: plain arrays, content/shape objects, b64, and
	// a stream (a list of entries) flattened.
	raw := make([]byte, 8)
	binary.LittleEndian.PutUint32(raw, math.Float32bits(1.5))
	binary.LittleEndian.PutUint32(raw[4:], math.Float32bits(-2))
	doc := `{"data": [
		{"INPUT0": [1, 2, 3]},
		{"INPUT0": {"content": [[1, 2], [3, 4]], "shape": [4]}},
		[{"INPUT0": {"b64": "` + base64.StdEncoding.EncodeToString(raw) + `"}}, {"INPUT0": [9]}]
	]}`
	ps, err := BuildPayloads(identityInfo, InputSpec{Data: writeData(t, doc), BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var shapes [][]int64
	var firsts []float32
	for _, p := range ps {
		shapes = append(shapes, p.Inputs[0].Shape)
		v, err := tritonclient.Values[float32](p.Inputs[0])
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, v[0])
	}
	// The one variable dimension is inferred from the count; batch 2
	// repeats each entry.
	if diff := cmp.Diff([][]int64{{2, 3}, {2, 4}, {2, 2}, {2, 1}}, shapes); diff != "" {
		t.Errorf("shapes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float32{1, 1, 1.5, 9}, firsts); diff != "" {
		t.Errorf("first values (-want +got):\n%s", diff)
	}

	ps, err = BuildPayloads(rowsInfo, InputSpec{Data: writeData(t, `{"data":[{"ROWS":["M,0.455,0.365,0.095,0.514"]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if strs, _ := ps[0].Inputs[0].BytesValues(); !cmp.Equal(ps[0].Inputs[0].Shape, []int64{1, 1}) || string(strs[0]) != "M,0.455,0.365,0.095,0.514" {
		t.Errorf("ROWS payload: shape %v, %q", ps[0].Inputs[0].Shape, strs)
	}

	ps, err = BuildPayloads(fixedInfo, InputSpec{Data: writeData(t, `{"data":[{"A":[1,2,3,4,5,-6],"B":[true]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tritonclient.Values[int32](ps[0].Inputs[0])
	bv, _ := tritonclient.Values[bool](ps[0].Inputs[1])
	if !cmp.Equal(a, []int32{1, 2, 3, 4, 5, -6}) || !cmp.Equal(ps[0].Inputs[0].Shape, []int64{2, 3}) || !cmp.Equal(bv, []bool{true}) {
		t.Errorf("fixed payload: %v %v %v", a, ps[0].Inputs[0].Shape, bv)
	}
}

func TestBuildPayloadsErrors(t *testing.T) {
	tests := []struct {
		name string
		info *ModelInfo
		spec InputSpec
		want string
	}{
		{"variable shape without --shape", identityInfo, InputSpec{Data: DataZero}, "give --shape INPUT0"},
		{"--shape of an unknown input", identityInfo, InputSpec{Data: DataZero, Shapes: map[string][]int64{"NOPE": {1}}}, "not an input"},
		{"--shape with the wrong rank", identityInfo, InputSpec{Data: DataZero, Shapes: map[string][]int64{"INPUT0": {1, 2}}}, "has 2 dimensions"},
		{"batch on a non-batching model", fixedInfo, InputSpec{Data: DataZero, BatchSize: 2}, "does not batch"},
		{"batch above max_batch_size", identityInfo, InputSpec{Data: DataZero, BatchSize: 9, Shapes: map[string][]int64{"INPUT0": {1}}}, "max_batch_size 8"},
		{"missing file", identityInfo, InputSpec{Data: "/nonexistent/data.json"}, "no such file"},
		{"not JSON", identityInfo, InputSpec{Data: writeData(t, `nope`)}, "perf_analyzer's JSON format"},
		{"input missing from an entry", identityInfo, InputSpec{Data: writeData(t, `{"data":[{"OTHER":[1]}]}`)}, `no "INPUT0"`},
		{"string for a number", identityInfo, InputSpec{Data: writeData(t, `{"data":[{"INPUT0":["x"]}]}`)}, "not a FP32 element"},
		{"count does not fit a fixed shape", fixedInfo, InputSpec{Data: writeData(t, `{"data":[{"A":[1,2],"B":[true]}]}`)}, "2 values for shape [2 3]"},
		{"integer out of range", fixedInfo, InputSpec{Data: writeData(t, `{"data":[{"A":[1,2,3,4,5,3000000000],"B":[true]}]}`)}, "not a INT32 element"},
		{"no entries", identityInfo, InputSpec{Data: writeData(t, `{"data":[]}`)}, "no entries"},
	}
	for _, tc := range tests {
		_, err := BuildPayloads(tc.info, tc.spec)
		if !errors.Is(err, ErrBadFlag) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want an ErrBadFlag mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	rows, _ := tritonclient.NewStrings("ROWS", []int64{2, 1}, []string{"a,1", "b,2"})
	bin, err := v2BinaryBody(Payload{Inputs: []tritonclient.Tensor{rows}})
	if err != nil {
		t.Fatal(err)
	}
	hdr := string(bin.body[:bin.headerLen])
	// Two BYTES elements of 3 bytes, each with a 4-byte length: 14 bytes.
	if !strings.Contains(hdr, `"binary_data_size":14`) || !strings.Contains(hdr, `"binary_data_output":true`) || len(bin.body)-bin.headerLen != 14 {
		t.Errorf("binary body header %s, %d raw bytes", hdr, len(bin.body)-bin.headerLen)
	}
	js, err := v2JSONBody(Payload{Inputs: []tritonclient.Tensor{rows}})
	if err != nil || js.headerLen != -1 || !strings.Contains(string(js.body), `"data":["a,1","b,2"]`) {
		t.Errorf("JSON body %s, %v", js.body, err)
	}
	lines, err := tensorRows(rows)
	if err != nil || !cmp.Equal(lines, []string{"a,1", "b,2"}) {
		t.Errorf("CSV rows %q, %v", lines, err)
	}
	nums, _ := tritonclient.NewTensor("X", []int64{2, 2}, []float32{1.5, 2, 3, 4.25})
	lines, err = tensorRows(nums)
	if err != nil || !cmp.Equal(lines, []string{"1.5,2", "3,4.25"}) {
		t.Errorf("numeric CSV rows %q, %v", lines, err)
	}
}
