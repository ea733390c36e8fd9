package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Explanation is why a plan placed each stage the way it did: every
// candidate's filter verdicts and scores (or, in compact mode, the best few
// and a count of the rest). It is JSON-serialisable; Text renders it.
type Explanation struct {
	Now     time.Time          `json:"now"`
	Mode    Mode               `json:"mode"`
	Detail  ExplainMode        `json:"detail"`
	Weights Weights            `json:"weights"`
	Stages  []StageExplanation `json:"stages"`
}

// StageExplanation is one stage's decision and its candidates.
type StageExplanation struct {
	Pipeline string     `json:"pipeline"`
	Stage    string     `json:"stage"`
	Index    int        `json:"index"`
	Model    string     `json:"model"`
	Device   Preference `json:"device"`
	// Need is the memory a new load is charged, per kind, in bytes (a
	// measured footprint stands in for an unknown one).
	Need       Footprint         `json:"need"`
	Labels     map[string]string `json:"labels,omitempty"`
	Assignment Assignment        `json:"assignment"`
	// Why is the reasoning, one clause per line: the device rule (any-stage
	// preference, CPU fallback, stale telemetry), the ranking, hysteresis.
	Why []string `json:"why"`
	// Eligible and Rejected count every candidate, shown or not;
	// RejectedBy splits Rejected by decisive filter.
	Eligible   int           `json:"eligible"`
	Rejected   int           `json:"rejected"`
	RejectedBy []FilterCount `json:"rejectedBy,omitempty"`
	// Candidates: eligible ones by rank, then rejected ones by name.
	Candidates []CandidateExplanation `json:"candidates"`
	// Omitted counts the candidates a compact explanation leaves out.
	Omitted *Omitted `json:"omitted,omitempty"`
}

// CandidateExplanation is one instance considered for a stage.
type CandidateExplanation struct {
	Instance string     `json:"instance"`
	Kind     DeviceKind `json:"kind"`
	Node     string     `json:"node,omitempty"`
	// Chosen marks the assignment's target; Current the instance serving
	// the stage before the plan.
	Chosen  bool `json:"chosen,omitempty"`
	Current bool `json:"current,omitempty"`
	// Eligible is true when every filter passed; Rank (1 = best) and Tier
	// are set only then, RejectedBy (the decisive filter) only otherwise.
	Eligible   bool   `json:"eligible"`
	Rank       int    `json:"rank,omitempty"`
	Tier       string `json:"tier,omitempty"`
	RejectedBy string `json:"rejectedBy,omitempty"`
	// Telemetry is its freshness, e.g. "fresh (5s old)".
	Telemetry string    `json:"telemetry"`
	Filters   []Verdict `json:"filters"`
	// Scores and Total are set for eligible candidates; the Weighted terms
	// add up to Total.
	Scores []ScoreTerm `json:"scores,omitempty"`
	Total  float64     `json:"total"`
}

// Verdict is one filter's ruling on a candidate.
type Verdict struct {
	Filter string `json:"filter"`
	Pass   bool   `json:"pass"`
	Reason string `json:"reason"`
}

// ScoreTerm is one scorer's contribution to a candidate's total.
type ScoreTerm struct {
	Scorer string `json:"scorer"`
	// Raw is the scorer's input (bytes, utilization, requests, …); Detail
	// says what it is.
	Raw    float64 `json:"raw"`
	Detail string  `json:"detail"`
	// Score is normalised to [0,1]; Weighted = Score × Weight / Σ weights.
	Score    float64 `json:"score"`
	Weight   float64 `json:"weight"`
	Weighted float64 `json:"weighted"`
}

// Omitted counts what a compact explanation leaves out.
type Omitted struct {
	Eligible int           `json:"eligible"`
	Rejected []FilterCount `json:"rejected,omitempty"`
}

// FilterCount is how many candidates a filter rejected.
type FilterCount struct {
	Filter string `json:"filter"`
	Count  int    `json:"count"`
}

