package groups

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/telemetry"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// leakyLoader is the real loader with Leftover answered by the test (on a
// fake server there are no stub processes to measure).
type leakyLoader struct {
	*loader.Loader
	mu   sync.Mutex
	leak map[string]uint64
}

func (l *leakyLoader) Leftover(_, model string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leak[model], true
}

type env struct {
	fake *fakeTriton
	fl   *fleet.Fleet
	m    *Manager
	reg  *prometheus.Registry
	ld   *leakyLoader
}

func members(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%02d", i)
	}
	return out
}

// newEnv starts a fake Triton holding models (each reporting size bytes of
// memory_usage), a real fleet and loader on it, and a Manager for spec.
func newEnv(t testing.TB, spec *Spec, opts Options, models []string, size uint64, setup func(*fakeTriton)) *env {
	t.Helper()
	sizes := map[string]uint64{}
	for _, m := range models {
		sizes[m] = size
	}
	f := startFake(t, models, sizes)
	if setup != nil {
		setup(f)
	}
	repo := fakeRepo(t, models)
	fl, err := fleet.New(&fleet.File{Instances: []fleet.InstanceSpec{{Name: "t0", GRPC: f.addr, Kind: "cpu"}}}, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.Close)
	fl.Refresh(t.Context())
	ld := &leakyLoader{Loader: loader.New(fl, loader.Options{Repository: repo, DrainPoll: time.Millisecond}), leak: map[string]uint64{}}
	reg := prometheus.NewRegistry()
	opts.Repository, opts.Registerer = repo, reg
	m, err := New(fl, ld, []*Spec{spec}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, fl: fl, m: m, reg: reg, ld: ld}
}

// call is one group stage call as the executor makes it: Route, the call
// on the routed client, Done.
func (e *env) call(ctx context.Context, group, model string) error {
	r, err := e.m.Route(ctx, executor.Target{Pipeline: "p", Stage: "s", Model: model, Group: group, Device: pipeline.DeviceAny}, nil)
	if err != nil {
		return err
	}
	defer r.Done()
	_, err = r.Client.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: model})
	return err
}

func TestStressStaysInBudgetAndNeverUnloadsInUse(t *testing.T) {
	for _, policy := range []string{"lru", "cost-aware"} {
		t.Run(policy, func(t *testing.T) {
			models := members(20)
			spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 400}, Policy: policy, MaxConcurrentLoads: 2}
			// A 1ns drain: an eviction that picked a model with a call in
			// flight fails (recorded) instead of waiting, so the check
			// below sees the manager's own reference counting.
			e := newEnv(t, spec, Options{LoadsPerSecond: -1, DrainTimeout: time.Nanosecond}, models, 100, func(f *fakeTriton) {
				f.loadDelay, f.inferDelay = 2*time.Millisecond, time.Millisecond
			})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, 16*60)
			for w := range 16 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for range 60 {
						// Skewed: low-numbered members are popular.
						i := min(int(rng.ExpFloat64()*4), len(models)-1)
						if err := e.call(ctx, "g", models[i]); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			loads, maxLoaded, maxLoading, bad := e.fake.snapshot()
			if len(bad) > 0 {
				t.Errorf("models unloaded with a call in flight: %v", bad)
			}
			if maxLoaded > 4 {
				t.Errorf("Triton held up to %d models; the budget holds 4", maxLoaded)
			}
			if maxLoading > 2 {
				t.Errorf("%d loads ran at once; maxConcurrentLoads is 2", maxLoading)
			}
			total := 0
			for _, n := range loads {
				total += n
			}
			v, _ := e.m.Group("g")
			if len(v.Instances) != 1 || v.Instances[0].UsedBytes > 400 || len(v.Instances[0].Models) > 4 {
				t.Errorf("accounting after the run: %+v", v.Instances)
			}
			for _, ev := range v.Evictions {
				if ev.Error != "" {
					t.Errorf("eviction of a model in use: %+v", ev)
				}
			}
			if total <= 4 || len(v.Evictions) == 0 {
				t.Errorf("%d loads, %d evictions: the test applied no memory pressure", total, len(v.Evictions))
			}
			t.Logf("%s: %d loads for 960 calls over 20 members, max %d loaded, max %d loading", policy, total, maxLoaded, maxLoading)
		})
	}
}

