package loader

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
	"github.com/batonhq/baton/tritonclient/localfleet"
	"github.com/batonhq/baton/tritonclient/localfleet/fleettest"
)

var tritons *localfleet.Fleet

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(fleettest.Main(m, localfleet.Options{Instances: 1, LoadModels: []string{"identity_fp32"}}, &tritons))
}

// testFleet is the one real instance with an in-flight count the test sets.
type testFleet struct {
	c        *tritonclient.Client
	inflight atomic.Int64
}

func (f *testFleet) Client(instance string) (*tritonclient.Client, bool) {
	return f.c, instance == tritons.Instances[0].Name
}
func (f *testFleet) InFlight(string, string) int64 { return f.inflight.Load() }

func newLoader(t *testing.T) (*Loader, *testFleet) {
	t.Helper()
	c, err := tritonclient.New(tritons.Instances[0].GRPCAddr, tritonclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	root, _ := fleettest.RepoRoot()
	f := &testFleet{c: c}
	return New(f, Options{Repository: filepath.Join(root, "model_repository")}), f
}

func kindOf(t *testing.T, c *tritonclient.Client, model string) pb.ModelInstanceGroup_Kind {
	t.Helper()
	cfg, err := c.ModelConfig(t.Context(), model, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.GetInstanceGroup()[0].GetKind()
}

func TestEnsureLoadsOnceAndIsIdempotent(t *testing.T) {
	l, f := newLoader(t)
	ctx := t.Context()
	const model = "churn_us_west"
	p := Placement{Instance: tritons.Instances[0].Name, Kind: tritonclient.KindCPU}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- l.Ensure(ctx, model, p) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Loads(); got != 1 {
		t.Fatalf("16 concurrent Ensure calls issued %d loads, want 1", got)
	}
	if k := kindOf(t, f.c, model); k != pb.ModelInstanceGroup_KIND_CPU {
		t.Fatalf("kind %v, want KIND_CPU", k)
	}
	// The Python backend reports no memory_usage; the stub's resident
	// memory stands in (numpy alone is tens of MB).
	if fp, ok := l.Measured(model, "cpu"); !ok || fp.Source != "procfs" || fp.Bytes < 10<<20 {
		t.Errorf("measured footprint %+v (%v), want ≥ 10 MiB from procfs", fp, ok)
	} else {
		t.Logf("footprint of %s: %d MiB (%s)", model, fp.Bytes>>20, fp.Source)
	}
	if err := l.Ensure(ctx, model, p); err != nil || l.Loads() != 1 {
		t.Fatalf("Ensure of a loaded model: err %v, loads %d; want no new load", err, l.Loads())
	}
	if err := l.Unload(ctx, p.Instance, model, time.Second); err != nil {
		t.Fatal(err)
	}
	if ready, _ := f.c.ModelReady(ctx, model, ""); ready {
		t.Fatal("still ready after Unload")
	}
}

// TestSimulatedGPULoadsAsCPU: a GPU placement on a machine without a GPU,
// labelled simulated, is loaded with KIND_CPU; a real KIND_GPU load here
// fails with Triton's own message.
func TestSimulatedGPULoadsAsCPU(t *testing.T) {
	l, f := newLoader(t)
	ctx := t.Context()
	inst := tritons.Instances[0].Name
	if err := l.Ensure(ctx, "churn_eu_north", Placement{Instance: inst, Kind: tritonclient.KindGPU, GPUs: []int32{0}, Simulated: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Unload(context.Background(), inst, "churn_eu_north", time.Second) })
	if k := kindOf(t, f.c, "churn_eu_north"); k != pb.ModelInstanceGroup_KIND_CPU {
		t.Fatalf("simulated GPU placement loaded as %v, want KIND_CPU", k)
	}
	err := l.Ensure(ctx, "churn_sa_east", Placement{Instance: inst, Kind: tritonclient.KindGPU, GPUs: []int32{0}})
	var te *tritonclient.Error
	if !errors.As(err, &te) || te.Message == "" {
		t.Fatalf("KIND_GPU without a GPU: err = %v, want Triton's error", err)
	}
	t.Logf("KIND_GPU on a GPU-less server: %v", err)
}

// TestUnloadNeverWithCallsInFlight: while calls are in flight the model
// stays loaded; once they finish it is unloaded.
func TestUnloadNeverWithCallsInFlight(t *testing.T) {
	l, f := newLoader(t)
	ctx := t.Context()
	inst := tritons.Instances[0].Name
	const model = "churn_ap_south"
	if err := l.Ensure(ctx, model, Placement{Instance: inst, Kind: tritonclient.KindCPU}); err != nil {
		t.Fatal(err)
	}
	f.inflight.Store(2)
	err := l.Unload(ctx, inst, model, 100*time.Millisecond)
	if !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("err = %v, want ErrDrainTimeout", err)
	}
	if ready, _ := f.c.ModelReady(ctx, model, ""); !ready {
		t.Fatal("model unloaded with calls in flight")
	}
	done := make(chan error, 1)
	go func() { done <- l.Unload(ctx, inst, model, 0) }()
	f.inflight.Store(0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ready, _ := f.c.ModelReady(ctx, model, ""); ready {
		t.Fatal("model still ready after the drain")
	}
}

// TestKindChangeUnloadsFirst: moving a model between kinds on one instance
// unloads the old copy before loading the new one.
func TestKindChangeUnloadsFirst(t *testing.T) {
	l, f := newLoader(t)
	ctx := t.Context()
	inst := tritons.Instances[0].Name
	const model = "churn_ca_central"
	base, err := tritonclient.ReadModelConfig(filepath.Join(l.opts.Repository, model, "config.pbtxt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := tritonclient.Override{SetInstanceGroup: true, Kind: tritonclient.KindAuto}.Apply(base)
	if err := f.c.Load(ctx, model, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Unload(context.Background(), inst, model, time.Second) })
	if err := l.Ensure(ctx, model, Placement{Instance: inst, Kind: tritonclient.KindCPU, Count: 2}); err != nil {
		t.Fatal(err)
	}
	cfgNow, _ := f.c.ModelConfig(ctx, model, "")
	if g := cfgNow.GetInstanceGroup(); len(g) != 1 || g[0].GetKind() != pb.ModelInstanceGroup_KIND_CPU || g[0].GetCount() != 2 {
		t.Fatalf("instance_group %v, want KIND_CPU x2", g)
	}
}
