// Package inferencepb holds the Go code generated from Baton's own,
// wire-compatible description of Triton's gRPC inference protocol
// (inference.proto). It owns nothing else: callers use package tritonclient,
// and the gRPC front door of the orchestrator serves these same messages.
package inferencepb

//go:generate sh gen.sh
