// Package harness is the measurement engine behind `baton bench` and the
// benchmark scenarios: it sends load to one model endpoint (a Baton
// pipeline over v2 gRPC, v2 HTTP or /invocations, a Triton model or a
// Triton ensemble), measures it the way NVIDIA's perf_analyzer does, and
// writes what it measured as perf_analyzer-compatible CSV, JSON and SVG.
//
// It owns: probing a target before any load (server and model ready,
// metadata, config), building request payloads (zero, random or
// perf_analyzer's JSON input-data format), closed-loop (concurrency) and
// open-loop (constant or Poisson request rate) load, time windows that
// count requests by completion time, the stability rule, nearest-rank
// percentiles, the server-side breakdown (Triton ModelStatistics deltas per
// stage model, the measured model's own statistics, Baton's Server-Timing
// header), and the writers. The README shows which file owns which step.
//
// It must not start servers or parse command-line flags (cmd/baton and the
// scenario programs do), and it holds no package-level state: everything a
// run needs is passed in Config and the Target.
package harness