// Explain replays the plan from its snapshot and records why, for the
// stages of the given pipelines (every stage when none is given), at the
// detail Config.Explain sets. Recording is lazy: Place records nothing and
// visits only the candidates that can win, so a decision costs the same
// whichever the mode; the replay visits every candidate of the stages it
// records. It must reproduce the plan; if it does not, the error wraps
// ErrBug.
func (p *Plan) Explain(pipelines ...string) (*Explanation, error) {
	pl, err := newPlanner(p.snap, p.cfg)
	if err != nil {
		return nil, err
	}
	rec := &recorder{detail: p.cfg.Explain, topK: p.cfg.ExplainTopK, pipelines: pipelines, names: pl.names, rank: cmpRank(pl.names)}
	got := pl.run(rec)
	for k, a := range got {
		if w := p.Assignments[k]; a.Action != w.Action || a.Instance != w.Instance || a.Score != w.Score || a.Reason != w.Reason || a.Error != w.Error {
			return nil, fmt.Errorf("%w: replay placed %s/%s %s %s (%v), plan said %s %s (%v)",
				ErrBug, a.Pipeline, a.Stage, a.Action, a.Instance, a.Score, w.Action, w.Instance, w.Score)
		}
	}
	return &Explanation{Now: p.Now, Mode: p.cfg.Mode, Detail: p.cfg.Explain, Weights: p.cfg.Weights, Stages: rec.out}, nil
}

// record is one candidate as evaluated, with its slot's state at the time.
type record struct {
	sl     slot
	in     slotInfo
	i      int32
	loaded bool
	mask   uint8
	tier   Tier
	score  float64
}

type rankKey struct {
	tier  Tier
	score float64
	i     int32
}

// cmpRank orders eligible candidates: tier, then score (higher first),
// then name.
func cmpRank(names []string) func(a, b rankKey) int {
	return func(a, b rankKey) int {
		switch {
		case a.tier != b.tier:
			return cmp.Compare(a.tier, b.tier)
		case a.score != b.score:
			return cmp.Compare(b.score, a.score)
		}
		return strings.Compare(names[a.i], names[b.i])
	}
}

// recorder collects candidates while a stage is evaluated (observe) and
// turns them into a StageExplanation (finish).
type recorder struct {
	detail    ExplainMode
	topK      int
	pipelines []string
	names     []string               // by slot
	rank      func(a, b rankKey) int // cmpRank(names)

	recs      []record  // full: every candidate; compact: top eligible by rank
	extra     []record  // compact: first "not now" rejections, and the current instance
	keys      []rankKey // every eligible candidate
	transient int
	out       []StageExplanation
}

func (r *recorder) wants(pipeline string) bool {
	return len(r.pipelines) == 0 || slices.Contains(r.pipelines, pipeline)
}

func (r *recorder) observe(c *cand, m uint8, tier Tier, score float64) {
	key := rankKey{tier, score, c.i}
	if m == 0 {
		r.keys = append(r.keys, key)
	}
	record := func() record {
		return record{sl: *c.sl, in: *c.in, i: c.i, loaded: c.loaded, mask: m, tier: tier, score: score}
	}
	switch {
	case r.detail == ExplainFull:
		r.recs = append(r.recs, record())
		return
	case m == 0:
		// Keep the top K by rank: insert before the first one it beats.
		j := len(r.recs)
		for j > 0 && r.rank(key, rankKey{r.recs[j-1].tier, r.recs[j-1].score, r.recs[j-1].i}) < 0 {
			j--
		}
		if j < r.topK {
			r.recs = slices.Insert(r.recs, j, record())
			if len(r.recs) > r.topK {
				dropped := r.recs[r.topK]
				r.recs = r.recs[:r.topK]
				if dropped.i == c.st.current {
					r.extra = append(r.extra, dropped)
				}
			}
			return
		}
	case m&bitNever == 0 && r.transient < r.topK:
		r.transient++
		r.extra = append(r.extra, record())
		return
	}
	if c.i == c.st.current {
		r.extra = append(r.extra, record())
	}
}

