package v2http

import (
	"errors"
	"fmt"
)

// ErrBadRequest is wrapped by every error DecodeRequest returns: the request body is malformed or invalid.
var ErrBadRequest = errors.New("bad request")

// FieldError is a client mistake in a request, naming the field with a JSON-path-like location.
type FieldError struct {
	// Field locates the mistake, e.g. "inputs[1].shape[0]", "inputs[0].data[7]", "outputs[0].name"; "body" for the body as a whole and "Inference-Header-Content-Length" for the header length.
	Field string
	// Msg says what is wrong with the field.
	Msg string
	// Err is the underlying cause when there is one (it wraps tritonclient.ErrInvalidTensor when tensor validation failed); nil otherwise.
	Err error
}

// Error returns "field: message", e.g. "inputs[1].shape[0]: -2 is negative".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Unwrap returns ErrBadRequest, followed by Err when it is set, so errors.Is matches both.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBadRequest, e.Err}
	}
	return []error{ErrBadRequest}
}

// fieldErr returns a *FieldError for field with a formatted message.
func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
