package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Spec is a pipeline as users write it.
type Spec struct {
	// Name is how clients address the pipeline (as a Triton model name).
	Name string `json:"name"`
	// Description is free text shown by the admin API.
	Description string `json:"description,omitempty"`
	// Inputs are the tensors a request must carry.
	Inputs []TensorSpec `json:"inputs"`
	// Outputs are the tensors returned, each produced by some stage.
	Outputs []TensorSpec `json:"outputs"`
	// Stages run in order.
	Stages []Stage `json:"stages"`
	// MaxBatchSize, when > 0, says the first dimension of every input and
	// output is a batch dimension (-1) of at most this size, as a batching
	// Triton model's config says; Triton clients such as perf_analyzer use
	// it to shape requests.
	MaxBatchSize int32 `json:"maxBatchSize,omitempty"`
}

// TensorSpec declares a pipeline tensor. Shape includes the batch dimension
// where the models batch; -1 marks a variable dimension.
type TensorSpec struct {
	Name     string  `json:"name"`
	DataType string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// Device is a stage's placement preference.
type Device string

// Device preferences.
const (
	DeviceAny Device = "any"
	DeviceCPU Device = "cpu"
	DeviceGPU Device = "gpu"
)

// Stage is one model call.
type Stage struct {
	// Name identifies the stage in errors, metrics and Server-Timing;
	// default: the model name (or group name).
	Name string `json:"name,omitempty"`
	// Model is the Triton model; empty when Group is set.
	Model string `json:"model,omitempty"`
	// Version pins a model version; empty means the server's choice.
	Version string `json:"version,omitempty"`
	// Device is cpu, gpu or any (default any).
	Device Device `json:"device,omitempty"`
	// Inputs maps each model input to a pipeline tensor (a pipeline input
	// or an earlier stage's output).
	Inputs map[string]string `json:"inputs"`
	// Outputs maps model outputs to the pipeline tensors they become.
	Outputs map[string]string `json:"outputs"`
	// Timeout bounds this stage's call (0: only the request deadline).
	Timeout Duration `json:"timeout,omitempty"`
	// Group names a multi-model group whose member is chosen per request.
	Group string `json:"group,omitempty"`
	// Idempotent allows retrying the call on another instance even when it
	// may have reached the model.
	Idempotent bool `json:"idempotent,omitempty"`
}

// Duration is a time.Duration written as "250ms" or "2s" in specs.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a Go duration string ("1.5s") or a number of
// milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want e.g. \"500ms\" or \"2s\"", s)
		}
		*d = Duration(v)
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string like \"2s\" or milliseconds", b)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// ErrInvalidSpec is wrapped by every parse or validation failure.
var ErrInvalidSpec = errors.New("invalid pipeline")

// Problem is one thing wrong with a spec, located by a path such as
// "stages[2].inputs.FEATURES".
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists all problems found in a spec.
type ValidationError struct {
	Pipeline string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	name := e.Pipeline
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("invalid pipeline %s: %s", name, strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidSpec) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalidSpec }

// Parse reads one spec from YAML or JSON (JSON is YAML). Unknown fields are
// an error, so a misspelt key is not silently ignored.
func Parse(doc []byte) (*Spec, error) {
	// YAML 1.2 semantics (go.yaml.in/yaml/v3): a tensor called Y or ON
	// stays a string, where YAML 1.1 would turn it into a boolean.
	var tree any
	if err := yaml.Unmarshal(doc, &tree); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "not YAML or JSON: " + err.Error()}}}
	}
	if tree == nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "empty document"}}}
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "not a JSON-compatible document (mapping keys must be strings): " + err.Error()}}}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Path: jsonErrorPath(err), Message: jsonErrorMessage(err)}}}
	}
	return &s, nil
}

func jsonErrorPath(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	return ""
}

func jsonErrorMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("got %s, want %s", te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// StageName is the stage's effective name.
func (s *Stage) StageName() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Model != "":
		return s.Model
	default:
		return s.Group
	}
}

// SpecFiles lists the spec files (*.yaml, *.yml, *.json) in dir, sorted;
// a missing dir has none.
func SpecFiles(dir string) ([]string, error) {
	var paths []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.json"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	slices.Sort(paths)
	return paths, nil
}
