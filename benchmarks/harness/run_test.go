package harness

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/batonhq/baton/tritonclient"
)

// fakeTarget answers after latency(now) of fake time and keeps Triton-style
// statistics of what it served: the pipeline "pipe" (its whole latency)
// and two stages, "a" (queue 1 ms, compute infer 3 ms, request 4 ms) and
// "b" (compute infer 5 ms, request 5 ms).
type fakeTarget struct {
	latency func(now time.Time) time.Duration
	mu      sync.Mutex
	pipe    tritonclient.ModelStats
	a, b    tritonclient.ModelStats
}

func (f *fakeTarget) Send(ctx context.Context, _ int) (Reply, error) {
	d := f.latency(time.Now())
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pipe = f.pipe.Add(modelStats("pipe", 1, 0, 0, 0, 0, msf(d)))
	f.a = f.a.Add(modelStats("a", 1, 1, 0, 3, 0, 4))
	f.b = f.b.Add(modelStats("b", 1, 0, 0, 5, 0, 5))
	return Reply{Send: ms(0.01), Recv: ms(0.02)}, nil
}

// fakeStats serves f's statistics: as Baton for "pipe", as Triton for the rest.
type fakeStats struct {
	f      *fakeTarget
	triton bool
}

func (s fakeStats) ModelStatistics(_ context.Context, model, _ string) ([]tritonclient.ModelStats, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if !s.triton {
		return []tritonclient.ModelStats{s.f.pipe}, nil
	}
	a, b := s.f.a, s.f.b
	a.Name, a.Version, b.Name, b.Version = "a", "1", "b", "1"
	return []tritonclient.ModelStats{a, b}, nil
}

func constant(d time.Duration) func(time.Time) time.Duration {
	return func(time.Time) time.Duration { return d }
}

// Windows of 1003 ms never coincide with completions on a 10 ms grid, so
// which goroutine fake time wakes first cannot change a count.
const oddWindow = 1003 * time.Millisecond

func TestRunClosedLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeTarget{latency: constant(10 * time.Millisecond)}
		plan := &StatsPlan{Target: StatsSource{"baton", fakeStats{f, false}}, TargetModel: "pipe",
			Stages: []StatsSource{{"triton-0", fakeStats{f, true}}}, StageModels: []string{"a", "b"}}
		var events []Progress
		levels, err := Run(t.Context(), f, Config{Concurrency: []int{2}, Window: oddWindow, BatchSize: 3, Stats: plan,
			Progress: func(p Progress) { events = append(events, p) }})
		if err != nil {
			t.Fatal(err)
		}
		lv := levels[0]
		// 2 workers × one answer per 10 ms: 100 answers each per window,
		// identical windows, stable after the minimum of 3.
		if !lv.Stable || len(lv.Windows) != 3 || lv.Requests != 600 || lv.Errors != 0 {
			t.Fatalf("level: stable %v, %d windows, %d requests, %d errors; want stable, 3, 600, 0", lv.Stable, len(lv.Windows), lv.Requests, lv.Errors)
		}
		for i, w := range lv.Windows {
			if w.Requests != 200 {
				t.Errorf("window %d: %d requests, want 200", i, w.Requests)
			}
		}
		// 600 requests × batch 3 over 3 × 1.003 s.
		if want := 1800 / 3.009; math.Abs(lv.Throughput-want) > 1e-9 {
			t.Errorf("throughput %v, want %v", lv.Throughput, want)
		}
		if l := lv.Latency; l.P50 != ms(10) || l.P99 != ms(10) || l.Avg != ms(10) {
			t.Errorf("latency %+v, want 10ms throughout", l)
		}
		if lv.ClientSend != ms(0.01) || lv.ClientRecv != ms(0.02) {
			t.Errorf("client send %v recv %v", lv.ClientSend, lv.ClientRecv)
		}
		s := lv.Server
		if s == nil {
			t.Fatalf("no server breakdown: %s", lv.StatsError)
		}
		// Per request: queue 1 (a), infer 3 + 5, stage time 4 + 5 = 9 ms;
		// the pipeline's 10 ms less 9 is the orchestration overhead.
		o, _ := s.Orchestration()
		if s.Requests != 600 || s.RequestsFromClient || s.Queue != ms(1) || s.ComputeInfer != ms(8) || s.StageTime != ms(9) || s.TargetTime != ms(10) || o != ms(1) {
			t.Errorf("breakdown %+v, orchestration %v", s, o)
		}
		// Events: 3 windows then done.
		if len(events) != 4 || events[2].Phase != PhaseWindow || !events[2].Stability.Stable || events[3].Phase != PhaseDone || events[3].Result.Requests != 600 {
			t.Errorf("progress events: %+v", events)
		}
	})
}

