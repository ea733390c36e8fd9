package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// mustTensor unwraps a tensor constructor the test knows to succeed.
func mustTensor(t *testing.T) func(tritonclient.Tensor, error) tritonclient.Tensor {
	return func(tt tritonclient.Tensor, err error) tritonclient.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
}

// rawRequest sends tensors as raw_input_contents, as tritonclient does.
func rawRequest(model string, ts ...tritonclient.Tensor) *pb.ModelInferRequest {
	req := &pb.ModelInferRequest{ModelName: model}
	for _, t := range ts {
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: t.Name, Datatype: string(t.DataType), Shape: t.Shape})
		req.RawInputContents = append(req.RawInputContents, t.Raw)
	}
	return req
}

// typedInput is an input carrying typed contents.
func typedInput(name, dt string, shape []int64, c *pb.InferTensorContents) *pb.ModelInferRequest_InferInputTensor {
	return &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: dt, Shape: shape, Contents: c}
}

func TestInferRawAndTypedContentsAgree(t *testing.T) {
	must := mustTensor(t)
	tests := []struct {
		name  string
		want  tritonclient.Tensor
		typed *pb.ModelInferRequest_InferInputTensor
	}{
		{
			name:  "FP32",
			want:  must(tritonclient.NewTensor("X", []int64{2, 2}, []float32{1.5, -2, 0, 3.25})),
			typed: typedInput("X", "FP32", []int64{2, 2}, &pb.InferTensorContents{Fp32Contents: []float32{1.5, -2, 0, 3.25}}),
		},
		{
			name:  "INT32",
			want:  must(tritonclient.NewTensor("X", []int64{3}, []int32{-1, 0, math.MaxInt32})),
			typed: typedInput("X", "INT32", []int64{3}, &pb.InferTensorContents{IntContents: []int32{-1, 0, math.MaxInt32}}),
		},
		{
			name:  "BYTES",
			want:  must(tritonclient.NewStrings("X", []int64{1, 3}, []string{"hello", "", "wörld"})),
			typed: typedInput("X", "BYTES", []int64{1, 3}, &pb.InferTensorContents{BytesContents: [][]byte{[]byte("hello"), {}, []byte("wörld")}}),
		},
		{
			name:  "BOOL",
			want:  must(tritonclient.NewTensor("X", []int64{3}, []bool{true, false, true})),
			typed: typedInput("X", "BOOL", []int64{3}, &pb.InferTensorContents{BoolContents: []bool{true, false, true}}),
		},
		{
			name:  "INT8 from int_contents",
			want:  must(tritonclient.NewTensor("X", []int64{2}, []int8{-128, 127})),
			typed: typedInput("X", "INT8", []int64{2}, &pb.InferTensorContents{IntContents: []int32{-128, 127}}),
		},
		{
			name:  "UINT16 from uint_contents",
			want:  must(tritonclient.NewTensor("X", []int64{2}, []uint16{0, 65535})),
			typed: typedInput("X", "UINT16", []int64{2}, &pb.InferTensorContents{UintContents: []uint32{0, 65535}}),
		},
		{
			name:  "INT64",
			want:  must(tritonclient.NewTensor("X", []int64{1}, []int64{math.MinInt64})),
			typed: typedInput("X", "INT64", []int64{1}, &pb.InferTensorContents{Int64Contents: []int64{math.MinInt64}}),
		},
		{
			name:  "UINT64",
			want:  must(tritonclient.NewTensor("X", []int64{1}, []uint64{math.MaxUint64})),
			typed: typedInput("X", "UINT64", []int64{1}, &pb.InferTensorContents{Uint64Contents: []uint64{math.MaxUint64}}),
		},
		{
			name:  "FP64",
			want:  must(tritonclient.NewTensor("X", []int64{2}, []float64{math.Pi, -0.5})),
			typed: typedInput("X", "FP64", []int64{2}, &pb.InferTensorContents{Fp64Contents: []float64{math.Pi, -0.5}}),
		},
	}
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			typedReq := &pb.ModelInferRequest{ModelName: "chain", Id: "typed", Inputs: []*pb.ModelInferRequest_InferInputTensor{tt.typed}}
			for _, req := range []*pb.ModelInferRequest{rawRequest("chain", tt.want), typedReq} {
				resp, err := ts.client.Raw().ModelInfer(ctx, req)
				if err != nil {
					t.Fatalf("request %q: %v", req.GetId(), err)
				}
				// The fake echoes the input as OUTPUT: the answer is always raw.
				wantResp := &pb.ModelInferResponse{
					ModelName: "chain", ModelVersion: "1", Id: req.GetId(),
					Outputs:           []*pb.ModelInferResponse_InferOutputTensor{{Name: "OUTPUT", Datatype: string(tt.want.DataType), Shape: tt.want.Shape}},
					RawOutputContents: [][]byte{tt.want.Raw},
				}
				if diff := cmp.Diff(wantResp, resp, protocmp.Transform()); diff != "" {
					t.Errorf("request %q: response (-want +got):\n%s", req.GetId(), diff)
				}
			}
			calls := b.takeCalls()
			if len(calls) != 2 {
				t.Fatalf("backend saw %d calls, want 2", len(calls))
			}
			for i, c := range calls {
				if diff := cmp.Diff([]tritonclient.Tensor{tt.want}, c.req.Inputs); diff != "" {
					t.Errorf("call %d inputs (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestInferRefusesBadRequests(t *testing.T) {
	must := mustTensor(t)
	x := must(tritonclient.NewTensor("X", []int64{2}, []float32{1, 2}))
	y := must(tritonclient.NewTensor("Y", []int64{1}, []int32{7}))
	withParams := func(req *pb.ModelInferRequest, params map[string]*pb.InferParameter) *pb.ModelInferRequest {
		req.Parameters = params
		return req
	}
	i64 := func(v int64) *pb.InferParameter {
		return &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: v}}
	}
	str := func(v string) *pb.InferParameter {
		return &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: v}}
	}
	tests := []struct {
		name    string
		req     *pb.ModelInferRequest
		header  []string // x-baton-target-model values
		code    codes.Code
		message string
	}{
		{
			name: "raw and typed contents mixed",
			req: func() *pb.ModelInferRequest {
				r := rawRequest("chain", x)
				r.Inputs = append(r.Inputs, typedInput("Y", "INT32", []int64{1}, &pb.InferTensorContents{IntContents: []int32{7}}))
				return r
			}(),
			code:    codes.InvalidArgument,
			message: `input "Y" has typed contents but the request also has raw_input_contents`,
		},
		{
			name: "fewer raw contents than inputs",
			req: func() *pb.ModelInferRequest {
				r := rawRequest("chain", x, y)
				r.RawInputContents = r.RawInputContents[:1]
				return r
			}(),
			code:    codes.InvalidArgument,
			message: "request has 2 inputs but 1 raw_input_contents",
		},
		{
			name: "raw contents of the wrong size",
			req: func() *pb.ModelInferRequest {
				r := rawRequest("chain", x)
				r.RawInputContents[0] = r.RawInputContents[0][:5] // FP32 [2] needs 2*4 = 8 bytes
				return r
			}(),
			code:    codes.InvalidArgument,
			message: `inputs[0]: invalid tensor: tensor "X": FP32 shape [2] needs 8 bytes, got 5`,
		},
		{
			name:    "typed contents too short for the shape",
			req:     &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{typedInput("X", "FP32", []int64{2, 2}, &pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3}})}},
			code:    codes.InvalidArgument,
			message: "needs 4 elements, got 3 values", // 2*2 = 4
		},
		{
			name:    "typed contents in the wrong field",
			req:     &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{typedInput("X", "FP32", []int64{1}, &pb.InferTensorContents{IntContents: []int32{1}})}},
			code:    codes.InvalidArgument,
			message: `input "X" is FP32, which typed contents carry in fp32_contents, but int_contents is set`,
		},
		{
			name:    "FP16 as typed contents",
			req:     &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{typedInput("X", "FP16", []int64{1}, &pb.InferTensorContents{Fp32Contents: []float32{1}})}},
			code:    codes.InvalidArgument,
			message: "FP16 data must be sent in raw_input_contents",
		},
		{
			name:    "INT8 value out of range",
			req:     &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{typedInput("X", "INT8", []int64{2}, &pb.InferTensorContents{IntContents: []int32{1, 200}})}},
			code:    codes.InvalidArgument,
			message: `tensor "X": element 1 is 200, outside [-128, 127]`,
		},
		{
			name:    "no data at all",
			req:     &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{typedInput("X", "FP32", []int64{2}, nil)}},
			code:    codes.InvalidArgument,
			message: `input "X" has no data`,
		},
		{
			name:    "unknown datatype",
			req:     &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{typedInput("X", "FP8", []int64{1}, &pb.InferTensorContents{})}},
			code:    codes.InvalidArgument,
			message: `input "X": invalid tensor: unknown datatype "FP8"`,
		},
		{
			name: "shared-memory input",
			req: func() *pb.ModelInferRequest {
				r := &pb.ModelInferRequest{ModelName: "chain", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "X", Datatype: "FP32", Shape: []int64{2}}}}
				r.Inputs[0].Parameters = map[string]*pb.InferParameter{"shared_memory_region": str("input_region")}
				return r
			}(),
			code:    codes.Unimplemented,
			message: `input "X" names shared-memory region "input_region": baton does not support shared-memory tensors`,
		},
		{
			name: "shared-memory output",
			req: func() *pb.ModelInferRequest {
				r := rawRequest("chain", x)
				r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "OUTPUT", Parameters: map[string]*pb.InferParameter{"shared_memory_region": str("out_region")}}}
				return r
			}(),
			code:    codes.Unimplemented,
			message: `output "OUTPUT" names shared-memory region "out_region"`,
		},
		{
			name: "output requested twice",
			req: func() *pb.ModelInferRequest {
				r := rawRequest("chain", x)
				r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "OUTPUT"}, {Name: "OUTPUT"}}
				return r
			}(),
			code:    codes.InvalidArgument,
			message: `outputs[1]: output "OUTPUT" requested twice`,
		},
		{
			name:    "unknown pipeline",
			req:     rawRequest("nope", x),
			code:    codes.NotFound,
			message: `unknown pipeline "nope"`,
		},
		{
			name:    "unknown version",
			req:     func() *pb.ModelInferRequest { r := rawRequest("chain", x); r.ModelVersion = "3"; return r }(),
			code:    codes.NotFound,
			message: `pipeline "chain" has no version "3"`,
		},
		{
			name:    "timeout of the wrong type",
			req:     withParams(rawRequest("chain", x), map[string]*pb.InferParameter{"timeout": str("1s")}),
			code:    codes.InvalidArgument,
			message: `parameter "timeout" must be int64_param or uint64_param, got string_param`,
		},
		{
			name:    "negative priority",
			req:     withParams(rawRequest("chain", x), map[string]*pb.InferParameter{"priority": i64(-1)}),
			code:    codes.InvalidArgument,
			message: `parameter "priority": -1 is negative`,
		},
		{
			name:    "target_model of the wrong type",
			req:     withParams(rawRequest("chain", x), map[string]*pb.InferParameter{"target_model": i64(1)}),
			code:    codes.InvalidArgument,
			message: `parameter "target_model" must be string_param, got int64_param`,
		},
		{
			name:    "target_model parameter and header disagree",
			req:     withParams(rawRequest("chain", x), map[string]*pb.InferParameter{"target_model": str("a")}),
			header:  []string{"b"},
			code:    codes.InvalidArgument,
			message: `parameter "target_model" says "a" but header x-baton-target-model says "b"`,
		},
		{
			name:    "sequence batching",
			req:     withParams(rawRequest("chain", x), map[string]*pb.InferParameter{"sequence_id": i64(42)}),
			code:    codes.Unimplemented,
			message: `parameter "sequence_id": pipelines do not support sequence batching`,
		},
	}
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			for _, h := range tt.header {
				ctx = metadata.AppendToOutgoingContext(ctx, TargetModelHeader, h)
			}
			_, err := ts.client.Raw().ModelInfer(ctx, tt.req)
			wantStatus(t, err, tt.code, tt.message)
			if calls := b.takeCalls(); len(calls) != 0 {
				t.Errorf("backend was called %d times for a refused request", len(calls))
			}
		})
	}
}

