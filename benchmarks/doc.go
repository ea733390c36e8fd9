// Package benchmarks holds Baton's performance scenarios and their recorded
// results (benchmarks/results/): each result is a ratio against a baseline
// measured in the same run, with the machine, versions and exact command.
//
// The measurement engine behind `baton bench` is package harness; each
// scenario is a program of its own (overhead, hops, crosscheck) that starts
// real tritonservers and the real `baton serve` binary.
package benchmarks
