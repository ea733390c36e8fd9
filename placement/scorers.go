package placement

import "fmt"

// A scorer rates an eligible instance for a stage: raw is the measured input
// (units per scorer) and norm is in [0,1], higher is better. The total is
// Σ weight×norm / Σ weight. Instance-only scorers (utilization, queue) are
// computed once per instance per plan; the others once per candidate.
type scorer interface {
	score(c *cand) (raw, norm float64)
}

// scorerID names a scorer; the order is the order scores are reported in.
type scorerID uint8

const (
	scoreFreeMemory scorerID = iota
	scoreUtilization
	scoreQueue
	scoreLoaded
	scoreColocation
	numScorers
)

func (s scorerID) String() string {
	switch s {
	case scoreFreeMemory:
		return "free-memory"
	case scoreUtilization:
		return "utilization"
	case scoreQueue:
		return "queue"
	case scoreLoaded:
		return "loaded"
	case scoreColocation:
		return "colocation"
	}
	return fmt.Sprintf("scorer(%d)", uint8(s))
}

func (s scorerID) scorer() scorer {
	switch s {
	case scoreFreeMemory:
		return freeMemoryScorer{}
	case scoreUtilization:
		return utilizationScorer{}
	case scoreQueue:
		return queueScorer{}
	case scoreLoaded:
		return loadedScorer{}
	case scoreColocation:
		return colocationScorer{}
	}
	panic(fmt.Sprintf("placement: no scorer %d", s))
}

func (w *Weights) of(s scorerID) float64 {
	switch s {
	case scoreFreeMemory:
		return w.FreeMemory
	case scoreUtilization:
		return w.Utilization
	case scoreQueue:
		return w.Queue
	case scoreLoaded:
		return w.Loaded
	case scoreColocation:
		return w.Colocation
	}
	return 0
}

// freeMemoryScorer rates the memory left on the device after placing:
//
//	left = free − need   (bytes; need is 0 when the model is already loaded)
//	f    = left / total  (0 when total is unknown; computed as left × (1/total))
//	norm = memA + memB·f (spread: 0 + 1·f = f; bin-pack: 1 − 1·f = 1 − f)
//
// Config.Mode only sets (memA, memB): bin-pack vs spread is this one switch.
// raw = left.
type freeMemoryScorer struct{}

func (freeMemoryScorer) score(c *cand) (float64, float64) {
	left := c.in.free(c.sl) - c.need()
	f := clamp01(float64(float64(left) * c.in.invTotal))
	return float64(left), c.p.memA + float64(c.p.memB*f)
}

// utilizationScorer prefers idle devices: norm = 1 − util, where util is
// NVML GPU utilization on gpu instances and host CPU utilization on cpu
// instances (0–1, clamped). raw = util.
type utilizationScorer struct{}

func (utilizationScorer) score(c *cand) (float64, float64) {
	u := clamp01(c.in.util)
	return u, 1 - u
}

// queueScorer prefers short queues: norm = H / (H + pending), where pending
// is the instance's queued requests over all its models and H is
// Config.QueueHalf (the queue length scoring 0.5). raw = pending.
type queueScorer struct{}

func (queueScorer) score(c *cand) (float64, float64) {
	p := float64(c.in.pending)
	return p, c.p.cfg.QueueHalf / (c.p.cfg.QueueHalf + p)
}

// loadedScorer prefers instances that already hold the model (in the
// snapshot or placed earlier in this plan), avoiding a load: norm = 1 if
// loaded else 0. raw = norm.
type loadedScorer struct{}

func (loadedScorer) score(c *cand) (float64, float64) {
	if c.loaded {
		return 1, 1
	}
	return 0, 0
}

// colocationScorer prefers fewer hops to the adjacent stages of the same
// pipeline already placed in this plan: norm = mean over them of 1 (same
// instance), 0.5 (same node) or 0 (elsewhere); 0 when none is placed yet
// (equal for every candidate, so neutral). raw = how many adjacent stages
// were compared.
type colocationScorer struct{}

func (colocationScorer) score(c *cand) (float64, float64) {
	st := c.st
	if st.nadj == 0 {
		return 0, 0
	}
	sum := 0.0
	for _, a := range st.adj[:st.nadj] {
		switch {
		case a == c.i:
			sum += 1
		case c.in.node >= 0 && c.p.info[a].node == c.in.node:
			sum += 0.5
		}
	}
	return float64(st.nadj), sum / float64(st.nadj)
}

// totalScore is Σ weight×norm / Σ weight for an eligible candidate, with the
// instance-only scorers taken from slotInfo.static. The float64 conversions
// forbid fused multiply-adds, so every platform computes the same bits and
// so the same ranking.
func totalScore(c *cand) float64 {
	w := &c.p.cfg.Weights
	_, mem := freeMemoryScorer{}.score(c)
	_, ld := loadedScorer{}.score(c)
	_, co := colocationScorer{}.score(c)
	return float64(c.in.static+float64(w.FreeMemory*mem)+float64(w.Loaded*ld)+float64(w.Colocation*co)) * c.p.invW
}

// staticScore is the weighted sum of the scorers that read only the
// instance, computed once per instance per plan.
func staticScore(c *cand) float64 {
	w := &c.p.cfg.Weights
	_, u := utilizationScorer{}.score(c)
	_, q := queueScorer{}.score(c)
	return float64(w.Utilization*u) + float64(w.Queue*q)
}

// detail renders scorer s's raw value for candidate c.
func (s scorerID) detail(raw float64, c *cand) string {
	switch s {
	case scoreFreeMemory:
		dir := "bin-pack: fuller is better"
		if c.p.cfg.Mode == Spread {
			dir = "spread: emptier is better"
		}
		return fmt.Sprintf("%s left of %s (%s)", fmtBytes(int64(raw)), fmtBytes(c.in.total), dir)
	case scoreUtilization:
		return fmt.Sprintf("%s util %.2f", memName(c.sl.kind), raw)
	case scoreQueue:
		return fmt.Sprintf("%d pending", int64(raw))
	case scoreLoaded:
		if raw == 1 {
			return "model already loaded"
		}
		return "needs a load"
	case scoreColocation:
		if raw == 0 {
			return "no adjacent stage placed yet"
		}
		return colocText(c)
	}
	return ""
}

func colocText(c *cand) string {
	st := c.st
	s := ""
	for k, a := range st.adj[:st.nadj] {
		if k > 0 {
			s += ", "
		}
		where := "elsewhere"
		switch {
		case a == c.i:
			where = "on this instance"
		case c.in.node >= 0 && c.p.info[a].node == c.in.node:
			where = "on this node"
		}
		s += fmt.Sprintf("%s stage %s %s", st.adjRel[k], c.p.stage(&c.p.stages[st.adjStage[k]]).Name, where)
	}
	return s
}

func clamp01(f float64) float64 { return min(max(f, 0), 1) }
