package tritonclient

import (
	"context"
	"fmt"
	"slices"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// InferRequest is one inference call with raw tensors.
type InferRequest struct {
	// Model and Version select the model; Version "" is the server's choice.
	Model, Version string
	// ID is echoed back by Triton in the response.
	ID string
	// Inputs are sent as raw_input_contents, in this order.
	Inputs []Tensor
	// Outputs names the outputs wanted; empty means all of them.
	Outputs []string
	// Parameters are request parameters (e.g. "priority", "timeout" in µs);
	// values must be bool, string, int, int64, uint64 or float64.
	Parameters map[string]any
}

// InferResponse is a model's answer.
type InferResponse struct {
	Model, Version, ID string
	// Outputs carry raw little-endian contents as sent by Triton.
	Outputs    []Tensor
	Parameters map[string]any
}

// Output returns the output called name.
func (r *InferResponse) Output(name string) (Tensor, bool) {
	i := slices.IndexFunc(r.Outputs, func(t Tensor) bool { return t.Name == name })
	if i < 0 {
		return Tensor{}, false
	}
	return r.Outputs[i], true
}

// Infer runs one inference. Inputs are checked locally first (known dtype,
// contents matching shape); such mistakes wrap both ErrInvalidTensor and
// ErrInvalidArgument without a round trip.
func (c *Client) Infer(ctx context.Context, req *InferRequest) (*InferResponse, error) {
	preq, err := req.proto()
	if err != nil {
		return nil, fmt.Errorf("infer %q on %s: %w: %w", req.Model, c.name, ErrInvalidArgument, err)
	}
	presp, err := c.ModelInfer(ctx, preq)
	if err != nil {
		return nil, err
	}
	return responseFromProto(presp)
}

// ModelInfer sends a protocol-level request as is and maps its error; it is
// the pass-through path for callers that already hold raw protocol messages.
func (c *Client) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	resp, err := c.rpc.ModelInfer(ctx, req)
	if err != nil {
		return nil, c.wrapErr(ctx, "ModelInfer", req.GetModelName(), err)
	}
	return resp, nil
}

func (r *InferRequest) proto() (*pb.ModelInferRequest, error) {
	params, err := paramsToProto(r.Parameters)
	if err != nil {
		return nil, err
	}
	p := &pb.ModelInferRequest{
		ModelName:        r.Model,
		ModelVersion:     r.Version,
		Id:               r.ID,
		Parameters:       params,
		Inputs:           make([]*pb.ModelInferRequest_InferInputTensor, 0, len(r.Inputs)),
		RawInputContents: make([][]byte, 0, len(r.Inputs)),
	}
	for _, t := range r.Inputs {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		p.Inputs = append(p.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape})
		p.RawInputContents = append(p.RawInputContents, t.Raw)
	}
	for _, name := range r.Outputs {
		p.Outputs = append(p.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: name})
	}
	return p, nil
}

func responseFromProto(p *pb.ModelInferResponse) (*InferResponse, error) {
	outs := p.GetOutputs()
	raw := p.GetRawOutputContents()
	if len(raw) != len(outs) {
		return nil, fmt.Errorf("%w: response from %q has %d outputs but %d raw contents", ErrInternal, p.GetModelName(), len(outs), len(raw))
	}
	resp := &InferResponse{
		Model:      p.GetModelName(),
		Version:    p.GetModelVersion(),
		ID:         p.GetId(),
		Outputs:    make([]Tensor, len(outs)),
		Parameters: paramsFromProto(p.GetParameters()),
	}
	for i, o := range outs {
		resp.Outputs[i] = Tensor{Name: o.GetName(), DataType: DataType(o.GetDatatype()), Shape: o.GetShape(), Raw: raw[i]}
	}
	return resp, nil
}

func paramsToProto(in map[string]any) (map[string]*pb.InferParameter, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.InferParameter, len(in))
	for k, v := range in {
		p := &pb.InferParameter{}
		switch v := v.(type) {
		case bool:
			p.ParameterChoice = &pb.InferParameter_BoolParam{BoolParam: v}
		case string:
			p.ParameterChoice = &pb.InferParameter_StringParam{StringParam: v}
		case int:
			p.ParameterChoice = &pb.InferParameter_Int64Param{Int64Param: int64(v)}
		case int64:
			p.ParameterChoice = &pb.InferParameter_Int64Param{Int64Param: v}
		case uint64:
			p.ParameterChoice = &pb.InferParameter_Uint64Param{Uint64Param: v}
		case float64:
			p.ParameterChoice = &pb.InferParameter_DoubleParam{DoubleParam: v}
		default:
			return nil, fmt.Errorf("parameter %q: unsupported type %T", k, v)
		}
		out[k] = p
	}
	return out, nil
}

func paramsFromProto(in map[string]*pb.InferParameter) map[string]any {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]any, len(in))
	for k, p := range in {
		switch v := p.GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			out[k] = v.BoolParam
		case *pb.InferParameter_StringParam:
			out[k] = v.StringParam
		case *pb.InferParameter_Int64Param:
			out[k] = v.Int64Param
		case *pb.InferParameter_Uint64Param:
			out[k] = v.Uint64Param
		case *pb.InferParameter_DoubleParam:
			out[k] = v.DoubleParam
		}
	}
	return out
}
