package grpcapi

import (
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// TargetModelHeader is the gRPC metadata key that names the model of a
// pipeline's group stages, like the target_model request parameter.
const TargetModelHeader = "x-baton-target-model"

// Request parameters Baton reads; Triton's spellings.
const (
	paramTimeout       = "timeout"      // int64 microseconds
	paramPriority      = "priority"     // int64 or uint64
	paramTargetModel   = "target_model" // string
	paramSequenceID    = "sequence_id"
	paramSequenceStart = "sequence_start"
	paramSequenceEnd   = "sequence_end"
	paramSharedMemory  = "shared_memory_region"
	paramClassify      = "classification"
	paramEnableFinal   = "triton_enable_empty_final_response" // bool, streams only
	paramFinalResponse = "triton_final_response"              // bool, set on a stream's last response
)

// decodedRequest is a ModelInferRequest as the executor takes it.
type decodedRequest struct {
	req *executor.Request
	// timeout is the request's own deadline from now (0: none beyond the RPC's).
	timeout time.Duration
}

// invalidf returns an INVALID_ARGUMENT status error.
func invalidf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// unimplementedf returns an UNIMPLEMENTED status error.
func unimplementedf(format string, args ...any) error {
	return status.Errorf(codes.Unimplemented, format, args...)
}

// decodeRequest converts req into an executor request; md is the call's
// incoming metadata (for the target-model header). Errors are gRPC statuses.
func decodeRequest(req *pb.ModelInferRequest, md metadata.MD) (decodedRequest, error) {
	out := decodedRequest{req: &executor.Request{ID: req.GetId()}}
	if err := decodeParams(req.GetParameters(), md, &out); err != nil {
		return decodedRequest{}, err
	}
	inputs, err := decodeInputs(req.GetInputs(), req.GetRawInputContents())
	if err != nil {
		return decodedRequest{}, err
	}
	out.req.Inputs = inputs
	outputs, err := decodeOutputs(req.GetOutputs())
	if err != nil {
		return decodedRequest{}, err
	}
	out.req.Outputs = outputs
	return out, nil
}

// decodeParams reads the request parameters Baton understands into out.
// Keys are read in a fixed order so that the first error is deterministic;
// unknown keys are ignored, as Triton ignores keys a model does not use.
func decodeParams(params map[string]*pb.InferParameter, md metadata.MD, out *decodedRequest) error {
	if p, ok := params[paramTimeout]; ok {
		us, err := intParam(paramTimeout, p)
		if err != nil {
			return err
		}
		if us > int64(math.MaxInt64/time.Microsecond) {
			return invalidf("parameter %q: %d microseconds is too long", paramTimeout, us)
		}
		out.timeout = time.Duration(us) * time.Microsecond
	}
	if p, ok := params[paramPriority]; ok {
		prio, err := intParam(paramPriority, p)
		if err != nil {
			return err
		}
		out.req.Priority = prio
	}
	target, err := targetModel(params, md)
	if err != nil {
		return err
	}
	out.req.TargetModel = target
	return checkNoSequence(params)
}

// intParam reads a non-negative integer parameter sent as int64 or uint64.
func intParam(key string, p *pb.InferParameter) (int64, error) {
	switch v := p.GetParameterChoice().(type) {
	case *pb.InferParameter_Int64Param:
		if v.Int64Param < 0 {
			return 0, invalidf("parameter %q: %d is negative", key, v.Int64Param)
		}
		return v.Int64Param, nil
	case *pb.InferParameter_Uint64Param:
		if v.Uint64Param > math.MaxInt64 {
			return 0, invalidf("parameter %q: %d is out of range", key, v.Uint64Param)
		}
		return int64(v.Uint64Param), nil
	default:
		return 0, invalidf("parameter %q must be int64_param or uint64_param, got %s", key, paramKind(p))
	}
}

// paramKind names the field set in p, for error messages.
func paramKind(p *pb.InferParameter) string {
	switch p.GetParameterChoice().(type) {
	case *pb.InferParameter_BoolParam:
		return "bool_param"
	case *pb.InferParameter_Int64Param:
		return "int64_param"
	case *pb.InferParameter_StringParam:
		return "string_param"
	case *pb.InferParameter_DoubleParam:
		return "double_param"
	case *pb.InferParameter_Uint64Param:
		return "uint64_param"
	default:
		return "no value"
	}
}

// targetModel reads the target model from the target_model parameter and
// the x-baton-target-model header; when both are given they must agree.
func targetModel(params map[string]*pb.InferParameter, md metadata.MD) (string, error) {
	var fromParam string
	if p, ok := params[paramTargetModel]; ok {
		v, isString := p.GetParameterChoice().(*pb.InferParameter_StringParam)
		if !isString {
			return "", invalidf("parameter %q must be string_param, got %s", paramTargetModel, paramKind(p))
		}
		fromParam = v.StringParam
	}
	var fromHeader string
	for _, v := range md.Get(TargetModelHeader) {
		if fromHeader != "" && v != fromHeader {
			return "", invalidf("header %s given twice with different models %q and %q", TargetModelHeader, fromHeader, v)
		}
		fromHeader = v
	}
	if fromParam != "" && fromHeader != "" && fromParam != fromHeader {
		return "", invalidf("parameter %q says %q but header %s says %q", paramTargetModel, fromParam, TargetModelHeader, fromHeader)
	}
	if fromParam != "" {
		return fromParam, nil
	}
	return fromHeader, nil
}

// checkNoSequence refuses sequence-batching parameters: a pipeline has no
// sequence state, and ignoring them would silently give stateless answers.
func checkNoSequence(params map[string]*pb.InferParameter) error {
	for _, key := range []string{paramSequenceID, paramSequenceStart, paramSequenceEnd} {
		p, ok := params[key]
		if !ok {
			continue
		}
		var set bool
		switch v := p.GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			set = v.BoolParam
		case *pb.InferParameter_Int64Param:
			set = v.Int64Param != 0
		case *pb.InferParameter_Uint64Param:
			set = v.Uint64Param != 0
		case *pb.InferParameter_StringParam:
			set = v.StringParam != ""
		}
		if set {
			return unimplementedf("parameter %q: pipelines do not support sequence batching", key)
		}
	}
	return nil
}

