package grpcapi

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/tritonclient"
)

// fakeBackend is an in-memory Backend: fixed plans and statistics, a
// settable readiness, and an Infer that records what it was given.
type fakeBackend struct {
	mu    sync.Mutex
	ready bool
	plans map[string]*pipeline.Plan
	stats map[string]tritonclient.ModelStats
	// infer answers Infer; nil echoes the first input as the plan's first output.
	infer func(ctx context.Context, name string, req *executor.Request) (*executor.Result, error)
	calls []inferCall
}

// inferCall is one Infer call as the fake saw it.
type inferCall struct {
	name string
	req  *executor.Request
	// deadline is the time left on ctx when Infer was called; hasDeadline
	// says whether ctx had one at all.
	deadline    time.Duration
	hasDeadline bool
}

func newFakeBackend(plans ...*pipeline.Plan) *fakeBackend {
	b := &fakeBackend{ready: true, plans: map[string]*pipeline.Plan{}, stats: map[string]tritonclient.ModelStats{}}
	for _, p := range plans {
		b.plans[p.Spec.Name] = p
	}
	return b
}

func (b *fakeBackend) Plan(name string) (*pipeline.Plan, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.plans[name]
	return p, ok
}

func (b *fakeBackend) Infer(ctx context.Context, name string, req *executor.Request) (*executor.Result, error) {
	call := inferCall{name: name, req: req}
	if dl, ok := ctx.Deadline(); ok {
		call.deadline, call.hasDeadline = time.Until(dl), true
	}
	b.mu.Lock()
	b.calls = append(b.calls, call)
	infer, plan := b.infer, b.plans[name]
	b.mu.Unlock()
	if infer != nil {
		return infer(ctx, name, req)
	}
	if plan == nil || len(req.Inputs) == 0 {
		return nil, errors.New("fakeBackend: nothing to echo")
	}
	in := req.Inputs[0]
	return &executor.Result{Outputs: []tritonclient.Tensor{{Name: plan.Outputs[0].Name, DataType: in.DataType, Shape: in.Shape, Raw: in.Raw}}}, nil
}

func (b *fakeBackend) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready
}

func (b *fakeBackend) Statistics(name string) (tritonclient.ModelStats, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.stats[name]
	return st, ok
}

func (b *fakeBackend) PipelineNames() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.plans))
	for n := range b.plans {
		names = append(names, n)
	}
	return names
}

func (b *fakeBackend) setReady(ready bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready = ready
}

func (b *fakeBackend) setInfer(f func(ctx context.Context, name string, req *executor.Request) (*executor.Result, error)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.infer = f
}

func (b *fakeBackend) deletePlan(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.plans, name)
}

// takeCalls returns the Infer calls so far and forgets them.
func (b *fakeBackend) takeCalls() []inferCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	calls := b.calls
	b.calls = nil
	return calls
}

// testServer is a Server on a real gRPC listener with Baton's own client.
type testServer struct {
	srv    *Server
	addr   string
	client *tritonclient.Client
}

// startServer serves b on 127.0.0.1 until the test ends.
func startServer(t *testing.T, b Backend, opts Options) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(ServerOptions(0)...)
	srv := New(b, opts)
	srv.Register(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	client, err := tritonclient.New(lis.Addr().String(), tritonclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{srv: srv, addr: lis.Addr().String(), client: client}
}

// mustCompile compiles a spec the test knows to be valid.
func mustCompile(t *testing.T, s *pipeline.Spec) *pipeline.Plan {
	t.Helper()
	p, err := pipeline.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// chainPlan is a batching two-stage pipeline: INPUT (FP32) and TEXT (BYTES)
// through "pre" then "cls", giving OUTPUT and LABEL.
func chainPlan(t *testing.T) *pipeline.Plan {
	return mustCompile(t, &pipeline.Spec{
		Name:         "chain",
		MaxBatchSize: 8,
		Inputs: []pipeline.TensorSpec{
			{Name: "INPUT", DataType: "FP32", Shape: []int64{-1, 4}},
			{Name: "TEXT", DataType: "BYTES", Shape: []int64{-1, 1}},
		},
		Outputs: []pipeline.TensorSpec{
			{Name: "OUTPUT", DataType: "FP32", Shape: []int64{-1, 4}},
			{Name: "LABEL", DataType: "BYTES", Shape: []int64{-1, 1}},
		},
		Stages: []pipeline.Stage{
			{Name: "preprocess", Model: "pre", Inputs: map[string]string{"X": "INPUT", "T": "TEXT"}, Outputs: map[string]string{"Y": "mid"}},
			{Name: "classify", Model: "cls", Inputs: map[string]string{"X": "mid"}, Outputs: map[string]string{"Y": "OUTPUT", "L": "LABEL"}},
		},
	})
}

// flatPlan is a non-batching one-stage pipeline taking one tensor of each
// type the typed-contents tests use.
func flatPlan(t *testing.T) *pipeline.Plan {
	return mustCompile(t, &pipeline.Spec{
		Name: "flat",
		Inputs: []pipeline.TensorSpec{
			{Name: "F", DataType: "FP32", Shape: []int64{2, 2}},
			{Name: "I", DataType: "INT32", Shape: []int64{3}},
		},
		Outputs: []pipeline.TensorSpec{{Name: "OUT", DataType: "FP32", Shape: []int64{2, 2}}},
		Stages: []pipeline.Stage{
			{Model: "m", Inputs: map[string]string{"F": "F", "I": "I"}, Outputs: map[string]string{"Y": "OUT"}},
		},
	})
}
