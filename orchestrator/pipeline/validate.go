package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/batonhq/baton/tritonclient"
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// MetadataSource answers what Triton says about a model; it returns an
// error wrapping tritonclient.ErrModelNotFound for an unknown model. Any
// other error means "cannot tell now": those checks are skipped.
type MetadataSource func(ctx context.Context, model, version string) (*tritonclient.ModelMetadata, error)

// problems accumulates Problems in the order found.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// tensorInfo is what validation knows about a pipeline tensor.
type tensorInfo struct {
	producer int // -1: a pipeline input; else the stage index
	path     string
	dtype    string  // "" when unknown
	shape    []int64 // nil when unknown
}

// Validate checks the spec on its own: names, datatypes, that every stage
// input is produced earlier, that no tensor has two producers, that every
// pipeline output is produced. All problems are returned together in a
// *ValidationError.
func Validate(s *Spec) error {
	return validate(context.Background(), s, nil)
}

// ValidateWithMetadata is Validate plus checks against the models' metadata
// from md: unknown models, stage tensor names the model does not have, and
// datatype or shape mismatches along every edge of the pipeline.
func ValidateWithMetadata(ctx context.Context, s *Spec, md MetadataSource) error {
	return validate(ctx, s, md)
}

func validate(ctx context.Context, s *Spec, md MetadataSource) error {
	var ps problems
	if s.Name == "" {
		ps.add("name", "required")
	} else if !namePattern.MatchString(s.Name) {
		ps.add("name", "%q: use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')", s.Name)
	}

	if s.MaxBatchSize < 0 {
		ps.add("maxBatchSize", "negative")
	}
	if s.MaxBatchSize > 0 {
		for _, group := range []struct {
			kind string
			ts   []TensorSpec
		}{{"inputs", s.Inputs}, {"outputs", s.Outputs}} {
			kind := group.kind
			for i, t := range group.ts {
				if len(t.Shape) == 0 || t.Shape[0] != -1 {
					ps.add(fmt.Sprintf("%s[%d].shape", kind, i), "with maxBatchSize set, the first dimension is the batch dimension and must be -1")
				}
			}
		}
	}
	tensors := map[string]*tensorInfo{}
	if len(s.Inputs) == 0 {
		ps.add("inputs", "a pipeline needs at least one input")
	}
	for i, in := range s.Inputs {
		path := fmt.Sprintf("inputs[%d]", i)
		checkTensorSpec(&ps, path, in)
		if in.Name == "" {
			continue
		}
		if prev, dup := tensors[in.Name]; dup {
			ps.add(path+".name", "tensor %q already declared at %s", in.Name, prev.path)
			continue
		}
		tensors[in.Name] = &tensorInfo{producer: -1, path: path, dtype: in.DataType, shape: in.Shape}
	}

	if len(s.Stages) == 0 {
		ps.add("stages", "a pipeline needs at least one stage")
	}
	// Where each tensor is produced, over all stages, to tell "later stage"
	// (a cycle) from "no stage".
	laterProducer := map[string]int{}
	for i, st := range s.Stages {
		for _, t := range st.Outputs {
			if _, ok := laterProducer[t]; !ok {
				laterProducer[t] = i
			}
		}
	}
	stageNames := map[string]int{}
	metas := make([]*tritonclient.ModelMetadata, len(s.Stages))
	for i := range s.Stages {
		st := &s.Stages[i]
		path := fmt.Sprintf("stages[%d]", i)
		name := st.StageName()
		switch {
		case st.Model == "" && st.Group == "":
			ps.add(path+".model", "required (or group)")
		case st.Model != "" && st.Group != "":
			ps.add(path, "set model or group, not both")
		}
		if st.Model != "" && !namePattern.MatchString(st.Model) {
			ps.add(path+".model", "%q is not a valid model name", st.Model)
		}
		if name != "" {
			if prev, dup := stageNames[name]; dup {
				ps.add(path+".name", "stage name %q already used by stages[%d]; set name to tell them apart", name, prev)
			} else {
				stageNames[name] = i
			}
		}
		switch st.Device {
		case "", DeviceAny, DeviceCPU, DeviceGPU:
		default:
			ps.add(path+".device", "%q: want cpu, gpu or any", st.Device)
		}
		if st.Timeout < 0 {
			ps.add(path+".timeout", "negative")
		}
		if md != nil && st.Model != "" {
			m, err := md(ctx, st.Model, st.Version)
			switch {
			case err == nil:
				metas[i] = m
			case errors.Is(err, tritonclient.ErrModelNotFound):
				ps.add(path+".model", "model %q not found on any instance", st.Model)
			}
		}
		meta := metas[i]

		if len(st.Inputs) == 0 {
			ps.add(path+".inputs", "a stage needs at least one input")
		}
		for _, modelIn := range sortedKeys(st.Inputs) {
			src := st.Inputs[modelIn]
			ipath := path + ".inputs." + modelIn
			info, ok := tensors[src]
			if !ok {
				if j, later := laterProducer[src]; later && j >= i {
					ps.add(ipath, "tensor %q is produced by stages[%d], which does not run before this stage (stages run in order; a cycle?)", src, j)
				} else {
					ps.add(ipath, "tensor %q is produced by no earlier stage and is not a pipeline input", src)
				}
				continue
			}
			if meta == nil {
				continue
			}
			tm, ok := meta.Input(modelIn)
			if !ok {
				ps.add(ipath, "model %q has no input %q (it has %s)", st.Model, modelIn, tensorNames(meta.Inputs))
				continue
			}
			checkEdge(&ps, ipath, src, info, tm)
		}
		if meta != nil {
			for _, tm := range meta.Inputs {
				if _, ok := st.Inputs[tm.Name]; !ok {
					ps.add(path+".inputs", "model %q input %q is not mapped (Triton may reject the call unless it is optional)", st.Model, tm.Name)
				}
			}
		}
		if len(st.Outputs) == 0 {
			ps.add(path+".outputs", "a stage needs at least one output")
		}
		for _, modelOut := range sortedKeys(st.Outputs) {
			dst := st.Outputs[modelOut]
			opath := path + ".outputs." + modelOut
			if dst == "" {
				ps.add(opath, "empty tensor name")
				continue
			}
			if prev, dup := tensors[dst]; dup {
				ps.add(opath, "tensor %q is already produced by %s", dst, prev.path)
				continue
			}
			info := &tensorInfo{producer: i, path: opath}
			if meta != nil {
				tm, ok := meta.Output(modelOut)
				if !ok {
					ps.add(opath, "model %q has no output %q (it has %s)", st.Model, modelOut, tensorNames(meta.Outputs))
				} else {
					info.dtype, info.shape = string(tm.DataType), tm.Shape
				}
			}
			tensors[dst] = info
		}
	}

	if len(s.Outputs) == 0 {
		ps.add("outputs", "a pipeline needs at least one output")
	}
	seenOut := map[string]bool{}
	for i, out := range s.Outputs {
		path := fmt.Sprintf("outputs[%d]", i)
		checkTensorSpec(&ps, path, out)
		if out.Name == "" {
			continue
		}
		if seenOut[out.Name] {
			ps.add(path+".name", "output %q declared twice", out.Name)
			continue
		}
		seenOut[out.Name] = true
		info, ok := tensors[out.Name]
		if !ok || info.producer < 0 {
			ps.add(path+".name", "tensor %q is produced by no stage", out.Name)
			continue
		}
		if info.dtype != "" && out.DataType != "" && info.dtype != out.DataType {
			ps.add(path+".datatype", "declared %s but %s produces %s", out.DataType, info.path, info.dtype)
		}
		if info.shape != nil && len(out.Shape) > 0 && !shapesCompatible(out.Shape, info.shape) {
			ps.add(path+".shape", "declared %v but %s produces %v", out.Shape, info.path, info.shape)
		}
	}
	if len(ps) > 0 {
		return &ValidationError{Pipeline: s.Name, Problems: ps}
	}
	return nil
}

