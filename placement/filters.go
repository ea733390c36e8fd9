package placement

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// A filter rules one instance in or out for one stage. check returns the
// verdict as data, a why code: pass or fail and the reason in one value
// (why.ok). It runs for every candidate the search visits (every
// candidate, when an explanation is recorded), so it must not allocate; the
// code is rendered to text only for explanations. Where several reasons
// hold, the last assignment in check wins, so the precedence reads top to
// bottom. The search (evalFilters) calls each filter's check directly so it
// inlines; explanations call the same method through this interface.
type filter interface {
	check(c *cand) why
}

// filterID names a filter; the order is the order filters are reported in.
type filterID uint8

const (
	filterHealthy filterID = iota
	filterDevice
	filterMemory
	filterLabels
	filterMaxModels
	numFilters
)

func (f filterID) String() string {
	switch f {
	case filterHealthy:
		return "healthy"
	case filterDevice:
		return "device"
	case filterMemory:
		return "memory"
	case filterLabels:
		return "labels"
	case filterMaxModels:
		return "max-models"
	}
	return fmt.Sprintf("filter(%d)", uint8(f))
}

func (f filterID) filter() filter {
	switch f {
	case filterHealthy:
		return healthyFilter{}
	case filterDevice:
		return deviceFilter{}
	case filterMemory:
		return memoryFilter{}
	case filterLabels:
		return labelsFilter{}
	case filterMaxModels:
		return maxModelsFilter{}
	}
	panic(fmt.Sprintf("placement: no filter %d", f))
}

// why is a filter's verdict as data; text renders it with the candidate's
// numbers. Codes below whyUnhealthy pass; codes from whyWrongDevice up fail
// whatever the telemetry does (the stage is infeasible there, not short of
// capacity).
type why uint8

const (
	// Passes.
	whyOK       why = iota
	whyLoaded       // memory, max-models: the model is already there, nothing new needed
	whyNoLabels     // labels: none required
	whyNoCap        // max-models: no cap configured

	// Failures that may pass later ("not now").
	whyUnhealthy
	whyNoMemory // memory: no telemetry yet, or memory unknown
	whyFull     // memory: need + headroom > free
	whyAtCap    // max-models: at the cap

	// Failures that never pass with this fleet.
	whyWrongDevice
	whyNeverFits    // memory: need + headroom > total
	whyLabelMissing // labels: a required label is absent or different
)

func (w why) ok() bool    { return w < whyUnhealthy }
func (w why) never() bool { return w >= whyWrongDevice }

// Filter mask: one bit per failing filter, plus bitNever when any failure
// is permanent. A zero mask is an eligible candidate.
const bitNever = 1 << 7

// b2u is 1 for true, 0 for false.
func b2u(b bool) uint8 {
	var u uint8
	if b {
		u = 1
	}
	return u
}

// evalFilters runs every filter (not just up to the first failure: the
// verdicts classify "never" vs "not now") and returns the failure mask.
func evalFilters(c *cand) uint8 {
	h := healthyFilter{}.check(c)
	d := deviceFilter{}.check(c)
	mem := memoryFilter{}.check(c)
	l := labelsFilter{}.check(c)
	mm := maxModelsFilter{}.check(c)
	m := b2u(!h.ok())<<filterHealthy | b2u(!d.ok())<<filterDevice | b2u(!mem.ok())<<filterMemory |
		b2u(!l.ok())<<filterLabels | b2u(!mm.ok())<<filterMaxModels
	if max(d, mem, l).never() {
		m |= bitNever
	}
	return m
}

// decisive is the filter a rejection is counted under: the first permanent
// failure if there is one, in the order device, labels, memory (the order
// the planner's per-stage candidate sets apply them), else the first.
func decisive(m uint8) filterID {
	if m&bitNever != 0 {
		switch {
		case m&(1<<filterDevice) != 0:
			return filterDevice
		case m&(1<<filterLabels) != 0:
			return filterLabels
		default:
			return filterMemory
		}
	}
	for f := range numFilters {
		if m&(1<<f) != 0 {
			return f
		}
	}
	return numFilters
}

// healthyFilter passes instances whose last Triton readiness probe
// succeeded. Failing is "not now".
type healthyFilter struct{}

func (healthyFilter) check(c *cand) why {
	w := whyOK
	if c.sl.flags&flagHealthy == 0 {
		w = whyUnhealthy
	}
	return w
}

// deviceFilter passes cpu instances for cpu stages, gpu instances for gpu
// stages and either for any-stages (Config.Any orders them by tier).
// Failing is "never".
type deviceFilter struct{}

func (deviceFilter) check(c *cand) why {
	w := whyOK
	if c.st.kinds&(1<<c.sl.kind) == 0 {
		w = whyWrongDevice
	}
	return w
}

// memoryFilter passes when need + headroom ≤ free on the instance's device
// (GPU memory from NVML on gpu instances, host memory on cpu instances),
// where free already has this plan's earlier placements taken off and
// headroom = max(Headroom.Fraction × total, Headroom.Bytes). A model
// already loaded there needs nothing new (its memory is counted as used),
// but the device must still keep its headroom free: a stage leaves a device
// that fills up. need + headroom > total is "never"; > free, or memory
// unknown for a new load, is "not now". (slot.room = free − headroom and
// slot.capacity = total − headroom.)
type memoryFilter struct{}

