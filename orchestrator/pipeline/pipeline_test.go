package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonhq/baton/tritonclient"
)

const tabularYAML = `
name: tabular
maxBatchSize: 32
inputs:
  - {name: ROWS, datatype: BYTES, shape: [-1, 1]}
outputs:
  - {name: LABEL, datatype: BYTES, shape: [-1, 1]}
  - {name: SCORE, datatype: FP32, shape: [-1, 1]}
stages:
  - {name: preprocess, model: tabular_preprocess, inputs: {ROWS: ROWS}, outputs: {FEATURES: features}, timeout: 2s}
  - {name: classify, model: tabular_classifier, device: gpu, inputs: {FEATURES: features}, outputs: {PROBABILITIES: probabilities, LOGITS: logits}}
  - {name: postprocess, model: tabular_postprocess, inputs: {PROBABILITIES: probabilities}, outputs: {LABEL: LABEL, SCORE: SCORE}}
`

func mustParse(t *testing.T, doc string) *Spec {
	t.Helper()
	s, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileRequestsOnlyUsedOutputs(t *testing.T) {
	p, err := Compile(mustParse(t, tabularYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := []StagePlan{
		{Index: 0, Name: "preprocess", Model: "tabular_preprocess", Device: DeviceAny, Timeout: 2e9,
			Inputs: []Binding{{"ROWS", "ROWS"}}, Outputs: []Binding{{"FEATURES", "features"}}},
		// LOGITS is produced but nobody uses it: not requested from Triton.
		{Index: 1, Name: "classify", Model: "tabular_classifier", Device: DeviceGPU,
			Inputs: []Binding{{"FEATURES", "features"}}, Outputs: []Binding{{"PROBABILITIES", "probabilities"}}},
		{Index: 2, Name: "postprocess", Model: "tabular_postprocess", Device: DeviceAny,
			Inputs: []Binding{{"PROBABILITIES", "probabilities"}}, Outputs: []Binding{{"LABEL", "LABEL"}, {"SCORE", "SCORE"}}},
	}
	if diff := cmp.Diff(want, p.Stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

// TestValidateReportsEveryProblem: one spec with many mistakes yields all
// of them at once, each with its path.
func TestValidateReportsEveryProblem(t *testing.T) {
	s := mustParse(t, `
name: "bad name!"
maxBatchSize: 8
inputs:
  - {name: IN, datatype: FP23, shape: [4]}
  - {name: IN, datatype: FP32, shape: [-1, -2]}
outputs:
  - {name: OUT, datatype: FP32, shape: [-1]}
  - {name: NEVER, datatype: FP32, shape: [-1]}
stages:
  - {model: a, inputs: {X: IN}, outputs: {Y: mid}}
  - {model: a, device: tpu, inputs: {X: later}, outputs: {Y: mid}}
  - {name: c, model: b, inputs: {X: nowhere}, outputs: {Z: later}}
  - {name: d, inputs: {X: mid}, outputs: {Z: OUT}}
`)
	err := Validate(s)
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("err = %v, want a *ValidationError wrapping ErrInvalidSpec", err)
	}
	want := []Problem{
		{"name", `"bad name!": use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')`},
		{"inputs[0].shape", "with maxBatchSize set, the first dimension is the batch dimension and must be -1"},
		{"inputs[0].datatype", `"FP23" is not a Triton datatype (BOOL, INT8…INT64, UINT8…UINT64, FP16, BF16, FP32, FP64, BYTES)`},
		{"inputs[1].shape[1]", "-2: dimensions are -1 (variable) or ≥ 0"},
		{"inputs[1].name", `tensor "IN" already declared at inputs[0]`},
		{"stages[1].name", `stage name "a" already used by stages[0]; set name to tell them apart`},
		{"stages[1].device", `"tpu": want cpu, gpu or any`},
		{"stages[1].inputs.X", `tensor "later" is produced by stages[2], which does not run before this stage (stages run in order; a cycle?)`},
		{"stages[1].outputs.Y", `tensor "mid" is already produced by stages[0].outputs.Y`},
		{"stages[2].inputs.X", `tensor "nowhere" is produced by no earlier stage and is not a pipeline input`},
		{"stages[3].model", "required (or group)"},
		{"outputs[1].name", `tensor "NEVER" is produced by no stage`},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		doc, want string
	}{
		{"", "empty document"},
		{"name: x\nstagez: []\n", `unknown field "stagez"`},
		{"name: [1, 2]\n", "got array, want string"},
		{"name: x\nstages: [{model: a, timeout: soon}]\n", `duration "soon"`},
		{"\t- not: yaml: at all", "not YAML or JSON"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want ErrInvalidSpec mentioning %q", tt.doc, err, tt.want)
		}
	}
}

func TestLongPipelineValidates(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: long\ninputs: [{name: t0, datatype: FP32, shape: [-1, -1]}]\noutputs: [{name: t15, datatype: FP32, shape: [-1, -1]}]\nstages:\n")
	for i := range 15 {
		fmt.Fprintf(&b, "  - {name: s%d, model: identity_fp32, inputs: {INPUT0: t%d}, outputs: {OUTPUT0: t%d}}\n", i, i, i+1)
	}
	p, err := Compile(mustParse(t, b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) != 15 || p.Stages[14].Outputs[0].Tensor != "t15" {
		t.Fatalf("compiled %d stages, last %+v", len(p.Stages), p.Stages[14])
	}
}

// fakeMetadata is an in-memory MetadataSource for validation tests.
func fakeMetadata(models map[string]*tritonclient.ModelMetadata) MetadataSource {
	return func(_ context.Context, model, _ string) (*tritonclient.ModelMetadata, error) {
		if m, ok := models[model]; ok {
			return m, nil
		}
		return nil, fmt.Errorf("%w: %s", tritonclient.ErrModelNotFound, model)
	}
}

func TestValidateWithMetadata(t *testing.T) {
	tm := func(name, dt string, shape ...int64) tritonclient.TensorMetadata {
		return tritonclient.TensorMetadata{Name: name, DataType: tritonclient.DataType(dt), Shape: shape}
	}
	md := fakeMetadata(map[string]*tritonclient.ModelMetadata{
		"tabular_preprocess": {Inputs: []tritonclient.TensorMetadata{tm("ROWS", "BYTES", -1, 1)}, Outputs: []tritonclient.TensorMetadata{tm("FEATURES", "FP32", -1, 7)}},
		"tabular_classifier": {Inputs: []tritonclient.TensorMetadata{tm("FEATURES", "FP32", -1, 5)}, Outputs: []tritonclient.TensorMetadata{tm("PROBABILITIES", "FP32", -1, 3)}},
	})
	s := mustParse(t, `
name: p
inputs: [{name: ROWS, datatype: FP32, shape: [-1, 1]}]
outputs: [{name: SCORE, datatype: INT32, shape: [-1, 3]}]
stages:
  - {model: tabular_preprocess, inputs: {ROWS: ROWS}, outputs: {FEATURES: f, EXTRA: e}}
  - {model: tabular_classifier, inputs: {FEATURES: f}, outputs: {PROBABILITIES: SCORE}}
  - {model: missing_model, inputs: {X: f}, outputs: {Y: z}}
`)
	err := ValidateWithMetadata(context.Background(), s, md)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []Problem{
		{"stages[0].inputs.ROWS", `tensor "ROWS" is FP32 (from inputs[0]) but the model input is BYTES`},
		{"stages[0].outputs.EXTRA", `model "tabular_preprocess" has no output "EXTRA" (it has FEATURES)`},
		{"stages[1].inputs.FEATURES", `tensor "f" has shape [-1 7] (from stages[0].outputs.FEATURES) but the model input takes [-1 5]`},
		{"stages[2].model", `model "missing_model" not found on any instance`},
		{"outputs[0].datatype", "declared INT32 but stages[1].outputs.PROBABILITIES produces FP32"},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(tabularYAML))
	f.Add([]byte(`{"name":"x","inputs":[{"name":"a","datatype":"FP32","shape":[1]}],"stages":[]}`))
	f.Add([]byte("name: x\nstages: [{model: a, timeout: 5}]\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := Parse(doc)
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("error %v does not wrap ErrInvalidSpec", err)
			}
			return
		}
		// Whatever parsed must validate or be rejected cleanly, never panic.
		if err := Validate(s); err != nil && !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("validate error %v does not wrap ErrInvalidSpec", err)
		}
		if p, err := Compile(s); err == nil && len(p.Stages) != len(s.Stages) {
			t.Fatalf("compiled %d stages from %d", len(p.Stages), len(s.Stages))
		}
	})
}
