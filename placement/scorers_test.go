package placement

import (
	"math"
	"testing"
)

const eps = 1e-12

func TestScorers(t *testing.T) {
	spread := DefaultConfig()
	spread.Mode = Spread
	tests := []struct {
		name     string
		cfg      Config
		inst     Instance
		stage    Stage
		s        scorerID
		raw      float64
		wantNorm float64
	}{
		// left = 10 − 4 = 6 GiB of 16: f = 0.375; bin-pack 1 − 0.375 = 0.625.
		{"free memory bin-pack", DefaultConfig(), gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 4, 0), scoreFreeMemory, 6 * gib, 0.625},
		// Same instance, spread: f = 0.375.
		{"free memory spread", spread, gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 4, 0), scoreFreeMemory, 6 * gib, 0.375},
		// Loaded: need 0, left = 10 GiB: f = 0.625, bin-pack 0.375.
		{"free memory loaded", DefaultConfig(), withModels(gpuInst("i", 16, 10, 0), []LoadedModel{{Name: "m"}}), stage("p", "s", 0, "m", PreferGPU, 4, 0), scoreFreeMemory, 10 * gib, 0.375},
		// cpu: host 40 − 8 = 32 of 64: f = 0.5 → 0.5.
		{"free memory host", DefaultConfig(), cpuInst("i", 64, 40, 0), stage("p", "s", 0, "m", PreferCPU, 0, 8), scoreFreeMemory, 32 * gib, 0.5},
		// 1 − 0.42 = 0.58.
		{"gpu utilization", DefaultConfig(), gpuInst("i", 16, 10, 0.42), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreUtilization, 0.42, 0.58},
		// host CPU on cpu instances: 1 − 0.9 = 0.1.
		{"cpu utilization", DefaultConfig(), cpuInst("i", 16, 10, 0.9), stage("p", "s", 0, "m", PreferCPU, 0, 1), scoreUtilization, 0.9, 0.1},
		// Clamped: util 1.3 → 1 → 0.
		{"utilization clamped", DefaultConfig(), gpuInst("i", 16, 10, 1.3), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreUtilization, 1, 0},
		// pending 3 + 5 = 8 = QueueHalf: 8 / (8 + 8) = 0.5.
		{"queue half", DefaultConfig(), withModels(gpuInst("i", 16, 10, 0), []LoadedModel{{Name: "a", Pending: 3}, {Name: "b", Pending: 5}}), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreQueue, 8, 0.5},
		// pending 24: 8 / 32 = 0.25.
		{"queue long", DefaultConfig(), withModels(gpuInst("i", 16, 10, 0), []LoadedModel{{Name: "a", Pending: 24}}), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreQueue, 24, 0.25},
		{"queue empty", DefaultConfig(), gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreQueue, 0, 1},
		{"loaded", DefaultConfig(), withModels(gpuInst("i", 16, 10, 0), []LoadedModel{{Name: "m"}}), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreLoaded, 1, 1},
		{"not loaded", DefaultConfig(), withModels(gpuInst("i", 16, 10, 0), []LoadedModel{{Name: "other"}}), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreLoaded, 0, 0},
		{"colocation, nothing placed", DefaultConfig(), gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 1, 0), scoreColocation, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{tc.inst}, Stages: []Stage{tc.stage}}, tc.cfg, "i")
			raw, norm := tc.s.scorer().score(&c)
			if math.Abs(raw-tc.raw) > eps || math.Abs(norm-tc.wantNorm) > eps {
				t.Errorf("%s = raw %v norm %v; want raw %v norm %v", tc.s, raw, norm, tc.raw, tc.wantNorm)
			}
			if norm < 0 || norm > 1 {
				t.Errorf("norm %v outside [0,1]", norm)
			}
		})
	}
}

func TestColocationScorer(t *testing.T) {
	// Pipeline p: s0 → s1 → s2. s0 is placed first; s1 is scored with s0's
	// choice as its previous stage.
	mk := func() *Snapshot {
		a, b, c := gpuInst("a", 16, 10, 0), gpuInst("b", 16, 10, 0), gpuInst("c", 16, 10, 0)
		a.Node, b.Node, c.Node = "n1", "n1", "n2"
		a.Models = []LoadedModel{{Name: "m0"}} // s0 goes to a
		return &Snapshot{Now: t0, Instances: []Instance{a, b, c}, Stages: []Stage{
			stage("p", "s0", 0, "m0", PreferGPU, 1, 0),
			stage("p", "s1", 1, "m1", PreferGPU, 1, 0),
		}}
	}
	p, err := newPlanner(mk(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.place(0, nil)
	p.setAdjacent(1)
	for i, want := range []float64{
		1,   // a: same instance as s0
		0.5, // b: same node n1
		0,   // c: node n2
	} {
		c := cand{p: p, st: &p.stages[1], sl: &p.slots[i], in: &p.info[i], i: int32(i)}
		if raw, norm := (colocationScorer{}).score(&c); raw != 1 || norm != want {
			t.Errorf("%s: raw %v norm %v, want raw 1 norm %v", p.inst(c.i).Name, raw, norm, want)
		}
	}
}

func TestTotalScoreArithmetic(t *testing.T) {
	// Defaults: weights free-memory 1, utilization 2, queue 1, loaded 2,
	// colocation 1; Σ = 7; bin-pack.
	// gpu 16 GiB, free 10, util 0.42, 8 pending, stage needs 4 GiB, not loaded:
	//   free-memory: 1 − (10−4)/16 = 0.625   × 1 = 0.625
	//   utilization: 1 − 0.42     = 0.58    × 2 = 1.16
	//   queue:       8/(8+8)      = 0.5     × 1 = 0.5
	//   loaded:      0                       × 2 = 0
	//   colocation:  0                       × 1 = 0
	//   total = 2.285 / 7 = 0.326428571…
	in := withModels(gpuInst("i", 16, 10, 0.42), []LoadedModel{{Name: "x", Pending: 8}})
	c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{in}, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 4, 0)}}, DefaultConfig(), "i")
	if got, want := totalScore(&c), 2.285/7; math.Abs(got-want) > eps {
		t.Errorf("total %v, want %v", got, want)
	}
}

// TestModeFlipsChoice: the same snapshot picks the fuller GPU under bin-pack
// and the emptier under spread, all else equal.
func TestModeFlipsChoice(t *testing.T) {
	s := &Snapshot{Now: t0,
		Instances: []Instance{gpuInst("full", 16, 6, 0.3), gpuInst("empty", 16, 14, 0.3)},
		Stages:    []Stage{stage("p", "s", 0, "m", PreferGPU, 2, 0)}}
	for mode, want := range map[Mode]string{BinPack: "full", Spread: "empty"} {
		cfg := DefaultConfig()
		cfg.Mode = mode
		if a := mustPlace(t, s, cfg).Assignments[0]; a.Instance != want {
			t.Errorf("%s: placed on %s, want %s", mode, a.Instance, want)
		}
	}
}
