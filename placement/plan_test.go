package placement

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInvalidSnapshot(t *testing.T) {
	ok := func() *Snapshot {
		return &Snapshot{Now: t0,
			Instances: []Instance{gpuInst("a", 16, 10, 0), cpuInst("b", 16, 10, 0)},
			Stages:    []Stage{stage("p", "s0", 0, "m", PreferAny, 1, 1), stage("p", "s1", 1, "m", PreferAny, 1, 1)}}
	}
	if _, err := Place(ok(), DefaultConfig()); err != nil {
		t.Fatalf("valid snapshot: %v", err)
	}
	tests := []struct {
		name   string
		break_ func(*Snapshot)
		want   string
	}{
		{"duplicate instance", func(s *Snapshot) { s.Instances[1].Name = "a" }, `instance "a" listed twice`},
		{"unnamed instance", func(s *Snapshot) { s.Instances[1].Name = "" }, "instances[1].name: required"},
		{"bad kind", func(s *Snapshot) { s.Instances[0].Kind = "tpu" }, `kind "tpu"`},
		{"NaN utilization", func(s *Snapshot) { s.Instances[0].Telemetry.GPU.Utilization = math.NaN() }, "utilization is NaN"},
		{"negative pending", func(s *Snapshot) { s.Instances[0].Models = []LoadedModel{{Name: "x", Pending: -1}} }, "pending -1"},
		{"duplicate stage", func(s *Snapshot) { s.Stages[1].Name = "s0" }, "stage p/s0 listed twice"},
		{"shared index", func(s *Snapshot) { s.Stages[1].Index = 0 }, "share index 0"},
		{"bad device", func(s *Snapshot) { s.Stages[0].Device = "" }, `device ""`},
		{"no model", func(s *Snapshot) { s.Stages[0].Model = "" }, "model required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.break_(s)
			_, err := Place(s, DefaultConfig())
			if !errors.Is(err, ErrInvalidSnapshot) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidSnapshot containing %q", err, tc.want)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	s := &Snapshot{Now: t0, Instances: []Instance{gpuInst("a", 16, 10, 0)}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"zero config", func(c *Config) { *c = Config{} }, "weights: all zero"},
		{"negative weight", func(c *Config) { c.Weights.Queue = -1 }, "want finite and ≥ 0"},
		{"mode", func(c *Config) { c.Mode = "pack" }, `mode "pack"`},
		{"threshold", func(c *Config) { c.Any.GPUUtilThreshold = 1.5 }, "gpuUtilThreshold"},
		{"prefer", func(c *Config) { c.Any.Prefer = "tpu" }, "any.prefer"},
		{"headroom", func(c *Config) { c.Headroom.Fraction = 1 }, "headroom.fraction"},
		{"queue half", func(c *Config) { c.QueueHalf = 0 }, "queueHalf"},
		{"improvement", func(c *Config) { c.Hysteresis.MinImprovement = 2 }, "minImprovement"},
		{"top k", func(c *Config) { c.Explain, c.ExplainTopK = ExplainCompact, 0 }, "explainTopK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			_, err := Place(s, cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestStageErrorTyped(t *testing.T) {
	s := &Snapshot{Now: t0,
		Instances: []Instance{cpuInst("c", 16, 10, 0)},
		Stages:    []Stage{stage("p", "g", 0, "m", PreferGPU, 1, 0)}}
	p := mustPlace(t, s, DefaultConfig())
	err := p.Err()
	if !errors.Is(err, ErrInfeasible) || errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Err() = %v, want ErrInfeasible only", err)
	}
	se, ok := errors.AsType[*StageError](err)
	if !ok || se.Pipeline != "p" || se.Stage != "g" {
		t.Fatalf("AsType: %#v, %v", se, ok)
	}
	a := p.Assignments[0]
	if a.Action != ActionNone || a.Instance != "" || a.Error != a.Err.Error() {
		t.Errorf("assignment %+v", a)
	}
}

// TestNoCapacityVsInfeasible: what changes "never" into "not now".
func TestNoCapacityVsInfeasible(t *testing.T) {
	for _, tc := range []struct {
		name string
		inst Instance
		want error
	}{
		{"unhealthy only", func() Instance { i := gpuInst("g", 16, 10, 0); i.Healthy = false; return i }(), ErrNoCapacity},
		{"full now", gpuInst("g", 16, 1, 0), ErrNoCapacity},
		{"never sampled", withTelemetry(gpuInst("g", 16, 10, 0), Telemetry{}), ErrNoCapacity},
		{"too small ever", gpuInst("g", 4, 4, 0), ErrInfeasible},
		// Unhealthy and too small: never wins.
		{"unhealthy and too small", func() Instance { i := gpuInst("g", 4, 4, 0); i.Healthy = false; return i }(), ErrInfeasible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Snapshot{Now: t0, Instances: []Instance{tc.inst}, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 8, 0)}}
			if err := mustPlace(t, s, DefaultConfig()).Err(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	s := &Snapshot{Now: t0, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 8, 0)}}
	if err := mustPlace(t, s, DefaultConfig()).Err(); !errors.Is(err, ErrInfeasible) {
		t.Errorf("empty fleet: err = %v, want ErrInfeasible", err)
	}
}

func TestMeasuredFootprintStandsIn(t *testing.T) {
	// The stage gives no GPU footprint; the model is measured at 6 GiB on
	// gpu-a, so 6 GiB + 1.6 GiB headroom is charged on gpu-b (free 7 GiB).
	a := withModels(gpuInst("gpu-a", 16, 1, 0), []LoadedModel{{Name: "m", Bytes: 6 * gib}})
	a.Healthy = false
	s := &Snapshot{Now: t0, Instances: []Instance{a, gpuInst("gpu-b", 16, 7, 0)},
		Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 0, 0)}}
	if err := mustPlace(t, s, DefaultConfig()).Err(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("err = %v, want ErrNoCapacity (6 + 1.6 > 7)", err)
	}
	s.Instances[1].Telemetry.GPU.MemoryFree = gb(8) // 7.6 ≤ 8
	if a := mustPlace(t, s, DefaultConfig()).Assignments[0]; a.Instance != "gpu-b" {
		t.Fatalf("placed on %q, want gpu-b; %v", a.Instance, a.Err)
	}
}

