package harness

import (
	"math"
	"slices"
	"time"
)

// Sample is one finished request as the load generator saw it.
type Sample struct {
	// Start is when the request was handed to the target; End is when its
	// answer or error came back. Windows count a request by End.
	Start, End time.Time
	// Delayed marks an open-loop request sent later than its schedule by
	// more than delayTolerance (the generator could not keep up).
	Delayed bool
	// Err is the failure, "" for a success.
	Err string
	// Send and Recv are the client's own time to send the request and to
	// take in the response (see Reply).
	Send, Recv time.Duration
	// Timing is the parsed Server-Timing header, nil when there was none.
	Timing []TimingEntry
}

// Latency is End − Start.
func (s Sample) Latency() time.Duration { return s.End.Sub(s.Start) }

// LatencyStats summarises the latencies of successful requests.
type LatencyStats struct {
	Avg, Min, Max      time.Duration
	P50, P90, P95, P99 time.Duration
}

// Percentile is the nearest-rank percentile of ascending sorted: the
// ⌈p/100·N⌉-th smallest value (the smallest for p ≤ 0, 0 for no values).
// perf_analyzer picks index round(p/100·(N−1)) instead; the two differ by
// at most one rank.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// PercentileOf is Percentile of ds in any order (ds is not changed).
func PercentileOf(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return Percentile(s, p)
}

// summarizeLatencies computes LatencyStats of ds (which it sorts).
func summarizeLatencies(ds []time.Duration) LatencyStats {
	if len(ds) == 0 {
		return LatencyStats{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return LatencyStats{
		Avg: sum / time.Duration(len(ds)), Min: ds[0], Max: ds[len(ds)-1],
		P50: Percentile(ds, 50), P90: Percentile(ds, 90), P95: Percentile(ds, 95), P99: Percentile(ds, 99),
	}
}

// Window is one measurement window of a trial: the requests that completed
// in [Start, End).
type Window struct {
	Start, End time.Time
	// Partial marks a window cut short by an interrupt.
	Partial bool
	// Requests counts successes, Errors failures, Delayed late open-loop sends.
	Requests, Errors, Delayed int
	// Throughput is inferences per second: Requests × batch size / (End − Start).
	Throughput float64
	// Latency covers the window's successful requests.
	Latency LatencyStats

	samples []Sample
	stats   *statsDelta // server statistics over the window, nil if unread
}

// newWindow builds the window [start, end) from samples that completed in it.
func newWindow(start, end time.Time, samples []Sample, batch int) Window {
	w := Window{Start: start, End: end, samples: samples}
	w.summarize(batch)
	return w
}

func (w *Window) summarize(batch int) {
	w.Requests, w.Errors, w.Delayed = 0, 0, 0
	lat := make([]time.Duration, 0, len(w.samples))
	for _, s := range w.samples {
		if s.Delayed {
			w.Delayed++
		}
		if s.Err != "" {
			w.Errors++
			continue
		}
		w.Requests++
		lat = append(lat, s.Latency())
	}
	w.Latency = summarizeLatencies(lat)
	w.Throughput = 0
	if d := w.End.Sub(w.Start); d > 0 {
		w.Throughput = float64(w.Requests*max(batch, 1)) / d.Seconds()
	}
}

// splitByEnd partitions samples, in place, into those that completed
// before t and the rest.
func splitByEnd(samples []Sample, t time.Time) (before, after []Sample) {
	slices.SortStableFunc(samples, func(a, b Sample) int { return a.End.Compare(b.End) })
	// BinarySearchFunc finds the first index whose End is ≥ t.
	i, _ := slices.BinarySearchFunc(samples, t, func(s Sample, t time.Time) int { return s.End.Compare(t) })
	return samples[:i:i], samples[i:]
}

// Stability is the verdict on the last windows of a trial series.
type Stability struct {
	Stable bool
	// Windows is how many trailing windows were compared.
	Windows int
	// ThroughputSpread and LatencySpread are max/min − 1 over those
	// windows, in percent (+Inf when a window is empty).
	ThroughputSpread, LatencySpread float64
}

// CheckStability applies perf_analyzer's rule: the last n complete windows
// all served requests and their throughputs and average latencies each
// agree within pct percent (max/min ≤ 1 + pct/100). Fewer than n windows,
// or a partial one among them, is not stable.
func CheckStability(ws []Window, n int, pct float64) Stability {
	if n <= 0 {
		n = 1
	}
	st := Stability{Windows: min(n, len(ws))}
	if len(ws) == 0 {
		return st
	}
	last := ws[len(ws)-st.Windows:]
	tput := make([]float64, len(last))
	lat := make([]float64, len(last))
	complete := true
	for i, w := range last {
		tput[i], lat[i] = w.Throughput, float64(w.Latency.Avg)
		complete = complete && !w.Partial
	}
	tr, lr := ratio(tput), ratio(lat)
	st.ThroughputSpread, st.LatencySpread = (tr-1)*100, (lr-1)*100
	// Compared as max/min ≤ 1 + pct/100, perf_analyzer's own form, so a
	// spread exactly on the bound is stable despite float rounding.
	bound := 1 + pct/100
	st.Stable = complete && len(last) == n && tr <= bound && lr <= bound
	return st
}

// ratio is max/min; +Inf if any value is 0.
func ratio(vs []float64) float64 {
	lo, hi := slices.Min(vs), slices.Max(vs)
	if lo <= 0 {
		return math.Inf(1)
	}
	return hi / lo
}

// mergeWindows summarises ws as one measurement: counts add up, throughput
// is total inferences over total window time, percentiles come from all
// the latencies together (perf_analyzer merges its stable windows the same
// way). It also returns the samples it merged.
func mergeWindows(ws []Window, batch int) (Window, []Sample) {
	if len(ws) == 0 {
		return Window{}, nil
	}
	var all []Sample
	var span time.Duration
	for _, w := range ws {
		all = append(all, w.samples...)
		span += w.End.Sub(w.Start)
	}
	m := Window{Start: ws[0].Start, End: ws[len(ws)-1].End, samples: all}
	m.summarize(batch)
	if span > 0 { // windows need not be contiguous: use their own lengths
		m.Throughput = float64(m.Requests*max(batch, 1)) / span.Seconds()
	}
	return m, all
}
