package placement

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config tunes placement. Start from DefaultConfig; Plan rejects an invalid
// one with ErrInvalidConfig.
type Config struct {
	// Weights scale the scorers; the total score is Σ weight×score / Σ weight,
	// so it stays in [0,1].
	Weights Weights `json:"weights"`
	// Mode is bin-pack or spread: the one switch that flips the direction of
	// the free-memory scorer. Default BinPack.
	Mode Mode `json:"mode"`
	// Any is the rule for stages whose device is any.
	Any AnyRule `json:"any"`
	// Headroom is memory left free on a device after a placement.
	Headroom Headroom `json:"headroom"`
	// MaxModelsPerInstance caps loaded models per instance (this plan's
	// placements included); 0 means no cap. Default 16.
	MaxModelsPerInstance int `json:"maxModelsPerInstance"`
	// MaxTelemetryAge is the age after which an instance's telemetry is
	// stale; a stale instance is used only when no fresh one fits. 0 means
	// telemetry never goes stale (a never-sampled instance still is). Default 30s.
	MaxTelemetryAge time.Duration `json:"maxTelemetryAge"`
	// QueueHalf is the pending-request count at which the queue score is 0.5
	// (requests, > 0). Default 8.
	QueueHalf float64 `json:"queueHalf"`
	// Hysteresis keeps placed stages from flapping.
	Hysteresis Hysteresis `json:"hysteresis"`
	// Explain is how much Plan.Explain reports: every candidate (full) or
	// the best ExplainTopK and a count of the rest (compact). Default full.
	Explain ExplainMode `json:"explain"`
	// ExplainTopK is how many eligible (and how many rejected-for-now)
	// candidates a compact explanation keeps per stage (≥ 1). Default 3.
	ExplainTopK int `json:"explainTopK"`
}

// Weights are the scorers' weights (≥ 0, not all 0).
type Weights struct {
	FreeMemory  float64 `json:"freeMemory"`
	Utilization float64 `json:"utilization"`
	Queue       float64 `json:"queue"`
	Loaded      float64 `json:"loaded"`
	Colocation  float64 `json:"colocation"`
}

// Mode is bin-pack or spread.
type Mode string

// Modes.
const (
	// BinPack prefers the instance with the least memory left, keeping
	// whole devices free for large models.
	BinPack Mode = "binpack"
	// Spread prefers the instance with the most memory left.
	Spread Mode = "spread"
)

// AnyRule says how an any-stage chooses between GPU and CPU.
type AnyRule struct {
	// Prefer is gpu (default), cpu or score.
	Prefer AnyPreference `json:"prefer"`
	// GPUUtilThreshold is the GPU utilization (0–1) at or above which a
	// GPU no longer counts as preferred under AnyGPUFirst. Default 0.80.
	GPUUtilThreshold float64 `json:"gpuUtilThreshold"`
}

// AnyPreference orders device kinds for an any-stage.
type AnyPreference string

// Any-stage preferences.
const (
	// AnyGPUFirst: a fitting GPU under the threshold, else a CPU, else a
	// fitting GPU over the threshold.
	AnyGPUFirst AnyPreference = "gpu"
	// AnyCPUFirst: a fitting CPU, else a fitting GPU.
	AnyCPUFirst AnyPreference = "cpu"
	// AnyByScore: no preference; the best score wins across kinds.
	AnyByScore AnyPreference = "score"
)

// Headroom is memory a placement must leave free on the device: the larger
// of Fraction × total and Bytes.
type Headroom struct {
	// Fraction of the device's total memory (0–1, < 1). Default 0.10.
	Fraction float64 `json:"fraction"`
	// Bytes is an absolute floor. Default 512 MiB.
	Bytes uint64 `json:"bytes"`
}

