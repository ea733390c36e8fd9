package placer

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/placement"
	"github.com/batonhq/baton/telemetry"
	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
	"github.com/batonhq/baton/tritonclient/localfleet"
	"github.com/batonhq/baton/tritonclient/localfleet/fleettest"
)

var tritons *localfleet.Fleet

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(fleettest.Main(m, localfleet.Options{Instances: 3, LoadModels: []string{"tabular_preprocess", "tabular_classifier", "tabular_postprocess"}}, &tritons))
}

const gib = 1 << 30

// TestAnyStageFollowsSimulatedGPUMemory is the placement loop end to end
// on real tritonservers: triton-2 is declared a GPU instance whose GPU is
// simulated (go-nvml's mock, served by a real telemetry agent), so it loads
// with KIND_CPU. The `any` stage goes to the GPU; when the simulated GPU
// fills up it moves to a CPU instance; when memory frees up it moves back,
// but only after the minimum dwell time; a steady client sees no failure.
func TestAnyStageFollowsSimulatedGPUMemory(t *testing.T) {
	ctx := t.Context()
	root, _ := fleettest.RepoRoot()
	repo := filepath.Join(root, "model_repository")

	// The node's agent, with one simulated H100 (80 GiB).
	sim, err := telemetry.NewSimulatedGPUs(telemetry.SimulatedOptions{Count: 1, Node: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	agent, err := telemetry.NewAgent(telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{Node: "sim", GPUs: sim, Host: telemetry.NewHostStats()}), Simulation: sim})
	if err != nil {
		t.Fatal(err)
	}
	agentSrv := httptest.NewServer(agent.Handler())
	defer agentSrv.Close()
	setGPU := func(used uint64) {
		t.Helper()
		if _, err := sim.Set(0, telemetry.SimulatedLoad{MemoryUsedBytes: used, Utilization: 0.1}); err != nil {
			t.Fatal(err)
		}
		agent.Refresh(ctx)
	}
	setGPU(2 * gib)

	file := &fleet.File{}
	for i, in := range tritons.Instances {
		spec := fleet.InstanceSpec{Name: in.Name, GRPC: in.GRPCAddr, Metrics: in.MetricsAddr, Kind: "cpu", Node: "sim", Agent: agentSrv.URL}
		if i == 2 {
			spec.Kind, spec.GPU = "gpu", 0
		}
		file.Instances = append(file.Instances, spec)
	}
	fl, err := fleet.New(file, fleet.Options{PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	fl.Refresh(ctx)
	exec, err := executor.New(fl, executor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// deploy/local/pipelines' churn pipeline names the churn group; this
	// test places plain stages only.
	svc := orchestrator.NewService(orchestrator.Config{Executor: exec, Groups: groupNames{"churn"}})
	if err := svc.LoadDir(filepath.Join(root, "deploy", "local", "pipelines")); err != nil {
		t.Fatal(err)
	}
	cfg := placement.DefaultConfig()
	cfg.Hysteresis.MinDwell = 2 * time.Second
	pl := New(fl, svc, loader.New(fl, loader.Options{Repository: repo}), Options{Config: cfg, Repository: repo, SimulateGPUs: true})

	// A steady client for the whole test.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	clientCtx, stopClient := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		in, _ := tritonclient.NewStrings("ROWS", []int64{1, 1}, []string{"M,0.455,0.365,0.095,0.514"})
		for clientCtx.Err() == nil {
			if _, err := svc.Infer(context.WithoutCancel(clientCtx), "tabular", &executor.Request{Inputs: []tritonclient.Tensor{in}}); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			} else {
				ok.Add(1)
			}
		}
	})

	classify := func() string { return pl.Current("tabular", "classify") }
	step := func() *placement.Plan {
		t.Helper()
		fl.Refresh(ctx)
		plan, err := pl.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}

	// 1. GPU has room: the any-stage goes there, loaded as KIND_CPU.
	step()
	if got := classify(); got != "triton-2" {
		t.Fatalf("classify on %q, want the (simulated) GPU instance triton-2; plan %+v", got, pl.Last().Assignments)
	}
	gpuClient, _ := fl.Client("triton-2")
	if cfg, err := gpuClient.ModelConfig(ctx, "tabular_classifier", ""); err != nil || cfg.GetInstanceGroup()[0].GetKind() != pb.ModelInstanceGroup_KIND_CPU {
		t.Fatalf("simulated GPU placement loaded %v (%v), want KIND_CPU", cfg.GetInstanceGroup(), err)
	}
	if got := pl.Current("tabular", "preprocess"); got == "triton-2" {
		t.Errorf("cpu stage preprocess placed on the GPU instance")
	}

	// 2. The simulated GPU fills up: the stage moves to a CPU instance and
	// the GPU copy is unloaded.
	setGPU(80 * gib) // no free memory at all
	movedAt := time.Now()
	step()
	if got := classify(); got == "triton-2" || got == "" {
		t.Fatalf("with the GPU full, classify on %q; plan %+v", got, pl.Last().Assignments)
	}
	if ready, _ := gpuClient.ModelReady(ctx, "tabular_classifier", ""); ready {
		t.Error("old copy on triton-2 still loaded after the move")
	}

	// 3. Memory frees up: no move before the dwell time, then back to GPU.
	setGPU(2 * gib)
	step()
	if got := classify(); got == "triton-2" && time.Since(movedAt) < cfg.Hysteresis.MinDwell {
		t.Fatalf("moved back after %v, before the %v dwell", time.Since(movedAt), cfg.Hysteresis.MinDwell)
	}
	deadline := time.Now().Add(20 * time.Second)
	for classify() != "triton-2" {
		if time.Now().After(deadline) {
			t.Fatalf("classify never moved back to the GPU; last plan %+v", pl.Last().Assignments)
		}
		time.Sleep(100 * time.Millisecond) // a planning tick, not a wait for a condition we could poll
		step()
	}
	if since := time.Since(movedAt); since < cfg.Hysteresis.MinDwell {
		t.Errorf("moved back after %v, before the dwell of %v", since, cfg.Hysteresis.MinDwell)
	}
	a, _ := pl.Last().Lookup("tabular", "classify")
	if a.Action != placement.ActionMove || a.Reason == "" {
		t.Errorf("last decision %+v: want a move with reasons", a)
	}

	ex, err := pl.Last().Explain("tabular")
	if err != nil {
		t.Fatal(err)
	}
	if text := ex.Text(); !strings.Contains(text, "classify") || !strings.Contains(text, "triton-2") {
		t.Errorf("explanation does not name the stage and its instance:\n%s", text)
	}

	stopClient()
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("steady client: %d ok, %d failed (first error: %v)", ok.Load(), failed.Load(), firstErr.Load())
	}
	t.Logf("steady client: %d requests, 0 failed, across %d moves", ok.Load(), pl.Moves())
}

// groupNames is a fixed set of group names for pipeline validation.
type groupNames []string

func (g groupNames) Has(name string) bool { return slices.Contains(g, name) }
