package placement

import (
	"fmt"
	"strings"
	"time"
)

// Tier orders eligible candidates before score does: the lowest tier wins,
// then the highest score, then the smallest instance name.
type Tier uint8

// Tiers. TierStale is a flag added to any of the others, so every instance
// with fresh telemetry beats every stale one.
const (
	// TierPreferred: the stage's device (cpu and gpu stages), or the device
	// Config.Any prefers for an any-stage.
	TierPreferred Tier = 0
	// TierFallback: the other device kind for an any-stage.
	TierFallback Tier = 1
	// TierBusy: a GPU at or over Any.GPUUtilThreshold for an any-stage under
	// AnyGPUFirst; used only when no CPU fits.
	TierBusy Tier = 2
	// TierStale: the instance's telemetry is stale or missing.
	TierStale Tier = 4
)

func (t Tier) String() string {
	var s string
	switch t &^ TierStale {
	case TierPreferred:
		s = "preferred"
	case TierFallback:
		s = "fallback"
	case TierBusy:
		s = "over-threshold"
	default:
		s = fmt.Sprintf("tier(%d)", uint8(t))
	}
	if t&TierStale != 0 {
		s += "+stale"
	}
	return s
}

// tier is the candidate's tier (eligible candidates only).
func (p *planner) tier(c *cand) Tier {
	t := c.st.tierOf[c.sl.kind]
	if c.st.busy && c.sl.flags&flagBusy != 0 {
		t = TierBusy
	}
	return t | Tier(c.sl.flags&flagStale)<<1
}

// boundSlack keeps float rounding in a score bound from pruning a
// candidate that ties or beats the best.
const boundSlack = 1e-9

// tally is what one stage's evaluation found.
type tally struct {
	best      int32 // slot; -1 none
	bestTier  Tier
	bestScore float64
	tie       int32 // the smallest-named other slot with the best's tier and score; -1 none

	curMask  uint8 // the current instance's filter mask
	curTier  Tier
	curScore float64

	// Counts of what was visited: complete when recording (every slot is
	// visited) and when nothing was eligible (nothing was pruned).
	eligible, rejected int32
	transient          int32                    // rejected only by "not now" filters
	rejectedBy         [2][numFilters + 1]int32 // by kind, by decisive filter
	busyGPUs           int32                    // fitting GPUs at or over the threshold
	busyMinUtil        float64                  // lowest util among them
}

// consider ranks an eligible candidate against the best so far: lower
// tier, then higher score, then smaller name. The result does not depend
// on the order candidates come in.
func (t *tally) consider(i int32, tier Tier, score float64, names []string) {
	switch {
	case t.best < 0 || tier < t.bestTier || (tier == t.bestTier && score > t.bestScore):
		t.best, t.bestTier, t.bestScore, t.tie = i, tier, score, -1
	case tier == t.bestTier && score == t.bestScore:
		switch {
		case names[i] < names[t.best]:
			t.best, t.tie = i, t.best
		case t.tie < 0 || names[i] < names[t.tie]:
			t.tie = i
		}
	}
}

// evaluate finds stage st's best instance. p.mark must hold where st's
// model is loaded.
//
// Recording (rec set), it visits every slot. Otherwise it visits, exactly
// once each: the slots a score bound cannot speak for (holding the model,
// adjacent stages' instances and their node mates, the current instance),
// then each accepted class in tier order, highest bound bucket first,
// skipping slots and stopping at buckets whose bound × 1/Σw falls below the
// best score, and skipping classes in a worse tier than the best. A bound
// is an exact upper bound of the score of a slot reached that way (loaded
// and co-location terms are 0 there), so both paths choose the same best
// and tie. The search allocates nothing and reads no maps.
func (p *planner) evaluate(st *stageCtx, rec *recorder) tally {
	t := tally{best: -1, tie: -1, busyMinUtil: 1}
	if rec != nil {
		for i := range p.slots {
			p.visit(st, &t, int32(i), rec)
		}
		return t
	}
	p.stamp++
	if p.stamp == 0 { // wrapped: forget every stamp
		clear(p.seen)
		p.stamp = 1
	}
	for _, i := range p.loadedOn[st.model] {
		p.visitOnce(st, &t, i)
	}
	for _, a := range st.adj[:st.nadj] {
		if node := p.info[a].node; node >= 0 {
			for _, i := range p.nodeSlots[node] {
				p.visitOnce(st, &t, i)
			}
		} else {
			p.visitOnce(st, &t, a)
		}
	}
	if cur := st.current; cur >= 0 {
		if st.kinds&(1<<p.slots[cur].kind) != 0 {
			p.visitOnce(st, &t, cur)
		} else { // counted with the wrong kind below; only its verdict is needed
			t.curMask = evalFilters(&cand{p: p, st: st, sl: &p.slots[cur], in: &p.info[cur], i: cur, loaded: p.mark[cur]})
		}
	}
	for kind := range uint8(2) {
		if st.kinds&(1<<kind) == 0 {
			t.rejected += p.kindCount[kind]
			t.rejectedBy[kind][filterDevice] += p.kindCount[kind]
		}
	}
	for _, c := range st.classOrder[:st.nclasses] {
		tier := st.classTier[c]
		if t.best >= 0 && tier > t.bestTier {
			break
		}
		cl := &p.classes[c]
		for b := range numBuckets {
			if cl.start[b] == cl.start[b+1] {
				continue
			}
			if t.best >= 0 && tier == t.bestTier && cl.max[b]*p.invW+boundSlack < t.bestScore {
				break
			}
			for _, i := range cl.slots[cl.start[b]:cl.start[b+1]] {
				if p.seen[i] == p.stamp {
					continue
				}
				if t.best >= 0 && tier == t.bestTier && p.slots[i].bound*p.invW+boundSlack < t.bestScore {
					continue
				}
				if st.labels != nil && st.labels[i>>6]&(1<<(i&63)) == 0 {
					t.rejected++
					t.rejectedBy[p.slots[i].kind][filterLabels]++
					continue
				}
				p.visit(st, &t, i, nil)
			}
		}
	}
	return t
}

