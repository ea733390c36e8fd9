package eviction

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const gib = 1 << 30

type step struct {
	op        string // admit, touch, pin, unpin, acquire, release, remove
	model     string
	size      uint64
	cost      time.Duration
	wantEvict []string
	wantErr   error
}

func admit(model string, size uint64, evict ...string) step {
	return step{op: "admit", model: model, size: size, wantEvict: evict}
}

func run(t *testing.T, c *Cache, steps []step) {
	t.Helper()
	for i, s := range steps {
		var evict []string
		var err error
		switch s.op {
		case "admit":
			evict, err = c.Admit(s.model, s.size, s.cost)
		case "touch":
			if !c.Touch(s.model) {
				err = ErrNotLoaded
			}
		case "pin":
			err = c.Pin(s.model)
		case "unpin":
			err = c.Unpin(s.model)
		case "acquire":
			err = c.Acquire(s.model)
		case "release":
			err = c.Release(s.model)
		case "remove":
			if !c.Remove(s.model) {
				err = ErrNotLoaded
			}
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
			t.Fatalf("step %d %s %q: err = %v, want %v", i, s.op, s.model, err, s.wantErr)
		}
		if diff := cmp.Diff(s.wantEvict, evict); diff != "" {
			t.Fatalf("step %d %s %q: evictions (-want +got):\n%s", i, s.op, s.model, diff)
		}
	}
}

