package grpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current responses")

// wantStatus checks that err is a gRPC status (as a raw pb client returns
// it) with code and a message containing substr.
func wantStatus(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("err = %v, want a gRPC status %s", err, code)
	}
	if st.Code() != code || !strings.Contains(st.Message(), substr) {
		t.Errorf("status = %s %q, want %s containing %q", st.Code(), st.Message(), code, substr)
	}
}

// wantTritonError checks an error from tritonclient's wrapped methods.
func wantTritonError(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	te, ok := errors.AsType[*tritonclient.Error](err)
	if !ok {
		t.Fatalf("err = %v, want a *tritonclient.Error %s", err, code)
	}
	if te.Code != code || !strings.Contains(te.Message, substr) {
		t.Errorf("error = %s %q, want %s containing %q", te.Code, te.Message, code, substr)
	}
}

func TestServerMetadataAndLiveness(t *testing.T) {
	ts := startServer(t, newFakeBackend(chainPlan(t)), Options{ServerVersion: "1.2.3"})
	ctx := t.Context()
	live, err := ts.client.ServerLive(ctx)
	if err != nil || !live {
		t.Fatalf("ServerLive = %v, %v; want true", live, err)
	}
	got, err := ts.client.ServerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := tritonclient.ServerMetadata{Name: "baton", Version: "1.2.3", Extensions: []string{"binary_tensor_data", "model_configuration", "parameters", "statistics"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ServerMetadata (-want +got):\n%s", diff)
	}
}

// readiness is everything a client can observe about readiness.
type readiness struct {
	Health        healthpb.HealthCheckResponse_ServingStatus
	ServiceHealth healthpb.HealthCheckResponse_ServingStatus
	ServerReady   bool
	ModelReady    bool
}

func observeReadiness(t *testing.T, ts *testServer, hc healthpb.HealthClient) readiness {
	t.Helper()
	ctx := t.Context()
	var r readiness
	var err error
	if r.Health, err = ts.client.Health(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "inference.GRPCInferenceService"})
	if err != nil {
		t.Fatal(err)
	}
	r.ServiceHealth = resp.GetStatus()
	if r.ServerReady, err = ts.client.ServerReady(ctx); err != nil {
		t.Fatal(err)
	}
	if r.ModelReady, err = ts.client.ModelReady(ctx, "chain", ""); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHealthFollowsReady(t *testing.T) {
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)

	serving := readiness{healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_SERVING, true, true}
	notServing := readiness{healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING, false, false}
	// Steps run in order on one server: the health service must follow
	// Ready() both ways, and Shutdown must win over Ready() for health.
	steps := []struct {
		name     string
		ready    bool
		shutdown bool
		want     readiness
	}{
		{name: "ready", ready: true, want: serving},
		{name: "not ready", ready: false, want: notServing},
		{name: "ready again", ready: true, want: serving},
		{name: "shut down while ready", ready: true, shutdown: true,
			want: readiness{healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING, true, true}},
	}
	for _, st := range steps {
		b.setReady(st.ready)
		if st.shutdown {
			ts.srv.Shutdown()
		}
		if diff := cmp.Diff(st.want, observeReadiness(t, ts, hc)); diff != "" {
			t.Errorf("%s: readiness (-want +got):\n%s", st.name, diff)
		}
	}
}

func TestModelReady(t *testing.T) {
	tests := []struct {
		name, model, version string
		backendReady         bool
		want                 bool
	}{
		{name: "any version", model: "chain", backendReady: true, want: true},
		{name: "version 1", model: "chain", version: "1", backendReady: true, want: true},
		{name: "version 2 does not exist", model: "chain", version: "2", backendReady: true, want: false},
		{name: "unknown pipeline", model: "nope", backendReady: true, want: false},
		{name: "baton not ready", model: "chain", backendReady: false, want: false},
	}
	b := newFakeBackend(chainPlan(t))
	ts := startServer(t, b, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.setReady(tt.backendReady)
			got, err := ts.client.ModelReady(t.Context(), tt.model, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ModelReady(%q, %q) = %v, want %v", tt.model, tt.version, got, tt.want)
			}
		})
	}
}

