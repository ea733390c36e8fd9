package placement

import (
	"testing"
	"time"
)

// candFor builds the planner for s and the candidate (first stage in
// placement order, the named instance), with the model marks set as
// evaluation would.
func candFor(t *testing.T, s *Snapshot, cfg Config, instance string) cand {
	t.Helper()
	p, err := newPlanner(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := &p.stages[0]
	p.setAdjacent(0)
	for _, i := range p.loadedOn[st.model] {
		p.mark[i] = true
	}
	for i := range p.slots {
		if p.inst(int32(i)).Name == instance {
			return cand{p: p, st: st, sl: &p.slots[i], in: &p.info[i], i: int32(i), loaded: p.mark[i]}
		}
	}
	t.Fatalf("no instance %q", instance)
	return cand{}
}

func TestMemoryFilter(t *testing.T) {
	// Defaults: headroom = max(ceil(0.10 × total), 512 MiB).
	// 16 GiB total → ceil(1717986918.4) = 1717986919 B; 2 GiB total → 512 MiB floor.
	const reserve16 = 1717986919
	tests := []struct {
		name   string
		inst   Instance
		need   uint64 // gpu footprint
		loaded bool
		wantOK bool
		want   why
	}{
		// 4 GiB + 1.6 GiB = 5.6 GiB ≤ 10 GiB free.
		{"fits", gpuInst("g", 16, 10, 0), 4 * gib, false, true, whyOK},
		// free exactly need + headroom: fits (≤).
		{"fits exactly", withFree(gpuInst("g", 16, 0, 0), 4*gib+reserve16), 4 * gib, false, true, whyOK},
		// one byte less: 4 GiB + 1717986919 > free.
		{"one byte short", withFree(gpuInst("g", 16, 0, 0), 4*gib+reserve16-1), 4 * gib, false, false, whyFull},
		// 4 GiB + 1.6 GiB = 5.6 GiB > 5 GiB free, ≤ 16 GiB total: not now.
		{"full now", gpuInst("g", 16, 5, 0), 4 * gib, false, false, whyFull},
		// 2 GiB total: 1.6 GiB + 512 MiB = 2.1 GiB > 2 GiB total: never.
		{"never fits", gpuInst("g", 2, 2, 0), gb(1.6), false, false, whyNeverFits},
		// 1.5 GiB + 512 MiB = 2 GiB ≤ 2 GiB free: fits on the floor.
		{"headroom floor", gpuInst("g", 2, 2, 0), gb(1.5), false, true, whyOK},
		// Already loaded: nothing new needed; the headroom must still be
		// free: 1.6 GiB ≤ 2 GiB.
		{"loaded", gpuInst("g", 16, 2, 0), 4 * gib, true, true, whyLoaded},
		// Loaded on a device that filled up: free 1 GiB < headroom 1.6 GiB.
		{"loaded, device full", gpuInst("g", 16, 1, 0), 4 * gib, true, false, whyFull},
		// Loaded, memory unknown: nothing new to fit, nothing to judge by.
		{"loaded, no telemetry", withTelemetry(gpuInst("g", 16, 0, 0), Telemetry{}), 4 * gib, true, true, whyLoaded},
		{"no telemetry", withTelemetry(gpuInst("g", 16, 10, 0), Telemetry{}), 4 * gib, false, false, whyNoMemory},
		{"memory unknown", withTelemetry(gpuInst("g", 16, 10, 0), Telemetry{At: t0}), 4 * gib, false, false, whyNoMemory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.inst
			if tc.loaded {
				in.Models = []LoadedModel{{Name: "m"}}
			}
			st := Stage{Pipeline: "p", Name: "s", Model: "m", Device: PreferGPU, Footprint: Footprint{GPU: tc.need}}
			c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{in}, Stages: []Stage{st}}, DefaultConfig(), "g")
			w := memoryFilter{}.check(&c)
			if ok := w.ok(); ok != tc.wantOK || w != tc.want {
				t.Errorf("check = %v, %d; want %v, %d (%s)", ok, w, tc.wantOK, tc.want, filterMemory.text(w, &c))
			}
		})
	}
}

func TestMemoryFilterCPUUsesHostMemory(t *testing.T) {
	// Host: 8 GiB available on 16 GiB; need 6 GiB + 1.6 GiB = 7.6 ≤ 8: fits;
	// the (huge) GPU footprint is irrelevant on a cpu instance.
	in := cpuInst("c", 16, 8, 0)
	st := stage("p", "s", 0, "m", PreferAny, 1000, 6)
	c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{in}, Stages: []Stage{st}}, DefaultConfig(), "c")
	if w := (memoryFilter{}).check(&c); !w.ok() {
		t.Errorf("rejected: %s", filterMemory.text(w, &c))
	}
	st.Footprint.Host = gb(6.5) // 6.5 + 1.6 = 8.1 > 8
	c = candFor(t, &Snapshot{Now: t0, Instances: []Instance{in}, Stages: []Stage{st}}, DefaultConfig(), "c")
	if w := (memoryFilter{}).check(&c); w != whyFull {
		t.Errorf("check = %d; want whyFull", w)
	}
}

