package harness

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadFlag is wrapped by every error about a malformed load or input
// setting, so callers can tell them from target failures.
var ErrBadFlag = errors.New("bad setting")

// maxLevels bounds how many load levels a range may expand to.
const maxLevels = 1000

// ParseConcurrencyRange reads perf_analyzer's start[:end[:step]] with an
// additive step (default 1), or a multiplicative one written xN:
// "4" → [4], "1:4" → [1 2 3 4], "1:32:x2" → [1 2 4 8 16 32].
func ParseConcurrencyRange(s string) ([]int, error) {
	vals, err := parseRange(s, func(v string) (float64, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a positive integer", v)
		}
		return float64(n), nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: concurrency range %q: %w", ErrBadFlag, s, err)
	}
	out := make([]int, len(vals))
	for i, v := range vals {
		out[i] = int(math.Round(v))
	}
	return out, nil
}

// ParseRateRange reads a request-rate range (requests per second) in the
// same start[:end[:step]] form, values may be fractional: "50:200:50" →
// [50 100 150 200], "10:80:x2" → [10 20 40 80].
func ParseRateRange(s string) ([]float64, error) {
	vals, err := parseRange(s, func(v string) (float64, error) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%q is not a positive number", v)
		}
		return f, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: request-rate range %q: %w", ErrBadFlag, s, err)
	}
	return vals, nil
}

func parseRange(s string, num func(string) (float64, error)) ([]float64, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) > 3 {
		return nil, errors.New("want start[:end[:step]]")
	}
	start, err := num(parts[0])
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	end := start
	if len(parts) > 1 {
		if end, err = num(parts[1]); err != nil {
			return nil, fmt.Errorf("end: %w", err)
		}
		if end < start {
			return nil, fmt.Errorf("end %v is below start %v", end, start)
		}
	}
	step, mult := 1.0, false
	if len(parts) > 2 {
		v, isMult := strings.CutPrefix(parts[2], "x")
		if step, err = num(v); err != nil {
			return nil, fmt.Errorf("step: %w", err)
		}
		if mult = isMult; mult && step <= 1 {
			return nil, fmt.Errorf("step: multiplier x%v must be above 1", step)
		}
	}
	var out []float64
	// A relative epsilon keeps "0.1:0.3:0.1" from losing its end to rounding.
	for v := start; v <= end*(1+1e-9); {
		out = append(out, v)
		if len(out) > maxLevels {
			return nil, fmt.Errorf("more than %d levels", maxLevels)
		}
		if mult {
			v *= step
		} else {
			v = start + float64(len(out))*step
		}
	}
	return out, nil
}

// ParseShape reads perf_analyzer's --shape NAME:d1,d2,… (the dimensions
// without the batch dimension).
func ParseShape(s string) (name string, dims []int64, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", nil, fmt.Errorf("%w: shape %q: want NAME:d1,d2,...", ErrBadFlag, s)
	}
	name = s[:i]
	for _, d := range strings.Split(s[i+1:], ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
		if err != nil || n < 0 {
			return "", nil, fmt.Errorf("%w: shape %q: dimension %q is not a non-negative integer", ErrBadFlag, s, d)
		}
		dims = append(dims, n)
	}
	return name, dims, nil
}