// normalizedJSON renders m with protojson and re-indents it through a
// map so that the bytes do not depend on protojson's unstable spacing.
func normalizedJSON(t *testing.T, m proto.Message) []byte {
	t.Helper()
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

func TestModelMetadataAndConfig(t *testing.T) {
	ts := startServer(t, newFakeBackend(chainPlan(t)), Options{})
	ctx := t.Context()

	md, err := ts.client.Raw().ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "chain"})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "chain_metadata.golden", normalizedJSON(t, md))
	wantMD := &pb.ModelMetadataResponse{
		Name: "chain", Versions: []string{"1"}, Platform: "baton_pipeline",
		Inputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: "INPUT", Datatype: "FP32", Shape: []int64{-1, 4}},
			{Name: "TEXT", Datatype: "BYTES", Shape: []int64{-1, 1}},
		},
		Outputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: "OUTPUT", Datatype: "FP32", Shape: []int64{-1, 4}},
			{Name: "LABEL", Datatype: "BYTES", Shape: []int64{-1, 1}},
		},
	}
	if diff := cmp.Diff(wantMD, md, protocmp.Transform()); diff != "" {
		t.Errorf("ModelMetadata (-want +got):\n%s", diff)
	}

	cfg, err := ts.client.ModelConfig(ctx, "chain", "1")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "chain_config.golden", normalizedJSON(t, cfg))
	// max_batch_size 8, so dims drop the leading -1 of every shape.
	wantCfg := &pb.ModelConfig{
		Name: "chain", Platform: "baton_pipeline", MaxBatchSize: 8,
		Input: []*pb.ModelInput{
			{Name: "INPUT", DataType: pb.DataType_TYPE_FP32, Dims: []int64{4}},
			{Name: "TEXT", DataType: pb.DataType_TYPE_STRING, Dims: []int64{1}},
		},
		Output: []*pb.ModelOutput{
			{Name: "OUTPUT", DataType: pb.DataType_TYPE_FP32, Dims: []int64{4}},
			{Name: "LABEL", DataType: pb.DataType_TYPE_STRING, Dims: []int64{1}},
		},
	}
	if diff := cmp.Diff(wantCfg, cfg, protocmp.Transform()); diff != "" {
		t.Errorf("ModelConfig (-want +got):\n%s", diff)
	}
}

func TestModelConfigWithoutBatching(t *testing.T) {
	ts := startServer(t, newFakeBackend(flatPlan(t)), Options{})
	cfg, err := ts.client.ModelConfig(t.Context(), "flat", "")
	if err != nil {
		t.Fatal(err)
	}
	// max_batch_size 0: dims are the full shapes.
	want := &pb.ModelConfig{
		Name: "flat", Platform: "baton_pipeline",
		Input: []*pb.ModelInput{
			{Name: "F", DataType: pb.DataType_TYPE_FP32, Dims: []int64{2, 2}},
			{Name: "I", DataType: pb.DataType_TYPE_INT32, Dims: []int64{3}},
		},
		Output: []*pb.ModelOutput{{Name: "OUT", DataType: pb.DataType_TYPE_FP32, Dims: []int64{2, 2}}},
	}
	if diff := cmp.Diff(want, cfg, protocmp.Transform()); diff != "" {
		t.Errorf("ModelConfig (-want +got):\n%s", diff)
	}
}

