package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/groups/eviction"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/tritonclient"
)

// Fleet is what the manager needs from the fleet: the executor's router for
// plain stages, and the instances with their in-flight accounting.
type Fleet interface {
	executor.Router
	Instances() []*fleet.Instance
	Track(instance, model string) (done func())
	InFlight(instance, model string) int64
	NoteLoaded(instance, model string)
	NoteUnloaded(instance, model string)
	MarkUnhealthy(instance string, err error)
}

// Loader is what the manager needs from the loader.
type Loader interface {
	Ensure(ctx context.Context, model string, p loader.Placement) error
	Unload(ctx context.Context, instance, model string, drain time.Duration) error
	Measured(model, kind string) (loader.Footprint, bool)
	Leftover(instance, model string) (uint64, bool)
}

// Options tunes a Manager.
type Options struct {
	// Repository is the model repository (for footprint estimates).
	Repository string
	// SimulateGPUs loads models on gpu instances with KIND_CPU (see
	// loader.Placement.Simulated).
	SimulateGPUs bool
	// LoadTimeout bounds one on-demand load (default 2m). A load is shared
	// by every request waiting for the model, so it runs on its own
	// deadline; each request waits at most until its own.
	LoadTimeout time.Duration
	// DrainTimeout bounds the wait for calls in flight on an evicted model
	// that came from outside the group (default 30s).
	DrainTimeout time.Duration
	// Backoff is the wait after a failed load before the next request may
	// try again (default 5s); it doubles with each consecutive failure up
	// to MaxBackoff (default 5m).
	Backoff, MaxBackoff time.Duration
	// LoadsPerSecond limits on-demand loads across all groups, so a burst
	// of cold targets cannot starve live traffic (default 4/s, burst 4;
	// negative: no limit).
	LoadsPerSecond float64
	// IndexTTL is how long a repository index read for pattern members is
	// trusted (default 5s).
	IndexTTL   time.Duration
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Manager serves group stages: it implements executor.Router, routing a
// group stage to an instance that holds the request's target model (loading
// it on demand, evicting within the group's budget) and every other stage
// to the fleet. Safe for concurrent use.
type Manager struct {
	fleet   Fleet
	loader  Loader
	opts    Options
	groups  map[string]*group // fixed at New
	limiter *rate.Limiter
	metrics *metrics
	now     func() time.Time
}

// New creates a Manager for specs, each validated; names must be unique.
func New(f Fleet, l Loader, specs []*Spec, opts Options) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.LoadTimeout = cmpOr(opts.LoadTimeout, 2*time.Minute)
	opts.DrainTimeout = cmpOr(opts.DrainTimeout, 30*time.Second)
	opts.Backoff = cmpOr(opts.Backoff, 5*time.Second)
	opts.MaxBackoff = cmpOr(opts.MaxBackoff, 5*time.Minute)
	opts.IndexTTL = cmpOr(opts.IndexTTL, 5*time.Second)
	if opts.LoadsPerSecond == 0 {
		opts.LoadsPerSecond = 4
	}
	lim := rate.NewLimiter(rate.Inf, 0)
	if opts.LoadsPerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(opts.LoadsPerSecond), max(int(opts.LoadsPerSecond), 1))
	}
	m := &Manager{fleet: f, loader: l, opts: opts, groups: map[string]*group{}, limiter: lim, now: time.Now}
	var errs []error
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := m.groups[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%w %q: defined twice", ErrInvalidSpec, s.Name))
			continue
		}
		if _, err := eviction.ParsePolicy(s.Policy); err != nil {
			errs = append(errs, err)
			continue
		}
		m.groups[s.Name] = &group{m: m, spec: s, insts: map[string]*instState{}, failures: map[string]*failure{}, waiting: map[string]int{}, loadTimes: map[string]time.Duration{}}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.metrics = newMetrics(m)
	if opts.Registerer != nil {
		if err := m.metrics.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Has reports whether a group called name is defined (pipeline validation
// uses it).
func (m *Manager) Has(name string) bool {
	_, ok := m.groups[name]
	return ok
}

// Names lists the groups, sorted.
func (m *Manager) Names() []string {
	names := make([]string, 0, len(m.groups))
	for n := range m.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ReportFailure implements executor.Router.
func (m *Manager) ReportFailure(instance string, err error) { m.fleet.ReportFailure(instance, err) }

// Route implements executor.Router. A plain stage goes to the fleet. A group
// stage goes to a healthy eligible instance that holds t.Model (the least
// busy one), or, when none does, waits for the model's one shared on-demand
// load. The route holds a reference that keeps the model from eviction
// until Done.
//
// Errors wrap executor.ErrUnknownTarget (not a member: 404),
// executor.ErrLoadFailed (*LoadError: 424), executor.ErrNoInstance (no
// eligible instance, or pinned members fill the budget: 503), or the
// request's context error (it waited for a load, or for members in use to
// make room, past its deadline).
func (m *Manager) Route(ctx context.Context, t executor.Target, exclude []string) (executor.Route, error) {
	if t.Group == "" {
		return m.fleet.Route(ctx, t, exclude)
	}
	g, ok := m.groups[t.Group]
	if !ok {
		return executor.Route{}, fmt.Errorf("%w: group %q is not defined", executor.ErrNoInstance, t.Group)
	}
	if err := g.checkMember(ctx, t.Model); err != nil {
		m.metrics.requests.WithLabelValues(g.spec.Name, "unknown").Inc()
		return executor.Route{}, err
	}
	cold := false
	defer func() {
		if cold {
			g.doneWaiting(t.Model)
		}
	}()
	for range maxColdAttempts {
		if r, ok := g.hit(t.Model, t.Device, exclude); ok {
			result := "hit"
			if cold {
				result = "cold"
			}
			m.metrics.requests.WithLabelValues(g.spec.Name, result).Inc()
			return r, nil
		}
		if !cold {
			cold = true
			g.mu.Lock()
			g.waiting[t.Model]++
			g.mu.Unlock()
		}
		ch := g.sf.DoChan(coldKey(t.Model, exclude), func() (any, error) { return nil, g.coldLoad(t.Model, t.Device, exclude) })
		select {
		case res := <-ch:
			if res.Err != nil {
				m.metrics.requests.WithLabelValues(g.spec.Name, "error").Inc()
				return executor.Route{}, res.Err
			}
		case <-ctx.Done():
			m.metrics.requests.WithLabelValues(g.spec.Name, "error").Inc()
			return executor.Route{}, fmt.Errorf("group %q: waiting for model %q to load: %w", g.spec.Name, t.Model, ctx.Err())
		}
	}
	// Loaded and evicted again before this request got to it, every time:
	// the budget is far too small for the traffic.
	m.metrics.requests.WithLabelValues(g.spec.Name, "error").Inc()
	return executor.Route{}, fmt.Errorf("%w: group %q: model %q was evicted again right after each load; the budget is too small for the working set", executor.ErrNoInstance, g.spec.Name, t.Model)
}

// coldKey names one shared cold load: the model and the instances it must
// avoid.
func coldKey(model string, exclude []string) string {
	return model + "\x00" + strings.Join(exclude, "\x00")
}

// maxColdAttempts bounds how often one request waits for a load of its
// target that other cold loads then evict before the request gets to it.
const maxColdAttempts = 5

// errRoomLater: every instance's budget is held by members in use or still
// loading; room comes back when they finish.
var errRoomLater = errors.New("budget held by members in use")

// Prewarm loads every group's pinned and prewarm members (each on one
// instance), within the load rate limit. It returns the failures joined;
// the members that loaded stay loaded.
func (m *Manager) Prewarm(ctx context.Context) error {
	var errs []error
	for _, name := range m.Names() {
		g := m.groups[name]
		want := slices.Clone(g.spec.Pinned)
		for _, p := range g.spec.Prewarm {
			if !slices.Contains(want, p) {
				want = append(want, p)
			}
		}
		for _, model := range want {
			if err := ctx.Err(); err != nil {
				return err
			}
			// The same single flight as requests for the model share.
			_, err, _ := g.sf.Do(coldKey(model, nil), func() (any, error) { return nil, g.coldLoad(model, pipeline.DeviceAny, nil) })
			if err != nil {
				errs = append(errs, fmt.Errorf("group %q: prewarm %q: %w", name, model, err))
				continue
			}
			m.opts.Logger.Info("group member prewarmed", "group", name, "model", model)
		}
	}
	return errors.Join(errs...)
}

// doneWaiting ends one request's wait for model (it holds a reference
// now, or gave up); the last one releases the pins held for the waiters.
func (g *group) doneWaiting(model string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting[model]--; g.waiting[model] > 0 {
		return
	}
	delete(g.waiting, model)
	for _, st := range g.insts {
		if st.held[model] {
			delete(st.held, model)
			_ = st.cache.Unpin(model)
		}
	}
}

// LoadError is a failed on-demand load: which group, model and instance,
// Triton's error inside, and when the next request may try again.
type LoadError struct {
	Group, Model, Instance string
	Err                    error
	RetryAt                time.Time
}

func (e *LoadError) Error() string {
	cause := e.Err.Error()
	if te, ok := errors.AsType[*tritonclient.Error](e.Err); ok {
		cause = te.Message
	}
	return fmt.Sprintf("group %q: loading model %q on %s failed: %s (next attempt after %s)",
		e.Group, e.Model, e.Instance, cause, e.RetryAt.UTC().Format(time.RFC3339))
}

// Unwrap gives executor.ErrLoadFailed and Triton's error.
func (e *LoadError) Unwrap() []error { return []error{executor.ErrLoadFailed, e.Err} }

// group is one group's live state.
type group struct {
	m    *Manager
	spec *Spec
	sf   singleflight.Group

	mu        sync.Mutex
	insts     map[string]*instState    // by instance name
	waiting   map[string]int           // requests waiting for a cold model
	loadTimes map[string]time.Duration // last measured load per model
	failures  map[string]*failure      // by model
	index     map[string]bool          // repository index, for pattern members
	indexAt   time.Time
	evictions []Eviction   // the latest, newest last
	loads     []LoadRecord // the latest, newest last
}

// instState is a group's accounting on one instance.
type instState struct {
	name  string
	cache *eviction.Cache
	// loading: models being loaded here (pinned in the cache meanwhile).
	loading map[string]bool
	// held: freshly loaded models still pinned for requests waiting on
	// them (see group.wait).
	held map[string]bool
	// unloading: evicted models whose unload is running; closed when done.
	unloading map[string]chan struct{}
	loadSem   chan struct{}
	// unreturned: bytes of evicted models that did not come back (the
	// unload failed or the model's processes outlived it), by model.
	unreturned map[string]uint64
	budgetNote string
}

type failure struct {
	err   *LoadError
	count int
}

// Eviction is one eviction, for the admin API.
type Eviction struct {
	Instance string    `json:"instance"`
	Model    string    `json:"model"`
	Bytes    uint64    `json:"bytes"`
	At       time.Time `json:"at"`
	For      string    `json:"for"`
	Error    string    `json:"error,omitempty"`
}

// LoadRecord is one on-demand load, for the admin API: where, why there,
// how long, and the footprint it measured.
type LoadRecord struct {
	Model    string    `json:"model"`
	Instance string    `json:"instance"`
	At       time.Time `json:"at"`
	Seconds  float64   `json:"seconds"`
	Bytes    uint64    `json:"bytes"`
	Measured bool      `json:"measured"`
	Why      string    `json:"why"`
}

// keepEvictions is how many evictions and loads the admin view keeps.
const keepEvictions = 32

// checkMember: explicit members always; pattern members only when a
// repository index lists them.
func (g *group) checkMember(ctx context.Context, model string) error {
	if slices.Contains(g.spec.Members, model) {
		return nil
	}
	if g.spec.IsMember(model) && g.inIndex(ctx, model) {
		return nil
	}
	return fmt.Errorf("%w: group %q has no member %q", executor.ErrUnknownTarget, g.spec.Name, model)
}

// inIndex reports whether some healthy instance's repository lists model,
// re-reading the indexes when the cached copy is older than IndexTTL (or
// older than a second and lacks the model).
func (g *group) inIndex(ctx context.Context, model string) bool {
	g.mu.Lock()
	age := g.m.now().Sub(g.indexAt)
	ok := g.index[model]
	g.mu.Unlock()
	if ok && age < g.m.opts.IndexTTL || !ok && age < time.Second {
		return ok
	}
	idx := map[string]bool{}
	for _, in := range g.m.fleet.Instances() {
		if !in.Healthy() {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		entries, err := in.Client.RepositoryIndex(ictx, false)
		cancel()
		if err != nil {
			continue
		}
		for _, e := range entries {
			idx[e.Name] = true
		}
	}
	g.mu.Lock()
	g.index, g.indexAt = idx, g.m.now()
	g.mu.Unlock()
	return idx[model]
}

// eligible lists the healthy instances a stage with device may use, in
// fleet order, skipping exclude.
func (g *group) eligible(device pipeline.Device, exclude []string) []*fleet.Instance {
	var out []*fleet.Instance
	for _, in := range g.m.fleet.Instances() {
		if slices.Contains(exclude, in.Spec.Name) || !in.Healthy() {
			continue
		}
		if device == pipeline.DeviceCPU && in.Spec.Kind != "cpu" || device == pipeline.DeviceGPU && in.Spec.Kind != "gpu" {
			continue
		}
		out = append(out, in)
	}
	return out
}

// hit routes to an instance that has model loaded, if any.
func (g *group) hit(model string, device pipeline.Device, exclude []string) (executor.Route, bool) {
	cands := g.eligible(device, exclude)
	g.mu.Lock()
	defer g.mu.Unlock()
	var best *fleet.Instance
	var bestSt *instState
	var bestBusy int64
	for _, in := range cands {
		st := g.insts[in.Spec.Name]
		if st == nil || !st.cache.Contains(model) || st.loading[model] {
			continue
		}
		if !in.HasModel(model) {
			// The fleet's last poll did not see it: Triton lost it (a
			// restart) or the poll predates the load. Not a hit; the cold
			// path admits it again (a hit in the cache, nothing evicted)
			// and the loader reloads it only if Triton really lacks it.
			// Forgetting it here could leave a loaded model unaccounted.
			continue
		}
		busy := g.m.fleet.InFlight(in.Spec.Name, model)
		if best == nil || busy < bestBusy {
			best, bestSt, bestBusy = in, st, busy
		}
	}
	if best == nil {
		return executor.Route{}, false
	}
	c := bestSt.cache
	c.Touch(model)
	_ = c.Acquire(model) // Contains held under g.mu
	tracked := g.m.fleet.Track(best.Spec.Name, model)
	return executor.Route{Instance: best.Spec.Name, Client: best.Client, Done: func() {
		tracked()
		g.mu.Lock()
		_ = c.Release(model)
		g.mu.Unlock()
	}}, true
}

// coldLoad loads model on the best eligible instance, evicting within the
// budget first. One runs per model at a time (the caller's singleflight).
func (g *group) coldLoad(model string, device pipeline.Device, exclude []string) error {
	g.mu.Lock()
	if f := g.failures[model]; f != nil && g.m.now().Before(f.err.RetryAt) {
		g.mu.Unlock()
		return f.err
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.m.opts.LoadTimeout)
	defer cancel()
	exclude = slices.Clone(exclude)
	for {
		res, err := g.reserve(ctx, model, device, exclude)
		if errors.Is(err, errRoomLater) {
			// Wait for a release rather than fail: requests wait for their
			// model up to their own deadline.
			select {
			case <-time.After(10 * time.Millisecond):
				continue
			case <-ctx.Done():
				return fmt.Errorf("%w: group %q: %w", executor.ErrNoInstance, g.spec.Name, err)
			}
		}
		if err != nil {
			return err
		}
		err = g.load(ctx, res)
		if err == nil {
			g.mu.Lock()
			delete(g.failures, model)
			g.mu.Unlock()
			return nil
		}
		if errors.Is(err, tritonclient.ErrUnavailable) {
			// The instance died under the load: not the model's fault.
			// Forget what the group had there and try another.
			g.m.fleet.MarkUnhealthy(res.inst.Spec.Name, err)
			g.mu.Lock()
			delete(g.insts, res.inst.Spec.Name)
			g.mu.Unlock()
			g.m.metrics.loadFailures.WithLabelValues(g.spec.Name, "unavailable").Inc()
			g.m.opts.Logger.Warn("group load: instance unreachable; trying another", "group", g.spec.Name, "model", model, "instance", res.inst.Spec.Name, "err", err)
			exclude = append(exclude, res.inst.Spec.Name)
			continue
		}
		if errors.Is(err, eviction.ErrTooLarge) {
			return fmt.Errorf("%w: group %q: %w", executor.ErrNoInstance, g.spec.Name, err)
		}
		g.m.metrics.loadFailures.WithLabelValues(g.spec.Name, "failed").Inc()
		g.mu.Lock()
		f := g.failures[model]
		if f == nil {
			f = &failure{}
			g.failures[model] = f
		}
		f.count++
		wait := min(g.m.opts.Backoff<<(min(f.count, 20)-1), g.m.opts.MaxBackoff)
		f.err = &LoadError{Group: g.spec.Name, Model: model, Instance: res.inst.Spec.Name, Err: err, RetryAt: g.m.now().Add(wait)}
		g.mu.Unlock()
		g.m.opts.Logger.Warn("group load failed", "group", g.spec.Name, "model", model, "instance", res.inst.Spec.Name, "retry_after", wait, "err", err)
		return f.err
	}
}

// reservation is a model admitted into an instance's budget, pinned while
// it loads, with the victims to unload first.
type reservation struct {
	inst    *fleet.Instance
	st      *instState
	model   string
	victims []victim
	// why explains the choice of instance (admin view and logs).
	why string
}

type victim struct {
	model string
	bytes uint64
	done  chan struct{}
}

// reserve chooses the instance for a cold model — one whose Triton already
// has it, then the one with the most free budget, then one where eviction
// makes room — and admits the model there.
//
// The reservation holds the instance's load slot (maxConcurrentLoads); the
// caller's load releases it.
func (g *group) reserve(ctx context.Context, model string, device pipeline.Device, exclude []string) (*reservation, error) {
	cands := g.eligible(device, exclude)
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: group %q: no healthy %s instance for model %q", executor.ErrNoInstance, g.spec.Name, device, model)
	}
	type option struct {
		in    *fleet.Instance
		st    *instState
		size  uint64
		holds bool
		free  uint64
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var opts []option
	var reasons []string
	for _, in := range cands {
		st, err := g.instanceState(in)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		size, measured := g.footprint(model, in.Spec.Kind)
		if !measured && size > st.cache.Budget() {
			// Only an estimate, and more than the whole budget: try with
			// the budget; the measurement after the load decides.
			size = st.cache.Budget()
		}
		_, unloading := st.unloading[model]
		var free uint64
		if b, u := st.cache.Budget(), st.cache.Used(); b > u {
			free = b - u
		}
		opts = append(opts, option{in: in, st: st, size: size, holds: (in.HasModel(model) || st.cache.Contains(model)) && !unloading, free: free})
	}
	slices.SortStableFunc(opts, func(a, b option) int {
		switch {
		case a.holds != b.holds:
			if a.holds {
				return -1
			}
			return 1
		case (a.free >= a.size) != (b.free >= b.size):
			if a.free >= a.size {
				return -1
			}
			return 1
		case a.free != b.free:
			if a.free > b.free {
				return -1
			}
			return 1
		}
		return 0
	})
	g.mu.Unlock()
	var tooLarge error
	transient := false
	// Take the instance's load slot before choosing victims there: a queue
	// of cold loads then evicts one model per turn, chosen by the policy
	// when its turn comes, rather than emptying the budget up front. A
	// first pass takes only free slots; the second waits in order.
	tried := make([]bool, len(opts))
	for pass := range 2 {
		for i, o := range opts {
			if tried[i] {
				continue
			}
			if pass == 0 {
				select {
				case o.st.loadSem <- struct{}{}:
				default:
					continue
				}
			} else {
				select {
				case o.st.loadSem <- struct{}{}:
				case <-ctx.Done():
					g.mu.Lock()
					return nil, fmt.Errorf("%w: group %q: waiting for a load slot for model %q: %w", executor.ErrNoInstance, g.spec.Name, model, ctx.Err())
				}
			}
			tried[i] = true
			g.mu.Lock()
			size := o.size
			if fresh, measured := g.footprint(model, o.in.Spec.Kind); measured {
				size = fresh
			}
			evict, err := o.st.cache.Admit(model, size, g.loadCost(model))
			if err != nil {
				if errors.Is(err, eviction.ErrTooLarge) {
					tooLarge = err
				}
				if errors.Is(err, eviction.ErrNoRoom) && busy(o.st) {
					transient = true
				}
				reasons = append(reasons, fmt.Sprintf("%s: %v", o.in.Spec.Name, err))
				g.mu.Unlock()
				<-o.st.loadSem
				continue
			}
			_ = o.st.cache.Pin(model) // while it loads
			if slices.Contains(g.spec.Pinned, model) {
				_ = o.st.cache.Pin(model) // for good
			}
			o.st.loading[model] = true
			r := &reservation{inst: o.in, st: o.st, model: model}
			switch {
			case o.holds:
				r.why = "already loaded there (Triton's index or the group's accounting)"
			case len(evict) == 0:
				r.why = fmt.Sprintf("room in the budget: %d of %d bytes free for %d", o.free, o.st.cache.Budget(), size)
			default:
				r.why = fmt.Sprintf("evicting %s (%s policy) makes room for %d bytes", strings.Join(evict, ", "), o.st.cache.Policy().Name(), size)
			}
			if i > 0 {
				r.why += fmt.Sprintf("; %d instance(s) ranked before it had no slot or room: %s", i, strings.Join(reasons, "; "))
			}
			for _, v := range evict {
				done := make(chan struct{})
				o.st.unloading[v] = done
				r.victims = append(r.victims, victim{model: v, bytes: g.lastSize(v, o.in.Spec.Kind), done: done})
			}
			return r, nil // g.mu is released by the deferred unlock
		}
	}
	g.mu.Lock()
	if transient {
		return nil, fmt.Errorf("%w: no room for model %q now: %s", errRoomLater, model, strings.Join(reasons, "; "))
	}
	if tooLarge != nil && len(reasons) == 1 {
		return nil, fmt.Errorf("%w: group %q: %w", executor.ErrNoInstance, g.spec.Name, tooLarge)
	}
	return nil, fmt.Errorf("%w: group %q: no room for model %q: %s", executor.ErrNoInstance, g.spec.Name, model, strings.Join(reasons, "; "))
}

// busy reports whether some member on st is in use or loading: its memory
// comes back (or becomes evictable) soon.
func busy(st *instState) bool {
	if len(st.loading) > 0 {
		return true
	}
	for _, s := range st.cache.States() {
		if s.Refs > 0 {
			return true
		}
	}
	return false
}

// instanceState returns (creating on first use) the group's state on in,
// whose budget is fixed then: the spec's bytes, or its fraction of the
// free memory the instance's agent reports.
func (g *group) instanceState(in *fleet.Instance) (*instState, error) {
	if st, ok := g.insts[in.Spec.Name]; ok {
		return st, nil
	}
	budget, note := g.spec.Budget.Bytes, "bytes"
	if budget == 0 {
		tel := in.Telemetry()
		var free uint64
		switch {
		case in.Spec.Kind == "gpu":
			if gpu, ok := tel.GPU(in.Spec); ok {
				free, note = gpu.MemoryFreeBytes, "share of GPU free memory"
			}
		case tel.Node != nil:
			free, note = tel.Node.Host.MemoryAvailableBytes, "share of host available memory"
		}
		if free == 0 {
			return nil, fmt.Errorf("%s: budget %s of free memory needs the node agent's telemetry; none yet", in.Spec.Name, mustJSON(g.spec.Budget))
		}
		budget = uint64(float64(free) * g.spec.Budget.Fraction)
		note = fmt.Sprintf("%s of %d bytes (%s)", mustJSON(g.spec.Budget), free, note)
	}
	pol, _ := eviction.ParsePolicy(g.spec.Policy) // validated in New
	c := eviction.New(pol, budget)
	c.SetMaxModels(g.spec.MaxLoaded)
	st := &instState{
		name: in.Spec.Name, cache: c, loading: map[string]bool{}, held: map[string]bool{}, unloading: map[string]chan struct{}{},
		loadSem: make(chan struct{}, max(g.spec.MaxConcurrentLoads, 1)), unreturned: map[string]uint64{}, budgetNote: note,
	}
	g.insts[in.Spec.Name] = st
	return st, nil
}

func mustJSON(b Budget) string {
	j, _ := b.MarshalJSON()
	return strings.Trim(string(j), `"`)
}

// footprint is model's expected size on an instance kind: measured by an
// earlier load of it, else the largest measured footprint among the
// group's members (they are usually alike), else the repository estimate.
func (g *group) footprint(model, kind string) (bytes uint64, measured bool) {
	if fp, ok := g.m.loader.Measured(model, kind); ok {
		return fp.Bytes, true
	}
	var like uint64
	for _, st := range g.insts {
		for _, s := range st.cache.States() {
			if fp, ok := g.m.loader.Measured(s.Model, kind); ok {
				like = max(like, fp.Bytes)
			}
		}
	}
	if like > 0 {
		return like, false
	}
	return loader.Estimate(g.m.opts.Repository, model), false
}

// lastSize is the accounted size of a model just evicted (for the record).
func (g *group) lastSize(model, kind string) uint64 {
	if fp, ok := g.m.loader.Measured(model, kind); ok {
		return fp.Bytes
	}
	return 0
}

// loadCost is the cost-aware policy's load time for model: its last
// measured load, else one second. Called with g.mu held.
func (g *group) loadCost(model string) time.Duration {
	if d, ok := g.loadTimes[model]; ok {
		return d
	}
	return time.Second
}

// load unloads the reservation's victims, then loads the model, within the
// instance's concurrent-load limit and the manager's load rate.
func (g *group) load(ctx context.Context, r *reservation) (err error) {
	name := r.inst.Spec.Name
	defer func() { <-r.st.loadSem }() // taken by reserve
	defer func() {
		if err != nil {
			g.mu.Lock()
			delete(r.st.loading, r.model)
			r.st.cache.Remove(r.model)
			g.mu.Unlock()
		}
	}()
	// Victims first, then wait for any other unload still running here.
	g.unloadVictims(ctx, r, r.model)
	// Freed memory counts only once Triton says the evicted models are
	// gone: wait for every unload still running on this instance (another
	// load's victims, or an earlier eviction of this very model, whose
	// unload would otherwise remove the new copy).
	g.mu.Lock()
	var pending []chan struct{}
	for _, ch := range r.st.unloading {
		pending = append(pending, ch)
	}
	g.mu.Unlock()
	for _, ch := range pending {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for evicted models to unload on %s: %w", name, ctx.Err())
		}
	}
	if err := g.m.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the load rate limit: %w", err)
	}
	p := loader.Placement{Instance: name, Kind: tritonclient.KindCPU}
	if r.inst.Spec.Kind == "gpu" {
		p.Kind, p.GPUs, p.Simulated = tritonclient.KindGPU, []int32{int32(r.inst.Spec.GPU)}, g.m.opts.SimulateGPUs
	}
	start := g.m.now()
	if err := g.m.loader.Ensure(ctx, r.model, p); err != nil {
		return err
	}
	took := g.m.now().Sub(start)
	g.m.fleet.NoteLoaded(name, r.model)
	g.m.metrics.coldLoad.WithLabelValues(g.spec.Name).Observe(took.Seconds())

	g.mu.Lock()
	g.loadTimes[r.model] = took
	delete(r.st.loading, r.model)
	if g.waiting[r.model] > 0 {
		// Requests are waiting for this load: keep the load's pin until
		// they have taken their references, or a concurrent cold load
		// could evict the model before they reach it.
		r.st.held[r.model] = true
	} else {
		_ = r.st.cache.Unpin(r.model)
	}
	size, measured := g.footprint(r.model, r.inst.Spec.Kind)
	if cur, ok := r.st.cache.Get(r.model); ok && !measured {
		size = cur.Size // unmeasurable here: keep what was admitted
	}
	evict, uerr := r.st.cache.Update(r.model, size, took)
	more := &reservation{inst: r.inst, st: r.st, model: r.model}
	for _, v := range evict {
		done := make(chan struct{})
		r.st.unloading[v] = done
		more.victims = append(more.victims, victim{model: v, bytes: g.lastSize(v, r.inst.Spec.Kind), done: done})
	}
	g.mu.Unlock()
	g.m.opts.Logger.Info("group member loaded", "group", g.spec.Name, "model", r.model, "instance", name, "took", took.Round(time.Millisecond), "bytes", size, "evicted", len(r.victims)+len(evict), "why", r.why)
	g.mu.Lock()
	g.loads = append(g.loads, LoadRecord{Model: r.model, Instance: name, At: start, Seconds: took.Seconds(), Bytes: size, Measured: measured, Why: r.why})
	if len(g.loads) > keepEvictions {
		g.loads = slices.Delete(g.loads, 0, len(g.loads)-keepEvictions)
	}
	g.mu.Unlock()
	g.unloadVictims(ctx, more, r.model+" (measured larger than estimated)")
	switch {
	case errors.Is(uerr, eviction.ErrTooLarge):
		// Measured bigger than the whole budget: it cannot stay.
		g.evictNow(ctx, r.inst, r.st, r.model, size)
		return uerr
	case uerr != nil:
		g.m.opts.Logger.Warn("group over budget until in-use models are released", "group", g.spec.Name, "instance", name, "err", uerr)
	}
	return nil
}

// evictNow unloads a model the group just loaded but cannot keep.
func (g *group) evictNow(ctx context.Context, in *fleet.Instance, st *instState, model string, size uint64) {
	g.mu.Lock()
	st.cache.Remove(model)
	done := make(chan struct{})
	st.unloading[model] = done
	g.mu.Unlock()
	g.unloadVictims(ctx, &reservation{inst: in, st: st, victims: []victim{{model: model, bytes: size, done: done}}}, "")
}

// unloadVictims unloads r's victims (already out of the accounting) and
// checks that their memory came back.
func (g *group) unloadVictims(ctx context.Context, r *reservation, forModel string) {
	if len(r.victims) == 0 {
		return
	}
	// Victims are out of the accounting already: unload them even when
	// the load that evicted them gave up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.m.opts.DrainTimeout+g.m.opts.LoadTimeout)
	defer cancel()
	name := r.inst.Spec.Name
	for _, v := range r.victims {
		err := g.m.loader.Unload(ctx, name, v.model, g.m.opts.DrainTimeout)
		ev := Eviction{Instance: name, Model: v.model, Bytes: v.bytes, At: g.m.now(), For: forModel}
		leftover := uint64(0)
		if err != nil {
			ev.Error = err.Error()
			leftover = v.bytes // still loaded, no longer accounted
			g.m.opts.Logger.Error("group eviction: unload failed; its memory is not returned", "group", g.spec.Name, "model", v.model, "instance", name, "err", err)
		} else {
			g.m.fleet.NoteUnloaded(name, v.model)
			if b, ok := g.m.loader.Leftover(name, v.model); ok && b > 0 {
				leftover = b
				g.m.opts.Logger.Warn("group eviction: memory not returned after unload", "group", g.spec.Name, "model", v.model, "instance", name, "bytes", b)
			}
		}
		g.m.metrics.evictions.WithLabelValues(g.spec.Name, name).Inc()
		g.mu.Lock()
		if leftover > 0 {
			r.st.unreturned[v.model] = leftover
		} else {
			delete(r.st.unreturned, v.model)
		}
		delete(r.st.unloading, v.model)
		close(v.done)
		g.evictions = append(g.evictions, ev)
		if len(g.evictions) > keepEvictions {
			g.evictions = slices.Delete(g.evictions, 0, len(g.evictions)-keepEvictions)
		}
		g.mu.Unlock()
	}
}
