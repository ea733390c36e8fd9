package eviction

import (
	"fmt"
	"math"
)

// Entry is what a Policy sees of a loaded model; it is a copy, so policies
// cannot change the cache's accounting.
type Entry struct {
	// Model is the model name.
	Model string
	// Size is the model's footprint in bytes.
	Size uint64
	// LoadCost is the measured time a cold load of the model takes, in
	// seconds.
	LoadCost float64
	// LastUse is the cache's monotonic use counter at the latest Admit or
	// Touch of this model; larger is more recent, and no two entries share a
	// value.
	LastUse uint64
	// Uses counts the Admit and Touch calls since the model was admitted
	// (1 right after Admit); it restarts when the model is evicted.
	Uses uint64
}

// Policy ranks loaded models for eviction: the lowest priority goes first.
//
// Priority is computed when a model is admitted and each time it is
// touched, and is kept until the next touch; policies whose ranking shifts
// over time do so by inflating new priorities (as GDSF does), not by
// re-ranking old ones. A Policy may hold state, so each Cache needs its own.
type Policy interface {
	// Name is the policy's configuration name ("lru", "cost-aware").
	Name() string
	// Priority returns e's keep-value after an Admit or Touch.
	Priority(e Entry) float64
	// Evicted tells the policy that an entry with this priority was chosen
	// as a victim.
	Evicted(priority float64)
}

// Policy names accepted by ParsePolicy.
const (
	PolicyLRU       = "lru"
	PolicyCostAware = "cost-aware"
)

// ParsePolicy returns a new Policy for a configuration name; "" means lru.
func ParsePolicy(name string) (Policy, error) {
	switch name {
	case "", PolicyLRU:
		return LRU(), nil
	case PolicyCostAware:
		return CostAware(), nil
	}
	return nil, fmt.Errorf("unknown eviction policy %q (want %q or %q)", name, PolicyLRU, PolicyCostAware)
}

type lru struct{}

// LRU returns the least-recently-used policy: priority = LastUse, the
// monotonic use counter, so the model touched longest ago goes first.
func LRU() Policy { return lru{} }

func (lru) Name() string             { return PolicyLRU }
func (lru) Priority(e Entry) float64 { return float64(e.LastUse) }
func (lru) Evicted(float64)          {}

// gdsf is GreedyDual-Size-Frequency with cost = load time.
type gdsf struct {
	// inflation is L: the priority of the latest victim; never decreases.
	inflation float64
}

// CostAware returns the GreedyDual-Size-Frequency policy with cost = load
// time:
//
//	H = L + Uses × LoadCost / Size    (seconds per GiB)
//
// where L, the inflation value, is the H of the latest victim (0 at first).
// Uses × LoadCost / Size is the cold-load time a resident model is expected
// to save per byte it occupies: keeping the models with the highest such
// density minimises total cold-load time under a byte budget (the
// fractional-knapsack greedy). Cost is load time rather than load time ×
// footprint because the footprint would cancel the division and stop
// charging big models for the memory they hold. L ages out models that were
// popular once: every admission or touch starts from the current L, so an
// idle model's old H falls behind newcomers'.
func CostAware() Policy { return &gdsf{} }

func (*gdsf) Name() string { return PolicyCostAware }

func (g *gdsf) Priority(e Entry) float64 {
	if e.Size == 0 {
		// A model with no footprint frees nothing: keep it.
		return math.Inf(1)
	}
	gib := float64(e.Size) / (1 << 30)
	return g.inflation + float64(e.Uses)*e.LoadCost/gib
}

func (g *gdsf) Evicted(priority float64) {
	// Victims leave in ascending priority and every live H ≥ L, so this
	// only ever raises L; max guards a custom caller order.
	g.inflation = max(g.inflation, priority)
}