func TestModelLookupErrors(t *testing.T) {
	ts := startServer(t, newFakeBackend(chainPlan(t)), Options{})
	tests := []struct {
		name    string
		call    func(ctx context.Context) error
		code    codes.Code
		message string
	}{
		{
			name:    "metadata of unknown pipeline",
			call:    func(ctx context.Context) error { _, err := ts.client.ModelMetadata(ctx, "x", ""); return err },
			code:    codes.NotFound,
			message: `unknown pipeline "x"`,
		},
		{
			name:    "metadata of version 2",
			call:    func(ctx context.Context) error { _, err := ts.client.ModelMetadata(ctx, "chain", "2"); return err },
			code:    codes.NotFound,
			message: `pipeline "chain" has no version "2"`,
		},
		{
			name:    "config of unknown pipeline",
			call:    func(ctx context.Context) error { _, err := ts.client.ModelConfig(ctx, "x", ""); return err },
			code:    codes.NotFound,
			message: `unknown pipeline "x"`,
		},
		{
			name:    "statistics of unknown pipeline",
			call:    func(ctx context.Context) error { _, err := ts.client.ModelStatistics(ctx, "x", ""); return err },
			code:    codes.NotFound,
			message: `unknown pipeline "x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantTritonError(t, tt.call(t.Context()), tt.code, tt.message)
		})
	}
}

func TestModelStatistics(t *testing.T) {
	b := newFakeBackend(chainPlan(t), flatPlan(t))
	last := time.UnixMilli(1_700_000_000_123)
	b.stats["chain"] = tritonclient.ModelStats{
		Name: "chain", Version: "1", LastInference: last, InferenceCount: 24, ExecutionCount: 3,
		Success: tritonclient.StatDuration{Count: 3, Total: 3 * time.Millisecond},
		Fail:    tritonclient.StatDuration{Count: 1, Total: 500 * time.Microsecond},
	}
	b.stats["flat"] = tritonclient.ModelStats{Name: "flat", Version: "1"}
	ts := startServer(t, b, Options{})

	// A pipeline has no queue: it reports one zero-length queue entry per
	// success, as Triton does, so perf_analyzer sees the queue count grow.
	chain := b.stats["chain"]
	chain.Queue = tritonclient.StatDuration{Count: 3}
	flat := tritonclient.ModelStats{Name: "flat", Version: "1"}
	tests := []struct {
		name, model string
		want        []tritonclient.ModelStats
	}{
		{name: "one pipeline", model: "chain", want: []tritonclient.ModelStats{chain}},
		{name: "all pipelines, sorted by name", model: "", want: []tritonclient.ModelStats{chain, flat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ts.client.ModelStatistics(t.Context(), tt.model, "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ModelStatistics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRepository(t *testing.T) {
	b := newFakeBackend(chainPlan(t), flatPlan(t))
	ts := startServer(t, b, Options{})
	rpc := ts.client.Raw()
	ready := []*pb.RepositoryIndexResponse_ModelIndex{
		{Name: "chain", Version: "1", State: "READY"},
		{Name: "flat", Version: "1", State: "READY"},
	}
	unavailable := []*pb.RepositoryIndexResponse_ModelIndex{
		{Name: "chain", Version: "1", State: "UNAVAILABLE", Reason: "baton is not ready"},
		{Name: "flat", Version: "1", State: "UNAVAILABLE", Reason: "baton is not ready"},
	}
	tests := []struct {
		name         string
		backendReady bool
		readyOnly    bool
		want         []*pb.RepositoryIndexResponse_ModelIndex
	}{
		{name: "ready", backendReady: true, want: ready},
		{name: "ready, only ready asked", backendReady: true, readyOnly: true, want: ready},
		{name: "not ready", backendReady: false, want: unavailable},
		{name: "not ready, only ready asked", backendReady: false, readyOnly: true, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.setReady(tt.backendReady)
			resp, err := rpc.RepositoryIndex(t.Context(), &pb.RepositoryIndexRequest{Ready: tt.readyOnly})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, resp.GetModels(), protocmp.Transform()); diff != "" {
				t.Errorf("RepositoryIndex (-want +got):\n%s", diff)
			}
		})
	}

	_, err := rpc.RepositoryModelLoad(t.Context(), &pb.RepositoryModelLoadRequest{ModelName: "chain"})
	wantStatus(t, err, codes.Unimplemented, "pipelines are managed through /admin/pipelines")
	_, err = rpc.RepositoryModelUnload(t.Context(), &pb.RepositoryModelUnloadRequest{ModelName: "chain"})
	wantStatus(t, err, codes.Unimplemented, "pipelines are managed through /admin/pipelines")
	_, err = rpc.SystemSharedMemoryRegister(t.Context(), &pb.SystemSharedMemoryRegisterRequest{Name: "r"})
	wantStatus(t, err, codes.Unimplemented, "shared-memory")
}
