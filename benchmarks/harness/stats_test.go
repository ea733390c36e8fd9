package harness

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/batonhq/baton/tritonclient"
)

// modelStats is n successful calls of model, each with the given queue,
// compute input/infer/output and total request times (ms).
func modelStats(model string, n uint64, queue, in, infer, out, request float64) tritonclient.ModelStats {
	d := func(each float64) tritonclient.StatDuration {
		return tritonclient.StatDuration{Count: n, Total: time.Duration(n) * ms(each)}
	}
	return tritonclient.ModelStats{Name: model, Version: "1", InferenceCount: n, ExecutionCount: n,
		Success: d(request), Queue: d(queue), ComputeInput: d(in), ComputeInfer: d(infer), ComputeOutput: d(out)}
}

func TestBreakdownOfAPipeline(t *testing.T) {
	prev := &snapshot{
		target: ptr(modelStats("pipe", 1000, 0, 0, 0, 0, 5)),
		stages: map[statKey]tritonclient.ModelStats{
			{"triton-0", "pre", "1"}:   modelStats("pre", 500, 1, 1, 1, 1, 5),
			{"triton-0", "ident", "1"}: modelStats("ident", 3000, 1, 1, 1, 1, 5),
			{"triton-1", "ident", "1"}: modelStats("ident", 3000, 1, 1, 1, 1, 5),
		},
	}
	// Over the window: 100 pipeline requests of 10 ms each. "pre" ran once
	// per request (100 calls: queue 0.5, input 0.1, infer 2, output 0.2,
	// request 3 ms). "ident" ran 3 times per request, split over two
	// instances (180 + 120 = 300 calls, 1 ms each, all compute infer).
	// "post" was loaded during the window: a cold load, counted whole.
	// "idle" is loaded but did nothing.
	after := func(k statKey, window tritonclient.ModelStats) tritonclient.ModelStats {
		return prev.stages[k].Add(window)
	}
	cur := &snapshot{
		target: ptr(prev.target.Add(modelStats("pipe", 100, 0, 0, 0, 0, 10))),
		stages: map[statKey]tritonclient.ModelStats{
			{"triton-0", "pre", "1"}:   after(statKey{"triton-0", "pre", "1"}, modelStats("pre", 100, 0.5, 0.1, 2, 0.2, 3)),
			{"triton-0", "ident", "1"}: after(statKey{"triton-0", "ident", "1"}, modelStats("ident", 180, 0, 0, 1, 0, 1)),
			{"triton-1", "ident", "1"}: after(statKey{"triton-1", "ident", "1"}, modelStats("ident", 120, 0, 0, 1, 0, 1)),
			{"triton-1", "post", "1"}:  modelStats("post", 100, 0, 0, 2, 0, 2),
			{"triton-1", "idle", "1"}:  {Name: "idle", Version: "1"},
		},
	}

	d := diff(prev, cur)
	if d.coldLoads != 2 { // "post" and "idle" are new
		t.Errorf("cold loads = %d, want 2", d.coldLoads)
	}
	got := breakdown(d, 97, []string{"pre", "ident", "post"}, "pipe")
	want := &ServerBreakdown{
		Requests: 100, TargetTime: ms(10), ColdLoads: 2,
		Stages: []StageStats{
			{Model: "pre", Instances: []string{"triton-0"}, Calls: 100, CallsPerRequest: 1,
				Queue: ms(0.5), ComputeInput: ms(0.1), ComputeInfer: ms(2), ComputeOutput: ms(0.2), Request: ms(3)},
			{Model: "ident", Instances: []string{"triton-0", "triton-1"}, Calls: 300, CallsPerRequest: 3,
				ComputeInfer: ms(1), Request: ms(1)},
			{Model: "post", Instances: []string{"triton-1"}, Calls: 100, CallsPerRequest: 1,
				ComputeInfer: ms(2), Request: ms(2)},
		},
		// Per request: queue 0.5; input 0.1; infer 2 + 3×1 + 2 = 7;
		// output 0.2; stage time 3 + 3×1 + 2 = 8 ms.
		Queue: ms(0.5), ComputeInput: ms(0.1), ComputeInfer: ms(7), ComputeOutput: ms(0.2), StageTime: ms(8),
	}
	// The pipeline itself neither queues nor computes.
	want.Target = &ModelTimes{}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(ServerBreakdown{})); diff != "" {
		t.Errorf("breakdown (-want +got):\n%s", diff)
	}
	// The pipeline's 10 ms less the stages' 8 ms is Baton's orchestration.
	if o, ok := got.Orchestration(); !ok || o != ms(2) {
		t.Errorf("orchestration = %v, %v; want 2ms", o, ok)
	}
}