func TestPlanAccountsEarlierPlacements(t *testing.T) {
	t.Run("shared model loads once", func(t *testing.T) {
		// Two pipelines use model m (10 GiB); only one copy fits on gpu-a. The
		// second stage finds it loaded by the first and shares it.
		s := &Snapshot{Now: t0, Instances: []Instance{gpuInst("gpu-a", 16, 12, 0)}, Stages: []Stage{
			stage("p1", "s", 0, "m", PreferGPU, 10, 0),
			stage("p2", "s", 0, "m", PreferGPU, 10, 0),
		}}
		p := mustPlace(t, s, DefaultConfig())
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
		e := mustExplain(t, p, "p2")
		if len(e.Stages) != 1 || e.Stages[0].Pipeline != "p2" {
			t.Fatalf("explained %d stages, want p2 only", len(e.Stages))
		}
		if v := e.Stages[0].Candidates[0].Filters[filterMemory]; !strings.HasPrefix(v.Reason, "model already loaded: no new memory; headroom 1.60 GiB <= free 2.00 GiB (after 10.00 GiB placed") {
			t.Errorf("p2 memory verdict %q", v.Reason)
		}
	})
	t.Run("model cap counts this plan", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxModelsPerInstance = 1
		s := &Snapshot{Now: t0, Instances: []Instance{gpuInst("gpu-a", 80, 70, 0), gpuInst("gpu-b", 80, 70, 0.5)}, Stages: []Stage{
			stage("p", "s0", 0, "m0", PreferGPU, 1, 0),
			stage("p", "s1", 1, "m1", PreferGPU, 1, 0),
			stage("p", "s2", 2, "m2", PreferGPU, 1, 0),
		}}
		p := mustPlace(t, s, cfg)
		want := []string{"gpu-a", "gpu-b", ""}
		for i, a := range p.Assignments {
			if a.Instance != want[i] {
				t.Errorf("%s on %q, want %q", a.Stage, a.Instance, want[i])
			}
		}
		if !errors.Is(p.Assignments[2].Err, ErrNoCapacity) {
			t.Errorf("s2 err %v, want ErrNoCapacity", p.Assignments[2].Err)
		}
	})
}

