package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// propertySeeds is how many random snapshots each property test tries;
// seed i is reported on failure so a case can be replayed with genSnapshot.
const propertySeeds = 400

// genSnapshot builds a random small snapshot with every awkward case in
// reach: unhealthy, stale and never-sampled instances, full and tiny
// devices, labels, shared models, current placements on departed
// instances. Same seed, same snapshot.
func genSnapshot(seed uint64) (*Snapshot, Config) { return genSnapshotSized(seed, 12, 8) }

// genSnapshotSized is genSnapshot with up to maxInst instances and 1 to
// maxStages stages.
func genSnapshotSized(seed uint64, maxInst, maxStages int) (*Snapshot, Config) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &Snapshot{Now: t0}
	models := []string{"m0", "m1", "m2", "m3", "m4", "m5"}
	nInst := r.IntN(maxInst + 1)
	for i := range nInst {
		in := Instance{
			Name:    fmt.Sprintf("i%02d", r.IntN(100)*10000+i), // unique, not in index order
			Kind:    []DeviceKind{CPU, GPU}[r.IntN(2)],
			Node:    []string{"", "n1", "n2", "n3", fmt.Sprintf("n%d", r.IntN(1+maxInst/4))}[r.IntN(5)],
			Healthy: r.IntN(8) > 0,
		}
		if r.IntN(3) == 0 {
			in.Labels = map[string]string{"zone": []string{"eu", "us"}[r.IntN(2)]}
		}
		total := []float64{2, 8, 16, 80}[r.IntN(4)]
		free := total * r.Float64()
		switch r.IntN(6) {
		case 0: // never sampled
		case 1:
			in.Telemetry.At = t0.Add(-time.Duration(31+r.IntN(300)) * time.Second)
		default:
			in.Telemetry.At = t0.Add(-time.Duration(r.IntN(30)) * time.Second)
		}
		if !in.Telemetry.At.IsZero() {
			in.Telemetry.GPU = GPUTelemetry{MemoryTotal: gb(total), MemoryFree: gb(free), Utilization: r.Float64()}
			in.Telemetry.Host = HostTelemetry{MemoryTotal: gb(total * 4), MemoryAvailable: gb(free * 4), CPUUtilization: r.Float64()}
		}
		for range r.IntN(4) {
			in.Models = append(in.Models, LoadedModel{Name: models[r.IntN(len(models))], Bytes: gb(r.Float64() * 4), Pending: r.IntN(20)})
		}
		s.Instances = append(s.Instances, in)
	}
	nStages := 1 + r.IntN(maxStages)
	for i := range nStages {
		st := Stage{
			Pipeline: fmt.Sprintf("p%d", r.IntN(1+maxStages/3)),
			Name:     fmt.Sprintf("s%d", i),
			Index:    i,
			Model:    models[r.IntN(len(models))],
			Device:   []Preference{PreferCPU, PreferGPU, PreferAny}[r.IntN(3)],
		}
		if r.IntN(5) > 0 {
			st.Footprint = Footprint{GPU: gb(r.Float64() * 12), Host: gb(r.Float64() * 24)}
		}
		if r.IntN(4) == 0 {
			st.Labels = map[string]string{"zone": []string{"eu", "us"}[r.IntN(2)]}
		}
		if r.IntN(3) == 0 {
			if nInst > 0 && r.IntN(4) > 0 {
				st.Current = s.Instances[r.IntN(nInst)].Name
			} else {
				st.Current = "departed"
			}
			st.LastMoved = t0.Add(-time.Duration(r.IntN(600)) * time.Second)
		}
		s.Stages = append(s.Stages, st)
	}
	cfg := DefaultConfig()
	cfg.Mode = []Mode{BinPack, Spread}[r.IntN(2)]
	cfg.Any.Prefer = []AnyPreference{AnyGPUFirst, AnyCPUFirst, AnyByScore}[r.IntN(3)]
	cfg.Any.GPUUtilThreshold = r.Float64()
	cfg.MaxModelsPerInstance = r.IntN(5)
	cfg.Hysteresis.MinImprovement = r.Float64() * 0.2
	return s, cfg
}

