// Package httpapi is Baton's HTTP front door, on echo v4: Triton's v2 HTTP
// protocol for pipelines (JSON and binary tensors, so Triton clients and
// perf_analyzer treat a pipeline as a model), SageMaker-style
// /pipelines/{name}/invocations (CSV or JSON), the admin API for pipelines
// and the fleet, and /metrics.
//
// It owns status codes, error bodies ({"error": ...}), Server-Timing,
// request ids, body limits and request metrics. It must not run pipelines
// itself (Service does) nor decode tensor bodies by hand (v2http does).
package httpapi
