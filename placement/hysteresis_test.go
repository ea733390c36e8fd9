package placement

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	h := Hysteresis{MinDwell: 2 * time.Minute, MinImprovement: 0.10}
	cur := func(score float64, tier Tier) Standing {
		return Standing{Instance: "cur", Eligible: true, Tier: tier, Score: score}
	}
	best := func(score float64, tier Tier) Standing {
		return Standing{Instance: "best", Eligible: true, Tier: tier, Score: score}
	}
	long := t0.Add(-time.Hour)
	tests := []struct {
		name      string
		lastMoved time.Time
		current   Standing
		best      Standing
		want      Action
		why       string
	}{
		{"ineligible moves inside dwell", t0.Add(-time.Second),
			Standing{Instance: "cur", Rejection: "fails healthy: not ready"}, best(0.5, TierPreferred),
			ActionMove, "current instance cur is not eligible (fails healthy: not ready)"},
		{"current is best", t0.Add(-time.Second),
			cur(0.7, TierPreferred), Standing{Instance: "cur", Eligible: true, Score: 0.7},
			ActionKeep, "current instance cur is the best candidate"},
		// dwell 1m59s < 2m.
		{"inside dwell", t0.Add(-119 * time.Second),
			cur(0.2, TierFallback), best(0.9, TierPreferred),
			ActionKeep, "moved 1m59s ago < min dwell 2m0s"},
		// dwell exactly 2m is enough.
		{"dwell boundary", t0.Add(-2 * time.Minute),
			cur(0.5, TierPreferred), best(0.6, TierPreferred),
			ActionMove, "improvement 0.1000"},
		{"never moved has no dwell", time.Time{},
			cur(0.5, TierPreferred), best(0.61, TierPreferred),
			ActionMove, ">= min 0.1000"},
		// Better tier moves even with a lower score.
		{"better tier", long,
			cur(0.8, TierPreferred|TierStale), best(0.3, TierPreferred),
			ActionMove, "best is in a better tier (preferred) than current cur (preferred+stale)"},
		// 0.65 − 0.60 = 0.05 < 0.10.
		{"small improvement", long,
			cur(0.60, TierPreferred), best(0.65, TierPreferred),
			ActionKeep, "improvement 0.0500 (best 0.6500 vs current cur 0.6000) < min 0.1000"},
		// 0.75 − 0.60 = 0.15 ≥ 0.10.
		{"large improvement", long,
			cur(0.60, TierPreferred), best(0.75, TierPreferred),
			ActionMove, "improvement 0.1500 (best 0.7500 vs current cur 0.6000) >= min 0.1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Decide(h, t0, tc.lastMoved, tc.current, tc.best)
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("Decide = %s, %q; want %s containing %q", got, why, tc.want, tc.why)
			}
		})
	}
}

// TestPlanDwellThenMove: the same snapshot, re-planned as time passes, keeps
// the stage until MinDwell has passed, then moves it once; after the move
// (Current and LastMoved updated as the orchestrator would) it stays.
func TestPlanDwellThenMove(t *testing.T) {
	cfg := DefaultConfig()
	mk := func(now time.Time, current string, lastMoved time.Time) *Snapshot {
		s := hysteresisSnap(0)
		s.Now = now
		s.Stages[0].Current, s.Stages[0].LastMoved = current, lastMoved
		if current == "gpu-a" {
			s.Instances[1].Models = []LoadedModel{{Name: "classifier", Bytes: gb(2)}}
		}
		for i := range s.Instances {
			s.Instances[i].Telemetry.At = now
		}
		return s
	}
	moved := t0
	var got []Action
	for _, dt := range []time.Duration{0, time.Minute, 119 * time.Second, 2 * time.Minute} {
		a := mustPlace(t, mk(t0.Add(dt), "cpu-a", moved), cfg).Assignments[0]
		got = append(got, a.Action)
	}
	want := []Action{ActionKeep, ActionKeep, ActionKeep, ActionMove}
	if !slicesEqual(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	// After the move to gpu-a, the next plans keep it there.
	for _, dt := range []time.Duration{3 * time.Minute, time.Hour} {
		a := mustPlace(t, mk(t0.Add(dt), "gpu-a", t0.Add(2*time.Minute)), cfg).Assignments[0]
		if a.Action != ActionKeep || a.Instance != "gpu-a" {
			t.Errorf("at +%s: %s %s, want keep gpu-a; reason %q", dt, a.Action, a.Instance, a.Reason)
		}
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
