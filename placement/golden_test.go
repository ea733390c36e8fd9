package placement

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./placement -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

type goldenCase struct {
	name string
	snap func() *Snapshot
	cfg  func(*Config)
	// check asserts the point of the scenario, so a golden rewritten with a
	// regression in it still fails.
	check func(t *testing.T, p *Plan)
}

func goldenCases() []goldenCase {
	anyStage := stage("tabular", "classify", 1, "classifier", PreferAny, 2, 1.5)
	return []goldenCase{{
		name: "gpu-preferred",
		snap: func() *Snapshot {
			return &Snapshot{Now: t0,
				Instances: []Instance{cpuInst("cpu-a", 64, 40, 0.20), gpuInst("gpu-a", 16, 10, 0.42)},
				Stages:    []Stage{anyStage}}
		},
		check: wantOn("tabular", "classify", "gpu-a", "GPU preferred for any-stage: gpu-a util 0.42 < threshold 0.80"),
	}, {
		name: "gpu-busy-cpu-fallback",
		snap: func() *Snapshot {
			return &Snapshot{Now: t0,
				Instances: []Instance{cpuInst("cpu-a", 64, 40, 0.20), gpuInst("gpu-a", 16, 10, 0.93)},
				Stages:    []Stage{anyStage}}
		},
		check: wantOn("tabular", "classify", "cpu-a", "fell back to CPU: no GPU fits under util threshold 0.80; 1 GPU(s) fit but are busy (lowest util 0.93)"),
	}, {
		name: "gpu-memory-does-not-fit",
		snap: func() *Snapshot {
			// gpu-a: need 2 GiB + headroom max(0.1×16, 0.5) = 1.6 GiB = 3.6 GiB > free 3 GiB.
			return &Snapshot{Now: t0,
				Instances: []Instance{cpuInst("cpu-a", 64, 40, 0.20), gpuInst("gpu-a", 16, 3, 0.10)},
				Stages:    []Stage{anyStage}}
		},
		check: wantOn("tabular", "classify", "cpu-a", "fell back to CPU: no GPU fits under util threshold 0.80; 1 GPU(s) rejected (memory 1)"),
	}, {
		name: "unhealthy-instance",
		snap: func() *Snapshot {
			a := gpuInst("gpu-a", 16, 10, 0.05)
			a.Healthy = false
			return &Snapshot{Now: t0,
				Instances: []Instance{a, gpuInst("gpu-b", 16, 10, 0.60)},
				Stages:    []Stage{stage("vision", "detect", 0, "detector", PreferGPU, 4, 0)}}
		},
		check: wantOn("vision", "detect", "gpu-b", "gpu-b is best of 1 eligible"),
	}, {
		name: "stale-telemetry-only-option",
		snap: func() *Snapshot {
			stale := gpuInst("gpu-a", 16, 10, 0.10)
			stale.Telemetry.At = t0.Add(-2 * time.Minute)
			never := gpuInst("gpu-c", 16, 10, 0.10)
			never.Telemetry = Telemetry{}
			return &Snapshot{Now: t0,
				Instances: []Instance{stale, gpuInst("gpu-b", 16, 2, 0.10), never},
				Stages:    []Stage{stage("vision", "detect", 0, "detector", PreferGPU, 4, 0)}}
		},
		check: wantOn("vision", "detect", "gpu-a", "only instances with stale telemetry fit: gpu-a telemetry 2m0s old > max 30s"),
	}, {
		name: "label-affinity",
		snap: func() *Snapshot {
			us, eu, none := cpuInst("cpu-us", 64, 40, 0.1), cpuInst("cpu-eu", 64, 40, 0.5), cpuInst("cpu-none", 64, 40, 0.0)
			us.Labels = map[string]string{"zone": "us", "tier": "prod"}
			eu.Labels = map[string]string{"zone": "eu", "tier": "prod"}
			st := stage("gdpr", "score", 0, "scorer", PreferCPU, 0, 2)
			st.Labels = map[string]string{"zone": "eu", "tier": "prod"}
			return &Snapshot{Now: t0, Instances: []Instance{us, eu, none}, Stages: []Stage{st}}
		},
		check: wantOn("gdpr", "score", "cpu-eu", ""),
	}, {
		name: "colocation-tiebreak",
		snap: func() *Snapshot {
			// Identical GPUs; detect's model is loaded on gpu-b, so detect
			// goes there, and recognize follows it for co-location although
			// gpu-a comes first by name.
			a, b := gpuInst("gpu-a", 16, 10, 0.30), gpuInst("gpu-b", 16, 10, 0.30)
			b.Models = []LoadedModel{{Name: "detector", Bytes: gb(2)}}
			return &Snapshot{Now: t0, Instances: []Instance{a, b}, Stages: []Stage{
				stage("ocr", "recognize", 1, "recognizer", PreferGPU, 2, 0),
				stage("ocr", "detect", 0, "detector", PreferGPU, 0, 0),
			}}
		},
		check: wantOn("ocr", "recognize", "gpu-b", "gpu-b is best of 2 eligible"),
	}, {
		name: "name-tiebreak",
		snap: func() *Snapshot {
			return &Snapshot{Now: t0,
				Instances: []Instance{gpuInst("gpu-b", 16, 10, 0.30), gpuInst("gpu-a", 16, 10, 0.30)},
				Stages:    []Stage{stage("solo", "only", 0, "m", PreferGPU, 1, 0)}}
		},
		check: wantOn("solo", "only", "gpu-a", "tie with gpu-b broken by name"),
	}, {
		name: "infeasible-vs-no-capacity",
		snap: func() *Snapshot {
			tpu := stage("x", "needs-tpu", 0, "tpu-model", PreferAny, 1, 1)
			tpu.Labels = map[string]string{"accel": "tpu"}
			return &Snapshot{Now: t0,
				Instances: []Instance{gpuInst("gpu-a", 80, 20, 0.10), gpuInst("gpu-b", 80, 30, 0.10), cpuInst("cpu-a", 64, 40, 0.1)},
				Stages: []Stage{
					tpu,
					stage("x", "big", 1, "llm-70b", PreferGPU, 60, 0),
					stage("x", "huge", 2, "llm-405b", PreferGPU, 100, 0),
				}}
		},
		check: func(t *testing.T, p *Plan) {
			for st, want := range map[string]error{"needs-tpu": ErrInfeasible, "big": ErrNoCapacity, "huge": ErrInfeasible} {
				a, _ := p.Lookup("x", st)
				if !errors.Is(a.Err, want) {
					t.Errorf("x/%s: err %v, want %v", st, a.Err, want)
				}
			}
		},
	}, {
		name: "two-big-stages-one-gpu-each",
		snap: func() *Snapshot {
			// Each GPU fits one 10 GiB model (10 + 1.6 headroom ≤ 12 free), not two.
			return &Snapshot{Now: t0,
				Instances: []Instance{gpuInst("gpu-a", 16, 12, 0.10), gpuInst("gpu-b", 16, 12, 0.20)},
				Stages: []Stage{
					stage("llm", "draft", 0, "draft-model", PreferGPU, 10, 0),
					stage("llm", "verify", 1, "verify-model", PreferGPU, 10, 0),
				}}
		},
		check: func(t *testing.T, p *Plan) {
			wantOn("llm", "draft", "gpu-a", "")(t, p)
			wantOn("llm", "verify", "gpu-b", "")(t, p)
		},
	}, {
		name: "hysteresis-dwell-keeps",
		snap: func() *Snapshot { return hysteresisSnap(30 * time.Second) },
		check: func(t *testing.T, p *Plan) {
			a := wantOn("tabular", "classify", "cpu-a", "moved 30s ago < min dwell 2m0s")
			a(t, p)
			if got, _ := p.Lookup("tabular", "classify"); got.Action != ActionKeep {
				t.Errorf("action %s, want keep", got.Action)
			}
		},
	}, {
		name: "hysteresis-better-tier-moves",
		snap: func() *Snapshot { return hysteresisSnap(10 * time.Minute) },
		check: func(t *testing.T, p *Plan) {
			wantOn("tabular", "classify", "gpu-a", "gpu-a is in a better tier (preferred) than current cpu-a (fallback)")(t, p)
			if got, _ := p.Lookup("tabular", "classify"); got.Action != ActionMove || got.From != "cpu-a" {
				t.Errorf("action %s from %q, want move from cpu-a", got.Action, got.From)
			}
		},
	}, {
		name: "hysteresis-min-improvement",
		snap: func() *Snapshot {
			a, b := gpuInst("gpu-a", 16, 10, 0.50), gpuInst("gpu-b", 16, 10, 0.40)
			a.Models = []LoadedModel{{Name: "detector", Bytes: gb(4)}}
			b.Models = []LoadedModel{{Name: "detector", Bytes: gb(4)}}
			st := stage("vision", "detect", 0, "detector", PreferGPU, 4, 0)
			st.Current, st.LastMoved = "gpu-a", t0.Add(-time.Hour)
			return &Snapshot{Now: t0, Instances: []Instance{a, b}, Stages: []Stage{st}}
		},
		// Both hold the model. gpu-a = (1×(1−10/16) + 2×(1−0.50) + 1×1 + 2×1 + 1×0)/7
		// = 4.375/7 = 0.6250; gpu-b gains only utilization: + 2×0.10/7 = 0.6536;
		// improvement 0.0286 < 0.10.
		check: wantOn("vision", "detect", "gpu-a", "improvement 0.0286 (gpu-b 0.6536 vs current gpu-a 0.6250) < min 0.1000"),
	}, {
		name: "current-unhealthy-moves-despite-dwell",
		snap: func() *Snapshot {
			a, b := gpuInst("gpu-a", 16, 10, 0.10), gpuInst("gpu-b", 16, 10, 0.40)
			a.Healthy = false
			a.Models = []LoadedModel{{Name: "detector", Bytes: gb(4)}}
			st := stage("vision", "detect", 0, "detector", PreferGPU, 4, 0)
			st.Current, st.LastMoved = "gpu-a", t0.Add(-10*time.Second)
			return &Snapshot{Now: t0, Instances: []Instance{a, b}, Stages: []Stage{st}}
		},
		check: wantOn("vision", "detect", "gpu-b", "current instance gpu-a is not eligible (fails healthy: not ready (last readiness probe failed))"),
	}, {
		name: "loaded-gpu-filled-up-moves",
		snap: func() *Snapshot {
			// classify is loaded on gpu-a, which has since filled up: free
			// 1 GiB < headroom 1.6 GiB, so it leaves despite the dwell.
			g := gpuInst("gpu-a", 16, 1, 0.10)
			g.Models = []LoadedModel{{Name: "classifier", Bytes: gb(2)}}
			st := stage("tabular", "classify", 1, "classifier", PreferAny, 2, 1.5)
			st.Current, st.LastMoved = "gpu-a", t0.Add(-10*time.Second)
			return &Snapshot{Now: t0, Instances: []Instance{g, cpuInst("cpu-a", 64, 40, 0.20)}, Stages: []Stage{st}}
		},
		check: wantOn("tabular", "classify", "cpu-a", "current instance gpu-a is not eligible (fails memory: gpu memory: model loaded, but free 1.00 GiB < headroom 1.60 GiB)"),
	}, {
		name: "compact",
		snap: func() *Snapshot {
			var ins []Instance
			for i, u := range []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6} {
				ins = append(ins, gpuInst("gpu-"+string(rune('a'+i)), 16, 10, u))
			}
			full := gpuInst("gpu-full", 16, 1, 0.0)
			down := gpuInst("gpu-down", 16, 10, 0.0)
			down.Healthy = false
			ins = append(ins, full, down, cpuInst("cpu-a", 64, 40, 0), cpuInst("cpu-b", 64, 40, 0))
			return &Snapshot{Now: t0, Instances: ins, Stages: []Stage{stage("vision", "detect", 0, "detector", PreferGPU, 4, 0)}}
		},
		cfg: func(c *Config) { c.Explain, c.ExplainTopK = ExplainCompact, 2 },
		check: func(t *testing.T, p *Plan) {
			wantOn("vision", "detect", "gpu-a", "")(t, p)
			e := mustExplain(t, p)
			// Shown: 2 best eligible + 2 "not now" rejections; omitted: 4 eligible, 2 by device.
			if got := len(e.Stages[0].Candidates); got != 4 {
				t.Errorf("compact shows %d candidates, want 4", got)
			}
			want := &Omitted{Eligible: 4, Rejected: []FilterCount{{"device", 2}}}
			if diff := cmp.Diff(want, e.Stages[0].Omitted); diff != "" {
				t.Errorf("omitted (-want +got):\n%s", diff)
			}
		},
	}}
}

