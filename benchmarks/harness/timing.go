package harness

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Server-Timing metric names Baton gives its own entries; every other
// entry is a stage.
const (
	timingBaton = "baton"
	timingTotal = "total"
)

// TimingEntry is one metric of a Server-Timing header.
type TimingEntry struct {
	Name string
	Dur  time.Duration
	// Desc is the description; Baton writes "model@instance" for a stage.
	Desc string
}

// ParseServerTiming reads a Server-Timing header such as
// `preprocess;dur=1.234;desc="tabular_preprocess@triton-0", baton;dur=0.041;desc="overhead", total;dur=2.1`
// (durations in milliseconds). Entries without a name are skipped;
// unknown parameters are ignored.
func ParseServerTiming(h string) []TimingEntry {
	var out []TimingEntry
	for _, metric := range splitOutsideQuotes(h, ',') {
		params := splitOutsideQuotes(metric, ';')
		e := TimingEntry{Name: strings.TrimSpace(params[0])}
		if e.Name == "" {
			continue
		}
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(p, "=")
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "dur":
				if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
					e.Dur = time.Duration(math.Round(ms * float64(time.Millisecond)))
				}
			case "desc":
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				}
				e.Desc = v
			}
		}
		out = append(out, e)
	}
	return out
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted string.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, escaped, from := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[from:i])
			from = i + 1
		}
	}
	return append(parts, s[from:])
}

// TimingStats are Server-Timing means over the requests that carried the
// header: Baton's own view of where a pipeline request's time went.
type TimingStats struct {
	// Requests counts the successful requests that had a Server-Timing header.
	Requests int
	// Stages are per-stage means, in the order the header lists them.
	Stages []StageTiming
	// Baton is the mean of Baton's own overhead (the "baton" metric):
	// pipeline time not spent in stage calls.
	Baton time.Duration
	// Total is the mean pipeline time inside Baton (the "total" metric).
	Total time.Duration
	// StageSum is the sum of the stage means.
	StageSum time.Duration
}

// StageTiming is one stage's mean duration as Baton measured it around its
// call to Triton (network to Triton included).
type StageTiming struct {
	Name string
	// Model is the model part of the entries' "model@instance" description.
	Model string
	Mean  time.Duration
}

// summarizeTiming averages the Server-Timing entries of successful samples;
// nil when none carried the header.
func summarizeTiming(samples []Sample) *TimingStats {
	type acc struct {
		model string
		sum   time.Duration
	}
	var (
		ts     TimingStats
		order  []string
		stages = map[string]*acc{}
		baton  time.Duration
		total  time.Duration
	)
	for _, s := range samples {
		if s.Err != "" || len(s.Timing) == 0 {
			continue
		}
		ts.Requests++
		for _, e := range s.Timing {
			switch e.Name {
			case timingBaton:
				baton += e.Dur
			case timingTotal:
				total += e.Dur
			default:
				a := stages[e.Name]
				if a == nil {
					model, _, _ := strings.Cut(e.Desc, "@")
					a = &acc{model: model}
					stages[e.Name] = a
					order = append(order, e.Name)
				}
				a.sum += e.Dur
			}
		}
	}
	if ts.Requests == 0 {
		return nil
	}
	n := time.Duration(ts.Requests)
	for _, name := range order {
		st := StageTiming{Name: name, Model: stages[name].model, Mean: stages[name].sum / n}
		ts.Stages = append(ts.Stages, st)
		ts.StageSum += st.Mean
	}
	ts.Baton, ts.Total = baton/n, total/n
	return &ts
}