func TestAnyRules(t *testing.T) {
	s := &Snapshot{Now: t0,
		Instances: []Instance{cpuInst("cpu-a", 64, 40, 0.9), gpuInst("gpu-a", 16, 10, 0.1)},
		Stages:    []Stage{stage("p", "s", 0, "m", PreferAny, 1, 1)}}
	for _, tc := range []struct {
		prefer AnyPreference
		thr    float64
		want   string
	}{
		{AnyGPUFirst, 0.8, "gpu-a"},
		{AnyGPUFirst, 0.1, "cpu-a"}, // util 0.1 is not < 0.1
		{AnyCPUFirst, 0.8, "cpu-a"},
		// By score: gpu (1−0.375)·1 + 0.9·2 + 1 = 3.425 vs cpu (1−0.609)·1 + 0.1·2 + 1 = 1.59.
		{AnyByScore, 0.8, "gpu-a"},
	} {
		cfg := DefaultConfig()
		cfg.Any = AnyRule{Prefer: tc.prefer, GPUUtilThreshold: tc.thr}
		p := mustPlace(t, s, cfg)
		if a := p.Assignments[0]; a.Instance != tc.want {
			t.Errorf("%s/%v: on %s, want %s; %q", tc.prefer, tc.thr, a.Instance, tc.want, stageWhy(t, p, "p", "s"))
		}
	}
	// GPU over threshold is used when no CPU fits.
	s.Instances[0].Telemetry.Host.MemoryAvailable = 0
	s.Instances[1].Telemetry.GPU.Utilization = 0.95
	p := mustPlace(t, s, DefaultConfig())
	a, why := p.Assignments[0], stageWhy(t, p, "p", "s")
	if a.Instance != "gpu-a" || a.Tier != "over-threshold" || !strings.Contains(why[0], "every fitting GPU is at or over util threshold 0.80 and no CPU fits") {
		t.Errorf("on %s tier %s; %q", a.Instance, a.Tier, why)
	}
}

func TestCurrentInstanceGone(t *testing.T) {
	st := stage("p", "s", 0, "m", PreferGPU, 1, 0)
	st.Current, st.LastMoved = "gpu-old", t0.Add(-time.Second)
	s := &Snapshot{Now: t0, Instances: []Instance{gpuInst("gpu-a", 16, 10, 0)}, Stages: []Stage{st}}
	a := mustPlace(t, s, DefaultConfig()).Assignments[0]
	if a.Action != ActionPlace || a.Instance != "gpu-a" || a.From != "gpu-old" {
		t.Errorf("%s %s from %s, want place gpu-a from gpu-old", a.Action, a.Instance, a.From)
	}
	if !strings.Contains(a.Reason, "gpu-old is not eligible (not in the snapshot)") {
		t.Errorf("reason %q", a.Reason)
	}
}

// TestExplanationTermsAddUp: in every eligible candidate the weighted terms
// sum to the recorded total, and the chosen one is rank 1 unless hysteresis
// kept the current one.
func TestExplanationTermsAddUp(t *testing.T) {
	for _, tc := range goldenCases() {
		cfg := DefaultConfig()
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		p := mustPlace(t, tc.snap(), cfg)
		e := mustExplain(t, p)
		for _, st := range e.Stages {
			for _, c := range st.Candidates {
				if !c.Eligible {
					if len(c.Scores) != 0 || c.RejectedBy == "" {
						t.Errorf("%s: %s/%s: rejected %s has scores or no rejectedBy", tc.name, st.Pipeline, st.Stage, c.Instance)
					}
					continue
				}
				sum := 0.0
				for _, term := range c.Scores {
					sum += term.Weighted
					if term.Score < 0 || term.Score > 1 {
						t.Errorf("%s: %s %s score %v outside [0,1]", tc.name, c.Instance, term.Scorer, term.Score)
					}
				}
				if math.Abs(sum-c.Total) > 1e-9 {
					t.Errorf("%s: %s/%s %s: terms sum %v, total %v", tc.name, st.Pipeline, st.Stage, c.Instance, sum, c.Total)
				}
				if c.Chosen && c.Rank != 1 && st.Assignment.Action != ActionKeep {
					t.Errorf("%s: chosen %s has rank %d", tc.name, c.Instance, c.Rank)
				}
			}
		}
	}
}

