package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Distribution is how open-loop requests are spaced in time.
type Distribution string

// Distributions.
const (
	// Constant sends every 1/rate seconds.
	Constant Distribution = "constant"
	// Poisson draws exponential gaps of mean 1/rate from a seeded RNG.
	Poisson Distribution = "poisson"
)

// delayTolerance is how late an open-loop send may be before it counts as
// delayed (timer wake-ups on a busy host are late by tens of µs).
const delayTolerance = time.Millisecond

// Gaps returns the successive gaps between open-loop sends at rate
// requests per second: all 1/rate for Constant, exponential with mean
// 1/rate drawn from rng for Poisson.
func Gaps(dist Distribution, rate float64, rng *rand.Rand) (func() time.Duration, error) {
	if !(rate > 0) {
		return nil, fmt.Errorf("%w: request rate %v must be positive", ErrBadFlag, rate)
	}
	mean := float64(time.Second) / rate
	switch dist {
	case Constant, "":
		return func() time.Duration { return time.Duration(mean) }, nil
	case Poisson:
		return func() time.Duration { return time.Duration(rng.ExpFloat64() * mean) }, nil
	}
	return nil, fmt.Errorf("%w: request distribution %q: want constant or poisson", ErrBadFlag, dist)
}

// recorder collects finished requests from the load goroutines until the
// runner takes them window by window.
type recorder struct {
	mu        sync.Mutex
	pending   []Sample
	completed int
	// waiters are closed once completed reaches their count.
	waiters map[int]chan struct{}
}

func newRecorder() *recorder { return &recorder{waiters: map[int]chan struct{}{}} }

func (r *recorder) add(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, s)
	r.completed++
	if ch, ok := r.waiters[r.completed]; ok {
		close(ch)
		delete(r.waiters, r.completed)
	}
}

// reached is closed once n requests have finished in total.
func (r *recorder) reached(n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	if r.completed >= n {
		close(ch)
		return ch
	}
	if old, ok := r.waiters[n]; ok {
		return old
	}
	r.waiters[n] = ch
	return ch
}

// takeBefore removes and returns the samples that completed before t.
func (r *recorder) takeBefore(t time.Time) []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	before, after := splitByEnd(r.pending, t)
	out := append([]Sample(nil), before...)
	r.pending = append(r.pending[:0:0], after...)
	return out
}

// load is one level's running generator.
type load struct {
	rec  *recorder
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// halt stops sending and waits for the requests in flight.
func (l *load) halt() {
	l.stop()
	l.wg.Wait()
}

// sendOne runs one request and records it, unless the run was cancelled
// under it: a request cut short by Ctrl-C measures nothing.
func sendOne(ctx context.Context, t Target, rec *recorder, payload int, delayed bool) {
	start := time.Now()
	rep, err := t.Send(ctx, payload)
	if err != nil && ctx.Err() != nil {
		return
	}
	s := Sample{Start: start, End: time.Now(), Delayed: delayed, Send: rep.Send, Recv: rep.Recv, Timing: rep.Timing}
	if err != nil {
		s.Err = err.Error()
	}
	rec.add(s)
}

// startClosed runs n workers that each send a request as soon as their
// previous one is answered. ctx cancels requests in flight; halt only
// stops new ones.
func startClosed(ctx context.Context, t Target, n int) *load {
	genCtx, stop := context.WithCancel(ctx)
	l := &load{rec: newRecorder(), stop: stop}
	var next atomic.Int64
	for range n {
		l.wg.Go(func() {
			for genCtx.Err() == nil {
				sendOne(ctx, t, l.rec, int(next.Add(1)-1), false)
			}
		})
	}
	return l
}

// startOpen sends requests on a schedule of gaps, each in its own
// goroutine, at most maxInFlight at once; a send that waits for a free
// slot or a late timer past delayTolerance is marked delayed.
func startOpen(ctx context.Context, t Target, gaps func() time.Duration, maxInFlight int) *load {
	genCtx, stop := context.WithCancel(ctx)
	l := &load{rec: newRecorder(), stop: stop}
	slots := make(chan struct{}, max(maxInFlight, 1))
	l.wg.Go(func() {
		timer := time.NewTimer(0)
		defer timer.Stop()
		<-timer.C
		due := time.Now()
		for i := 0; ; i++ {
			due = due.Add(gaps())
			timer.Reset(time.Until(due))
			select {
			case <-genCtx.Done():
				return
			case <-timer.C:
			}
			select {
			case <-genCtx.Done():
				return
			case slots <- struct{}{}:
			}
			late := time.Since(due) > delayTolerance
			l.wg.Go(func() {
				defer func() { <-slots }()
				sendOne(ctx, t, l.rec, i, late)
			})
		}
	})
	return l
}
