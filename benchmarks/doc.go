// Package benchmarks holds Baton's performance scenarios and their recorded
// results (benchmarks/results/): each result is a ratio against a baseline
// measured in the same run, with the machine, versions and exact command.
//
// Status: skeleton; scenarios arrive with the pipeline and bench issues.
package benchmarks