func TestOtherFilters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxModelsPerInstance = 2
	two := []LoadedModel{{Name: "x"}, {Name: "y"}}
	tests := []struct {
		name   string
		f      filter
		inst   Instance
		stage  Stage
		wantOK bool
		want   why
	}{
		{"healthy", healthyFilter{}, gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 1, 0), true, whyOK},
		{"unhealthy", healthyFilter{}, func() Instance { i := gpuInst("i", 16, 10, 0); i.Healthy = false; return i }(), stage("p", "s", 0, "m", PreferGPU, 1, 0), false, whyUnhealthy},
		{"gpu stage on gpu", deviceFilter{}, gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 1, 0), true, whyOK},
		{"gpu stage on cpu", deviceFilter{}, cpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 1, 0), false, whyWrongDevice},
		{"cpu stage on gpu", deviceFilter{}, gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferCPU, 1, 0), false, whyWrongDevice},
		{"any stage on cpu", deviceFilter{}, cpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferAny, 1, 0), true, whyOK},
		{"no labels required", labelsFilter{}, gpuInst("i", 16, 10, 0), stage("p", "s", 0, "m", PreferGPU, 1, 0), true, whyNoLabels},
		{"labels match", labelsFilter{}, withLabels(gpuInst("i", 16, 10, 0), "zone", "eu", "rack", "7"), withStageLabels(stage("p", "s", 0, "m", PreferGPU, 1, 0), "zone", "eu"), true, whyOK},
		{"label value differs", labelsFilter{}, withLabels(gpuInst("i", 16, 10, 0), "zone", "us"), withStageLabels(stage("p", "s", 0, "m", PreferGPU, 1, 0), "zone", "eu"), false, whyLabelMissing},
		{"one of two labels", labelsFilter{}, withLabels(gpuInst("i", 16, 10, 0), "zone", "eu"), withStageLabels(stage("p", "s", 0, "m", PreferGPU, 1, 0), "zone", "eu", "tier", "prod"), false, whyLabelMissing},
		// 1 model < cap 2.
		{"under cap", maxModelsFilter{}, withModels(gpuInst("i", 16, 10, 0), two[:1]), stage("p", "s", 0, "m", PreferGPU, 1, 0), true, whyOK},
		// 2 models = cap 2: a third would exceed it.
		{"at cap", maxModelsFilter{}, withModels(gpuInst("i", 16, 10, 0), two), stage("p", "s", 0, "m", PreferGPU, 1, 0), false, whyAtCap},
		// At cap but the model is one of them: no new model.
		{"at cap, loaded", maxModelsFilter{}, withModels(gpuInst("i", 16, 10, 0), two), stage("p", "s", 0, "x", PreferGPU, 1, 0), true, whyLoaded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{tc.inst}, Stages: []Stage{tc.stage}}, cfg, "i")
			w := tc.f.check(&c)
			if ok := w.ok(); ok != tc.wantOK || w != tc.want {
				t.Errorf("check = %v, %d; want %v, %d", ok, w, tc.wantOK, tc.want)
			}
		})
	}
}

func TestNoModelCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxModelsPerInstance = 0
	in := withModels(gpuInst("i", 16, 10, 0), make([]LoadedModel, 100))
	c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{in}, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 1, 0)}}, cfg, "i")
	if w := (maxModelsFilter{}).check(&c); w != whyNoCap {
		t.Errorf("check = %d; want whyNoCap", w)
	}
}

// TestEvalFiltersAgrees checks the hot loop's mask against each filter's
// own verdict, and the never/not-now split.
func TestEvalFiltersAgrees(t *testing.T) {
	bad := gpuInst("i", 2, 1, 0)
	bad.Healthy = false
	bad = withLabels(bad, "zone", "us")
	st := withStageLabels(stage("p", "s", 0, "m", PreferCPU, 4, 4), "zone", "eu")
	c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{bad}, Stages: []Stage{st}}, DefaultConfig(), "i")
	m := evalFilters(&c)
	for f := range numFilters {
		ok := f.filter().check(&c).ok()
		if got := m&(1<<f) == 0; got != ok {
			t.Errorf("%s: mask says pass=%v, filter says %v", f, got, ok)
		}
	}
	// Unhealthy is listed first, but device is the decisive (permanent) one.
	if d := decisive(m); d != filterDevice {
		t.Errorf("decisive = %s, want device", d)
	}
	if m&bitNever == 0 {
		t.Error("mask not marked never")
	}
}

func withFree(in Instance, free uint64) Instance {
	in.Telemetry.GPU.MemoryFree = free
	return in
}

func withTelemetry(in Instance, tel Telemetry) Instance {
	in.Telemetry = tel
	return in
}

func withLabels(in Instance, kv ...string) Instance {
	in.Labels = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		in.Labels[kv[i]] = kv[i+1]
	}
	return in
}

func withStageLabels(st Stage, kv ...string) Stage {
	st.Labels = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		st.Labels[kv[i]] = kv[i+1]
	}
	return st
}

func withModels(in Instance, ms []LoadedModel) Instance {
	in.Models = ms
	return in
}

func TestStaleness(t *testing.T) {
	cfg := DefaultConfig() // 30s
	for _, tc := range []struct {
		age       time.Duration
		never     bool
		maxAge    time.Duration
		wantStale bool
	}{
		{age: 30 * time.Second, maxAge: 30 * time.Second, wantStale: false}, // = max: fresh
		{age: 31 * time.Second, maxAge: 30 * time.Second, wantStale: true},
		{age: time.Hour, maxAge: 0, wantStale: false}, // staleness off
		{never: true, maxAge: 0, wantStale: true},     // never sampled is always stale
	} {
		in := gpuInst("i", 16, 10, 0)
		in.Telemetry.At = t0.Add(-tc.age)
		if tc.never {
			in.Telemetry.At = time.Time{}
		}
		cfg.MaxTelemetryAge = tc.maxAge
		c := candFor(t, &Snapshot{Now: t0, Instances: []Instance{in}, Stages: []Stage{stage("p", "s", 0, "m", PreferGPU, 1, 0)}}, cfg, "i")
		if stale := c.sl.flags&flagStale != 0; stale != tc.wantStale {
			t.Errorf("age %s never %v max %s: stale %v, want %v", tc.age, tc.never, tc.maxAge, stale, tc.wantStale)
		}
	}
}
