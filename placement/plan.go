package placement

import (
	"errors"
	"time"
)

// Plan is a placement decision: one Assignment per stage.
type Plan struct {
	// Now is the snapshot's time.
	Now time.Time `json:"now"`
	// Assignments are in placement order: by pipeline name, then stage index.
	Assignments []Assignment `json:"assignments"`

	snap *Snapshot
	cfg  Config
}

// Assignment is where a stage goes, or why it cannot go anywhere.
type Assignment struct {
	Pipeline string `json:"pipeline"`
	Stage    string `json:"stage"`
	Model    string `json:"model"`
	// Action is place, keep, move or none (Err is set).
	Action Action `json:"action"`
	// Instance and Device are the target; empty when Action is none.
	Instance string     `json:"instance,omitempty"`
	Device   DeviceKind `json:"device,omitempty"`
	// Score is the target's total score (0–1); Tier its tier.
	Score float64 `json:"score"`
	Tier  string  `json:"tier,omitempty"`
	// From is the instance serving the stage before this plan, if any.
	From string `json:"from,omitempty"`
	// Reason is Decide's verdict for a stage that was placed before the
	// plan (why it stays or moves). The full why, with every candidate, is
	// in Plan.Explain.
	Reason string `json:"reason,omitempty"`
	// Err is nil or a *StageError wrapping ErrNoCapacity or ErrInfeasible;
	// Error is its text, for JSON.
	Err   error  `json:"-"`
	Error string `json:"error,omitempty"`
}

// Err joins the stages' errors; nil when every stage has an instance.
func (p *Plan) Err() error {
	var errs []error
	for _, a := range p.Assignments {
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	return errors.Join(errs...)
}

// Lookup returns the assignment of one stage.
func (p *Plan) Lookup(pipeline, stage string) (Assignment, bool) {
	for _, a := range p.Assignments {
		if a.Pipeline == pipeline && a.Stage == stage {
			return a, true
		}
	}
	return Assignment{}, false
}

// Place plans every stage of s: for each stage, in a deterministic order
// (pipeline, then stage index), it finds the best instance by tier, score
// and name, charging each placement's memory and model count before the
// next stage, and applies hysteresis to stages already placed (Decide). It
// reads nothing but s and cfg, and records no explanation (Plan.Explain
// replays it). The error is ErrInvalidConfig or ErrInvalidSnapshot; stages
// that cannot be placed are reported in their Assignment (see Plan.Err).
func Place(s *Snapshot, cfg Config) (*Plan, error) {
	var pl Planner
	return pl.Place(s, cfg)
}

// Planner makes placement decisions like Place, keeping its working memory
// between them, so a control loop placing every few seconds allocates (and
// makes the garbage collector work) little. The zero value is ready. Its
// plans depend only on the snapshot and config, exactly as Place's do; it
// only must not be used by two goroutines at once.
type Planner struct {
	p planner
}

// Place is the package's Place, reusing pl's memory from the last call.
func (pl *Planner) Place(s *Snapshot, cfg Config) (*Plan, error) {
	if err := pl.p.reset(s, cfg); err != nil {
		return nil, err
	}
	plan := &Plan{Now: s.Now, Assignments: pl.p.run(nil), snap: s, cfg: cfg}
	pl.p.snap = nil // the plan keeps the snapshot; the scratch need not
	return plan, nil
}

// run places every stage in order; rec, when set, records the stages whose
// pipeline it wants.
func (p *planner) run(rec *recorder) []Assignment {
	out := make([]Assignment, len(p.stages))
	for k := range p.stages {
		var r *recorder
		if rec != nil && rec.wants(p.stage(&p.stages[k]).Pipeline) {
			r = rec
		}
		out[k], _ = p.place(k, r)
	}
	return out
}

// place evaluates the instances for stage k, decides, and charges the
// chosen instance.
func (p *planner) place(k int, rec *recorder) (Assignment, tally) {
	st := &p.stages[k]
	p.setAdjacent(k)
	for _, s := range p.loadedOn[st.model] {
		p.mark[s] = true
	}
	t := p.evaluate(st, rec)
	a, target := p.decide(st, &t)
	if target >= 0 && !p.mark[target] {
		sl := &p.slots[target]
		need := st.need[sl.kind]
		sl.room -= need
		p.info[target].planned += need
		sl.models++
		p.loadedOn[st.model] = append(p.loadedOn[st.model], target)
	}
	for _, s := range p.loadedOn[st.model] {
		p.mark[s] = false
	}
	p.assigned[k] = target
	if rec != nil {
		rec.finish(p, st, &a, &t)
	}
	return a, t
}

// setAdjacent records the slots of stage k's neighbours placed earlier in
// this plan, for the co-location scorer.
func (p *planner) setAdjacent(k int) {
	st := &p.stages[k]
	st.nadj = 0
	for _, n := range [2]struct {
		pos int32
		rel string
	}{{st.prev, "previous"}, {st.next, "next"}} {
		if n.pos >= 0 && p.assigned[n.pos] >= 0 {
			st.adj[st.nadj], st.adjStage[st.nadj], st.adjRel[st.nadj] = p.assigned[n.pos], n.pos, n.rel
			st.nadj++
		}
	}
}