// shuffled returns a copy of s with instances, stages, models and labels
// in another order.
func shuffled(s *Snapshot, seed uint64) *Snapshot {
	r := rand.New(rand.NewPCG(seed, 1))
	c := *s
	c.Instances = append([]Instance(nil), s.Instances...)
	c.Stages = append([]Stage(nil), s.Stages...)
	r.Shuffle(len(c.Instances), func(i, j int) { c.Instances[i], c.Instances[j] = c.Instances[j], c.Instances[i] })
	r.Shuffle(len(c.Stages), func(i, j int) { c.Stages[i], c.Stages[j] = c.Stages[j], c.Stages[i] })
	for i := range c.Instances {
		ms := append([]LoadedModel(nil), c.Instances[i].Models...)
		r.Shuffle(len(ms), func(a, b int) { ms[a], ms[b] = ms[b], ms[a] })
		c.Instances[i].Models = ms
	}
	return &c
}

// reference re-checks a plan with a deliberately simple, separate
// implementation of the filters and the memory accounting.
type reference struct {
	s      *Snapshot
	cfg    Config
	free   map[string]int64
	models map[string]map[string]bool
	count  map[string]int // loaded models, as the cap counts them
}

func newReference(s *Snapshot, cfg Config) *reference {
	ref := &reference{s: s, cfg: cfg, free: map[string]int64{}, models: map[string]map[string]bool{}, count: map[string]int{}}
	for _, in := range s.Instances {
		_, free := ref.memory(in)
		ref.free[in.Name] = free
		ref.models[in.Name] = map[string]bool{}
		ref.count[in.Name] = len(in.Models)
		for _, m := range in.Models {
			ref.models[in.Name][m.Name] = true
		}
	}
	return ref
}

func (ref *reference) instance(name string) (Instance, bool) {
	for _, in := range ref.s.Instances {
		if in.Name == name {
			return in, true
		}
	}
	return Instance{}, false
}

func (ref *reference) memory(in Instance) (total, free int64) {
	if in.Kind == GPU {
		return int64(in.Telemetry.GPU.MemoryTotal), int64(in.Telemetry.GPU.MemoryFree)
	}
	return int64(in.Telemetry.Host.MemoryTotal), int64(in.Telemetry.Host.MemoryAvailable)
}

func (ref *reference) need(st Stage, kind DeviceKind) int64 {
	n := int64(st.Footprint.Host)
	if kind == GPU {
		n = int64(st.Footprint.GPU)
	}
	if n == 0 {
		for _, in := range ref.s.Instances {
			for _, m := range in.Models {
				if in.Kind == kind && m.Name == st.Model {
					n = max(n, int64(m.Bytes))
				}
			}
		}
	}
	return n
}

func (ref *reference) permanentOK(st Stage, in Instance) bool {
	if st.Device != PreferAny && string(st.Device) != string(in.Kind) {
		return false
	}
	for k, v := range st.Labels {
		if in.Labels[k] != v {
			return false
		}
	}
	total, _ := ref.memory(in)
	reserve := max(int64(math.Ceil(ref.cfg.Headroom.Fraction*float64(total))), int64(ref.cfg.Headroom.Bytes))
	need := ref.need(st, in.Kind)
	if ref.models[in.Name][st.Model] {
		need = 0
	}
	return in.Telemetry.At.IsZero() || total == 0 || need+reserve <= total
}

// check validates one assignment and charges it.
func (ref *reference) check(a Assignment) error {
	var st Stage
	for _, x := range ref.s.Stages {
		if x.Pipeline == a.Pipeline && x.Name == a.Stage {
			st = x
		}
	}
	if a.Instance == "" {
		couldEver := false
		for _, in := range ref.s.Instances {
			couldEver = couldEver || ref.permanentOK(st, in)
		}
		switch {
		case a.Err == nil:
			return errors.New("no instance and no error")
		case couldEver && !errors.Is(a.Err, ErrNoCapacity):
			return fmt.Errorf("some instance could serve it later, yet %v", a.Err)
		case !couldEver && !errors.Is(a.Err, ErrInfeasible):
			return fmt.Errorf("no instance can ever serve it, yet %v", a.Err)
		}
		return nil
	}
	in, ok := ref.instance(a.Instance)
	switch {
	case !ok:
		return fmt.Errorf("placed on unknown instance %q", a.Instance)
	case !in.Healthy:
		return fmt.Errorf("placed on unhealthy %s", in.Name)
	case !ref.permanentOK(st, in):
		return fmt.Errorf("placed on %s (%s, labels %v) against device %s / labels %v / total memory", in.Name, in.Kind, in.Labels, st.Device, st.Labels)
	case a.Device != in.Kind:
		return fmt.Errorf("device %s, instance kind %s", a.Device, in.Kind)
	}
	loaded := ref.models[in.Name][st.Model]
	total, _ := ref.memory(in)
	if in.Telemetry.At.IsZero() || total == 0 {
		if loaded {
			return nil // nothing new, nothing to judge by
		}
		return fmt.Errorf("placed a load on %s whose memory is unknown", in.Name)
	}
	reserve := max(int64(math.Ceil(ref.cfg.Headroom.Fraction*float64(total))), int64(ref.cfg.Headroom.Bytes))
	need := ref.need(st, in.Kind)
	if loaded {
		need = 0
	}
	if ref.free[in.Name]-need < reserve {
		return fmt.Errorf("%s: free %d − need %d < headroom %d (loaded %v)", in.Name, ref.free[in.Name], need, reserve, loaded)
	}
	if loaded {
		return nil
	}
	if c := ref.cfg.MaxModelsPerInstance; c > 0 && ref.count[in.Name] >= c {
		return fmt.Errorf("%s: %d models at cap %d", in.Name, ref.count[in.Name], c)
	}
	ref.free[in.Name] -= need
	ref.count[in.Name]++
	ref.models[in.Name][st.Model] = true
	return nil
}