func TestCache(t *testing.T) {
	tests := []struct {
		name       string
		policy     Policy
		budget     uint64
		steps      []step
		wantLoaded []string
		wantUsed   uint64
	}{
		{
			// 4+4 = 8 ≤ 10; +4 = 12 > 10, so 2 bytes must go: a, the LRU one.
			name: "lru evicts least recently used", budget: 10,
			steps:      []step{admit("a", 4), admit("b", 4), admit("c", 4, "a")},
			wantLoaded: []string{"b", "c"}, wantUsed: 8,
		},
		{
			// Touching a makes b the LRU one.
			name: "touch refreshes recency", budget: 10,
			steps:      []step{admit("a", 4), admit("b", 4), {op: "touch", model: "a"}, admit("c", 4, "b")},
			wantLoaded: []string{"a", "c"}, wantUsed: 8,
		},
		{
			// a is pinned, so b goes though a is older.
			name: "pinned skipped", budget: 10,
			steps:      []step{admit("a", 4), {op: "pin", model: "a"}, admit("b", 4), admit("c", 4, "b")},
			wantLoaded: []string{"a", "c"}, wantUsed: 8,
		},
		{
			// Pins nest: two pins need two unpins before a can go.
			name: "unpin makes evictable again", budget: 10,
			steps: []step{
				admit("a", 4), {op: "pin", model: "a"}, {op: "pin", model: "a"}, admit("b", 4),
				{op: "unpin", model: "a"}, admit("c", 4, "b"),
				{op: "unpin", model: "a"}, admit("d", 4, "a"),
			},
			wantLoaded: []string{"c", "d"}, wantUsed: 8,
		},
		{
			// a has a request in flight, so b goes; after release a is next.
			name: "in use skipped", budget: 10,
			steps: []step{
				admit("a", 4), {op: "acquire", model: "a"}, admit("b", 4), admit("c", 4, "b"),
				{op: "release", model: "a"}, admit("d", 4, "a"),
			},
			wantLoaded: []string{"c", "d"}, wantUsed: 8,
		},
		{
			// 3+3+3 = 9, free 1; d needs 7, so 6 more: a (3) then b (6).
			name: "several victims in order", budget: 10,
			steps:      []step{admit("a", 3), admit("b", 3), admit("c", 3), admit("d", 7, "a", "b")},
			wantLoaded: []string{"c", "d"}, wantUsed: 10,
		},
		{
			name: "too large never fits", budget: 10,
			steps: []step{
				admit("a", 4),
				{op: "admit", model: "big", size: 11, wantErr: ErrTooLarge},
			},
			wantLoaded: []string{"a"}, wantUsed: 4,
		},
		{
			// Both loaded models are in use or pinned: not now, and nothing changes.
			name: "blocked is no room", budget: 10,
			steps: []step{
				admit("a", 4), admit("b", 4), {op: "acquire", model: "a"}, {op: "pin", model: "b"},
				{op: "admit", model: "c", size: 4, wantErr: ErrNoRoom},
			},
			wantLoaded: []string{"a", "b"}, wantUsed: 8,
		},
		{
			// Exactly full is allowed: 4+6 = 10.
			name: "fills to budget", budget: 10,
			steps:      []step{admit("a", 4), admit("b", 6)},
			wantLoaded: []string{"a", "b"}, wantUsed: 10,
		},
		{
			// Re-admitting a is a hit: it becomes most recent, so b goes next.
			name: "admit loaded is a hit", budget: 10,
			steps:      []step{admit("a", 4), admit("b", 4), admit("a", 4), admit("c", 4, "b")},
			wantLoaded: []string{"a", "c"}, wantUsed: 8,
		},
		{
			// Remove frees 4 without an eviction.
			name: "remove frees", budget: 10,
			steps: []step{
				admit("a", 4), admit("b", 4), {op: "remove", model: "a"}, admit("c", 4),
				{op: "remove", model: "a", wantErr: ErrNotLoaded},
			},
			wantLoaded: []string{"b", "c"}, wantUsed: 8,
		},
		{
			name: "refs checked", budget: 10,
			steps: []step{
				admit("a", 4),
				{op: "release", model: "a", wantErr: ErrNotAcquired},
				{op: "acquire", model: "x", wantErr: ErrNotLoaded},
				{op: "pin", model: "x", wantErr: ErrNotLoaded},
			},
			wantLoaded: []string{"a"}, wantUsed: 4,
		},
		{
			// Same sequence as the cost-aware case below. LastUse: a=1, b=2,
			// touch b=3, c=4. d needs 2 GiB with 0 free: a (1 GiB) then b.
			name: "lru on the gdsf sequence", budget: 4 * gib,
			steps: []step{
				{op: "admit", model: "a", size: gib, cost: 2 * time.Second},
				{op: "admit", model: "b", size: 2 * gib, cost: 2 * time.Second},
				{op: "touch", model: "b"},
				{op: "admit", model: "c", size: gib, cost: time.Second},
				{op: "admit", model: "d", size: 2 * gib, cost: 6 * time.Second, wantEvict: []string{"a", "b"}},
			},
			wantLoaded: []string{"c", "d"}, wantUsed: 3 * gib,
		},
		{
			// H = L + uses × seconds / GiB, L = 0 at first.
			// a: 0 + 1×2/1 = 2. b: 0 + 1×2/2 = 1; touch b: 0 + 2×2/2 = 2.
			// c: 0 + 1×1/1 = 1. Full (1+2+1 = 4 GiB).
			// d (2 GiB) needs 2: order c (1), a (2, older), b (2):
			// c frees 1, a frees 2 → evict c, a; L = 2.
			// d: 2 + 1×6/2 = 5. touch b: 2 + 3×2/2 = 5.
			// e (1 GiB, 10 s) needs 1: d (5, older) before b (5) → evict d.
			// e: L = 5, 5 + 1×10/1 = 15.
			name: "cost-aware keeps dense cost", policy: CostAware(), budget: 4 * gib,
			steps: []step{
				{op: "admit", model: "a", size: gib, cost: 2 * time.Second},
				{op: "admit", model: "b", size: 2 * gib, cost: 2 * time.Second},
				{op: "touch", model: "b"},
				{op: "admit", model: "c", size: gib, cost: time.Second},
				{op: "admit", model: "d", size: 2 * gib, cost: 6 * time.Second, wantEvict: []string{"c", "a"}},
				{op: "touch", model: "b"},
				{op: "admit", model: "e", size: gib, cost: 10 * time.Second, wantEvict: []string{"d"}},
			},
			wantLoaded: []string{"b", "e"}, wantUsed: 3 * gib,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.policy, tt.budget)
			run(t, c, tt.steps)
			if diff := cmp.Diff(tt.wantLoaded, c.Loaded()); diff != "" {
				t.Errorf("Loaded() (-want +got):\n%s", diff)
			}
			if got := c.Used(); got != tt.wantUsed {
				t.Errorf("Used() = %d, want %d", got, tt.wantUsed)
			}
		})
	}
}