func TestFailedLoadBacksOffAndDoubles(t *testing.T) {
	spec := &Spec{Name: "g", Members: []string{"good", "bad"}, Budget: Budget{Bytes: 1000}}
	e := newEnv(t, spec, Options{Backoff: time.Second, MaxBackoff: 3 * time.Second, LoadsPerSecond: -1}, []string{"good", "bad"}, 100, func(f *fakeTriton) {
		f.failing["bad"] = "load failed for model 'bad': initialize() raised"
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.m.now = func() time.Time { return now }
	ctx := t.Context()

	err := e.call(ctx, "g", "bad")
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, executor.ErrLoadFailed) || !strings.Contains(err.Error(), "initialize() raised") {
		t.Fatalf("first call: %v; want a LoadError with Triton's message", err)
	}
	if !le.RetryAt.Equal(now.Add(time.Second)) {
		t.Fatalf("RetryAt %v, want now+1s", le.RetryAt)
	}
	if err := e.call(ctx, "g", "bad"); !errors.Is(err, executor.ErrLoadFailed) {
		t.Fatalf("inside the backoff: %v", err)
	}
	if n := e.fake.loads["bad"]; n != 1 {
		t.Fatalf("%d loads inside the backoff, want 1", n)
	}
	for i, wantWait := range []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second} {
		now = now.Add(time.Hour)
		err := e.call(ctx, "g", "bad")
		if !errors.As(err, &le) || !le.RetryAt.Equal(now.Add(wantWait)) {
			t.Fatalf("failure %d: %v, retry at %v; want now+%s (doubling, capped)", i+2, err, le.RetryAt, wantWait)
		}
	}
	if err := e.call(ctx, "g", "good"); err != nil {
		t.Fatalf("a good member after the failures: %v", err)
	}
	// The failed model holds no budget.
	if v, _ := e.m.Group("g"); len(v.Instances[0].Models) != 1 || v.Instances[0].UsedBytes != 100 {
		t.Fatalf("accounting: %+v", v.Instances[0])
	}
	if got := testutil.ToFloat64(e.m.metrics.loadFailures.WithLabelValues("g", "failed")); got != 4 {
		t.Fatalf("load failures metric %v, want 4", got)
	}
}

func TestConcurrentColdRequestsShareOneLoad(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 1000}}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(3), 100, func(f *fakeTriton) { f.loadDelay = 50 * time.Millisecond })
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if err := e.call(t.Context(), "g", "m01"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := e.fake.loads["m01"]; n != 1 {
		t.Fatalf("%d loads for 64 concurrent cold requests, want 1", n)
	}
	if cold, hit := testutil.ToFloat64(e.m.metrics.requests.WithLabelValues("g", "cold")), testutil.ToFloat64(e.m.metrics.requests.WithLabelValues("g", "hit")); cold+hit != 64 || cold == 0 {
		t.Fatalf("requests metric cold %v hit %v, want 64 in all, some cold", cold, hit)
	}
}

func TestRequestWaitsForRoomWhileAllMembersAreInUse(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 200}}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(3), 100, nil)
	ctx := t.Context()
	// Hold m00 and m01 (the whole budget) as two in-flight requests would.
	var held []executor.Route
	for _, m := range []string{"m00", "m01"} {
		r, err := e.m.Route(ctx, executor.Target{Model: m, Group: "g", Device: pipeline.DeviceAny}, nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	// A request with a short deadline gives up with its deadline.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := e.call(short, "g", "m02"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cold request while the budget is in use: %v; want its deadline", err)
	}
	// Another waits, and gets its model once a holder is done.
	done := make(chan error, 1)
	go func() { done <- e.call(ctx, "g", "m02") }()
	time.Sleep(30 * time.Millisecond) // it is waiting (a negative check: it must not finish)
	select {
	case err := <-done:
		t.Fatalf("the cold request finished while the budget was in use: %v", err)
	default:
	}
	held[0].Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	held[1].Done()
	v, _ := e.m.Group("g")
	var loaded []string
	for _, m := range v.Instances[0].Models {
		loaded = append(loaded, m.Model)
	}
	if strings.Join(loaded, ",") != "m01,m02" {
		t.Fatalf("loaded %v; want m00 (released first) evicted for m02", loaded)
	}
}

