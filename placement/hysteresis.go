package placement

import (
	"fmt"
	"time"
)

// Action is what a plan does with a stage.
type Action string

// Actions.
const (
	// ActionPlace puts an unplaced stage (or one whose instance left the
	// fleet) on an instance.
	ActionPlace Action = "place"
	// ActionKeep leaves a placed stage where it is.
	ActionKeep Action = "keep"
	// ActionMove moves a placed stage to another instance.
	ActionMove Action = "move"
	// ActionNone: no instance can take the stage (Assignment.Err says why).
	ActionNone Action = "none"
)

// Standing is how one instance stands for a stage in a plan: the input to
// Decide for the current instance and for the best candidate.
type Standing struct {
	Instance string `json:"instance"`
	// Eligible is true when the instance passed every filter.
	Eligible bool `json:"eligible"`
	// Rejection says why an ineligible instance was rejected.
	Rejection string `json:"rejection,omitempty"`
	// Tier orders candidates before score (lower wins).
	Tier Tier `json:"-"`
	// Score is the total score, 0–1.
	Score float64 `json:"score"`
}

// scoreTolerance absorbs float rounding when a gain is compared with
// MinImprovement (0.6 − 0.5 is 0.0999…).
const scoreTolerance = 1e-9

// Decide is the hysteresis rule for a placed stage: keep it on current or
// move it to best (the plan's top candidate, which must be eligible).
// lastMoved is when the stage last moved (zero: never). In order:
//
//  1. current ineligible (unhealthy, full, gone, …) → move, whatever the dwell;
//  2. best is current → keep;
//  3. now − lastMoved < MinDwell → keep;
//  4. best in a better tier (e.g. fresh vs stale, GPU vs CPU fallback) → move;
//  5. best.Score − current.Score < MinImprovement (within 1e-9) → keep;
//  6. otherwise → move.
//
// It is pure: the same inputs give the same action and reason.
func Decide(h Hysteresis, now, lastMoved time.Time, current, best Standing) (Action, string) {
	if !current.Eligible {
		return ActionMove, fmt.Sprintf("current instance %s is not eligible (%s)", current.Instance, current.Rejection)
	}
	if best.Instance == current.Instance {
		return ActionKeep, fmt.Sprintf("current instance %s is the best candidate", current.Instance)
	}
	if !lastMoved.IsZero() {
		if dwell := now.Sub(lastMoved); dwell < h.MinDwell {
			return ActionKeep, fmt.Sprintf("moved %s ago < min dwell %s (best %s %.4f vs current %s %.4f)",
				dwell, h.MinDwell, best.Instance, best.Score, current.Instance, current.Score)
		}
	}
	if best.Tier < current.Tier {
		return ActionMove, fmt.Sprintf("%s is in a better tier (%s) than current %s (%s)",
			best.Instance, best.Tier, current.Instance, current.Tier)
	}
	gain := best.Score - current.Score
	if gain+scoreTolerance < h.MinImprovement {
		return ActionKeep, fmt.Sprintf("improvement %.4f (%s %.4f vs current %s %.4f) < min %.4f",
			gain, best.Instance, best.Score, current.Instance, current.Score, h.MinImprovement)
	}
	return ActionMove, fmt.Sprintf("improvement %.4f (%s %.4f vs current %s %.4f) >= min %.4f",
		gain, best.Instance, best.Score, current.Instance, current.Score, h.MinImprovement)
}
