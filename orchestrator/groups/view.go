package groups

import (
	"cmp"
	"slices"
	"time"
)

// View is a group as GET /admin/groups/{name} shows it.
type View struct {
	Spec *Spec `json:"spec"`
	// Policy is the effective eviction policy.
	Policy    string         `json:"policy"`
	Instances []InstanceView `json:"instances"`
	// Failures are members whose last load failed, with Triton's message
	// and when the next attempt may happen.
	Failures []FailureView `json:"failures,omitempty"`
	// Evictions are the latest evictions, newest last.
	Evictions []Eviction `json:"evictions,omitempty"`
	// Loads are the latest on-demand loads, newest last, each with why it
	// went to its instance.
	Loads []LoadRecord `json:"loads,omitempty"`
}

// InstanceView is the group's accounting on one instance.
type InstanceView struct {
	Instance    string `json:"instance"`
	BudgetBytes uint64 `json:"budgetBytes"`
	// Budget says how the budget was set (bytes, or a share of which free
	// memory, measured when the instance was first used).
	Budget    string      `json:"budget"`
	UsedBytes uint64      `json:"usedBytes"`
	Models    []ModelView `json:"models"`
	// UnreturnedBytes is memory of evicted members that did not come back
	// after their unload (UnreturnedByModel says whose).
	UnreturnedBytes   uint64            `json:"unreturnedBytes"`
	UnreturnedByModel map[string]uint64 `json:"unreturnedByModel,omitempty"`
}

// ModelView is one loaded (or loading) member.
type ModelView struct {
	Model string `json:"model"`
	Bytes uint64 `json:"bytes"`
	// Measured is false while Bytes is an estimate.
	Measured    bool    `json:"measured"`
	Loading     bool    `json:"loading,omitempty"`
	LoadSeconds float64 `json:"loadSeconds,omitempty"`
	InUse       int     `json:"inUse"`
	Pinned      bool    `json:"pinned,omitempty"`
	Uses        uint64  `json:"uses"`
	// Priority is the eviction policy's keep-value: lowest goes first.
	Priority float64 `json:"priority"`
}

// FailureView is a member whose load failed.
type FailureView struct {
	Model    string    `json:"model"`
	Instance string    `json:"instance"`
	Error    string    `json:"error"`
	Failures int       `json:"failures"`
	RetryAt  time.Time `json:"retryAt"`
}

// Group returns the admin view of the group called name.
func (m *Manager) Group(name string) (View, bool) {
	g, ok := m.groups[name]
	if !ok {
		return View{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	v := View{Spec: g.spec, Policy: PolicyName(g.spec.Policy), Evictions: slices.Clone(g.evictions), Loads: slices.Clone(g.loads), Instances: []InstanceView{}}
	for _, st := range g.insts {
		iv := InstanceView{Instance: st.name, BudgetBytes: st.cache.Budget(), Budget: st.budgetNote, UsedBytes: st.cache.Used(), Models: []ModelView{}}
		for _, s := range st.cache.States() {
			_, measured := m.loader.Measured(s.Model, m.kindOf(st.name))
			pins := s.Pins
			if st.loading[s.Model] || st.held[s.Model] {
				pins-- // the load's own pin (kept for waiting requests)
			}
			iv.Models = append(iv.Models, ModelView{
				Model: s.Model, Bytes: s.Size, Measured: measured, Loading: st.loading[s.Model],
				LoadSeconds: s.LoadCost, InUse: s.Refs, Pinned: pins > 0, Uses: s.Uses, Priority: s.Priority,
			})
		}
		for model, b := range st.unreturned {
			iv.UnreturnedBytes += b
			if iv.UnreturnedByModel == nil {
				iv.UnreturnedByModel = map[string]uint64{}
			}
			iv.UnreturnedByModel[model] = b
		}
		v.Instances = append(v.Instances, iv)
	}
	slices.SortFunc(v.Instances, func(a, b InstanceView) int { return cmp.Compare(a.Instance, b.Instance) })
	for model, f := range g.failures {
		v.Failures = append(v.Failures, FailureView{Model: model, Instance: f.err.Instance, Error: f.err.Error(), Failures: f.count, RetryAt: f.err.RetryAt})
	}
	slices.SortFunc(v.Failures, func(a, b FailureView) int { return cmp.Compare(a.Model, b.Model) })
	return v, true
}

// Groups returns every group's admin view, sorted by name.
func (m *Manager) Groups() []View {
	var out []View
	for _, n := range m.Names() {
		v, _ := m.Group(n)
		out = append(out, v)
	}
	return out
}

func (m *Manager) kindOf(instance string) string {
	for _, in := range m.fleet.Instances() {
		if in.Spec.Name == instance {
			return in.Spec.Kind
		}
	}
	return "cpu"
}

// PolicyName is the effective policy name for a spec's policy field.
func PolicyName(policy string) string {
	if policy == "" {
		return "lru"
	}
	return policy
}