func TestInferPassesParameters(t *testing.T) {
	must := mustTensor(t)
	x := must(tritonclient.NewTensor("INPUT", []int64{1, 4}, []float32{1, 2, 3, 4}))
	param := func(v any) *pb.InferParameter {
		switch v := v.(type) {
		case int64:
			return &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: v}}
		case uint64:
			return &pb.InferParameter{ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: v}}
		case string:
			return &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: v}}
		}
		panic(fmt.Sprintf("param %T", v))
	}
	tests := []struct {
		name    string
		params  map[string]*pb.InferParameter
		header  []string
		outputs []string
		// want is the executor request the backend must see (Inputs aside).
		want executor.Request
		// maxDeadline > 0: the backend's ctx must have a deadline at most
		// this far away (and still in the future); 0: no deadline at all.
		maxDeadline time.Duration
	}{
		{name: "no parameters", want: executor.Request{ID: "r"}},
		{
			name:        "timeout becomes a deadline",
			params:      map[string]*pb.InferParameter{"timeout": param(int64(30_000_000))}, // 30e6 µs = 30 s
			want:        executor.Request{ID: "r"},
			maxDeadline: 30 * time.Second,
		},
		{
			name:        "timeout as uint64",
			params:      map[string]*pb.InferParameter{"timeout": param(uint64(20_000_000))}, // 20 s
			want:        executor.Request{ID: "r"},
			maxDeadline: 20 * time.Second,
		},
		{
			name:   "priority as int64",
			params: map[string]*pb.InferParameter{"priority": param(int64(2))},
			want:   executor.Request{ID: "r", Priority: 2},
		},
		{
			name:   "priority as uint64",
			params: map[string]*pb.InferParameter{"priority": param(uint64(5))},
			want:   executor.Request{ID: "r", Priority: 5},
		},
		{
			name:   "target_model parameter",
			params: map[string]*pb.InferParameter{"target_model": param("resnet")},
			want:   executor.Request{ID: "r", TargetModel: "resnet"},
		},
		{
			name:   "target model header",
			header: []string{"bert"},
			want:   executor.Request{ID: "r", TargetModel: "bert"},
		},
		{
			name:   "parameter and header that agree",
			params: map[string]*pb.InferParameter{"target_model": param("bert")},
			header: []string{"bert"},
			want:   executor.Request{ID: "r", TargetModel: "bert"},
		},
		{
			name:    "requested outputs",
			outputs: []string{"LABEL", "OUTPUT"},
			want:    executor.Request{ID: "r", Outputs: []string{"LABEL", "OUTPUT"}},
		},
		{
			name:   "unknown parameters are ignored",
			params: map[string]*pb.InferParameter{"my_flag": param("on"), "sequence_id": param(int64(0))},
			want:   executor.Request{ID: "r"},
		},
	}
	b := newFakeBackend(chainPlan(t))
	b.setInfer(func(context.Context, string, *executor.Request) (*executor.Result, error) {
		return &executor.Result{}, nil
	})
	ts := startServer(t, b, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			for _, h := range tt.header {
				ctx = metadata.AppendToOutgoingContext(ctx, TargetModelHeader, h)
			}
			req := rawRequest("chain", x)
			req.Id, req.Parameters = "r", tt.params
			for _, o := range tt.outputs {
				req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o})
			}
			if _, err := ts.client.Raw().ModelInfer(ctx, req); err != nil {
				t.Fatal(err)
			}
			calls := b.takeCalls()
			if len(calls) != 1 {
				t.Fatalf("backend saw %d calls, want 1", len(calls))
			}
			c := calls[0]
			if c.name != "chain" {
				t.Errorf("pipeline = %q, want chain", c.name)
			}
			want := tt.want
			want.Inputs = []tritonclient.Tensor{x}
			if diff := cmp.Diff(&want, c.req); diff != "" {
				t.Errorf("executor request (-want +got):\n%s", diff)
			}
			switch {
			case tt.maxDeadline == 0 && c.hasDeadline:
				t.Errorf("backend ctx has a deadline %v away, want none", c.deadline)
			case tt.maxDeadline > 0 && !c.hasDeadline:
				t.Errorf("backend ctx has no deadline, want one within %v", tt.maxDeadline)
			case tt.maxDeadline > 0 && (c.deadline <= 0 || c.deadline > tt.maxDeadline):
				t.Errorf("backend ctx deadline is %v away, want within (0, %v]", c.deadline, tt.maxDeadline)
			}
		})
	}
}

