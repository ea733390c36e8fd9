package placement

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// benchSeed seeds the benchmark fleet; change it and the figures in
// benchmarks/results/placement-decision.md no longer apply.
const benchSeed = 20260301

// benchSnapshot is a fleet of nInst instances (a quarter GPUs, 8 instances
// per node, 4 zones, 2% unhealthy, 3% stale, 0–6 of 200 models loaded each)
// and nStages stages (pipelines of 4; a third any, a third gpu, a third
// cpu; a fifth pinned to a zone, 2 to a zone nobody is in; 30% placed
// already).
func benchSnapshot(nInst, nStages int) *Snapshot {
	r := rand.New(rand.NewPCG(benchSeed, benchSeed))
	s := &Snapshot{Now: t0}
	zones := []string{"a", "b", "c", "d"}
	model := func(i int) string { return fmt.Sprintf("model-%03d", i) }
	for i := range nInst {
		in := Instance{
			Name:    fmt.Sprintf("inst-%04d", (i*7919)%nInst), // listed out of name order
			Node:    fmt.Sprintf("node-%03d", i/8),
			Labels:  map[string]string{"zone": zones[(i/8)%4], "pool": "default"},
			Healthy: r.IntN(50) > 0,
		}
		in.Telemetry.At = t0.Add(-time.Duration(r.IntN(20)) * time.Second)
		if r.IntN(33) == 0 {
			in.Telemetry.At = t0.Add(-5 * time.Minute)
		}
		if i%4 == 0 {
			in.Kind, in.GPU = GPU, (i/4)%8
			in.Telemetry.GPU = GPUTelemetry{MemoryTotal: 80 * gib, MemoryFree: gb(80 * r.Float64()), Utilization: r.Float64()}
		} else {
			in.Kind = CPU
		}
		in.Telemetry.Host = HostTelemetry{MemoryTotal: 256 * gib, MemoryAvailable: gb(256 * r.Float64()), CPUUtilization: r.Float64()}
		for range r.IntN(7) {
			in.Models = append(in.Models, LoadedModel{Name: model(r.IntN(200)), Bytes: gb(1 + 8*r.Float64()), Pending: r.IntN(10)})
		}
		s.Instances = append(s.Instances, in)
	}
	for i := range nStages {
		st := Stage{
			Pipeline:  fmt.Sprintf("pipeline-%02d", i/4),
			Name:      fmt.Sprintf("stage-%d", i%4),
			Index:     i % 4,
			Model:     model(r.IntN(200)),
			Device:    []Preference{PreferAny, PreferGPU, PreferCPU}[i%3],
			Footprint: Footprint{GPU: gb(1 + 19*r.Float64()), Host: gb(1 + 31*r.Float64())},
		}
		if r.IntN(5) == 0 {
			st.Labels = map[string]string{"zone": zones[r.IntN(4)]}
		}
		if i%50 == 13 {
			st.Labels = map[string]string{"zone": "e"} // no such zone: infeasible
		}
		if r.IntN(10) < 3 {
			st.Current = s.Instances[r.IntN(nInst)].Name
			st.LastMoved = t0.Add(-time.Duration(r.IntN(600)) * time.Second)
		}
		s.Stages = append(s.Stages, st)
	}
	return s
}

// firstFit is the naive baseline: stages and instances in input order, the
// first healthy instance of the right kind, labels and free memory wins; no
// scores, no tiers, no explanation; maps for accounting.
func firstFit(s *Snapshot, cfg Config) []string {
	free := make(map[string]int64, len(s.Instances))
	for _, in := range s.Instances {
		if in.Kind == GPU {
			free[in.Name] = int64(in.Telemetry.GPU.MemoryFree)
		} else {
			free[in.Name] = int64(in.Telemetry.Host.MemoryAvailable)
		}
	}
	out := make([]string, len(s.Stages))
	for k, st := range s.Stages {
	instances:
		for _, in := range s.Instances {
			if !in.Healthy || (st.Device != PreferAny && string(st.Device) != string(in.Kind)) {
				continue
			}
			for key, v := range st.Labels {
				if in.Labels[key] != v {
					continue instances
				}
			}
			total, need := int64(in.Telemetry.Host.MemoryTotal), int64(st.Footprint.Host)
			if in.Kind == GPU {
				total, need = int64(in.Telemetry.GPU.MemoryTotal), int64(st.Footprint.GPU)
			}
			reserve := max(int64(math.Ceil(cfg.Headroom.Fraction*float64(total))), int64(cfg.Headroom.Bytes))
			if free[in.Name]-need < reserve {
				continue
			}
			free[in.Name] -= need
			out[k] = in.Name
			break
		}
	}
	return out
}