// visitOnce visits slot i of an accepted kind unless this stage already did.
func (p *planner) visitOnce(st *stageCtx, t *tally, i int32) {
	if p.seen[i] == p.stamp || st.kinds&(1<<p.slots[i].kind) == 0 {
		return
	}
	p.visit(st, t, i, nil)
}

// visit runs the filters on slot i for stage st and, if it is eligible,
// its tier and scorers, and adds it to the tally.
func (p *planner) visit(st *stageCtx, t *tally, i int32, rec *recorder) {
	p.seen[i] = p.stamp
	c := cand{p: p, st: st, sl: &p.slots[i], in: &p.info[i], i: i, loaded: p.mark[i]}
	m := evalFilters(&c)
	var tier Tier
	var score float64
	if m != 0 {
		t.rejected++
		t.rejectedBy[c.sl.kind][decisive(m)]++
		if m&bitNever == 0 {
			t.transient++
		}
	} else {
		t.eligible++
		tier = p.tier(&c)
		if tier&^TierStale == TierBusy {
			t.busyGPUs++
			t.busyMinUtil = min(t.busyMinUtil, c.in.util)
		}
		score = totalScore(&c)
		t.consider(i, tier, score, p.names)
	}
	if i == st.current {
		t.curMask, t.curTier, t.curScore = m, tier, score
	}
	if rec != nil {
		rec.observe(&c, m, tier, score)
	}
}

// decide turns a tally into an assignment and its target slot (noSlot on
// failure), applying hysteresis to placed stages.
func (p *planner) decide(st *stageCtx, t *tally) (Assignment, int32) {
	s := p.stage(st)
	a := Assignment{Pipeline: s.Pipeline, Stage: s.Name, Model: s.Model, From: s.Current}
	if t.best < 0 {
		class, verdict := ErrInfeasible, fmt.Sprintf("none of %d instance(s) can ever serve it", t.rejected)
		if t.transient > 0 {
			class, verdict = ErrNoCapacity, fmt.Sprintf("%d of %d instance(s) could serve it once healthy or with room", t.transient, t.rejected)
		}
		a.Action = ActionNone
		a.Err = &StageError{Pipeline: s.Pipeline, Stage: s.Name, Err: class, Detail: fmt.Sprintf("%s (rejected by %s)", verdict, rejectionCounts(t))}
		a.Error = a.Err.Error()
		if st.current != noSlot {
			a.Reason = fmt.Sprintf("current instance %s is not eligible (%s)", s.Current, p.rejection(st, t))
		}
		return a, noSlot
	}
	target := t.best
	a.Action = ActionPlace
	if st.current != noSlot {
		cur := Standing{Instance: s.Current}
		if st.current >= 0 && t.curMask == 0 {
			cur.Eligible, cur.Tier, cur.Score = true, t.curTier, t.curScore
		} else {
			cur.Rejection = p.rejection(st, t)
		}
		best := Standing{Instance: p.names[t.best], Eligible: true, Tier: t.bestTier, Score: t.bestScore}
		a.Action, a.Reason = Decide(p.cfg.Hysteresis, p.snap.Now, s.LastMoved, cur, best)
		if a.Action == ActionKeep {
			target = st.current
		}
		if st.current == goneSlot {
			a.Action = ActionPlace
		}
	}
	a.Instance, a.Device = p.names[target], kindName(p.slots[target].kind)
	if target == t.best {
		a.Score, a.Tier = t.bestScore, p.tierNames[t.bestTier]
	} else {
		a.Score, a.Tier = t.curScore, p.tierNames[t.curTier]
	}
	return a, target
}

