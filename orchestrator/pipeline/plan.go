package pipeline

import (
	"slices"
	"time"

	"github.com/batonhq/baton/tritonclient"
)

// Plan is a validated spec compiled for the executor: every binding is
// resolved and each stage asks only for the outputs used later.
type Plan struct {
	// Spec is the source; treat it as read-only.
	Spec *Spec
	// Inputs are the pipeline inputs in declaration order.
	Inputs []TensorSpec
	// Outputs are the pipeline outputs in declaration order.
	Outputs []TensorSpec
	// Stages run in order.
	Stages []StagePlan
}

// StagePlan is one compiled stage.
type StagePlan struct {
	Index      int
	Name       string
	Model      string
	Version    string
	Group      string
	Device     Device
	Timeout    time.Duration
	Idempotent bool
	// Inputs bind model inputs to pipeline tensors, sorted by model input.
	Inputs []Binding
	// Outputs bind the model outputs that are used later (by a later stage
	// or as a pipeline output) to pipeline tensors, sorted by model output.
	// Outputs nobody uses are not requested from Triton.
	Outputs []Binding
}

// Binding connects a model tensor to a pipeline tensor.
type Binding struct {
	// Model is the model's tensor name.
	Model string
	// Tensor is the pipeline tensor name.
	Tensor string
}

// Compile validates s and builds its Plan.
func Compile(s *Spec) (*Plan, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, o := range s.Outputs {
		used[o.Name] = true
	}
	p := &Plan{Spec: s, Inputs: s.Inputs, Outputs: s.Outputs, Stages: make([]StagePlan, len(s.Stages))}
	// Walk backwards so "used" means "used by a later stage or the caller".
	for i := len(s.Stages) - 1; i >= 0; i-- {
		st := &s.Stages[i]
		sp := StagePlan{
			Index: i, Name: st.StageName(), Model: st.Model, Version: st.Version, Group: st.Group,
			Device: st.Device, Timeout: time.Duration(st.Timeout), Idempotent: st.Idempotent,
		}
		if sp.Device == "" {
			sp.Device = DeviceAny
		}
		for _, mo := range sortedKeys(st.Outputs) {
			if used[st.Outputs[mo]] {
				sp.Outputs = append(sp.Outputs, Binding{Model: mo, Tensor: st.Outputs[mo]})
			}
		}
		for _, mi := range sortedKeys(st.Inputs) {
			sp.Inputs = append(sp.Inputs, Binding{Model: mi, Tensor: st.Inputs[mi]})
			used[st.Inputs[mi]] = true
		}
		p.Stages[i] = sp
	}
	return p, nil
}

// Input returns the pipeline input called name.
func (p *Plan) Input(name string) (TensorSpec, bool) {
	i := slices.IndexFunc(p.Inputs, func(t TensorSpec) bool { return t.Name == name })
	if i < 0 {
		return TensorSpec{}, false
	}
	return p.Inputs[i], true
}

// Metadata describes the pipeline as a Triton model would describe itself.
func (p *Plan) Metadata() *tritonclient.ModelMetadata {
	conv := func(ts []TensorSpec) []tritonclient.TensorMetadata {
		out := make([]tritonclient.TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = tritonclient.TensorMetadata{Name: t.Name, DataType: tritonclient.DataType(t.DataType), Shape: t.Shape}
		}
		return out
	}
	return &tritonclient.ModelMetadata{
		Name: p.Spec.Name, Versions: []string{"1"}, Platform: "baton_pipeline",
		Inputs: conv(p.Inputs), Outputs: conv(p.Outputs),
	}
}
