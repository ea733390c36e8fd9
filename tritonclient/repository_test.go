package tritonclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

func baseConfig() *pb.ModelConfig {
	return &pb.ModelConfig{
		Name: "m", Backend: "python", MaxBatchSize: 8,
		Input:            []*pb.ModelInput{{Name: "X", DataType: pb.DataType_TYPE_FP32, Dims: []int64{4}}},
		Output:           []*pb.ModelOutput{{Name: "Y", DataType: pb.DataType_TYPE_FP32, Dims: []int64{4}}},
		InstanceGroup:    []*pb.ModelInstanceGroup{{Kind: pb.ModelInstanceGroup_KIND_CPU, Count: 1}},
		SchedulingChoice: &pb.ModelConfig_DynamicBatching{DynamicBatching: &pb.ModelDynamicBatching{}},
		Parameters:       map[string]*pb.ModelParameter{"keep": {StringValue: "1"}},
	}
}

func TestOverrideApply(t *testing.T) {
	mbs := int32(32)
	tests := []struct {
		name    string
		o       Override
		want    func(*pb.ModelConfig) // edits a fresh baseConfig into the expectation
		wantErr bool
	}{
		{name: "zero override changes nothing", want: func(*pb.ModelConfig) {}},
		{
			name: "GPU with device indices",
			o:    Override{SetInstanceGroup: true, Kind: KindGPU, Count: 2, GPUs: []int32{1}},
			want: func(c *pb.ModelConfig) {
				c.InstanceGroup = []*pb.ModelInstanceGroup{{Kind: pb.ModelInstanceGroup_KIND_GPU, Count: 2, Gpus: []int32{1}}}
			},
		},
		{
			name: "CPU with count 0 means one instance",
			o:    Override{SetInstanceGroup: true, Kind: KindCPU},
			want: func(c *pb.ModelConfig) {
				c.InstanceGroup = []*pb.ModelInstanceGroup{{Kind: pb.ModelInstanceGroup_KIND_CPU, Count: 1}}
			},
		},
		{name: "gpus with KIND_CPU is refused", o: Override{SetInstanceGroup: true, Kind: KindCPU, GPUs: []int32{0}}, wantErr: true},
		{
			name: "batching and parameters merge",
			o: Override{MaxBatchSize: &mbs, Parameters: map[string]string{"ballast_bytes": "1024"},
				DynamicBatching: &DynamicBatching{PreferredBatchSizes: []int32{4, 8}, MaxQueueDelay: 250 * time.Microsecond}},
			want: func(c *pb.ModelConfig) {
				c.MaxBatchSize = 32
				c.Parameters["ballast_bytes"] = &pb.ModelParameter{StringValue: "1024"}
				c.SchedulingChoice = &pb.ModelConfig_DynamicBatching{DynamicBatching: &pb.ModelDynamicBatching{PreferredBatchSize: []int32{4, 8}, MaxQueueDelayMicroseconds: 250}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := baseConfig()
			got, err := tt.o.Apply(base)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("err = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := baseConfig()
			tt.want(want)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(baseConfig(), base, protocmp.Transform()); diff != "" {
				t.Errorf("Apply modified its base (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverrideRefusesBatchingOnEnsemble(t *testing.T) {
	ens := &pb.ModelConfig{Name: "e", Platform: "ensemble", SchedulingChoice: &pb.ModelConfig_EnsembleScheduling{EnsembleScheduling: &pb.ModelEnsembling{}}}
	if _, err := (Override{DynamicBatching: &DynamicBatching{}}).Apply(ens); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument", err)
	}
}

// TestConfigJSONSpelling pins the JSON Triton's load API parses: proto field
// names and enum names.
func TestConfigJSONSpelling(t *testing.T) {
	o := Override{SetInstanceGroup: true, Kind: KindGPU, Count: 1, GPUs: []int32{0}}
	cfg, err := o.Apply(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	js, err := ConfigJSON(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"max_batch_size":8`, `"kind":"KIND_GPU"`, `"gpus":[0]`, `"data_type":"TYPE_FP32"`, `"dynamic_batching":{}`} {
		if !strings.Contains(strings.ReplaceAll(string(js), " ", ""), want) {
			t.Errorf("config JSON %s lacks %s", js, want)
		}
	}
	back := &pb.ModelConfig{}
	if err := protojson.Unmarshal(js, back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg, back, protocmp.Transform()); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// TestReadModelConfigOfExamples parses every example config.pbtxt: a field
// our proto lacks would fail here, before a load override silently drops it.
func TestReadModelConfigOfExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "model_repository", "*", "config.pbtxt"))
	if err != nil || len(paths) < 10 {
		t.Fatalf("found %d example configs (%v), want at least 10", len(paths), err)
	}
	for _, p := range paths {
		cfg, err := ReadModelConfig(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if want := filepath.Base(filepath.Dir(p)); cfg.GetName() != want {
			t.Errorf("%s: name %q, want %q", p, cfg.GetName(), want)
		}
	}
}

func TestReadModelConfigRejectsUndeclaredField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m", "config.pbtxt")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("backend: \"python\"\nsequence_batching { }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadModelConfig(p); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("err = %v, want ErrInvalidArgument for an undeclared field", err)
	}
}

func TestStatsDelta(t *testing.T) {
	d := func(c uint64, ns int64) StatDuration { return StatDuration{Count: c, Total: time.Duration(ns)} }
	prev := ModelStats{InferenceCount: 10, ExecutionCount: 4, Success: d(10, 1000), Queue: d(10, 100), ComputeInfer: d(4, 800)}
	cur := ModelStats{InferenceCount: 15, ExecutionCount: 6, Success: d(15, 1600), Queue: d(15, 130), ComputeInfer: d(6, 1300)}
	// 15-10 = 5 inferences, 6-4 = 2 executions, 1600-1000 = 600 ns of success.
	want := ModelStats{InferenceCount: 5, ExecutionCount: 2, Success: d(5, 600), Queue: d(5, 30), ComputeInfer: d(2, 500)}
	if diff := cmp.Diff(want, cur.Delta(prev)); diff != "" {
		t.Errorf("Delta (-want +got):\n%s", diff)
	}
	if got := want.ComputeInfer.Mean(); got != 250 { // 500 ns / 2
		t.Errorf("Mean = %v, want 250ns", got)
	}
	// A reload resets counters: the delta is everything since the reload.
	reloaded := ModelStats{InferenceCount: 3, Success: d(3, 90)}
	if diff := cmp.Diff(reloaded, reloaded.Delta(prev)); diff != "" {
		t.Errorf("Delta after reload (-want +got):\n%s", diff)
	}
}

func TestWrapErrMapsCodes(t *testing.T) {
	c := &Client{name: "t0"}
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.NotFound, ErrModelNotFound},
		{codes.Unavailable, ErrUnavailable},
		{codes.InvalidArgument, ErrInvalidArgument},
		{codes.Unimplemented, ErrUnsupported},
		{codes.AlreadyExists, ErrAlreadyExists},
		{codes.Internal, ErrInternal},
		{codes.Unknown, ErrInternal},
		{codes.Canceled, context.Canceled},
		{codes.DeadlineExceeded, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		err := c.wrapErr(context.Background(), "ModelInfer", "m", status.Error(tt.code, "boom"))
		if !errors.Is(err, tt.want) {
			t.Errorf("%v: err = %v, want %v", tt.code, err, tt.want)
		}
	}
	err := c.wrapErr(context.Background(), "ModelInfer", "m", status.Error(codes.NotFound, "Request for unknown model"))
	if got, want := err.Error(), `triton t0: ModelInfer "m": model not found: Request for unknown model`; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	// A caller's ended context wins over whatever status the transport saw.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.wrapErr(ctx, "ModelInfer", "m", status.Error(codes.Unavailable, "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestParamsRoundTrip(t *testing.T) {
	in := map[string]any{"b": true, "s": "x", "i": int64(-3), "u": uint64(7), "f": 0.5}
	p, err := paramsToProto(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, paramsFromProto(p)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := paramsToProto(map[string]any{"bad": []int{1}}); err == nil {
		t.Error("unsupported parameter type accepted")
	}
}