// BenchmarkPlace is one placement decision, 100 stages over 1,000
// instances: with a fresh Place each time, and with one Planner reused (a
// control loop's case). Neither records an explanation (Explain replays
// lazily), so the cost does not depend on Config.Explain; see
// BenchmarkPlaceExplain.
func BenchmarkPlace(b *testing.B) {
	s, cfg := benchSnapshot(1000, 100), DefaultConfig()
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Place(s, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		var pl Planner
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pl.Place(s, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFirstFit is the naive baseline over the same snapshot.
func BenchmarkFirstFit(b *testing.B) {
	s, cfg := benchSnapshot(1000, 100), DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		firstFit(s, cfg)
	}
}

// BenchmarkPlaceExplain is a decision plus its explanation: every stage
// (all) or one pipeline of 4 stages (one-pipeline, what `baton placements
// explain <pipeline>` asks for), in full and compact detail.
func BenchmarkPlaceExplain(b *testing.B) {
	s := benchSnapshot(1000, 100)
	for _, mode := range []ExplainMode{ExplainFull, ExplainCompact} {
		for _, scope := range []string{"all", "one-pipeline"} {
			b.Run(string(mode)+"/"+scope, func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Explain = mode
				var pipelines []string
				if scope == "one-pipeline" {
					pipelines = []string{"pipeline-07"}
				}
				b.ReportAllocs()
				for b.Loop() {
					p, err := Place(s, cfg)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := p.Explain(pipelines...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecisionLatency times every decision separately and reports
// the distribution (p50, p99, max) of Place (fresh each time) or of a
// reused Planner, each interleaved with the first-fit baseline so both see
// the same machine: wall time ("-ns") and, where the OS gives it, the
// thread's CPU time ("-cpu-ns", which leaves out time the thread was
// descheduled by other load on the machine).
func BenchmarkDecisionLatency(b *testing.B) {
	s, cfg := benchSnapshot(1000, 100), DefaultConfig()
	var pl Planner
	for _, tc := range []struct {
		name  string
		place func() error
	}{
		{"place", func() error { _, err := Place(s, cfg); return err }},
		{"planner", func() error { _, err := pl.Place(s, cfg); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			type sample struct{ wall, cpu []time.Duration }
			var place, ff sample
			_, hasCPU := threadCPUTime()
			timed := func(into *sample, f func()) {
				c0, _ := threadCPUTime()
				w0 := time.Now()
				f()
				w1 := time.Now()
				c1, _ := threadCPUTime()
				into.wall, into.cpu = append(into.wall, w1.Sub(w0)), append(into.cpu, c1-c0)
			}
			for b.Loop() {
				timed(&place, func() {
					if err := tc.place(); err != nil {
						b.Fatal(err)
					}
				})
				timed(&ff, func() { firstFit(s, cfg) })
			}
			report := func(name string, d []time.Duration) {
				slices.Sort(d)
				at := func(q float64) float64 { return float64(d[min(len(d)-1, int(q*float64(len(d))))].Nanoseconds()) }
				b.ReportMetric(at(0.50), name+"-p50-ns")
				b.ReportMetric(at(0.99), name+"-p99-ns")
				b.ReportMetric(at(1), name+"-max-ns")
			}
			report(tc.name, place.wall)
			report("firstfit", ff.wall)
			if hasCPU {
				report(tc.name+"-cpu", place.cpu)
				report("firstfit-cpu", ff.cpu)
			}
		})
	}
}

// TestBenchSnapshotIsRealistic guards the benchmark's input: most stages
// place, some fail, some stay, and every filter rejects somebody.
func TestBenchSnapshotIsRealistic(t *testing.T) {
	s := benchSnapshot(1000, 100)
	p := mustPlace(t, s, DefaultConfig())
	count := map[Action]int{}
	for _, a := range p.Assignments {
		count[a.Action]++
	}
	if count[ActionPlace] < 50 || count[ActionNone] == 0 || count[ActionKeep]+count[ActionMove] == 0 {
		t.Errorf("actions %v: want mostly place, some none, some keep/move", count)
	}
	e := mustExplain(t, p)
	rejected := map[string]int{}
	for _, st := range e.Stages {
		for _, fc := range st.RejectedBy {
			rejected[fc.Filter] += fc.Count
		}
	}
	for f := range numFilters {
		if rejected[f.String()] == 0 && f != filterMaxModels {
			t.Errorf("filter %s rejects nobody in the benchmark fleet (%v)", f, rejected)
		}
	}
	if ff := firstFit(s, DefaultConfig()); len(ff) != 100 {
		t.Fatal("first-fit baseline broken")
	}
}