// decodeInputs builds the input tensors from raw contents (one per input,
// in input order) or from each input's typed contents, never both.
func decodeInputs(ins []*pb.ModelInferRequest_InferInputTensor, raw [][]byte) ([]tritonclient.Tensor, error) {
	for _, in := range ins {
		if p, ok := in.GetParameters()[paramSharedMemory]; ok {
			return nil, unimplementedf("input %q names shared-memory region %q: %s", in.GetName(), p.GetStringParam(), msgNoSharedMemory)
		}
	}
	if len(raw) > 0 {
		for _, in := range ins {
			if in.GetContents() != nil {
				return nil, invalidf("input %q has typed contents but the request also has raw_input_contents: send all inputs one way or the other", in.GetName())
			}
		}
		if len(raw) != len(ins) {
			return nil, invalidf("request has %d inputs but %d raw_input_contents: send one per input, in input order", len(ins), len(raw))
		}
	}
	out := make([]tritonclient.Tensor, len(ins))
	for i, in := range ins {
		var (
			t   tritonclient.Tensor
			err error
		)
		if len(raw) > 0 {
			t = tritonclient.Tensor{Name: in.GetName(), DataType: tritonclient.DataType(in.GetDatatype()), Shape: in.GetShape(), Raw: raw[i]}
			err = t.Validate()
		} else {
			t, err = typedTensor(in)
		}
		if err != nil {
			return nil, invalidf("inputs[%d]: %v", i, err)
		}
		out[i] = t
	}
	return out, nil
}

// contentsField names the InferTensorContents field that carries dt, or ""
// for datatypes that have none (FP16, BF16: raw only).
func contentsField(dt tritonclient.DataType) string {
	switch dt {
	case tritonclient.Bool:
		return "bool_contents"
	case tritonclient.Int8, tritonclient.Int16, tritonclient.Int32:
		return "int_contents"
	case tritonclient.Int64:
		return "int64_contents"
	case tritonclient.Uint8, tritonclient.Uint16, tritonclient.Uint32:
		return "uint_contents"
	case tritonclient.Uint64:
		return "uint64_contents"
	case tritonclient.FP32:
		return "fp32_contents"
	case tritonclient.FP64:
		return "fp64_contents"
	case tritonclient.Bytes:
		return "bytes_contents"
	default:
		return ""
	}
}

