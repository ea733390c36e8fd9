package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/tritonclient"
)

// inferStatus maps an error from Backend.Infer on pipeline name to the
// status a Triton client expects:
//
//	*executor.StageError        the stage's own code when Triton gave
//	                            INVALID_ARGUMENT or UNAVAILABLE; DEADLINE_EXCEEDED
//	                            or CANCELLED for a stage timeout or cancellation;
//	                            else INTERNAL
//	executor.ErrBadInput,
//	executor.ErrMissingTarget,
//	tritonclient.ErrInvalidTensor INVALID_ARGUMENT
//	executor.ErrUnknownTarget   NOT_FOUND
//	executor.ErrLoadFailed      FAILED_PRECONDITION (Triton's message inside)
//	executor.ErrNoInstance      UNAVAILABLE
//	context.DeadlineExceeded    DEADLINE_EXCEEDED
//	context.Canceled            CANCELLED
//	a gRPC status               itself
//	anything else               NOT_FOUND if the pipeline is gone by now
//	                            (deleted mid-request), else INTERNAL
func (s *Server) inferStatus(name string, err error) *status.Status {
	if se, ok := errors.AsType[*executor.StageError](err); ok {
		return stageStatus(se)
	}
	switch {
	case errors.Is(err, executor.ErrBadInput), errors.Is(err, executor.ErrMissingTarget), errors.Is(err, tritonclient.ErrInvalidTensor):
		return status.New(codes.InvalidArgument, err.Error())
	case errors.Is(err, executor.ErrUnknownTarget):
		return status.New(codes.NotFound, err.Error())
	case errors.Is(err, executor.ErrLoadFailed):
		return status.New(codes.FailedPrecondition, err.Error())
	case errors.Is(err, executor.ErrNoInstance):
		return status.New(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, err.Error())
	}
	if st, ok := status.FromError(err); ok {
		return st
	}
	if _, ok := s.backend.Plan(name); !ok {
		// The pipeline was deleted between lookup and Infer; Backend's own
		// not-found error is not importable here (see Backend).
		return status.New(codes.NotFound, fmt.Sprintf("unknown pipeline %q", name))
	}
	return status.New(codes.Internal, err.Error())
}

// stageStatus maps a failed stage, naming the stage, its model and instance
// and carrying Triton's own message.
func stageStatus(se *executor.StageError) *status.Status {
	where := fmt.Sprintf("stage %q (model %q on %s)", se.Stage, se.Model, se.Instance)
	if se.Instance == "" {
		where = fmt.Sprintf("stage %q (model %q)", se.Stage, se.Model)
	}
	if te, ok := errors.AsType[*tritonclient.Error](se.Err); ok {
		code := codes.Internal
		switch te.Code {
		case codes.InvalidArgument, codes.Unavailable:
			code = te.Code
		}
		return status.New(code, where+": "+te.Message)
	}
	code := codes.Internal
	switch {
	case errors.Is(se.Err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(se.Err, context.Canceled):
		code = codes.Canceled
	}
	return status.New(code, fmt.Sprintf("%s: %v", where, se.Err))
}