func TestInferTimeoutExpires(t *testing.T) {
	b := newFakeBackend(chainPlan(t))
	// The backend waits for its context, as the executor does when a stage
	// outlives the request's deadline; without a deadline it would wait for
	// ever, so it fails at once instead.
	b.setInfer(func(ctx context.Context, _ string, _ *executor.Request) (*executor.Result, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("fake: the timeout parameter set no deadline")
		}
		<-ctx.Done()
		return nil, fmt.Errorf("stage %q on triton-0: %w", "classify", ctx.Err())
	})
	ts := startServer(t, b, Options{})
	req := rawRequest("chain", mustTensor(t)(tritonclient.NewTensor("INPUT", []int64{1, 4}, []float32{1, 2, 3, 4})))
	req.Parameters = map[string]*pb.InferParameter{"timeout": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 1000}}} // 1 ms
	_, err := ts.client.Raw().ModelInfer(t.Context(), req)
	wantStatus(t, err, codes.DeadlineExceeded, `stage "classify" on triton-0: context deadline exceeded`)
}

func TestInferErrorMapping(t *testing.T) {
	tritonErr := func(code codes.Code, msg string) error {
		return &tritonclient.Error{Instance: "triton-0", Op: "ModelInfer", Model: "cls", Code: code, Message: msg}
	}
	stageErr := func(instance string, err error) error {
		return &executor.StageError{Stage: "classify", Index: 1, Model: "cls", Instance: instance, Err: err}
	}
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		message string
	}{
		{
			name:    "bad input",
			err:     fmt.Errorf("%w: inputs[0]: unknown input %q (pipeline chain takes INPUT, TEXT)", executor.ErrBadInput, "IMG"),
			code:    codes.InvalidArgument,
			message: `bad input: inputs[0]: unknown input "IMG"`,
		},
		{
			name:    "missing target model",
			err:     fmt.Errorf("%w: stage %q serves group %q", executor.ErrMissingTarget, "classify", "classifiers"),
			code:    codes.InvalidArgument,
			message: `target model required: stage "classify" serves group "classifiers"`,
		},
		{
			name:    "invalid tensor",
			err:     fmt.Errorf("%w: tensor %q: BYTES shape [1] needs 1 elements, got 0", tritonclient.ErrInvalidTensor, "TEXT"),
			code:    codes.InvalidArgument,
			message: `tensor "TEXT": BYTES shape [1]`,
		},
		{
			name:    "no instance",
			err:     fmt.Errorf("stage %q: %w: %w", "classify", executor.ErrNoInstance, errors.New(`no healthy instance has model "cls"`)),
			code:    codes.Unavailable,
			message: `stage "classify": no instance available: no healthy instance has model "cls"`,
		},
		{
			name:    "unknown group target",
			err:     fmt.Errorf("stage %q: %w: group %q has no member %q", "classify", executor.ErrUnknownTarget, "classifiers", "cls_nowhere"),
			code:    codes.NotFound,
			message: `stage "classify": unknown target model: group "classifiers" has no member "cls_nowhere"`,
		},
		{
			name:    "failed group load",
			err:     fmt.Errorf("stage %q: %w: group %q: loading model %q failed: initialize() raised", "classify", executor.ErrLoadFailed, "classifiers", "cls_broken"),
			code:    codes.FailedPrecondition,
			message: `loading model "cls_broken" failed: initialize() raised`,
		},
		{
			name:    "stage invalid argument keeps its code",
			err:     stageErr("triton-0", tritonErr(codes.InvalidArgument, "unexpected shape for input 'X'")),
			code:    codes.InvalidArgument,
			message: `stage "classify" (model "cls" on triton-0): unexpected shape for input 'X'`,
		},
		{
			name:    "stage unavailable keeps its code",
			err:     stageErr("triton-1", tritonErr(codes.Unavailable, "connection reset")),
			code:    codes.Unavailable,
			message: `stage "classify" (model "cls" on triton-1): connection reset`,
		},
		{
			name:    "stage model not found is Baton's problem",
			err:     stageErr("triton-0", tritonErr(codes.NotFound, "Request for unknown model: 'cls' is not found")),
			code:    codes.Internal,
			message: `stage "classify" (model "cls" on triton-0): Request for unknown model: 'cls' is not found`,
		},
		{
			name:    "stage internal error",
			err:     stageErr("triton-0", tritonErr(codes.Internal, "CUDA out of memory")),
			code:    codes.Internal,
			message: `stage "classify" (model "cls" on triton-0): CUDA out of memory`,
		},
		{
			name:    "stage output missing, no Triton error",
			err:     stageErr("triton-0", fmt.Errorf("%w: model returned no output %q", tritonclient.ErrInternal, "L")),
			code:    codes.Internal,
			message: `stage "classify" (model "cls" on triton-0): triton internal error: model returned no output "L"`,
		},
		{
			name:    "stage timeout",
			err:     stageErr("triton-0", fmt.Errorf("stage timeout 250ms: %w", context.DeadlineExceeded)),
			code:    codes.DeadlineExceeded,
			message: `stage "classify" (model "cls" on triton-0): stage timeout 250ms`,
		},
		{
			name:    "stage error without an instance",
			err:     stageErr("", tritonErr(codes.InvalidArgument, "bad")),
			code:    codes.InvalidArgument,
			message: `stage "classify" (model "cls"): bad`,
		},
		{
			name:    "request deadline",
			err:     fmt.Errorf("stage %q on %s: %w", "classify", "triton-0", context.DeadlineExceeded),
			code:    codes.DeadlineExceeded,
			message: `stage "classify" on triton-0: context deadline exceeded`,
		},
		{
			name:    "request cancelled",
			err:     fmt.Errorf("stage %q on %s: %w", "classify", "triton-0", context.Canceled),
			code:    codes.Canceled,
			message: `stage "classify" on triton-0: context canceled`,
		},
		{
			name:    "gRPC status passes through",
			err:     status.Error(codes.ResourceExhausted, "too many requests"),
			code:    codes.ResourceExhausted,
			message: "too many requests",
		},
		{
			name:    "anything else is internal",
			err:     errors.New("boom"),
			code:    codes.Internal,
			message: "boom",
		},
	}
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	req := rawRequest("chain", mustTensor(t)(tritonclient.NewTensor("INPUT", []int64{1, 4}, []float32{1, 2, 3, 4})))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.setInfer(func(context.Context, string, *executor.Request) (*executor.Result, error) { return nil, tt.err })
			_, err := ts.client.Raw().ModelInfer(t.Context(), req)
			wantStatus(t, err, tt.code, tt.message)
		})
	}
}