// populatedFields names the non-empty fields of c, in field order.
func populatedFields(c *pb.InferTensorContents) []string {
	var out []string
	for _, f := range []struct {
		name string
		n    int
	}{
		{"bool_contents", len(c.GetBoolContents())},
		{"int_contents", len(c.GetIntContents())},
		{"int64_contents", len(c.GetInt64Contents())},
		{"uint_contents", len(c.GetUintContents())},
		{"uint64_contents", len(c.GetUint64Contents())},
		{"fp32_contents", len(c.GetFp32Contents())},
		{"fp64_contents", len(c.GetFp64Contents())},
		{"bytes_contents", len(c.GetBytesContents())},
	} {
		if f.n > 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// typedTensor encodes an input's typed contents as raw little-endian bytes
// (length-prefixed elements for BYTES); errors name the input.
func typedTensor(in *pb.ModelInferRequest_InferInputTensor) (tritonclient.Tensor, error) {
	name, shape := in.GetName(), in.GetShape()
	dt, err := tritonclient.ParseDataType(in.GetDatatype())
	if err != nil {
		return tritonclient.Tensor{}, fmt.Errorf("input %q: %w", name, err)
	}
	n, err := tritonclient.ElementCount(shape)
	if err != nil {
		return tritonclient.Tensor{}, fmt.Errorf("input %q: %w", name, err)
	}
	c := in.GetContents()
	if c == nil && n > 0 {
		return tritonclient.Tensor{}, fmt.Errorf("input %q has no data: the request has no raw_input_contents and the input has no contents", name)
	}
	want := contentsField(dt)
	if want == "" && (n > 0 || len(populatedFields(c)) > 0) {
		return tritonclient.Tensor{}, fmt.Errorf("input %q: %s data must be sent in raw_input_contents (typed contents have no field for it)", name, dt)
	}
	for _, f := range populatedFields(c) {
		if f != want {
			return tritonclient.Tensor{}, fmt.Errorf("input %q is %s, which typed contents carry in %s, but %s is set", name, dt, want, f)
		}
	}
	return encodeTyped(name, dt, shape, c)
}

// encodeTyped builds the tensor for dt from the matching field of c; errors
// wrap tritonclient.ErrInvalidTensor and name the tensor.
func encodeTyped(name string, dt tritonclient.DataType, shape []int64, c *pb.InferTensorContents) (tritonclient.Tensor, error) {
	switch dt {
	case tritonclient.Bool:
		return tritonclient.NewTensor(name, shape, c.GetBoolContents())
	case tritonclient.Int8:
		return narrowed[int8](name, shape, c.GetIntContents(), math.MinInt8, math.MaxInt8)
	case tritonclient.Int16:
		return narrowed[int16](name, shape, c.GetIntContents(), math.MinInt16, math.MaxInt16)
	case tritonclient.Int32:
		return tritonclient.NewTensor(name, shape, c.GetIntContents())
	case tritonclient.Int64:
		return tritonclient.NewTensor(name, shape, c.GetInt64Contents())
	case tritonclient.Uint8:
		return narrowed[uint8](name, shape, c.GetUintContents(), 0, math.MaxUint8)
	case tritonclient.Uint16:
		return narrowed[uint16](name, shape, c.GetUintContents(), 0, math.MaxUint16)
	case tritonclient.Uint32:
		return tritonclient.NewTensor(name, shape, c.GetUintContents())
	case tritonclient.Uint64:
		return tritonclient.NewTensor(name, shape, c.GetUint64Contents())
	case tritonclient.FP32:
		return tritonclient.NewTensor(name, shape, c.GetFp32Contents())
	case tritonclient.FP64:
		return tritonclient.NewTensor(name, shape, c.GetFp64Contents())
	case tritonclient.Bytes:
		return tritonclient.NewBytes(name, shape, c.GetBytesContents())
	default: // FP16, BF16 with no elements
		return tritonclient.Tensor{Name: name, DataType: dt, Shape: slices.Clone(shape), Raw: []byte{}}, nil
	}
}

// narrowed converts 32-bit typed contents to the narrower element type T of
// an 8- or 16-bit datatype, refusing values outside [lo, hi] rather than
// wrapping them.
func narrowed[T int8 | int16 | uint8 | uint16, S int32 | uint32](name string, shape []int64, vals []S, lo, hi S) (tritonclient.Tensor, error) {
	out := make([]T, len(vals))
	for i, v := range vals {
		if v < lo || v > hi {
			return tritonclient.Tensor{}, fmt.Errorf("%w: tensor %q: element %d is %d, outside [%d, %d]", tritonclient.ErrInvalidTensor, name, i, v, lo, hi)
		}
		out[i] = T(v)
	}
	return tritonclient.NewTensor(name, shape, out)
}

// decodeOutputs returns the requested output names, refusing what Baton
// cannot honour (shared memory, classification) and duplicates.
func decodeOutputs(outs []*pb.ModelInferRequest_InferRequestedOutputTensor) ([]string, error) {
	if len(outs) == 0 {
		return nil, nil // all outputs
	}
	names := make([]string, 0, len(outs))
	for i, o := range outs {
		if p, ok := o.GetParameters()[paramSharedMemory]; ok {
			return nil, unimplementedf("output %q names shared-memory region %q: %s", o.GetName(), p.GetStringParam(), msgNoSharedMemory)
		}
		if _, ok := o.GetParameters()[paramClassify]; ok {
			return nil, unimplementedf("output %q: baton does not support the classification extension", o.GetName())
		}
		if slices.Contains(names, o.GetName()) {
			return nil, invalidf("outputs[%d]: output %q requested twice", i, o.GetName())
		}
		names = append(names, o.GetName())
	}
	return names, nil
}