func TestBreakdownWithoutTargetStatistics(t *testing.T) {
	d := &statsDelta{stages: map[statKey]tritonclient.ModelStats{
		{"t", "m", "1"}: modelStats("m", 50, 1, 0, 4, 0, 6),
	}}
	// The client's 50 requests are the denominator; the target is the only
	// stage, so nothing orchestrates.
	got := breakdown(d, 50, nil, "m")
	if got == nil || got.Requests != 50 || !got.RequestsFromClient || got.Queue != ms(1) || got.ComputeInfer != ms(4) {
		t.Fatalf("breakdown = %+v; want 50 client-counted requests, queue 1ms, infer 4ms", got)
	}
	if _, ok := got.Orchestration(); ok {
		t.Error("a plain model has an orchestration overhead")
	}
	if breakdown(d, 0, nil, "m") != nil {
		t.Error("a breakdown over zero requests")
	}
	if breakdown(nil, 10, nil, "m") != nil {
		t.Error("a breakdown without statistics")
	}
}

func TestDiffAfterReload(t *testing.T) {
	k := statKey{"t", "m", "1"}
	prev := &snapshot{stages: map[statKey]tritonclient.ModelStats{k: modelStats("m", 1000, 0, 0, 1, 0, 1)}}
	cur := &snapshot{stages: map[statKey]tritonclient.ModelStats{k: modelStats("m", 40, 0, 0, 1, 0, 1)}}
	d := diff(prev, cur)
	// Counters went backwards: the model was reloaded; its 40 calls since
	// the reload are the window's.
	if d.coldLoads != 1 || d.stages[k].Success.Count != 40 {
		t.Errorf("after a reload: %d cold loads, %d calls; want 1 and 40", d.coldLoads, d.stages[k].Success.Count)
	}
}

func TestMergeDeltas(t *testing.T) {
	k := statKey{"t", "m", "1"}
	one := &statsDelta{target: ptr(modelStats("p", 10, 0, 0, 0, 0, 2)), stages: map[statKey]tritonclient.ModelStats{k: modelStats("m", 10, 0, 0, 1, 0, 1)}, coldLoads: 1}
	two := &statsDelta{target: ptr(modelStats("p", 30, 0, 0, 0, 0, 4)), stages: map[statKey]tritonclient.ModelStats{k: modelStats("m", 30, 0, 0, 1, 0, 1)}}
	m := mergeDeltas([]*statsDelta{one, two})
	// Target: 10 × 2 ms + 30 × 4 ms = 140 ms over 40 requests = 3.5 ms.
	if m.target.Success.Count != 40 || m.target.Success.Mean() != ms(3.5) || m.stages[k].Success.Count != 40 || m.coldLoads != 1 {
		t.Errorf("merged = %+v", m)
	}
	if mergeDeltas([]*statsDelta{one, nil}) != nil {
		t.Error("merging a window without statistics gave a breakdown")
	}
	noTarget := &statsDelta{stages: map[statKey]tritonclient.ModelStats{}}
	if got := mergeDeltas([]*statsDelta{one, noTarget}); got == nil || got.target != nil {
		t.Errorf("a window without target statistics must drop the target: %+v", got)
	}
}
