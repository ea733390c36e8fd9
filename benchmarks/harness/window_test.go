package harness

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(n float64) time.Duration { return time.Duration(math.Round(n * float64(time.Millisecond))) }

func TestPercentileNearestRank(t *testing.T) {
	ten := []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7), ms(8), ms(9), ms(10)}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(float64(i + 1))
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", []time.Duration{ms(7)}, 99, ms(7)},
		{"p50 of 10: rank ceil(5)=5", ten, 50, ms(5)},
		{"p90 of 10: rank ceil(9)=9", ten, 90, ms(9)},
		{"p95 of 10: rank ceil(9.5)=10", ten, 95, ms(10)},
		{"p99 of 10: rank ceil(9.9)=10", ten, 99, ms(10)},
		{"p51 of 10: rank ceil(5.1)=6", ten, 51, ms(6)},
		{"p0 is the smallest", ten, 0, ms(1)},
		{"p100 is the largest", ten, 100, ms(10)},
		{"p99 of 100: rank 99", hundred, 99, ms(99)},
		{"p95 of 100: rank 95", hundred, 95, ms(95)},
		{"p50 of 4: rank 2", []time.Duration{ms(1), ms(2), ms(30), ms(40)}, 50, ms(2)},
		{"p50 of 3: rank ceil(1.5)=2", []time.Duration{ms(1), ms(2), ms(3)}, 50, ms(2)},
	}
	for _, tc := range tests {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(p%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarizeLatencies(t *testing.T) {
	// 20 values 1..20 ms, shuffled: avg 10.5, p50 rank 10, p90 rank 18,
	// p95 rank 19, p99 rank ceil(19.8)=20.
	var ds []time.Duration
	for _, v := range []float64{7, 3, 20, 1, 14, 9, 2, 18, 11, 5, 16, 4, 13, 6, 19, 8, 12, 10, 17, 15} {
		ds = append(ds, ms(v))
	}
	got := summarizeLatencies(ds)
	want := LatencyStats{Avg: ms(10.5), Min: ms(1), Max: ms(20), P50: ms(10), P90: ms(18), P95: ms(19), P99: ms(20)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarizeLatencies (-want +got):\n%s", diff)
	}
	if got.P50 > got.P90 || got.P90 > got.P95 || got.P95 > got.P99 {
		t.Errorf("percentiles out of order: %+v", got)
	}
}

// at is t0 plus n milliseconds: synthetic timestamps.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(n float64) time.Time { return t0.Add(ms(n)) }

func sample(startMs, endMs float64, err string) Sample {
	return Sample{Start: at(startMs), End: at(endMs), Err: err}
}

func TestWindowCountsByCompletionTime(t *testing.T) {
	samples := []Sample{
		sample(-5, 2, ""),     // started before the window, completed in it: counted
		sample(100, 400, ""),  // 300 ms
		sample(500, 900, "x"), // an error: counted apart, no latency
		sample(900, 1000, ""), // completes exactly at the end: next window
		sample(990, 1200, ""), // completes after the end: next window
	}
	in, rest := splitByEnd(samples, at(1000))
	if len(in) != 3 || len(rest) != 2 {
		t.Fatalf("split at 1000 ms: %d in, %d after; want 3 and 2", len(in), len(rest))
	}
	w := newWindow(at(0), at(1000), in, 4)
	// 2 successes × batch 4 / 1 s = 8 inferences/s; latencies 7 and 300 ms.
	if w.Requests != 2 || w.Errors != 1 || w.Throughput != 8 {
		t.Errorf("window: %d requests, %d errors, %v infer/s; want 2, 1, 8", w.Requests, w.Errors, w.Throughput)
	}
	if w.Latency.Avg != ms(153.5) || w.Latency.Min != ms(7) || w.Latency.P99 != ms(300) {
		t.Errorf("window latency %+v; want avg 153.5ms, min 7ms, p99 300ms", w.Latency)
	}
}

func TestMergeWindows(t *testing.T) {
	// Three 1 s windows with 10, 20 and 30 successes of 1 ms..: 60 requests
	// over 3 s = 20 inferences/s; percentiles over all 60 latencies.
	var ws []Window
	for i, n := range []int{10, 20, 30} {
		var ss []Sample
		for j := range n {
			end := float64(i*1000 + j + 1)
			ss = append(ss, sample(end-float64(j+1), end, ""))
		}
		ws = append(ws, newWindow(at(float64(i*1000)), at(float64((i+1)*1000)), ss, 1))
	}
	m, all := mergeWindows(ws, 1)
	if len(all) != 60 || m.Requests != 60 || m.Throughput != 20 {
		t.Fatalf("merged: %d samples, %d requests, %v infer/s; want 60, 60, 20", len(all), m.Requests, m.Throughput)
	}
	// Latencies are 1..10, 1..20, 1..30 ms: 60 values, p50 = 30th smallest.
	// Sorted: 1,1,1,2,2,2,...,10,10,10 (30 values), so the 30th is 10 ms.
	if m.Latency.P50 != ms(10) || m.Latency.Max != ms(30) {
		t.Errorf("merged latency %+v; want p50 10ms, max 30ms", m.Latency)
	}
}

func win(tput, avgMs float64) Window {
	return Window{Throughput: tput, Requests: int(tput), Latency: LatencyStats{Avg: ms(avgMs)}}
}

func TestCheckStability(t *testing.T) {
	tests := []struct {
		name       string
		ws         []Window
		pct        float64
		want       bool
		tputSpread float64
	}{
		{"too few windows", []Window{win(100, 10), win(100, 10)}, 10, false, 0},
		{"identical", []Window{win(100, 10), win(100, 10), win(100, 10)}, 10, true, 0},
		// 110/100 = 1.10: exactly on the 10% bound is stable.
		{"throughput at the bound", []Window{win(100, 10), win(110, 10), win(105, 10)}, 10, true, 10},
		// 111/100 = 1.11 > 1.10.
		{"throughput past the bound", []Window{win(100, 10), win(111, 10), win(105, 10)}, 10, false, 11},
		// latency 10 vs 12 ms: 20% spread.
		{"latency past the bound", []Window{win(100, 10), win(100, 12), win(100, 11)}, 10, false, 0},
		// only the last 3 count: the wild first window is ignored.
		{"only the last three", []Window{win(10, 90), win(100, 10), win(102, 10.2), win(101, 10.1)}, 10, true, 2},
		{"an empty window", []Window{win(100, 10), win(0, 0), win(100, 10)}, 10, false, math.Inf(1)},
		{"loose bound", []Window{win(100, 10), win(140, 13), win(120, 12)}, 50, true, 40},
	}
	for _, tc := range tests {
		got := CheckStability(tc.ws, 3, tc.pct)
		if got.Stable != tc.want {
			t.Errorf("%s: stable = %v, want %v (%+v)", tc.name, got.Stable, tc.want, got)
		}
		if len(tc.ws) >= 3 && math.Abs(got.ThroughputSpread-tc.tputSpread) > 1e-9 && !(math.IsInf(tc.tputSpread, 1) && math.IsInf(got.ThroughputSpread, 1)) {
			t.Errorf("%s: throughput spread %v%%, want %v%%", tc.name, got.ThroughputSpread, tc.tputSpread)
		}
	}
	partial := []Window{win(100, 10), win(100, 10), win(100, 10)}
	partial[2].Partial = true
	if CheckStability(partial, 3, 10).Stable {
		t.Error("a partial window counted towards stability")
	}
}

func TestPercentileOfUnsortedLeavesInputAlone(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if p50, p100 := PercentileOf(ds, 50), PercentileOf(ds, 100); p50 != 3 || p100 != 5 {
		t.Fatalf("p50 %v p100 %v, want 3 5", p50, p100)
	}
	if ds[0] != 5 || ds[4] != 3 {
		t.Fatalf("input reordered: %v", ds)
	}
}