func TestGDSFPriorities(t *testing.T) {
	c := New(CostAware(), 4*gib)
	run(t, c, []step{
		{op: "admit", model: "a", size: gib, cost: 2 * time.Second},
		{op: "admit", model: "b", size: 2 * gib, cost: 2 * time.Second},
		{op: "touch", model: "b"},
		{op: "admit", model: "c", size: gib, cost: time.Second},
		{op: "admit", model: "d", size: 2 * gib, cost: 6 * time.Second, wantEvict: []string{"c", "a"}},
		{op: "touch", model: "b"},
		{op: "admit", model: "e", size: gib, cost: 10 * time.Second, wantEvict: []string{"d"}},
	})
	got := map[string]float64{}
	for name, e := range c.models {
		got[name] = e.priority
	}
	// Hand arithmetic in TestCache's "cost-aware keeps dense cost" case.
	want := map[string]float64{"b": 5, "e": 15}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("priorities (-want +got):\n%s", diff)
	}
	if got := c.policy.(*gdsf).inflation; got != 5 {
		t.Errorf("L = %v, want 5 (H of d, the latest victim)", got)
	}
}

func TestNoRoomError(t *testing.T) {
	c := New(nil, 10)
	run(t, c, []step{admit("b", 4), admit("a", 3), admit("z", 2), {op: "acquire", model: "b"}, {op: "pin", model: "a"}})
	_, err := c.Admit("big", 9, 0)
	// Free 10-9 = 1, plus evictable z (2) = 3 reclaimable < 9.
	want := &NoRoomError{Model: "big", Need: 9, Reclaimable: 3, Blocked: []string{"a", "b"}}
	got, ok := errors.AsType[*NoRoomError](err)
	if !ok {
		t.Fatalf("Admit error = %v, want *NoRoomError", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NoRoomError (-want +got):\n%s", diff)
	}
	if !errors.Is(err, ErrNoRoom) || errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v: want ErrNoRoom and not ErrTooLarge", err)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, name := range []string{"", "lru", "cost-aware"} {
		p, err := ParsePolicy(name)
		if err != nil {
			t.Fatalf("ParsePolicy(%q): %v", name, err)
		}
		want := name
		if want == "" {
			want = "lru"
		}
		if p.Name() != want {
			t.Errorf("ParsePolicy(%q).Name() = %q, want %q", name, p.Name(), want)
		}
	}
	if _, err := ParsePolicy("fifo"); err == nil {
		t.Error("ParsePolicy(fifo) succeeded, want error")
	}
}

// TestProperties drives a cache with a seeded random mix of operations and
// checks the invariants after every one, then replays the same seed and
// requires the same evictions.
func TestProperties(t *testing.T) {
	for _, policy := range []string{PolicyLRU, PolicyCostAware} {
		for seed := range uint64(5) {
			t.Run(fmt.Sprintf("%s/seed=%d", policy, seed), func(t *testing.T) {
				first := propertyRun(t, policy, seed)
				second := propertyRun(t, policy, seed)
				if diff := cmp.Diff(first, second); diff != "" {
					t.Errorf("same inputs, different evictions (-first +second):\n%s", diff)
				}
			})
		}
	}
}