func TestPropertyNeverUnfit(t *testing.T) {
	placed, failed, staleSeen := 0, 0, 0
	for seed := range uint64(propertySeeds) {
		s, cfg := genSnapshot(seed)
		p := mustPlace(t, s, cfg)
		ref := newReference(s, cfg)
		for _, a := range p.Assignments {
			if err := ref.check(a); err != nil {
				t.Fatalf("seed %d: %s/%s: %v\nreason: %q", seed, a.Pipeline, a.Stage, err, a.Reason)
			}
			if a.Instance != "" {
				placed++
			} else {
				failed++
			}
		}
		// Stale only when nothing fresh fits (staleness judged here, from
		// the snapshot, not from the explanation's tiers).
		ref = newReference(s, cfg)
		stale := func(name string) bool {
			in, _ := ref.instance(name)
			return in.Telemetry.At.IsZero() || s.Now.Sub(in.Telemetry.At) > cfg.MaxTelemetryAge
		}
		e := mustExplain(t, p)
		for _, st := range e.Stages {
			if st.Assignment.Instance == "" || !stale(st.Assignment.Instance) || st.Assignment.Action == ActionKeep {
				continue
			}
			staleSeen++
			for _, c := range st.Candidates {
				if c.Eligible && !stale(c.Instance) {
					t.Fatalf("seed %d: %s/%s placed on stale %s while %s (fresh) was eligible", seed, st.Pipeline, st.Stage, st.Assignment.Instance, c.Instance)
				}
			}
		}
	}
	// The generator must exercise both outcomes, or the property is vacuous.
	if placed < propertySeeds || failed < propertySeeds/10 || staleSeen < propertySeeds/20 {
		t.Errorf("generator too narrow: %d placed, %d failed, %d on stale telemetry", placed, failed, staleSeen)
	}
}

func TestPropertyDeterministic(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		s, cfg := genSnapshot(seed)
		p1, p2 := mustPlace(t, s, cfg), mustPlace(t, s, cfg)
		if diff := cmp.Diff(p1.Assignments, p2.Assignments, equateErrors); diff != "" {
			t.Fatalf("seed %d: same snapshot, different plans (-first +second):\n%s", seed, diff)
		}
		j1, j2 := explainJSON(t, p1), explainJSON(t, p2)
		if j1 != j2 {
			t.Fatalf("seed %d: same snapshot, different explanations:\n%s", seed, cmp.Diff(j1, j2))
		}
	}
}

func TestPropertyOrderIndependent(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		s, cfg := genSnapshot(seed)
		p1 := mustPlace(t, s, cfg)
		p2 := mustPlace(t, shuffled(s, seed), cfg)
		if diff := cmp.Diff(p1.Assignments, p2.Assignments, equateErrors); diff != "" {
			t.Fatalf("seed %d: permuted snapshot, different plan (-original +permuted):\n%s", seed, diff)
		}
		if t1, t2 := mustExplain(t, p1).Text(), mustExplain(t, p2).Text(); t1 != t2 {
			t.Fatalf("seed %d: permuted snapshot, different explanation:\n%s", seed, cmp.Diff(t1, t2))
		}
	}
}