func (memoryFilter) check(c *cand) why {
	need := c.need() // 0 when loaded
	w := whyOK
	if c.loaded {
		w = whyLoaded
	}
	if need > c.sl.room {
		w = whyFull
	}
	if need > c.sl.capacity {
		w = whyNeverFits
	}
	if c.sl.flags&flagNoMemory != 0 {
		w = whyNoMemory
		if c.loaded { // nothing new to fit, and nothing to judge the headroom by
			w = whyLoaded
		}
	}
	return w
}

// labelsFilter passes instances that carry every label the stage requires,
// with the same value (a per-stage bitset over instances, built once per
// plan). Failing is "never".
type labelsFilter struct{}

func (labelsFilter) check(c *cand) why {
	if c.st.labels == nil {
		return whyNoLabels
	}
	w := whyOK
	if c.st.labels[c.i>>6]&(1<<(c.i&63)) == 0 {
		w = whyLabelMissing
	}
	return w
}

// maxModelsFilter passes when the instance holds fewer than
// MaxModelsPerInstance models (this plan's placements included), or already
// holds the stage's model. Failing is "not now".
type maxModelsFilter struct{}

func (maxModelsFilter) check(c *cand) why {
	w := whyOK
	if c.sl.models >= c.p.maxModels {
		w = whyAtCap
	}
	if c.loaded {
		w = whyLoaded
	}
	if c.p.maxModels == 0 {
		w = whyNoCap
	}
	return w
}

// text renders filter f's reason w for candidate c.
func (f filterID) text(w why, c *cand) string {
	sl, in, st := c.sl, c.in, c.st
	switch w {
	case whyUnhealthy:
		return "not ready (last readiness probe failed)"
	case whyWrongDevice:
		return fmt.Sprintf("%s-stage, %s instance", c.p.stage(st).Device, kindName(sl.kind))
	case whyLoaded:
		if f == filterMemory {
			if sl.flags&flagNoMemory != 0 {
				return "model already loaded: no new memory (memory unknown)"
			}
			return fmt.Sprintf("model already loaded: no new memory; headroom %s <= free %s%s",
				fmtBytes(in.reserve), fmtBytes(in.free(sl)), plannedNote(in))
		}
		return "model already loaded: no new model"
	case whyNoMemory:
		if c.p.inst(c.i).Telemetry.At.IsZero() {
			return "no telemetry yet: memory unknown"
		}
		return memName(sl.kind) + " memory unknown (total 0)"
	case whyNeverFits:
		return fmt.Sprintf("%s memory: need %s + headroom %s > total %s",
			memName(sl.kind), fmtBytes(st.need[sl.kind]), fmtBytes(in.reserve), fmtBytes(in.total))
	case whyFull:
		if c.loaded {
			return fmt.Sprintf("%s memory: model loaded, but free %s < headroom %s%s",
				memName(sl.kind), fmtBytes(in.free(sl)), fmtBytes(in.reserve), plannedNote(in))
		}
		return fmt.Sprintf("%s memory: need %s + headroom %s > free %s%s",
			memName(sl.kind), fmtBytes(st.need[sl.kind]), fmtBytes(in.reserve), fmtBytes(in.free(sl)), plannedNote(in))
	case whyNoLabels:
		return "none required"
	case whyLabelMissing:
		return labelsText(c, false)
	case whyNoCap:
		return fmt.Sprintf("%d loaded, no cap", sl.models)
	case whyAtCap:
		return fmt.Sprintf("%d loaded, at cap %d", sl.models, c.p.maxModels)
	}
	// whyOK
	switch f {
	case filterHealthy:
		return "ready"
	case filterDevice:
		return fmt.Sprintf("%s-stage accepts %s", c.p.stage(st).Device, kindName(sl.kind))
	case filterMemory:
		return fmt.Sprintf("%s memory: need %s + headroom %s <= free %s%s",
			memName(sl.kind), fmtBytes(st.need[sl.kind]), fmtBytes(in.reserve), fmtBytes(in.free(sl)), plannedNote(in))
	case filterLabels:
		return labelsText(c, true)
	case filterMaxModels:
		return fmt.Sprintf("%d loaded < cap %d", sl.models, c.p.maxModels)
	}
	return "ok"
}

func plannedNote(in *slotInfo) string {
	if in.planned == 0 {
		return ""
	}
	return fmt.Sprintf(" (after %s placed earlier in this plan)", fmtBytes(in.planned))
}

// labelsText lists the required labels the instance has (ok) or the first
// one it lacks, in key order.
func labelsText(c *cand, ok bool) string {
	want := c.p.stage(c.st).Labels
	have := c.p.inst(c.i).Labels
	keys := slices.Sorted(maps.Keys(want))
	if ok {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + want[k]
		}
		return "has " + strings.Join(parts, ", ")
	}
	for _, k := range keys {
		v, found := have[k]
		switch {
		case !found:
			return fmt.Sprintf("needs %s=%s, instance has no %s", k, want[k], k)
		case v != want[k]:
			return fmt.Sprintf("needs %s=%s, instance has %s=%s", k, want[k], k, v)
		}
	}
	return "labels mismatch"
}

func kindName(k uint8) DeviceKind {
	if k == kindGPU {
		return GPU
	}
	return CPU
}

func memName(k uint8) string {
	if k == kindGPU {
		return "gpu"
	}
	return "host"
}

// fmtBytes renders bytes in GiB, MiB or B, fixed precision so goldens are stable.
func fmtBytes(b int64) string {
	switch {
	case b >= 1<<30 || b <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20 || b <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d B", b)
}
