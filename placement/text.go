package placement

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Text renders the explanation for people (`baton placements explain`):
// stable, one stage per block, every candidate with its verdicts and scores.
func (e *Explanation) Text() string {
	var b strings.Builder
	_ = e.WriteText(&b)
	return b.String()
}

// WriteText writes Text to w.
func (e *Explanation) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	wt := e.Weights
	sumW := wt.FreeMemory + wt.Utilization + wt.Queue + wt.Loaded + wt.Colocation
	fmt.Fprintf(b, "placement at %s: mode %s, detail %s, weights free-memory %g utilization %g queue %g loaded %g colocation %g\n",
		e.Now.UTC().Format(time.RFC3339), e.Mode, e.Detail, wt.FreeMemory, wt.Utilization, wt.Queue, wt.Loaded, wt.Colocation)
	for i := range e.Stages {
		b.WriteByte('\n')
		e.Stages[i].writeText(b, sumW)
	}
	return b.Flush()
}

func (s *StageExplanation) writeText(b *bufio.Writer, sumW float64) {
	fmt.Fprintf(b, "stage %s/%s (index %d): model %s, device %s, needs gpu %s / host %s",
		s.Pipeline, s.Stage, s.Index, s.Model, s.Device, fmtBytes(int64(s.Need.GPU)), fmtBytes(int64(s.Need.Host)))
	if len(s.Labels) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
			parts = append(parts, k+"="+s.Labels[k])
		}
		fmt.Fprintf(b, ", labels %s", strings.Join(parts, ","))
	}
	b.WriteByte('\n')
	a := &s.Assignment
	switch a.Action {
	case ActionNone:
		fmt.Fprintf(b, "  => none\n")
	default:
		prep := "on"
		if a.Action == ActionMove {
			prep = "to"
		}
		fmt.Fprintf(b, "  => %s %s %s (%s), score %.4f, tier %s", a.Action, prep, a.Instance, a.Device, a.Score, a.Tier)
		if a.From != "" && a.From != a.Instance {
			fmt.Fprintf(b, ", from %s", a.From)
		}
		b.WriteByte('\n')
	}
	for _, w := range s.Why {
		fmt.Fprintf(b, "     %s\n", w)
	}
	fmt.Fprintf(b, "  candidates: %d eligible, %d rejected", s.Eligible, s.Rejected)
	for i, fc := range s.RejectedBy {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(b, "%s%s %d", sep, fc.Filter, fc.Count)
	}
	if len(s.RejectedBy) > 0 {
		b.WriteByte(')')
	}
	b.WriteByte('\n')
	for i := range s.Candidates {
		s.Candidates[i].writeText(b, sumW)
	}
	if o := s.Omitted; o != nil {
		fmt.Fprintf(b, "  omitted: %d eligible", o.Eligible)
		for _, fc := range o.Rejected {
			fmt.Fprintf(b, ", %d rejected by %s", fc.Count, fc.Filter)
		}
		b.WriteByte('\n')
	}
}

func (c *CandidateExplanation) writeText(b *bufio.Writer, sumW float64) {
	mark := ""
	if c.Chosen {
		mark += " [chosen]"
	}
	if c.Current {
		mark += " [current]"
	}
	where := string(c.Kind)
	if c.Node != "" {
		where += ", node " + c.Node
	}
	if c.Eligible {
		fmt.Fprintf(b, "  #%d %s (%s) total %.4f, tier %s, telemetry %s%s\n", c.Rank, c.Instance, where, c.Total, c.Tier, c.Telemetry, mark)
	} else {
		fmt.Fprintf(b, "  -- %s (%s) rejected by %s, telemetry %s%s\n", c.Instance, where, c.RejectedBy, c.Telemetry, mark)
	}
	for _, v := range c.Filters {
		verdict := "pass"
		if !v.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(b, "       %s %-10s %s\n", verdict, v.Filter, v.Reason)
	}
	for _, t := range c.Scores {
		fmt.Fprintf(b, "       score %-11s %.4f x %g/%g = %.4f  %s\n", t.Scorer, t.Score, t.Weight, sumW, t.Weighted, t.Detail)
	}
}
