// Package orchestrator carries out Baton's decisions: it chains the stages
// of a serial pipeline across Triton instances (passing raw tensor bytes from
// one stage's outputs to the next stage's inputs), loads and unloads models
// where placement decided (make-before-break), and serves multi-model groups
// with on-demand loads and eviction. It also hosts the invocation front
// doors (Triton v2 HTTP/gRPC, SageMaker-style /invocations) and the admin API.
//
// It must not choose placements itself (package placement does, purely) nor
// speak Triton's protocol directly (package tritonclient does).
//
// Sub-packages: pipeline (spec, validation, plan), executor (runs a plan),
// fleet (instances, health, routing), store (bbolt persistence), v2http
// (Triton v2 HTTP body codec), httpapi and grpcapi (front doors),
// adminclient (the CLI's client). Service ties them together.
package orchestrator