func TestRunWarmupAndMaxTrials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Latency grows by 1 ms every whole second of the run: never
		// stable at 1%.
		var begin time.Time
		f := &fakeTarget{latency: func(now time.Time) time.Duration {
			if begin.IsZero() {
				begin = now
			}
			return 10*time.Millisecond + time.Duration(now.Sub(begin)/time.Second)*time.Millisecond
		}}
		levels, err := Run(t.Context(), f, Config{Concurrency: []int{1}, Window: oddWindow, StabilityPercent: 1, MaxTrials: 4, WarmupRequests: 3})
		if err != nil {
			t.Fatal(err)
		}
		lv := levels[0]
		if lv.Stable || len(lv.Windows) != 4 || lv.Merged != 3 {
			t.Fatalf("stable %v, %d windows, %d merged; want unstable after 4 windows with the last 3 merged", lv.Stable, len(lv.Windows), lv.Merged)
		}
		// Warm-up: 3 answers over the first 30 ms are dropped; the first
		// window starts when the third arrives.
		if got := lv.Windows[0].Start.Sub(begin); got != 30*time.Millisecond {
			t.Errorf("first window starts %v into the run, want 30ms", got)
		}
		if lv.Server != nil {
			t.Error("a breakdown without a statistics plan")
		}
	})
}

func TestRunOpenLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeTarget{latency: constant(5 * time.Millisecond)}
		levels, err := Run(t.Context(), f, Config{RequestRates: []float64{100, 200}, Distribution: Constant, Window: oddWindow, MaxTrials: 3})
		if err != nil {
			t.Fatal(err)
		}
		// 100/s: sends every 10 ms from 10 ms, answers 5 ms later; windows
		// end at 1003, 2006, 3009 ms: 99 + 101 + 100 answers.
		// 200/s: sends every 5 ms from 5 ms, answers from 10 ms: 199 + 201
		// + 200 answers.
		for i, want := range []int{300, 600} {
			lv := levels[i]
			if lv.Requests != want || lv.Delayed != 0 || lv.Errors != 0 {
				t.Errorf("rate %v: %d requests, %d delayed, %d errors; want %d, 0, 0", lv.RequestRate, lv.Requests, lv.Delayed, lv.Errors, want)
			}
			if !lv.Stable {
				t.Errorf("rate %v not stable: %+v", lv.RequestRate, lv.Stability)
			}
		}
	})
}

func TestRunInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 10 ms answers for the first second, 20 ms after: not stable
		// before the interrupt at 2.5 s.
		var begin time.Time
		f := &fakeTarget{latency: func(now time.Time) time.Duration {
			if begin.IsZero() {
				begin = now
			}
			if now.Sub(begin) < time.Second {
				return 10 * time.Millisecond
			}
			return 20 * time.Millisecond
		}}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(2500*time.Millisecond, cancel)
		levels, err := Run(ctx, f, Config{Concurrency: []int{1, 2}, Window: oddWindow})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if len(levels) != 1 {
			t.Fatalf("%d levels, want only the interrupted one", len(levels))
		}
		lv := levels[0]
		if !lv.Interrupted || lv.Stable || len(lv.Windows) != 3 || !lv.Windows[2].Partial || lv.Windows[1].Partial {
			t.Fatalf("interrupted %v stable %v, %d windows (last partial %v)", lv.Interrupted, lv.Stable, len(lv.Windows), lv.Windows[len(lv.Windows)-1].Partial)
		}
		// The partial window runs from 2006 to 2500 ms.
		if d := lv.Windows[2].End.Sub(lv.Windows[2].Start); d != 494*time.Millisecond {
			t.Errorf("partial window lasts %v, want 494ms", d)
		}
		if lv.Requests == 0 || lv.Latency.P50 == 0 {
			t.Errorf("interrupted level kept no figures: %+v", lv)
		}
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	f := &fakeTarget{latency: constant(time.Millisecond)}
	for _, cfg := range []Config{
		{},
		{Concurrency: []int{1}, RequestRates: []float64{1}},
		{Concurrency: []int{0}},
		{Concurrency: []int{1}, MaxTrials: 2},
		{RequestRates: []float64{10}, Distribution: "uniform"},
	} {
		if _, err := Run(t.Context(), f, cfg); !errors.Is(err, ErrBadFlag) {
			t.Errorf("Run(%+v) = %v, want ErrBadFlag", cfg, err)
		}
	}
}

func TestGaps(t *testing.T) {
	next, err := Gaps(Constant, 250, nil)
	if err != nil || next() != 4*time.Millisecond || next() != 4*time.Millisecond {
		t.Errorf("constant 250/s: want 4ms gaps (%v)", err)
	}
	// Exponential gaps of mean 1/rate: over 200000 draws from a fixed seed
	// the mean is within 1% of 10 ms, and the coefficient of variation of
	// an exponential distribution (stddev/mean) is 1.
	next, err = Gaps(Poisson, 100, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200000
	var sum, sq float64
	for range n {
		g := float64(next()) / float64(time.Millisecond)
		sum += g
		sq += g * g
	}
	mean := sum / n
	cv := math.Sqrt(sq/n-mean*mean) / mean
	if math.Abs(mean-10) > 0.1 || math.Abs(cv-1) > 0.02 {
		t.Errorf("Poisson 100/s gaps: mean %.3f ms, cv %.3f; want 10 ms and 1", mean, cv)
	}
	if _, err := Gaps(Poisson, 0, nil); !errors.Is(err, ErrBadFlag) {
		t.Errorf("rate 0: %v", err)
	}
}