// rejection says why the stage's current instance is not eligible. p.mark
// must still hold where the model is loaded.
func (p *planner) rejection(st *stageCtx, t *tally) string {
	if st.current == goneSlot {
		return "not in the snapshot"
	}
	c := cand{p: p, st: st, sl: &p.slots[st.current], in: &p.info[st.current], i: st.current, loaded: p.mark[st.current]}
	f := decisive(t.curMask)
	return fmt.Sprintf("fails %s: %s", f, f.text(f.filter().check(&c), &c))
}

// choiceWhy explains the tier of the chosen candidate: the any-rule and
// stale telemetry.
func (p *planner) choiceWhy(st *stageCtx, t *tally) []string {
	var out []string
	best := &p.info[t.best]
	name := p.names[t.best]
	if t.bestTier&TierStale != 0 {
		age := "never sampled"
		if !p.inst(t.best).Telemetry.At.IsZero() {
			age = fmt.Sprintf("%s old > max %s", best.age.Round(time.Second), p.cfg.MaxTelemetryAge)
		}
		out = append(out, fmt.Sprintf("only instances with stale telemetry fit: %s telemetry %s; no instance with fresh telemetry passes the filters", name, age))
	}
	if !st.isAny {
		return out
	}
	thr := p.cfg.Any.GPUUtilThreshold
	switch p.cfg.Any.Prefer {
	case AnyGPUFirst:
		switch t.bestTier &^ TierStale {
		case TierPreferred:
			out = append(out, fmt.Sprintf("GPU preferred for any-stage: %s util %.2f < threshold %.2f", name, best.util, thr))
		case TierFallback:
			s := fmt.Sprintf("fell back to CPU: no GPU fits under util threshold %.2f", thr)
			if t.busyGPUs > 0 {
				s += fmt.Sprintf("; %d GPU(s) fit but are busy (lowest util %.2f)", t.busyGPUs, t.busyMinUtil)
			}
			if n, by := kindRejections(t, kindGPU); n > 0 {
				s += fmt.Sprintf("; %d GPU(s) rejected (%s)", n, by)
			}
			out = append(out, s)
		case TierBusy:
			s := fmt.Sprintf("every fitting GPU is at or over util threshold %.2f and no CPU fits: took %s (util %.2f)", thr, name, best.util)
			if n, by := kindRejections(t, kindCPU); n > 0 {
				s += fmt.Sprintf("; %d CPU(s) rejected (%s)", n, by)
			}
			out = append(out, s)
		}
	case AnyCPUFirst:
		if t.bestTier&^TierStale == TierPreferred {
			out = append(out, "CPU preferred for any-stage")
		} else {
			s := "fell back to GPU: no CPU fits"
			if n, by := kindRejections(t, kindCPU); n > 0 {
				s += fmt.Sprintf("; %d CPU(s) rejected (%s)", n, by)
			}
			out = append(out, s)
		}
	case AnyByScore:
		out = append(out, "any-stage placed by score alone")
	}
	return out
}

// rankWhy says how the chosen candidate ranked against the runner-up
// (nil when there is none).
func (p *planner) rankWhy(t *tally, next *rankKey) string {
	s := fmt.Sprintf("%s is best of %d eligible: tier %s, score %.4f", p.names[t.best], t.eligible, t.bestTier, t.bestScore)
	switch {
	case t.tie >= 0:
		s += fmt.Sprintf("; tie with %s broken by name", p.names[t.tie])
	case next != nil:
		s += fmt.Sprintf("; next %s: tier %s, score %.4f", p.names[next.i], next.tier, next.score)
	}
	return s
}

func kindRejections(t *tally, kind uint8) (int32, string) {
	var n int32
	var parts []string
	for f := range numFilters {
		if c := t.rejectedBy[kind][f]; c > 0 {
			n += c
			parts = append(parts, fmt.Sprintf("%s %d", f, c))
		}
	}
	return n, strings.Join(parts, ", ")
}

// rejectionCounts lists rejections by decisive filter, both kinds together.
func rejectionCounts(t *tally) string {
	var parts []string
	for f := range numFilters {
		if c := t.rejectedBy[kindCPU][f] + t.rejectedBy[kindGPU][f]; c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", f, c))
		}
	}
	if len(parts) == 0 {
		return "no instances"
	}
	return strings.Join(parts, ", ")
}
