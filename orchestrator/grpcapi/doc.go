// Package grpcapi is Baton's gRPC front door: it serves Triton's
// inference.GRPCInferenceService (and grpc.health.v1) so that each pipeline
// looks like one Triton model to standard clients such as Python's
// tritonclient.grpc and perf_analyzer -i grpc.
//
// It owns the protocol edge only: turning ModelInfer requests (raw or typed
// contents, request parameters, metadata headers) into executor.Requests,
// describing pipelines as models (metadata, config, statistics, repository
// index) and mapping Baton's errors onto the gRPC status codes Triton uses.
//
// It must not run pipelines, pick instances or keep pipeline state itself:
// everything comes from the Backend it is given. It must not import package
// orchestrator (which will import it); Backend is the seam.
package grpcapi
