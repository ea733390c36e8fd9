package harness

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"
)

// Config is one run: the load levels and how each is measured.
type Config struct {
	// Concurrency levels (closed loop) or RequestRates (open loop, requests
	// per second); exactly one is set.
	Concurrency  []int
	RequestRates []float64
	// Distribution spaces open-loop sends; Seed seeds Poisson gaps.
	Distribution Distribution
	Seed         uint64
	// Window is the length of one measurement window (default 5s).
	Window time.Duration
	// StabilityPercent is how far the last StabilityWindows windows may
	// spread in throughput and in average latency (default 10 and 3).
	StabilityPercent float64
	StabilityWindows int
	// MaxTrials bounds the windows measured per level (default 10).
	MaxTrials int
	// WarmupRequests are sent and dropped at the start of each level.
	WarmupRequests int
	// BatchSize turns requests into inferences (default 1).
	BatchSize int
	// MaxInFlight bounds open-loop requests in flight (default 1024).
	MaxInFlight int
	// Stats, when set, adds the server-side breakdown.
	Stats *StatsPlan
	// Progress, when set, hears about every phase and window.
	Progress func(Progress)
	Logger   *slog.Logger
}

func (c *Config) defaults() error {
	if (len(c.Concurrency) == 0) == (len(c.RequestRates) == 0) {
		return fmt.Errorf("%w: give either concurrency levels or request rates", ErrBadFlag)
	}
	if c.Window <= 0 {
		c.Window = 5 * time.Second
	}
	if c.StabilityPercent <= 0 {
		c.StabilityPercent = 10
	}
	if c.StabilityWindows <= 0 {
		c.StabilityWindows = 3
	}
	if c.MaxTrials <= 0 {
		c.MaxTrials = 10
	}
	if c.MaxTrials < c.StabilityWindows {
		return fmt.Errorf("%w: max trials %d is below the %d windows stability needs", ErrBadFlag, c.MaxTrials, c.StabilityWindows)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.WarmupRequests < 0 {
		return fmt.Errorf("%w: negative warm-up request count", ErrBadFlag)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, n := range c.Concurrency {
		if n <= 0 {
			return fmt.Errorf("%w: concurrency %d", ErrBadFlag, n)
		}
	}
	if len(c.RequestRates) > 0 {
		if _, err := Gaps(c.Distribution, c.RequestRates[0], nil); err != nil {
			return err
		}
	}
	return nil
}

// Level is the measurement of one concurrency or request rate: its
// windows, and the last StabilityWindows of them merged.
type Level struct {
	// Concurrency or RequestRate is the load; the other is 0.
	Concurrency int
	RequestRate float64
	// Stable says the merged windows met the stability rule; Interrupted
	// that the run was cancelled during this level.
	Stable, Interrupted bool
	Stability           Stability
	// Windows are every trial, in order.
	Windows []Window
	// Merged is how many trailing windows the figures below cover.
	Merged int
	// Duration is the merged windows' total length.
	Duration time.Duration
	// Requests, Errors and Delayed count the merged windows' requests.
	Requests, Errors, Delayed int
	// Throughput is inferences per second over the merged windows.
	Throughput float64
	Latency    LatencyStats
	// ClientSend and ClientRecv are means over successful requests.
	ClientSend, ClientRecv time.Duration
	// ErrorCounts counts failures by message.
	ErrorCounts map[string]int
	// Timing is Baton's Server-Timing view (HTTP doors of Baton only).
	Timing *TimingStats
	// Server is the statistics view; StatsError says why it is missing
	// when statistics were asked for.
	Server     *ServerBreakdown
	StatsError string
}

// Load is "concurrency 4" or "request rate 50/s".
func (l *Level) Load() string {
	if l.RequestRate > 0 {
		return fmt.Sprintf("request rate %g/s", l.RequestRate)
	}
	return fmt.Sprintf("concurrency %d", l.Concurrency)
}

// Phase is where a level stands.
type Phase string

// Phases reported to Config.Progress.
const (
	PhaseWarmup Phase = "warm-up"
	PhaseWindow Phase = "window"
	PhaseDone   Phase = "done"
)

// Progress is one event of a run.
type Progress struct {
	// Level counts from 1 to Levels.
	Level, Levels int
	Concurrency   int
	RequestRate   float64
	Phase         Phase
	// Trial is the number of the window just measured, up to MaxTrials.
	Trial, MaxTrials int
	// Window is the window just measured (PhaseWindow).
	Window *Window
	// Stability is the verdict after that window.
	Stability Stability
	// Result is the finished level (PhaseDone).
	Result *Level
}

// Run measures t at every level of cfg in turn. When ctx is cancelled it
// stops, keeps what the current level measured so far (marked
// Interrupted), and returns the levels together with ctx's error, so
// callers can still write them.
func Run(ctx context.Context, t Target, cfg Config) ([]Level, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	n := max(len(cfg.Concurrency), len(cfg.RequestRates))
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x2545f4914f6cdd1d))
	var levels []Level
	for i := range n {
		lv := Level{}
		if len(cfg.Concurrency) > 0 {
			lv.Concurrency = cfg.Concurrency[i]
		} else {
			lv.RequestRate = cfg.RequestRates[i]
		}
		done := runLevel(ctx, t, &cfg, lv, i+1, n, rng)
		levels = append(levels, done)
		if ctx.Err() != nil {
			return levels, ctx.Err()
		}
	}
	return levels, nil
}