func checkTensorSpec(ps *problems, path string, t TensorSpec) {
	if t.Name == "" {
		ps.add(path+".name", "required")
	}
	if t.DataType == "" {
		ps.add(path+".datatype", "required")
	} else if _, err := tritonclient.ParseDataType(t.DataType); err != nil {
		ps.add(path+".datatype", "%q is not a Triton datatype (BOOL, INT8…INT64, UINT8…UINT64, FP16, BF16, FP32, FP64, BYTES)", t.DataType)
	}
	for j, d := range t.Shape {
		if d < -1 {
			ps.add(fmt.Sprintf("%s.shape[%d]", path, j), "%d: dimensions are -1 (variable) or ≥ 0", d)
		}
	}
}

// checkEdge compares the tensor flowing into a model input with what the
// model declares.
func checkEdge(ps *problems, path, src string, from *tensorInfo, to tritonclient.TensorMetadata) {
	if from.dtype != "" && from.dtype != string(to.DataType) {
		ps.add(path, "tensor %q is %s (from %s) but the model input is %s", src, from.dtype, from.path, to.DataType)
	}
	if from.shape != nil && len(from.shape) > 0 && !shapesCompatible(from.shape, to.Shape) {
		ps.add(path, "tensor %q has shape %v (from %s) but the model input takes %v", src, from.shape, from.path, to.Shape)
	}
}

// shapesCompatible: same rank and each dimension equal or variable (-1).
func shapesCompatible(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && a[i] != -1 && b[i] != -1 {
			return false
		}
	}
	return true
}

func tensorNames(ts []tritonclient.TensorMetadata) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// sortedKeys makes problem order deterministic (golden error bodies).
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
