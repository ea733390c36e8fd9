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
// fleet (instances, health, telemetry, routing, hot reload), placer (the
// placement loop) and loader (loads with instance_group overrides), store
// (bbolt persistence), v2http (Triton v2 HTTP body codec), httpapi and
// grpcapi (front doors), adminclient (the CLI's client); e2e holds the
// end-to-end tests. Service ties the pipeline side together. Multi-model
// groups are not built yet: a group stage calls the request's target model
// where it is already loaded.
package orchestrator