func (r *recorder) finish(p *planner, st *stageCtx, a *Assignment, t *tally) {
	s := p.stage(st)
	se := StageExplanation{
		Pipeline: s.Pipeline, Stage: s.Name, Index: s.Index, Model: s.Model, Device: s.Device,
		Need:       Footprint{GPU: uint64(st.need[kindGPU]), Host: uint64(st.need[kindCPU])},
		Labels:     s.Labels,
		Assignment: *a,
		Eligible:   int(t.eligible),
		Rejected:   int(t.rejected),
	}
	for f := range numFilters {
		if n := t.rejectedBy[kindCPU][f] + t.rejectedBy[kindGPU][f]; n > 0 {
			se.RejectedBy = append(se.RejectedBy, FilterCount{Filter: f.String(), Count: int(n)})
		}
	}
	// Ranks: a sort in full mode (every eligible candidate is shown), a
	// count of the better ones per shown candidate in compact mode.
	rank := r.rank
	var next *rankKey // the runner-up
	rankOf := func(k rankKey) int {
		n := 1
		for _, o := range r.keys {
			if rank(o, k) < 0 {
				n++
			}
		}
		return n
	}
	if r.detail == ExplainFull {
		slices.SortFunc(r.keys, rank)
		rankOf = func(k rankKey) int {
			i, _ := slices.BinarySearchFunc(r.keys, k, rank)
			return i + 1
		}
		if len(r.keys) > 1 {
			next = &r.keys[1]
		}
	} else if t.best >= 0 {
		best := rankKey{t.bestTier, t.bestScore, t.best}
		for k := range r.keys {
			if o := &r.keys[k]; o.i != t.best && (next == nil || rank(*o, *next) < 0) && rank(best, *o) < 0 {
				next = o
			}
		}
	}
	if t.best >= 0 {
		se.Why = append(p.choiceWhy(st, t), p.rankWhy(t, next))
	} else {
		se.Why = []string{a.Err.(*StageError).Err.Error() + ": " + a.Err.(*StageError).Detail}
	}
	if a.Reason != "" {
		se.Why = append(se.Why, a.Reason)
	}
	shown := append(r.recs, r.extra...)
	slices.SortFunc(shown, func(x, y record) int {
		switch {
		case x.mask == 0 && y.mask != 0:
			return -1
		case x.mask != 0 && y.mask == 0:
			return 1
		case x.mask == 0:
			return rank(rankKey{x.tier, x.score, x.i}, rankKey{y.tier, y.score, y.i})
		}
		return strings.Compare(r.names[x.i], r.names[y.i])
	})
	var shownBy [numFilters + 1]int
	shownEligible := 0
	for k := range shown {
		rc := &shown[k]
		ce := p.explainCandidate(st, rc, a)
		if rc.mask == 0 {
			shownEligible++
			ce.Rank = rankOf(rankKey{rc.tier, rc.score, rc.i})
		} else {
			shownBy[decisive(rc.mask)]++
		}
		se.Candidates = append(se.Candidates, ce)
	}
	if r.detail == ExplainCompact {
		o := &Omitted{Eligible: int(t.eligible) - shownEligible}
		for f := range numFilters {
			if n := int(t.rejectedBy[kindCPU][f]+t.rejectedBy[kindGPU][f]) - shownBy[f]; n > 0 {
				o.Rejected = append(o.Rejected, FilterCount{Filter: f.String(), Count: n})
			}
		}
		if o.Eligible > 0 || len(o.Rejected) > 0 {
			se.Omitted = o
		}
	}
	r.out = append(r.out, se)
	r.recs, r.extra, r.keys, r.transient = r.recs[:0], r.extra[:0], r.keys[:0], 0
}

// explainCandidate renders one record: every filter's verdict and, when
// eligible, every scorer's term.
func (p *planner) explainCandidate(st *stageCtx, rc *record, a *Assignment) CandidateExplanation {
	c := cand{p: p, st: st, sl: &rc.sl, in: &rc.in, i: rc.i, loaded: rc.loaded}
	in := p.inst(rc.i)
	ce := CandidateExplanation{
		Instance:  in.Name,
		Kind:      in.Kind,
		Node:      in.Node,
		Chosen:    a.Instance == in.Name,
		Current:   p.stage(st).Current == in.Name,
		Eligible:  rc.mask == 0,
		Telemetry: p.telemetryText(rc.i, &rc.sl, &rc.in),
		Filters:   make([]Verdict, 0, numFilters),
	}
	for f := range numFilters {
		w := f.filter().check(&c)
		ce.Filters = append(ce.Filters, Verdict{Filter: f.String(), Pass: w.ok(), Reason: f.text(w, &c)})
	}
	if rc.mask != 0 {
		ce.RejectedBy = decisive(rc.mask).String()
		return ce
	}
	ce.Tier, ce.Total = rc.tier.String(), rc.score
	ce.Scores = make([]ScoreTerm, 0, numScorers)
	for s := range numScorers {
		raw, norm := s.scorer().score(&c)
		w := p.cfg.Weights.of(s)
		ce.Scores = append(ce.Scores, ScoreTerm{
			Scorer: s.String(), Raw: raw, Detail: s.detail(raw, &c),
			Score: norm, Weight: w, Weighted: float64(norm*w) * p.invW,
		})
	}
	return ce
}

func (p *planner) telemetryText(i int32, sl *slot, in *slotInfo) string {
	switch {
	case p.inst(i).Telemetry.At.IsZero():
		return "stale (never sampled)"
	case sl.flags&flagStale != 0:
		return fmt.Sprintf("stale (%s old > max %s)", in.age, p.cfg.MaxTelemetryAge)
	}
	return fmt.Sprintf("fresh (%s old)", in.age)
}