// hysteresisSnap: an any-stage on cpu-a (loaded there), moved ago before
// t0, while gpu-a is now free and under the threshold.
func hysteresisSnap(ago time.Duration) *Snapshot {
	c := cpuInst("cpu-a", 64, 40, 0.20)
	c.Models = []LoadedModel{{Name: "classifier", Bytes: gb(1.5), Pending: 3}}
	st := stage("tabular", "classify", 1, "classifier", PreferAny, 2, 1.5)
	st.Current, st.LastMoved = "cpu-a", t0.Add(-ago)
	return &Snapshot{Now: t0, Instances: []Instance{c, gpuInst("gpu-a", 16, 10, 0.42)}, Stages: []Stage{st}}
}

// wantOn asserts stage pipeline/name is on instance and, if why is set,
// that one of its reasons (the explanation's why lines) contains it.
func wantOn(pipeline, name, instance, why string) func(*testing.T, *Plan) {
	return func(t *testing.T, p *Plan) {
		t.Helper()
		a, ok := p.Lookup(pipeline, name)
		if !ok {
			t.Fatalf("no assignment for %s/%s", pipeline, name)
		}
		whys := stageWhy(t, p, pipeline, name)
		if a.Instance != instance {
			t.Errorf("%s/%s on %q, want %q; why %q", pipeline, name, a.Instance, instance, whys)
		}
		if why == "" {
			return
		}
		for _, w := range whys {
			if strings.Contains(w, why) {
				return
			}
		}
		t.Errorf("%s/%s why %q lacks %q", pipeline, name, whys, why)
	}
}

// stageWhy is the explanation's why lines for one stage.
func stageWhy(t *testing.T, p *Plan, pipeline, name string) []string {
	t.Helper()
	for _, st := range mustExplain(t, p, pipeline).Stages {
		if st.Stage == name {
			return st.Why
		}
	}
	t.Fatalf("no explanation for %s/%s", pipeline, name)
	return nil
}

func TestGoldenExplanations(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p := mustPlace(t, tc.snap(), cfg)
			tc.check(t, p)
			e := mustExplain(t, p)
			golden(t, tc.name+".golden", []byte(e.Text()))
		})
	}
}

// TestGoldenJSON pins the JSON shape the admin API serves.
func TestGoldenJSON(t *testing.T) {
	tc := goldenCases()[0]
	p := mustPlace(t, tc.snap(), DefaultConfig())
	e := mustExplain(t, p)
	got, err := json.MarshalIndent(struct {
		Plan        *Plan        `json:"plan"`
		Explanation *Explanation `json:"explanation"`
	}{p, e}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, tc.name+".json", append(got, '\n'))
}
