// Package tritonclient is Baton's typed client for NVIDIA Triton Inference
// Server over gRPC, plus the tensor encoding and metrics parsing that go
// with it.
//
// It owns: one Client per Triton instance (keepalive, raised message
// limits); health (grpc.health.v1, ServerLive/Ready), server and model
// metadata, model config, statistics with deltas; inference with raw tensors
// and a pass-through path for protocol messages; repository index, load with
// a typed config override (instance_group kind/count/gpus, max_batch_size,
// dynamic batching) and unload-and-wait; system shared-memory registration;
// tensors of every Triton datatype; and the Prometheus metrics page parsed
// into typed values.
//
// Every call takes ctx first. Errors wrap sentinels (ErrModelNotFound,
// ErrUnavailable, ErrInvalidArgument, …) chosen from Triton's gRPC status and
// carry Triton's message in *Error; a cancelled or expired ctx yields
// ctx.Err().
//
// It must not decide anything: which instance to call, retries and
// placement belong to the orchestrator and placement packages.
//
// Sub-packages: inferencepb holds the generated protocol code; localfleet
// runs real tritonserver processes on loopback, and localfleet/fleettest
// gives each integration-test package its own fleet.
package tritonclient