// runLevel starts the load, warms up, measures windows until stable or
// out of trials, and stops the load.
func runLevel(ctx context.Context, t Target, cfg *Config, lv Level, idx, of int, rng *rand.Rand) Level {
	report := func(p Progress) {
		if cfg.Progress != nil {
			p.Level, p.Levels, p.Concurrency, p.RequestRate, p.MaxTrials = idx, of, lv.Concurrency, lv.RequestRate, cfg.MaxTrials
			cfg.Progress(p)
		}
	}
	var l *load
	if lv.Concurrency > 0 {
		l = startClosed(ctx, t, lv.Concurrency)
	} else {
		gaps, _ := Gaps(cfg.Distribution, lv.RequestRate, rng) // checked by defaults
		l = startOpen(ctx, t, gaps, cfg.MaxInFlight)
	}
	defer l.halt()

	if cfg.WarmupRequests > 0 {
		report(Progress{Phase: PhaseWarmup})
		select {
		case <-l.rec.reached(cfg.WarmupRequests):
		case <-ctx.Done():
			lv.Interrupted = true
			report(Progress{Phase: PhaseDone, Result: &lv})
			return lv
		}
	}
	start := time.Now()
	_ = l.rec.takeBefore(start.Add(time.Nanosecond)) // warm-up answers, through the one that ended it
	var prev *snapshot
	statsErr := ""
	readStats := func(ctx context.Context) *snapshot {
		if cfg.Stats == nil {
			return nil
		}
		snap, err := cfg.Stats.read(ctx)
		if err != nil {
			statsErr = err.Error()
			cfg.Logger.Warn("reading statistics", "err", err)
			return nil
		}
		return snap
	}
	prev = readStats(ctx)

	timer := time.NewTimer(cfg.Window)
	defer timer.Stop()
	for trial := 1; trial <= cfg.MaxTrials; trial++ {
		interrupted := false
		select {
		case <-timer.C:
		case <-ctx.Done():
			interrupted = true
		}
		end := time.Now()
		// A request that ended before start but was recorded after the
		// previous window closed belongs to that window (or, before the
		// first one, to the warm-up).
		late, in := splitByEnd(l.rec.takeBefore(end), start)
		if n := len(lv.Windows); n > 0 && len(late) > 0 {
			lv.Windows[n-1].samples = append(lv.Windows[n-1].samples, late...)
			lv.Windows[n-1].summarize(cfg.BatchSize)
		}
		w := newWindow(start, end, in, cfg.BatchSize)
		w.Partial = interrupted
		statsCtx := ctx
		if interrupted { // still read the servers, briefly, for what was measured
			var cancel context.CancelFunc
			statsCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
		}
		cur := readStats(statsCtx)
		if prev != nil && cur != nil {
			w.stats = diff(prev, cur)
		}
		prev = cur
		if interrupted && len(w.samples) == 0 {
			lv.Interrupted = true
			break
		}
		lv.Windows = append(lv.Windows, w)
		lv.Stability = CheckStability(lv.Windows, cfg.StabilityWindows, cfg.StabilityPercent)
		report(Progress{Phase: PhaseWindow, Trial: trial, Window: &lv.Windows[len(lv.Windows)-1], Stability: lv.Stability})
		if interrupted {
			lv.Interrupted = true
			break
		}
		if lv.Stability.Stable {
			break
		}
		start = end
		timer.Reset(cfg.Window - time.Since(end))
	}
	finishLevel(&lv, cfg, statsErr)
	report(Progress{Phase: PhaseDone, Result: &lv})
	return lv
}

// maxErrorMessages bounds the distinct messages a level keeps; the rest
// are counted under otherErrors.
const (
	maxErrorMessages = 20
	otherErrors      = "(other messages)"
)

// finishLevel merges the trailing windows into the level's figures.
func finishLevel(lv *Level, cfg *Config, statsErr string) {
	lv.Stable = lv.Stability.Stable && !lv.Interrupted
	if len(lv.Windows) == 0 {
		return
	}
	tail := lv.Windows[max(len(lv.Windows)-cfg.StabilityWindows, 0):]
	m, samples := mergeWindows(tail, cfg.BatchSize)
	lv.Merged = len(tail)
	lv.Requests, lv.Errors, lv.Delayed = m.Requests, m.Errors, m.Delayed
	lv.Throughput, lv.Latency = m.Throughput, m.Latency
	for _, w := range tail {
		lv.Duration += w.End.Sub(w.Start)
	}
	var send, recv time.Duration
	for _, s := range samples {
		if s.Err != "" {
			if lv.ErrorCounts == nil {
				lv.ErrorCounts = map[string]int{}
			}
			msg := s.Err
			if _, seen := lv.ErrorCounts[msg]; !seen && len(lv.ErrorCounts) >= maxErrorMessages {
				msg = otherErrors
			}
			lv.ErrorCounts[msg]++
			continue
		}
		send += s.Send
		recv += s.Recv
	}
	if lv.Requests > 0 {
		lv.ClientSend, lv.ClientRecv = send/time.Duration(lv.Requests), recv/time.Duration(lv.Requests)
	}
	lv.Timing = summarizeTiming(samples)
	if cfg.Stats == nil {
		return
	}
	deltas := make([]*statsDelta, len(tail))
	for i, w := range tail {
		deltas[i] = w.stats
	}
	order := slices.Clone(cfg.Stats.StageModels)
	if lv.Timing != nil && len(order) == 0 {
		for _, st := range lv.Timing.Stages {
			if !slices.Contains(order, st.Model) {
				order = append(order, st.Model)
			}
		}
	}
	lv.Server = breakdown(mergeDeltas(deltas), lv.Requests, order, cfg.Stats.TargetModel)
	if lv.Server == nil {
		lv.StatsError = statsErr
		if lv.StatsError == "" {
			lv.StatsError = "no statistics covered the measured windows"
		}
	}
}