// Hysteresis decides when a placed stage moves (see Decide).
type Hysteresis struct {
	// MinDwell is how long a stage stays after its last move before a
	// better candidate may take it (unless its instance became ineligible).
	// Default 2m.
	MinDwell time.Duration `json:"minDwell"`
	// MinImprovement is the total-score gain (0–1) a move must bring.
	// Default 0.10.
	MinImprovement float64 `json:"minImprovement"`
}

// ExplainMode is how much an explanation records.
type ExplainMode string

// Explanation modes.
const (
	ExplainFull    ExplainMode = "full"
	ExplainCompact ExplainMode = "compact"
)

// DefaultConfig returns the documented defaults.
//
// Weights: loaded 2 (a load takes seconds and memory, so avoiding one beats a
// modest imbalance), utilization 2, free memory 1, queue 1, co-location 1.
func DefaultConfig() Config {
	return Config{
		Weights:              Weights{FreeMemory: 1, Utilization: 2, Queue: 1, Loaded: 2, Colocation: 1},
		Mode:                 BinPack,
		Any:                  AnyRule{Prefer: AnyGPUFirst, GPUUtilThreshold: 0.80},
		Headroom:             Headroom{Fraction: 0.10, Bytes: 512 << 20},
		MaxModelsPerInstance: 16,
		MaxTelemetryAge:      30 * time.Second,
		QueueHalf:            8,
		Hysteresis:           Hysteresis{MinDwell: 2 * time.Minute, MinImprovement: 0.10},
		Explain:              ExplainFull,
		ExplainTopK:          3,
	}
}

func (c *Config) validate() error {
	var errs []error
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	w := c.Weights
	sum := 0.0
	for _, x := range []float64{w.FreeMemory, w.Utilization, w.Queue, w.Loaded, w.Colocation} {
		if bad(x) || x < 0 {
			errs = append(errs, fmt.Errorf("weights: %v, want finite and ≥ 0", x))
		}
		sum += x
	}
	if !(sum > 0) {
		errs = append(errs, errors.New("weights: all zero"))
	}
	if c.Mode != BinPack && c.Mode != Spread {
		errs = append(errs, fmt.Errorf("mode %q, want binpack or spread", c.Mode))
	}
	if p := c.Any.Prefer; p != AnyGPUFirst && p != AnyCPUFirst && p != AnyByScore {
		errs = append(errs, fmt.Errorf("any.prefer %q, want gpu, cpu or score", p))
	}
	if t := c.Any.GPUUtilThreshold; bad(t) || t < 0 || t > 1 {
		errs = append(errs, fmt.Errorf("any.gpuUtilThreshold %v, want 0–1", t))
	}
	if f := c.Headroom.Fraction; bad(f) || f < 0 || f >= 1 {
		errs = append(errs, fmt.Errorf("headroom.fraction %v, want [0,1)", f))
	}
	if c.MaxModelsPerInstance < 0 {
		errs = append(errs, fmt.Errorf("maxModelsPerInstance %d < 0", c.MaxModelsPerInstance))
	}
	if c.MaxTelemetryAge < 0 {
		errs = append(errs, fmt.Errorf("maxTelemetryAge %v < 0", c.MaxTelemetryAge))
	}
	if q := c.QueueHalf; bad(q) || q <= 0 {
		errs = append(errs, fmt.Errorf("queueHalf %v, want > 0", q))
	}
	if c.Hysteresis.MinDwell < 0 {
		errs = append(errs, fmt.Errorf("hysteresis.minDwell %v < 0", c.Hysteresis.MinDwell))
	}
	if m := c.Hysteresis.MinImprovement; bad(m) || m < 0 || m > 1 {
		errs = append(errs, fmt.Errorf("hysteresis.minImprovement %v, want 0–1", m))
	}
	if c.Explain != ExplainFull && c.Explain != ExplainCompact {
		errs = append(errs, fmt.Errorf("explain %q, want full or compact", c.Explain))
	}
	if c.Explain == ExplainCompact && c.ExplainTopK < 1 {
		errs = append(errs, fmt.Errorf("explainTopK %d, want ≥ 1 in compact mode", c.ExplainTopK))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