func TestUnknownTargetsAndPatternMembers(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Members: []string{"extra"}, Budget: Budget{Bytes: 1000}}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(2), 100, nil)
	ctx := t.Context()
	for _, target := range []string{"m99", "other"} {
		err := e.call(ctx, "g", target)
		if !errors.Is(err, executor.ErrUnknownTarget) || !strings.Contains(err.Error(), `group "g" has no member "`+target+`"`) {
			t.Errorf("target %s: %v; want ErrUnknownTarget naming group and target", target, err)
		}
	}
	// An explicit member missing from the repository is a failed load.
	if err := e.call(ctx, "g", "extra"); !errors.Is(err, executor.ErrLoadFailed) {
		t.Errorf("explicit member not in the repository: %v; want ErrLoadFailed", err)
	}
	if err := e.call(ctx, "g", "m01"); err != nil {
		t.Errorf("pattern member: %v", err)
	}
	if _, err := e.m.Route(ctx, executor.Target{Model: "m01", Group: "nope"}, nil); !errors.Is(err, executor.ErrNoInstance) {
		t.Errorf("undefined group: %v", err)
	}
}

func TestMeasuredFootprintReplacesEstimateAndUnreturnedMemoryIsReported(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 1000}, MaxLoaded: 10}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(5), 300, nil)
	ctx := t.Context()
	e.ld.leak["m00"] = 42
	for _, m := range []string{"m00", "m01", "m02"} {
		if err := e.call(ctx, "g", m); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := e.m.Group("g")
	in := v.Instances[0]
	if in.UsedBytes != 900 || len(in.Models) != 3 || !in.Models[0].Measured {
		t.Fatalf("after 3 loads of 300 measured bytes: %+v", in)
	}
	// A fourth does not fit 1000 bytes: the least recent (m00) goes, and
	// its stubs' leftover memory is reported.
	if err := e.call(ctx, "g", "m03"); err != nil {
		t.Fatal(err)
	}
	v, _ = e.m.Group("g")
	in = v.Instances[0]
	if in.UsedBytes != 900 || in.UnreturnedBytes != 42 || in.UnreturnedByModel["m00"] != 42 {
		t.Fatalf("after evicting m00: %+v", in)
	}
	if len(v.Evictions) != 1 || v.Evictions[0].Model != "m00" || v.Evictions[0].For != "m03" || v.Evictions[0].Bytes != 300 {
		t.Fatalf("evictions %+v", v.Evictions)
	}
	if n := len(v.Loads); n != 4 || !strings.Contains(v.Loads[0].Why, "room in the budget") || v.Loads[3].Why != "evicting m00 (lru policy) makes room for 300 bytes" || !v.Loads[3].Measured {
		t.Fatalf("loads %+v", v.Loads)
	}
	if got := testutil.ToFloat64(e.m.metrics.evictions.WithLabelValues("g", "t0")); got != 1 {
		t.Fatalf("evictions metric %v", got)
	}
}

func TestPrewarmLoadsPinnedMembersThatStay(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 200}, Pinned: []string{"m00"}, Prewarm: []string{"m01"}}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(4), 100, nil)
	ctx := t.Context()
	if err := e.m.Prewarm(ctx); err != nil {
		t.Fatal(err)
	}
	if e.fake.loads["m00"] != 1 || e.fake.loads["m01"] != 1 {
		t.Fatalf("prewarm loads %v", e.fake.loads)
	}
	// Pressure evicts the prewarmed member, never the pinned one.
	for _, m := range []string{"m02", "m03", "m02", "m03"} {
		if err := e.call(ctx, "g", m); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := e.m.Group("g")
	for _, ev := range v.Evictions {
		if ev.Model == "m00" {
			t.Fatalf("pinned m00 was evicted: %+v", v.Evictions)
		}
	}
	if !e.fake.loaded["m00"] {
		t.Fatal("pinned m00 is not loaded")
	}
}

// fixedHost reports a host with 1000 bytes available.
type fixedHost struct{}

func (fixedHost) SampleHost(context.Context) (telemetry.Host, []string) {
	return telemetry.Host{MemoryTotalBytes: 4000, MemoryAvailableBytes: 1000}, nil
}