func TestExplainDetectsDivergence(t *testing.T) {
	s := &Snapshot{Now: t0, Instances: []Instance{gpuInst("gpu-a", 16, 10, 0)}, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 1, 0)}}
	p := mustPlace(t, s, DefaultConfig())
	p.Assignments[0].Instance = "gpu-z"
	if _, err := p.Explain(); !errors.Is(err, ErrBug) {
		t.Errorf("Explain of a tampered plan: %v, want ErrBug", err)
	}
}

// TestCompactKeepsCurrent: a compact explanation always shows the current
// instance, even outside the top K.
func TestCompactKeepsCurrent(t *testing.T) {
	var ins []Instance
	for _, n := range []string{"a", "b", "c", "d"} {
		ins = append(ins, gpuInst(n, 16, 10, 0.1))
	}
	ins[3].Telemetry.GPU.Utilization = 0.5 // d scores worst
	st := stage("p", "s", 0, "m", PreferGPU, 1, 0)
	st.Current, st.LastMoved = "d", t0.Add(-time.Second)
	cfg := DefaultConfig()
	cfg.Explain, cfg.ExplainTopK = ExplainCompact, 1
	p := mustPlace(t, &Snapshot{Now: t0, Instances: ins, Stages: []Stage{st}}, cfg)
	e := mustExplain(t, p)
	var got []string
	for _, c := range e.Stages[0].Candidates {
		got = append(got, c.Instance)
	}
	if diff := cmp.Diff([]string{"a", "d"}, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	if c := e.Stages[0].Candidates[1]; !c.Current || !c.Chosen || c.Rank != 4 {
		t.Errorf("current: %+v", c)
	}
	if o := e.Stages[0].Omitted; o == nil || o.Eligible != 2 {
		t.Errorf("omitted %+v, want 2 eligible", o)
	}
}

// TestFastPathSameTally: the pruned search (Place) and the exhaustive,
// recording one (Explain) agree stage after stage on the best, the tie and
// the current instance's standing, and on every count when nothing was
// eligible (the counts a failure is classified by).
func TestFastPathSameTally(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		s, cfg := genSnapshot(seed)
		if seed%4 == 0 { // big enough for the bound buckets to prune
			s, cfg = genSnapshotSized(seed, 400, 40)
		}
		fast, err := newPlanner(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		slow, _ := newPlanner(s, cfg)
		rec := &recorder{detail: ExplainFull, names: slow.names, rank: cmpRank(slow.names)}
		for k := range fast.stages {
			af, tf := fast.place(k, nil)
			as, ts := slow.place(k, rec)
			decision := func(t tally) tally {
				if t.best >= 0 {
					return tally{best: t.best, bestTier: t.bestTier, bestScore: t.bestScore, tie: t.tie, curMask: t.curMask, curTier: t.curTier, curScore: t.curScore}
				}
				return t
			}
			if df, ds := decision(tf), decision(ts); df != ds {
				t.Fatalf("seed %d stage %d: pruned tally %+v, exhaustive tally %+v", seed, k, df, ds)
			}
			if diff := cmp.Diff(af, as, equateErrors); diff != "" {
				t.Fatalf("seed %d stage %d: assignments differ:\n%s", seed, k, diff)
			}
		}
	}
}

func TestEdgeInputs(t *testing.T) {
	if _, err := Place(nil, DefaultConfig()); !errors.Is(err, ErrInvalidSnapshot) {
		t.Errorf("nil snapshot: %v, want ErrInvalidSnapshot", err)
	}
	// Saturated byte counts: headroom = ceil(0.1 × MaxInt64) stays in range,
	// and the 1 GiB stage fits.
	huge := gpuInst("huge", 1, 1, 0)
	huge.Telemetry.GPU.MemoryTotal, huge.Telemetry.GPU.MemoryFree = math.MaxUint64, math.MaxUint64
	s := &Snapshot{Now: t0, Instances: []Instance{huge}, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 1, 0)}}
	if a := mustPlace(t, s, DefaultConfig()).Assignments[0]; a.Instance != "huge" {
		t.Errorf("placed on %q (%v), want huge", a.Instance, a.Err)
	}
	// No stages: an empty plan, not an error.
	if p := mustPlace(t, &Snapshot{Now: t0, Instances: []Instance{huge}}, DefaultConfig()); len(p.Assignments) != 0 || p.Err() != nil {
		t.Errorf("empty plan: %+v", p)
	}
}
