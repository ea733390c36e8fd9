package harness

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// ProgressPrinter renders Progress events to w. Live (a terminal) keeps
// one line per level up to date in place; otherwise every window and
// every finished level is a line of its own, fit for logs.
func ProgressPrinter(w io.Writer, live bool, stabilityPercent float64) func(Progress) {
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		prefix := fmt.Sprintf("[%d/%d] %s", p.Level, p.Levels, (&Level{Concurrency: p.Concurrency, RequestRate: p.RequestRate}).Load())
		var line string
		switch p.Phase {
		case PhaseWarmup:
			line = prefix + ": warming up"
		case PhaseWindow:
			w := p.Window
			verdict := "not yet stable"
			if p.Stability.Stable {
				verdict = "stable"
			} else if p.Stability.Windows >= 2 {
				verdict = fmt.Sprintf("spread %s throughput, %s latency (want ≤ %g%%)", pct(p.Stability.ThroughputSpread), pct(p.Stability.LatencySpread), stabilityPercent)
			}
			line = fmt.Sprintf("%s: window %d/%d: %.1f infer/s, p99 %s, %d errors, %s",
				prefix, p.Trial, p.MaxTrials, w.Throughput, fmtDur(w.Latency.P99), w.Errors, verdict)
		case PhaseDone:
			line = prefix + ": " + Summary(p.Result)
		}
		switch {
		case live && p.Phase == PhaseDone:
			fmt.Fprintf(w, "\r\033[K%s\n", line)
		case live:
			fmt.Fprintf(w, "\r\033[K%s", line)
		default:
			fmt.Fprintln(w, line)
		}
	}
}

func pct(v float64) string {
	if math.IsInf(v, 0) {
		return "∞"
	}
	return fmt.Sprintf("%.1f%%", v)
}

// fmtDur prints a duration in ms with 3 significant decimals below 10 ms.
func fmtDur(d time.Duration) string {
	ms := msf(d)
	if ms < 10 {
		return fmt.Sprintf("%.3f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// Summary is a one-line account of a finished level.
func Summary(lv *Level) string {
	if len(lv.Windows) == 0 {
		return "interrupted before the first window"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%.1f infer/s, p50 %s, p99 %s, %d requests, %d errors", lv.Throughput, fmtDur(lv.Latency.P50), fmtDur(lv.Latency.P99), lv.Requests, lv.Errors)
	switch {
	case lv.Interrupted:
		b.WriteString(", interrupted")
	case lv.Stable:
		fmt.Fprintf(&b, ", stable after %d windows", len(lv.Windows))
	default:
		fmt.Fprintf(&b, ", NOT stable after %d windows (last %d merged)", len(lv.Windows), lv.Merged)
	}
	if lv.Timing != nil {
		fmt.Fprintf(&b, "; Baton overhead %s", fmtDur(lv.Timing.Baton))
	} else if o, ok := lv.Server.orchestration(); ok {
		fmt.Fprintf(&b, "; orchestration overhead %s", fmtDur(o))
	}
	return b.String()
}