func TestInferPipelineDeletedMidRequest(t *testing.T) {
	b := newFakeBackend(chainPlan(t))
	// What orchestrator.Service returns when the pipeline went away between
	// the front door's lookup and Infer: an error this package cannot name.
	b.setInfer(func(_ context.Context, name string, _ *executor.Request) (*executor.Result, error) {
		b.deletePlan(name)
		return nil, fmt.Errorf("pipeline not found: %q", name)
	})
	ts := startServer(t, b, Options{})
	req := rawRequest("chain", mustTensor(t)(tritonclient.NewTensor("INPUT", []int64{1, 4}, []float32{1, 2, 3, 4})))
	_, err := ts.client.Raw().ModelInfer(t.Context(), req)
	wantStatus(t, err, codes.NotFound, `unknown pipeline "chain"`)
}

func TestInferThroughTritonClient(t *testing.T) {
	must := mustTensor(t)
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	in := must(tritonclient.NewTensor("INPUT", []int64{1, 4}, []float32{1, 2, 3, 4}))
	resp, err := ts.client.Infer(t.Context(), &tritonclient.InferRequest{Model: "chain", ID: "42", Inputs: []tritonclient.Tensor{in}, Parameters: map[string]any{"priority": 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := &tritonclient.InferResponse{Model: "chain", Version: "1", ID: "42", Outputs: []tritonclient.Tensor{{Name: "OUTPUT", DataType: "FP32", Shape: []int64{1, 4}, Raw: in.Raw}}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("Infer (-want +got):\n%s", diff)
	}
}

func TestMessageLimits(t *testing.T) {
	must := mustTensor(t)
	// 5 MiB of FP32: over grpc-go's 4 MiB default both ways.
	const n = 5 << 20 / 4
	big := must(tritonclient.NewTensor("INPUT", []int64{1, n}, make([]float32, n)))
	tests := []struct {
		name     string
		maxBytes int
		code     codes.Code
		message  string
	}{
		{name: "default limit carries 5 MiB each way", maxBytes: 0, code: codes.OK},
		{name: "responses over the configured limit are refused", maxBytes: 1 << 20, code: codes.ResourceExhausted, message: `response of pipeline "chain" is`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFakeBackend(chainPlan(t))
			ts := startServer(t, b, Options{MaxMessageBytes: tt.maxBytes})
			resp, err := ts.client.Raw().ModelInfer(t.Context(), rawRequest("chain", big))
			if tt.code != codes.OK {
				wantStatus(t, err, tt.code, tt.message)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(resp.GetRawOutputContents()[0]); got != len(big.Raw) {
				t.Errorf("output is %d bytes, want %d", got, len(big.Raw))
			}
		})
	}
}

func TestModelStreamInfer(t *testing.T) {
	must := mustTensor(t)
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	stream, err := ts.client.Raw().ModelStreamInfer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ins := map[string]tritonclient.Tensor{}
	for i := range 3 {
		ins[fmt.Sprint(i)] = must(tritonclient.NewTensor("INPUT", []int64{1, 4}, []float32{float32(i), 1, 2, 3}))
	}
	reqs := []*pb.ModelInferRequest{rawRequest("chain", ins["0"]), rawRequest("nope", ins["1"]), rawRequest("chain", ins["2"])}
	// Request 2 asks for Triton's final-response flag, as perf_analyzer does.
	reqs[2].Parameters = map[string]*pb.InferParameter{"triton_enable_empty_final_response": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}}
	for i, r := range reqs {
		r.Id = fmt.Sprint(i)
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := map[string]*pb.ModelStreamInferResponse{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[resp.GetInferResponse().GetId()] = resp
	}
	want := map[string]*pb.ModelStreamInferResponse{
		"1": {ErrorMessage: `unknown pipeline "nope"`, InferResponse: &pb.ModelInferResponse{ModelName: "nope", Id: "1"}},
	}
	for _, id := range []string{"0", "2"} {
		want[id] = &pb.ModelStreamInferResponse{InferResponse: &pb.ModelInferResponse{
			ModelName: "chain", ModelVersion: "1", Id: id,
			Outputs:           []*pb.ModelInferResponse_InferOutputTensor{{Name: "OUTPUT", Datatype: "FP32", Shape: []int64{1, 4}}},
			RawOutputContents: [][]byte{ins[id].Raw},
		}}
	}
	want["2"].InferResponse.Parameters = map[string]*pb.InferParameter{"triton_final_response": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("stream responses by id (-want +got):\n%s", diff)
	}
}