func TestPropertyCompactSameDecisions(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		s, cfg := genSnapshot(seed)
		full := mustPlace(t, s, cfg)
		cfg.Explain, cfg.ExplainTopK = ExplainCompact, 2
		compact := mustPlace(t, s, cfg)
		if diff := cmp.Diff(full.Assignments, compact.Assignments, equateErrors); diff != "" {
			t.Fatalf("seed %d: compact mode changed the plan:\n%s", seed, diff)
		}
		ef, ec := mustExplain(t, full), mustExplain(t, compact)
		for k := range ef.Stages {
			f, c := ef.Stages[k], ec.Stages[k]
			shown := len(c.Candidates)
			if c.Omitted != nil {
				shown += c.Omitted.Eligible
				for _, fc := range c.Omitted.Rejected {
					shown += fc.Count
				}
			}
			if shown != len(f.Candidates) {
				t.Fatalf("seed %d: %s/%s: compact accounts for %d candidates, full lists %d", seed, f.Pipeline, f.Stage, shown, len(f.Candidates))
			}
			if diff := cmp.Diff(f.Why, c.Why); diff != "" {
				t.Fatalf("seed %d: %s/%s: compact why differs from full (-full +compact):\n%s", seed, f.Pipeline, f.Stage, diff)
			}
			// Every candidate compact shows is shown the same by full, rank
			// included; the eligible ones are full's top ranks.
			byName := map[string]CandidateExplanation{}
			for _, fc := range f.Candidates {
				byName[fc.Instance] = fc
			}
			for k, cc := range c.Candidates {
				if diff := cmp.Diff(byName[cc.Instance], cc); diff != "" {
					t.Fatalf("seed %d: %s/%s: compact candidate differs (-full +compact):\n%s", seed, f.Pipeline, f.Stage, diff)
				}
				if cc.Eligible && !cc.Current && cc.Rank != k+1 {
					t.Fatalf("seed %d: %s/%s: compact shows %s at %d with rank %d", seed, f.Pipeline, f.Stage, cc.Instance, k, cc.Rank)
				}
			}
		}
	}
}

// equateErrors compares Assignment.Err by text: each plan builds its own
// *StageError values.
var equateErrors = cmp.Comparer(func(a, b error) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error())
})

func explainJSON(t *testing.T, p *Plan) string {
	t.Helper()
	b, err := json.Marshal(mustExplain(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPropertyPlannerReuse: one Planner carried across many different
// snapshots (sizes going up and down) plans each exactly as a fresh Place
// does, so nothing leaks from one decision into the next.
func TestPropertyPlannerReuse(t *testing.T) {
	var pl Planner
	for seed := range uint64(propertySeeds) {
		s, cfg := genSnapshot(seed)
		if seed%5 == 0 {
			s, cfg = genSnapshotSized(seed, 200, 20)
		}
		fresh := mustPlace(t, s, cfg)
		reused, err := pl.Place(s, cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if diff := cmp.Diff(fresh.Assignments, reused.Assignments, equateErrors); diff != "" {
			t.Fatalf("seed %d: reused Planner plans differently (-fresh +reused):\n%s", seed, diff)
		}
		// The same instances (names, nodes, order) with other telemetry,
		// health and labels: the Planner keeps its topology index.
		s2 := *s
		s2.Instances = append([]Instance(nil), s.Instances...)
		for i := range s2.Instances {
			in := &s2.Instances[i]
			in.Healthy = !in.Healthy
			in.Telemetry.GPU.Utilization, in.Telemetry.Host.CPUUtilization = in.Telemetry.Host.CPUUtilization, in.Telemetry.GPU.Utilization
			in.Labels = map[string]string{"zone": "eu"}
		}
		fresh2 := mustPlace(t, &s2, cfg)
		reused2, err := pl.Place(&s2, cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if diff := cmp.Diff(fresh2.Assignments, reused2.Assignments, equateErrors); diff != "" {
			t.Fatalf("seed %d: reused Planner, same topology, plans differently (-fresh +reused):\n%s", seed, diff)
		}
	}
	// A duplicate name is caught on a Planner whose last snapshot was valid.
	s, cfg := genSnapshotSized(7, 10, 3)
	if _, err := pl.Place(s, cfg); err != nil || len(s.Instances) < 2 {
		t.Fatalf("seed 7: %v (%d instances)", err, len(s.Instances))
	}
	dup := *s
	dup.Instances = append([]Instance(nil), s.Instances...)
	dup.Instances[1].Name = dup.Instances[0].Name
	if _, err := pl.Place(&dup, cfg); !errors.Is(err, ErrInvalidSnapshot) {
		t.Errorf("duplicate name through a reused Planner: %v, want ErrInvalidSnapshot", err)
	}
	if _, err := pl.Place(&dup, cfg); !errors.Is(err, ErrInvalidSnapshot) {
		t.Errorf("duplicate name twice through a reused Planner: %v, want ErrInvalidSnapshot", err)
	}
}
