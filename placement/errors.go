package placement

import (
	"errors"
	"fmt"
)

// Outcome classes, checked with errors.Is.
var (
	// ErrNoCapacity means "not now": some instance could serve the stage
	// but is unhealthy, full, at its model cap or without memory telemetry.
	ErrNoCapacity = errors.New("no capacity now")
	// ErrInfeasible means "never" with this fleet: every instance has the
	// wrong device kind or labels, or too little total memory.
	ErrInfeasible = errors.New("infeasible")
	// ErrInvalidSnapshot means the caller built a snapshot that breaks an
	// invariant (duplicate names, unknown kinds, NaN telemetry): a bug.
	ErrInvalidSnapshot = errors.New("invalid snapshot")
	// ErrInvalidConfig means a Config field is out of range: a bug.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrBug means placement broke its own invariant (an explanation's
	// replay disagreed with its plan).
	ErrBug = errors.New("placement bug")
)

// StageError is a stage that could not be placed. It wraps ErrNoCapacity or
// ErrInfeasible; get it with errors.AsType[*StageError].
type StageError struct {
	Pipeline, Stage string
	// Err is ErrNoCapacity or ErrInfeasible.
	Err error
	// Detail counts the rejections, e.g. "memory 2, device 3".
	Detail string
}

func (e *StageError) Error() string {
	return fmt.Sprintf("place stage %s/%s: %v: %s", e.Pipeline, e.Stage, e.Err, e.Detail)
}

// Unwrap returns the outcome class.
func (e *StageError) Unwrap() error { return e.Err }