func TestFractionBudgetUsesTheAgentsMeasuredFreeMemory(t *testing.T) {
	ctx := t.Context()
	models := members(6)
	sizes := map[string]uint64{}
	for _, m := range models {
		sizes[m] = 100
	}
	f := startFake(t, models, sizes)
	agent, err := telemetry.NewAgent(telemetry.AgentOptions{Sampler: telemetry.NewSampler(telemetry.SamplerOptions{Node: "n", Host: fixedHost{}})})
	if err != nil {
		t.Fatal(err)
	}
	agent.Refresh(ctx)
	srv := httptest.NewServer(agent.Handler())
	defer srv.Close()
	fl, err := fleet.New(&fleet.File{Instances: []fleet.InstanceSpec{{Name: "t0", GRPC: f.addr, Kind: "cpu", Node: "n", Agent: strings.TrimPrefix(srv.URL, "http://")}}}, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	fl.Refresh(ctx)
	repo := fakeRepo(t, models)
	ld := &leakyLoader{Loader: loader.New(fl, loader.Options{Repository: repo}), leak: map[string]uint64{}}
	spec, err := Parse([]byte("name: g\nmemberPattern: m*\nbudget: 40%\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(fl, ld, []*Spec{spec}, Options{Repository: repo, LoadsPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{fake: f, m: m, ld: ld}
	for _, model := range models {
		if err := e.call(ctx, "g", model); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := m.Group("g")
	in := v.Instances[0]
	if in.BudgetBytes != 400 || !strings.Contains(in.Budget, "40% of 1000 bytes") || len(in.Models) != 4 || in.UsedBytes != 400 {
		t.Fatalf("budget 40%% of 1000 available bytes: %+v", in)
	}
}

func TestColdBurstDoesNotEvictTheHotMember(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 400}, Policy: "cost-aware", MaxConcurrentLoads: 1}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(12), 100, func(f *fakeTriton) { f.loadDelay = 20 * time.Millisecond })
	ctx := t.Context()
	for range 50 {
		if err := e.call(ctx, "g", "m00"); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"m01", "m02", "m03"} {
		if err := e.call(ctx, "g", m); err != nil {
			t.Fatal(err)
		}
	}
	// A client keeps using m00 while 8 requests for 8 different cold
	// members arrive at once.
	stop := make(chan struct{})
	var hot sync.WaitGroup
	hot.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.call(ctx, "g", "m00"); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	var burst sync.WaitGroup
	for _, m := range members(12)[4:] {
		burst.Go(func() {
			if err := e.call(ctx, "g", m); err != nil {
				t.Error(err)
			}
		})
	}
	burst.Wait()
	close(stop)
	hot.Wait()
	if n := e.fake.loads["m00"]; n != 1 {
		v, _ := e.m.Group("g")
		t.Fatalf("hot m00 loaded %d times: the burst evicted it (evictions %+v)", n, v.Evictions)
	}
}

func TestStaleFleetViewNeitherLeaksNorDoubleCounts(t *testing.T) {
	spec := &Spec{Name: "g", MemberPattern: "m*", Budget: Budget{Bytes: 1000}}
	e := newEnv(t, spec, Options{LoadsPerSecond: -1}, members(2), 100, nil)
	ctx := t.Context()
	if err := e.call(ctx, "g", "m00"); err != nil {
		t.Fatal(err)
	}
	// A poll that predates the load: the fleet forgets m00, Triton has it.
	e.fl.NoteUnloaded("t0", "m00")
	if err := e.call(ctx, "g", "m00"); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.loads["m00"]; n != 1 {
		t.Fatalf("stale fleet view: Triton loaded m00 %d times, want 1", n)
	}
	// Triton really lost it (a restart): the next request reloads it.
	e.fake.mu.Lock()
	delete(e.fake.loaded, "m00")
	e.fake.mu.Unlock()
	e.fl.NoteUnloaded("t0", "m00")
	if err := e.call(ctx, "g", "m00"); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.loads["m00"]; n != 2 {
		t.Fatalf("after Triton lost m00: %d loads, want 2", n)
	}
	v, _ := e.m.Group("g")
	if in := v.Instances[0]; len(in.Models) != 1 || in.UsedBytes != 100 {
		t.Fatalf("accounting: %+v; want m00 once, 100 bytes", in)
	}
}
