package tritonclient

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinels that every error returned by a Client call wraps, chosen from
// Triton's gRPC status code. Check them with errors.Is.
var (
	// ErrModelNotFound: the model (or version) is unknown to the server or not loaded.
	ErrModelNotFound = errors.New("model not found")
	// ErrUnavailable: the server cannot be reached or is not serving.
	ErrUnavailable = errors.New("triton unavailable")
	// ErrInvalidArgument: the request is malformed (dtype, shape, names, config).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnsupported: the server does not implement the call (Triton's UNSUPPORTED).
	ErrUnsupported = errors.New("unsupported")
	// ErrAlreadyExists: e.g. a shared-memory region name already registered.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInternal: the server or a model failed while handling a valid request.
	ErrInternal = errors.New("triton internal error")
)

// Error is a failed call to one Triton instance: which instance, which call,
// the gRPC code and Triton's own message. It unwraps to one of the sentinels.
type Error struct {
	// Instance is the client's name for the server (its address by default).
	Instance string
	// Op is the RPC, e.g. "ModelInfer".
	Op string
	// Model is the model the call was about, if any.
	Model string
	// Code is the gRPC status code Triton returned.
	Code codes.Code
	// Message is Triton's error message, verbatim.
	Message string

	kind error
}

func (e *Error) Error() string {
	if e.Model != "" {
		return fmt.Sprintf("triton %s: %s %q: %s: %s", e.Instance, e.Op, e.Model, e.kind, e.Message)
	}
	return fmt.Sprintf("triton %s: %s: %s: %s", e.Instance, e.Op, e.kind, e.Message)
}

// Unwrap returns the sentinel for e.Code.
func (e *Error) Unwrap() error { return e.kind }

// kindFor maps a gRPC status code to a sentinel, following Triton's own
// mapping of its error classes onto gRPC codes.
func kindFor(c codes.Code) error {
	switch c {
	case codes.NotFound:
		return ErrModelNotFound
	case codes.Unavailable:
		return ErrUnavailable
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return ErrInvalidArgument
	case codes.Unimplemented:
		return ErrUnsupported
	case codes.AlreadyExists:
		return ErrAlreadyExists
	default:
		return ErrInternal
	}
}

// wrapErr turns a gRPC error into an *Error, or into ctx.Err() (wrapped) when
// the caller's context ended: a cancelled call reports context.Canceled,
// whatever status the transport produced.
func (c *Client) wrapErr(ctx context.Context, op, model string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("triton %s: %s: %w", c.name, op, ctxErr)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("triton %s: %s: %w", c.name, op, err)
	}
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("triton %s: %s: %w", c.name, op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("triton %s: %s: %w", c.name, op, context.DeadlineExceeded)
	}
	return &Error{Instance: c.name, Op: op, Model: model, Code: st.Code(), Message: st.Message(), kind: kindFor(st.Code())}
}
