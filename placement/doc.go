// Package placement decides, for every pipeline stage, which Triton
// instance (CPU or GPU) should serve it, from an immutable snapshot of the
// fleet (instances, telemetry, loaded models with measured footprints,
// stage requirements, the current time as data). It returns a plan and an
// explanation recording every candidate's filter verdicts and scores.
//
// It is pure: no I/O, no goroutines, no clock reads, no randomness that is
// not seeded from the snapshot. Applying a plan is the orchestrator's job.
//
// Status: skeleton; filters, scorers and plans come with the placement issue.
package placement