func propertyRun(t *testing.T, policyName string, seed uint64) []string {
	t.Helper()
	const budget, nModels, nOps = 100, 24, 5000
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sizes := make([]uint64, nModels)
	costs := make([]time.Duration, nModels)
	for i := range sizes {
		sizes[i] = uint64(rng.IntN(40)) // 0–39 bytes; 0 is allowed
		costs[i] = time.Duration(rng.IntN(5000)) * time.Millisecond
	}
	sizes[0] = budget + 1 // one model that never fits
	policy, err := ParsePolicy(policyName)
	if err != nil {
		t.Fatal(err)
	}
	c := New(policy, budget)
	pins := map[string]int{}
	refs := map[string]int{}
	var log []string
	for op := range nOps {
		i := rng.IntN(nModels)
		m := fmt.Sprintf("m%02d", i)
		loaded := c.Contains(m)
		switch k := rng.IntN(10); {
		case k < 5:
			evict, err := c.Admit(m, sizes[i], costs[i])
			switch {
			case errors.Is(err, ErrTooLarge):
				if sizes[i] <= budget {
					t.Fatalf("op %d: ErrTooLarge for %s of %d bytes", op, m, sizes[i])
				}
			case errors.Is(err, ErrNoRoom):
				var reclaimable uint64 = budget - c.Used()
				for _, name := range c.Loaded() {
					if pins[name] == 0 && refs[name] == 0 {
						reclaimable += c.models[name].Size
					}
				}
				if reclaimable >= sizes[i] {
					t.Fatalf("op %d: ErrNoRoom for %s (%d bytes) with %d reclaimable", op, m, sizes[i], reclaimable)
				}
			case err != nil:
				t.Fatalf("op %d: Admit(%s): %v", op, m, err)
			default:
				if !c.Contains(m) {
					t.Fatalf("op %d: admitted %s not loaded", op, m)
				}
				if loaded && len(evict) > 0 {
					t.Fatalf("op %d: hit on %s evicted %v", op, m, evict)
				}
				for _, v := range evict {
					if pins[v] > 0 || refs[v] > 0 {
						t.Fatalf("op %d: evicted %s with %d pins, %d refs", op, v, pins[v], refs[v])
					}
					if c.Contains(v) {
						t.Fatalf("op %d: evicted %s still loaded", op, v)
					}
					delete(pins, v)
					delete(refs, v)
				}
				log = append(log, fmt.Sprintf("%d:%s:%v", op, m, evict))
			}
		case k < 6:
			c.Touch(m)
		case k < 7 && loaded:
			c.Acquire(m)
			refs[m]++
		case k < 8 && refs[m] > 0:
			if err := c.Release(m); err != nil {
				t.Fatalf("op %d: Release(%s): %v", op, m, err)
			}
			refs[m]--
		case k < 8 && loaded && rng.IntN(4) == 0: // pins are rarer than requests
			c.Pin(m)
			pins[m]++
		case k < 9 && pins[m] > 0:
			c.Unpin(m)
			pins[m]--
		case k < 10 && loaded && refs[m] == 0 && rng.IntN(4) == 0:
			c.Remove(m)
			delete(pins, m)
		}
		var sum uint64
		for _, name := range c.Loaded() {
			sum += c.models[name].Size
		}
		if c.Used() > budget || c.Used() != sum {
			t.Fatalf("op %d: Used() = %d, loaded sizes sum to %d, budget %d", op, c.Used(), sum, budget)
		}
	}
	if len(log) < nOps/10 {
		t.Fatalf("only %d admissions succeeded: the generator does not exercise eviction", len(log))
	}
	return log
}

func TestMaxModelsEvictsByCount(t *testing.T) {
	c := New(LRU(), 100)
	c.SetMaxModels(2)
	run(t, c, []step{
		admit("a", 1), admit("b", 1),
		admit("c", 1, "a"), // bytes fit, the count does not
		{op: "acquire", model: "b"}, {op: "acquire", model: "c"},
		{op: "admit", model: "d", size: 1, wantErr: ErrNoRoom},
	})
	if got := c.Loaded(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("loaded %v, want [b c]", got)
	}
}

func TestUpdateCorrectsEstimate(t *testing.T) {
	c := New(LRU(), 10)
	run(t, c, []step{admit("a", 3), admit("b", 3), admit("c", 2)})
	// c was estimated at 2 bytes and measures 6: a (least recent) must go.
	evict, err := c.Update("c", 6, time.Second)
	if err != nil || !slices.Equal(evict, []string{"a"}) || c.Used() != 9 {
		t.Fatalf("Update: evict %v err %v used %d; want [a] nil 9", evict, err, c.Used())
	}
	// Growing past what in-use models allow records the size and says so.
	if err := c.Acquire("b"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Update("c", 8, time.Second)
	if !errors.Is(err, ErrNoRoom) || c.Used() != 11 {
		t.Fatalf("Update blocked: err %v used %d; want ErrNoRoom, 11 (over budget)", err, c.Used())
	}
	// The next admission brings the cache back under budget first.
	if err := c.Release("b"); err != nil {
		t.Fatal(err)
	}
	evict, err = c.Admit("d", 1, 0)
	if err != nil || !slices.Equal(evict, []string{"b"}) || c.Used() != 9 {
		t.Fatalf("Admit after overshoot: evict %v err %v used %d; want [b] nil 9", evict, err, c.Used())
	}
	if _, err := c.Update("d", 11, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Update beyond budget: %v, want ErrTooLarge", err)
	}
	if st := c.States(); len(st) != 2 || st[0].Model != "c" || st[0].Size != 8 || st[0].LoadCost != 1 {
		t.Fatalf("States = %+v", st)
	}
}

func TestNoRoomErrorNamesTheCountCap(t *testing.T) {
	c := New(LRU(), 100)
	c.SetMaxModels(1)
	if _, err := c.Admit("a", 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Acquire("a"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Admit("b", 1, 0)
	var nr *NoRoomError
	if !errors.As(err, &nr) || nr.MaxModels != 1 || !strings.Contains(err.Error(), "1 models already held (the cap), blocked by [a]") {
		t.Fatalf("Admit over the count cap: %v", err)
	}
}
