package tritonclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
	"github.com/batonhq/baton/tritonclient/localfleet"
	"github.com/batonhq/baton/tritonclient/localfleet/fleettest"
)

// fleet is this package's real Triton, started by TestMain.
var fleet *localfleet.Fleet

// startupModels are loaded when the fleet starts; the tests load others.
var startupModels = []string{
	"tabular_preprocess", "tabular_classifier", "tabular_postprocess", "tabular_ensemble",
	"identity_fp32", "echo_types",
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(fleettest.Main(m, localfleet.Options{Instances: 1, LoadModels: startupModels}, &fleet))
}

func newClient(t *testing.T) *tritonclient.Client {
	t.Helper()
	c, err := tritonclient.New(fleet.Instances[0].GRPCAddr, tritonclient.Options{Name: fleet.Instances[0].Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServerHealthAndMetadata(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	live, err := c.ServerLive(ctx)
	if err != nil || !live {
		t.Fatalf("ServerLive = %v, %v; want true", live, err)
	}
	ready, err := c.ServerReady(ctx)
	if err != nil || !ready {
		t.Fatalf("ServerReady = %v, %v; want true", ready, err)
	}
	st, err := c.Health(ctx)
	if err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Health = %v, %v; want SERVING", st, err)
	}
	md, err := c.ServerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Name != "triton" || md.Version == "" || !slices.Contains(md.Extensions, "model_repository") {
		t.Errorf("ServerMetadata = %+v; want name triton, a version, the model_repository extension", md)
	}
	t.Logf("talking to tritonserver %s", md.Version)
}

func TestModelMetadataOfExamples(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	type tm = tritonclient.TensorMetadata
	tests := []struct {
		model    string
		platform string
		inputs   []tm
		outputs  []tm
	}{
		{"tabular_preprocess", "python", []tm{{Name: "ROWS", DataType: "BYTES", Shape: []int64{-1, 1}}}, []tm{{Name: "FEATURES", DataType: "FP32", Shape: []int64{-1, 7}}}},
		{"tabular_classifier", "python", []tm{{Name: "FEATURES", DataType: "FP32", Shape: []int64{-1, 7}}}, []tm{{Name: "PROBABILITIES", DataType: "FP32", Shape: []int64{-1, 3}}}},
		{"tabular_postprocess", "python", []tm{{Name: "PROBABILITIES", DataType: "FP32", Shape: []int64{-1, 3}}}, []tm{{Name: "LABEL", DataType: "BYTES", Shape: []int64{-1, 1}}, {Name: "SCORE", DataType: "FP32", Shape: []int64{-1, 1}}}},
		{"tabular_ensemble", "ensemble", []tm{{Name: "ROWS", DataType: "BYTES", Shape: []int64{-1, 1}}}, []tm{{Name: "LABEL", DataType: "BYTES", Shape: []int64{-1, 1}}, {Name: "SCORE", DataType: "FP32", Shape: []int64{-1, 1}}}},
		{"identity_fp32", "python", []tm{{Name: "INPUT0", DataType: "FP32", Shape: []int64{-1, -1}}}, []tm{{Name: "OUTPUT0", DataType: "FP32", Shape: []int64{-1, -1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			ready, err := c.ModelReady(ctx, tt.model, "")
			if err != nil || !ready {
				t.Fatalf("ModelReady = %v, %v", ready, err)
			}
			md, err := c.ModelMetadata(ctx, tt.model, "")
			if err != nil {
				t.Fatal(err)
			}
			if md.Platform != tt.platform {
				t.Errorf("platform = %q, want %q", md.Platform, tt.platform)
			}
			if diff := cmp.Diff(tt.inputs, md.Inputs); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.outputs, md.Outputs); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}

var csvRows = []string{"M,0.455,0.365,0.095,0.514", "F,0.53,0.42,0.135,0.677", "I,0.33,0.255,0.08,0.205"}

func rowsTensor(t *testing.T, rows []string) tritonclient.Tensor {
	t.Helper()
	in, err := tritonclient.NewStrings("ROWS", []int64{int64(len(rows)), 1}, rows)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func infer(t *testing.T, ctx context.Context, c *tritonclient.Client, model string, inputs ...tritonclient.Tensor) *tritonclient.InferResponse {
	t.Helper()
	resp, err := c.Infer(ctx, &tritonclient.InferRequest{Model: model, Inputs: inputs})
	if err != nil {
		t.Fatalf("infer %s: %v", model, err)
	}
	return resp
}

func output(t *testing.T, resp *tritonclient.InferResponse, name string) tritonclient.Tensor {
	t.Helper()
	out, ok := resp.Output(name)
	if !ok {
		t.Fatalf("%s: no output %q in %+v", resp.Model, name, resp.Outputs)
	}
	if err := out.Validate(); err != nil {
		t.Fatalf("%s: output %q: %v", resp.Model, name, err)
	}
	return out
}

// TestEnsembleEqualsChainedCalls is the property Baton's pipelines are
// measured against: Triton's in-server ensemble and three separate calls
// give byte-identical outputs.
func TestEnsembleEqualsChainedCalls(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	rows := rowsTensor(t, csvRows)

	pre := infer(t, ctx, c, "tabular_preprocess", rows)
	feats := output(t, pre, "FEATURES")
	if diff := cmp.Diff([]int64{3, 7}, feats.Shape); diff != "" {
		t.Fatalf("FEATURES shape (-want +got):\n%s", diff)
	}
	cls := infer(t, ctx, c, "tabular_classifier", feats)
	probs := output(t, cls, "PROBABILITIES")
	pv, err := tritonclient.Values[float32](probs)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 3 { // each row of probabilities sums to 1 (softmax)
		sum := pv[3*r] + pv[3*r+1] + pv[3*r+2]
		if sum < 0.999 || sum > 1.001 {
			t.Errorf("row %d probabilities %v sum to %v, want 1", r, pv[3*r:3*r+3], sum)
		}
	}
	post := infer(t, ctx, c, "tabular_postprocess", probs)
	chainLabel, chainScore := output(t, post, "LABEL"), output(t, post, "SCORE")

	ens := infer(t, ctx, c, "tabular_ensemble", rows)
	ensLabel, ensScore := output(t, ens, "LABEL"), output(t, ens, "SCORE")
	if !bytes.Equal(chainLabel.Raw, ensLabel.Raw) || !bytes.Equal(chainScore.Raw, ensScore.Raw) {
		t.Fatalf("ensemble differs from chained calls: LABEL %q vs %q, SCORE %x vs %x", ensLabel.Raw, chainLabel.Raw, ensScore.Raw, chainScore.Raw)
	}
	labels, err := ensLabel.BytesValues()
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 3 {
		t.Fatalf("got %d labels, want 3", len(labels))
	}
	for i, l := range labels {
		if len(l) == 0 {
			t.Errorf("label %d is empty", i)
		}
	}
}

func TestInferIdentityBatch(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	in, err := tritonclient.NewTensor("INPUT0", []int64{2, 3}, []float32{1, 2, 3, -4, 5.5, 6})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "identity_fp32", ID: "req-7", Inputs: []tritonclient.Tensor{in}, Outputs: []string{"OUTPUT0"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "req-7" {
		t.Errorf("response id = %q, want the request's id echoed", resp.ID)
	}
	out := output(t, resp, "OUTPUT0")
	if !bytes.Equal(out.Raw, in.Raw) || !slices.Equal(out.Shape, in.Shape) {
		t.Errorf("identity returned %v %x, want %v %x", out.Shape, out.Raw, in.Shape, in.Raw)
	}
}

func TestBytesAndFP16RoundTrip(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	strs := []string{"", "hello", "naïve ☃", string([]byte{0, 1, 2, 255})}
	bin, err := tritonclient.NewStrings("IN_BYTES", []int64{4}, strs)
	if err != nil {
		t.Fatal(err)
	}
	halfs := []float32{0, 1, -2.5, 65504, 0.099975586, float32(1) / 16384}
	fin, err := tritonclient.NewFP16("IN_FP16", []int64{6}, halfs)
	if err != nil {
		t.Fatal(err)
	}
	resp := infer(t, ctx, c, "echo_types", bin, fin)
	gotBytes, err := output(t, resp, "OUT_BYTES").BytesValues()
	if err != nil {
		t.Fatal(err)
	}
	var gotStrs []string
	for _, b := range gotBytes {
		gotStrs = append(gotStrs, string(b))
	}
	if diff := cmp.Diff(strs, gotStrs); diff != "" {
		t.Errorf("BYTES round trip (-want +got):\n%s", diff)
	}
	outHalf := output(t, resp, "OUT_FP16")
	if !bytes.Equal(outHalf.Raw, fin.Raw) {
		t.Errorf("FP16 raw round trip: sent %x, got %x", fin.Raw, outHalf.Raw)
	}
	gotHalf, err := outHalf.FP16Values()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(halfs, gotHalf); diff != "" {
		t.Errorf("FP16 values (-want +got):\n%s", diff)
	}
}

func TestErrorMapping(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	good, _ := tritonclient.NewTensor("INPUT0", []int64{1, 2}, []float32{1, 2})

	t.Run("unknown model", func(t *testing.T) {
		_, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "no_such_model", Inputs: []tritonclient.Tensor{good}})
		if !errors.Is(err, tritonclient.ErrModelNotFound) {
			t.Fatalf("err = %v, want ErrModelNotFound", err)
		}
		var te *tritonclient.Error
		if !errors.As(err, &te) || te.Model != "no_such_model" || te.Message == "" {
			t.Fatalf("err = %#v, want a *tritonclient.Error naming the model with Triton's message", err)
		}
		if _, err := c.ModelMetadata(ctx, "no_such_model", ""); !errors.Is(err, tritonclient.ErrModelNotFound) {
			t.Fatalf("ModelMetadata err = %v, want ErrModelNotFound", err)
		}
	})
	t.Run("wrong dtype", func(t *testing.T) {
		in, _ := tritonclient.NewTensor("INPUT0", []int64{1, 2}, []int32{1, 2})
		_, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "identity_fp32", Inputs: []tritonclient.Tensor{in}})
		if !errors.Is(err, tritonclient.ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("wrong shape", func(t *testing.T) {
		in, _ := tritonclient.NewTensor("FEATURES", []int64{1, 5}, make([]float32, 5))
		_, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "tabular_classifier", Inputs: []tritonclient.Tensor{in}})
		if !errors.Is(err, tritonclient.ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("unknown input", func(t *testing.T) {
		in, _ := tritonclient.NewTensor("NOPE", []int64{1, 2}, []float32{1, 2})
		_, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "identity_fp32", Inputs: []tritonclient.Tensor{in}})
		if !errors.Is(err, tritonclient.ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})
	t.Run("contents not matching shape caught locally", func(t *testing.T) {
		bad := good
		bad.Shape = []int64{1, 3}
		_, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "identity_fp32", Inputs: []tritonclient.Tensor{bad}})
		if !errors.Is(err, tritonclient.ErrInvalidArgument) || !errors.Is(err, tritonclient.ErrInvalidTensor) {
			t.Fatalf("err = %v, want ErrInvalidArgument and ErrInvalidTensor", err)
		}
	})
	t.Run("bad CSV row names the column", func(t *testing.T) {
		_, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "tabular_preprocess", Inputs: []tritonclient.Tensor{rowsTensor(t, []string{"M,0.4,abc,0.1,0.5"})}})
		var te *tritonclient.Error
		if !errors.As(err, &te) || !bytes.Contains([]byte(te.Message), []byte("diameter")) {
			t.Fatalf("err = %v, want Triton's message naming the column", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Infer(cctx, &tritonclient.InferRequest{Model: "identity_fp32", Inputs: []tritonclient.Tensor{good}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
		defer cancel()
		<-dctx.Done()
		_, err := c.ServerReady(dctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestStoppedServerIsUnavailable stops a second, private server and checks
// that calls to it report ErrUnavailable.
func TestStoppedServerIsUnavailable(t *testing.T) {
	ctx := ctxFor(t)
	root, err := fleettest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := localfleet.Start(ctx, localfleet.Options{ModelRepository: filepath.Join(root, "model_repository"), NamePrefix: "doomed-"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.WithoutCancel(ctx))
	c, err := tritonclient.New(f.Instances[0].GRPCAddr, tritonclient.Options{Name: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, err := c.ServerLive(ctx); err != nil || !ok {
		t.Fatalf("before stop: live = %v, %v", ok, err)
	}
	if err := f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Instances[0].Running() {
		t.Fatal("server still running after Stop")
	}
	_, err = c.ServerLive(ctx)
	if !errors.Is(err, tritonclient.ErrUnavailable) {
		t.Fatalf("after stop: err = %v, want ErrUnavailable", err)
	}
}

// TestModelConfigMatchesHTTP proves our field numbers: the config decoded
// from gRPC with Baton's proto equals what Triton's HTTP API says in JSON.
func TestModelConfigMatchesHTTP(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	for _, model := range []string{"tabular_classifier", "tabular_ensemble", "echo_types"} {
		t.Run(model, func(t *testing.T) {
			cfg, err := c.ModelConfig(ctx, model, "")
			if err != nil {
				t.Fatal(err)
			}
			httpCfg := &pb.ModelConfig{}
			resp, err := http.Get("http://" + fleet.Instances[0].HTTPAddr + "/v2/models/" + model + "/config")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var raw map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
				t.Fatal(err)
			}
			// Keep only the fields Baton declares, then decode them with the
			// same proto: a wrong field number would make the two differ.
			keep := map[string]any{}
			for _, k := range []string{"name", "platform", "backend", "max_batch_size", "input", "output", "instance_group", "dynamic_batching", "ensemble_scheduling", "parameters", "version_policy", "default_model_filename"} {
				if v, ok := raw[k]; ok {
					keep[k] = v
				}
			}
			js, _ := json.Marshal(keep)
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(js, httpCfg); err != nil {
				t.Fatal(err)
			}
			// Fields Baton does not declare (e.g. optimization) stay unknown
			// in the gRPC copy; drop them before comparing.
			declared := &pb.ModelConfig{}
			js, _ = protojson.Marshal(cfg)
			if err := protojson.Unmarshal(js, declared); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(httpCfg, declared, protocmp.Transform()); diff != "" {
				t.Errorf("gRPC config differs from HTTP config (-http +grpc):\n%s", diff)
			}
			if cfg.GetName() != model || len(cfg.GetInput()) == 0 || len(cfg.GetOutput()) == 0 {
				t.Errorf("config looks empty: %v", cfg)
			}
		})
	}
}

// TestLoadWithCPUOverrideThenUnload loads a churn model with a typed
// override (two KIND_CPU instances, a ballast parameter), checks Triton took
// it, then unloads and waits until the index says it is gone.
func TestLoadWithCPUOverrideThenUnload(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	root, _ := fleettest.RepoRoot()
	const model = "churn_eu_west"
	base, err := tritonclient.ReadModelConfig(filepath.Join(root, "model_repository", model, "config.pbtxt"))
	if err != nil {
		t.Fatal(err)
	}
	mbs := int32(16)
	cfg, err := tritonclient.Override{
		SetInstanceGroup: true, Kind: tritonclient.KindCPU, Count: 2,
		MaxBatchSize:    &mbs,
		DynamicBatching: &tritonclient.DynamicBatching{MaxQueueDelay: 100 * time.Microsecond},
		Parameters:      map[string]string{"ballast_bytes": "1048576"},
	}.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(base.GetInstanceGroup()) != 1 || base.GetInstanceGroup()[0].GetCount() != 1 {
		t.Fatalf("Apply modified its base: %v", base.GetInstanceGroup())
	}
	if err := c.Load(ctx, model, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.UnloadAndWait(context.Background(), model, false) })

	got, err := c.ModelConfig(ctx, model, "")
	if err != nil {
		t.Fatal(err)
	}
	ig := got.GetInstanceGroup()
	if len(ig) != 1 || ig[0].GetKind() != pb.ModelInstanceGroup_KIND_CPU || ig[0].GetCount() != 2 {
		t.Errorf("instance_group = %v, want one KIND_CPU group of 2", ig)
	}
	if got.GetMaxBatchSize() != 16 || got.GetDynamicBatching().GetMaxQueueDelayMicroseconds() != 100 {
		t.Errorf("max_batch_size %d, queue delay %d µs; want 16 and 100", got.GetMaxBatchSize(), got.GetDynamicBatching().GetMaxQueueDelayMicroseconds())
	}
	if v := got.GetParameters()["ballast_bytes"].GetStringValue(); v != "1048576" {
		t.Errorf("ballast_bytes = %q, want 1048576", v)
	}
	feats, _ := tritonclient.NewTensor("FEATURES", []int64{1, 7}, make([]float32, 7))
	infer(t, ctx, c, model, feats)

	if err := c.UnloadAndWait(ctx, model, false); err != nil {
		t.Fatal(err)
	}
	if ready, err := c.ModelReady(ctx, model, ""); err != nil || ready {
		t.Fatalf("after unload: ready = %v, %v; want false", ready, err)
	}
	idx, err := c.RepositoryIndex(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(idx, func(e tritonclient.ModelIndexEntry) bool { return e.Name == model })
	if i < 0 || idx[i].State != tritonclient.StateUnavailable {
		t.Fatalf("index entry for %s = %+v, want UNAVAILABLE", model, idx)
	}
	// Unloading what is not loaded succeeds.
	if err := c.UnloadAndWait(ctx, model, false); err != nil {
		t.Fatalf("second unload: %v", err)
	}
}

func TestLoadBrokenModelCarriesTritonsMessage(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	err := c.Load(ctx, "broken_model", nil)
	var te *tritonclient.Error
	if !errors.As(err, &te) || te.Model != "broken_model" || te.Message == "" {
		t.Fatalf("err = %v, want a *tritonclient.Error with Triton's message", err)
	}
	t.Logf("broken_model load: %v", err)
	idx, err := c.RepositoryIndex(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(idx, func(e tritonclient.ModelIndexEntry) bool { return e.Name == "broken_model" })
	if i < 0 || idx[i].State != tritonclient.StateUnavailable || idx[i].Reason == "" {
		t.Fatalf("index entry = %+v, want UNAVAILABLE with a reason", idx)
	}
}

func TestStatisticsDeltaCountsInferences(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	before, err := c.ModelStatistics(ctx, "identity_fp32", "")
	if err != nil || len(before) != 1 {
		t.Fatalf("stats = %v, %v; want one version", before, err)
	}
	in, _ := tritonclient.NewTensor("INPUT0", []int64{1, 4}, []float32{1, 2, 3, 4})
	const n = 5
	for range n {
		infer(t, ctx, c, "identity_fp32", in)
	}
	// Statistics, like metrics, may trail the last response briefly.
	var after []tritonclient.ModelStats
	for {
		var err error
		if after, err = c.ModelStatistics(ctx, "identity_fp32", ""); err != nil {
			t.Fatal(err)
		}
		if after[0].Delta(before[0]).Success.Count >= n {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("statistics never counted %d successes: %+v", n, after[0].Delta(before[0]))
		case <-time.After(20 * time.Millisecond):
		}
	}
	d := after[0].Delta(before[0])
	if d.Success.Count != n || d.InferenceCount != n {
		t.Errorf("delta success %d, inferences %d; want %d each", d.Success.Count, d.InferenceCount, n)
	}
	if d.ComputeInfer.Total <= 0 || d.Queue.Count != n {
		t.Errorf("delta compute_infer %v, queue count %d; want > 0 and %d", d.ComputeInfer.Total, d.Queue.Count, n)
	}
	if after[0].LastInference.IsZero() {
		t.Error("last inference time not set")
	}
}

func TestMetricsFromLivePage(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	in, _ := tritonclient.NewTensor("INPUT0", []int64{1, 2}, []float32{1, 2})
	before, err := tritonclient.ScrapeMetrics(ctx, nil, fleet.Instances[0].MetricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := before.Model("identity_fp32", "1")
	for range 3 {
		infer(t, ctx, c, "identity_fp32", in)
	}
	// Triton bumps its counters just after answering, so a scrape right
	// after the last response may lag by one: poll until it catches up.
	var a tritonclient.ModelMetrics
	var after *tritonclient.Metrics
	for {
		after, err = tritonclient.ScrapeMetrics(ctx, nil, fleet.Instances[0].MetricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		if a, ok = after.Model("identity_fp32", "1"); ok && a.RequestSuccess-b.RequestSuccess >= 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nv_inference_request_success grew by %v, want 3 (models %+v)", a.RequestSuccess-b.RequestSuccess, after.Models)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := a.RequestSuccess - b.RequestSuccess; got != 3 {
		t.Errorf("nv_inference_request_success grew by %v, want 3", got)
	}
	if a.RequestDuration <= b.RequestDuration || a.ComputeInferDuration <= b.ComputeInferDuration {
		t.Errorf("durations did not grow: request %v -> %v, compute %v -> %v", b.RequestDuration, a.RequestDuration, b.ComputeInferDuration, a.ComputeInferDuration)
	}
	if len(after.GPUs) != 0 {
		t.Errorf("GPU metrics on a GPU-less server with --allow-gpu-metrics=false: %+v", after.GPUs)
	}
}

// TestConcurrentInfers shares one client across goroutines (run under -race).
func TestConcurrentInfers(t *testing.T) {
	c, ctx := newClient(t), ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			in, _ := tritonclient.NewTensor("INPUT0", []int64{1, 1}, []float32{float32(i)})
			resp, err := c.Infer(ctx, &tritonclient.InferRequest{Model: "identity_fp32", Inputs: []tritonclient.Tensor{in}})
			if err != nil {
				errs <- err
				return
			}
			if out, _ := resp.Output("OUTPUT0"); !bytes.Equal(out.Raw, in.Raw) {
				errs <- fmt.Errorf("request %d got %x, want %x", i, out.Raw, in.Raw)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
