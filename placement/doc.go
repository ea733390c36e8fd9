// Package placement decides, for every pipeline stage, which Triton
// instance (CPU or GPU) should serve it, from an immutable Snapshot of the
// fleet (instances, telemetry, loaded models with measured footprints,
// stage requirements, the current time as data). Place returns a Plan: per
// stage an Assignment (place, keep, move) or a typed failure
// (ErrNoCapacity "not now", ErrInfeasible "never"); Plan.Explain returns
// every candidate's filter verdicts and scores, as JSON-ready data and as
// text. Decide is the hysteresis rule that keeps placed stages from
// flapping. See README.md for the steps and the file that owns each.
//
// It is pure: no I/O, no goroutines, no clock reads, no randomness; the
// same snapshot and Config give the same plan and explanation, whatever the
// order of instances and stages in the snapshot. It must not import the
// orchestrator, Triton clients or telemetry (the orchestrator translates
// into Snapshot), and it must not apply a plan: loading and moving models is
// the orchestrator's job.
package placement
