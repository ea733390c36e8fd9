package placement

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

const (
	kindCPU uint8 = 0
	kindGPU uint8 = 1

	noSlot   int32 = -1 // stage not placed
	goneSlot int32 = -2 // stage placed on an instance not in the snapshot
)

// slot is the part of an instance's working state read for every visited
// candidate, packed into 32 bytes. Slots are in Snapshot.Instances order;
// slotInfo holds the rest.
type slot struct {
	// room is free device memory less headroom less this plan's
	// placements (bytes): a new load fits iff need ≤ room.
	room int64
	// capacity is total device memory less headroom (bytes): a load never
	// fits iff need > capacity.
	capacity int64
	// bound is static + the free-memory weight: the most a candidate not
	// holding the model and not near an adjacent stage can score (× 1/Σw).
	bound  float64
	models int32 // loaded models, this plan's included
	kind   uint8
	flags  uint8
}

// Slot flags.
const (
	flagHealthy  uint8 = 1 << iota
	flagStale          // telemetry older than MaxTelemetryAge, or never sampled
	flagNoMemory       // memory unknown: never sampled, or total 0
	flagBusy           // a GPU at or over Any.GPUUtilThreshold
)

// slotInfo is the part of an instance's working state read only for
// scored candidates and explanations.
type slotInfo struct {
	total    int64   // bytes
	reserve  int64   // headroom bytes
	planned  int64   // bytes taken by this plan's placements
	pending  int64   // queued requests over all models
	invTotal float64 // 1 / total; 0 when total is 0
	util     float64 // 0–1: GPU utilization (gpu) or CPU utilization (cpu)
	static   float64 // Σ weight×norm of the instance-only scorers
	age      time.Duration
	node     int32 // interned node name; -1 when unknown
}

// free is the device memory free now, this plan's placements taken off.
func (in *slotInfo) free(sl *slot) int64 { return sl.room + in.reserve }

// Candidate classes: instances grouped by what decides their tier (kind,
// busy, stale), each bucketed by score bound, best bucket first (a
// counting sort: O(n), no comparisons), so a stage can stop reading a class
// once a bucket's highest bound falls below its best score.
const (
	numClasses = 8
	numBuckets = 64
)

// class is one candidate class: its slots by bucket, highest bounds first.
type class struct {
	slots []int32
	start [numBuckets + 1]int32 // bucket b is slots[start[b]:start[b+1]]
	max   [numBuckets]float64   // the highest bound in each bucket
}

func classOf(sl *slot) uint8 {
	return sl.kind<<2 | (sl.flags&flagBusy)>>2 | (sl.flags&flagStale)>>1
}

// stageCtx is one stage's requirements, resolved against the slots.
type stageCtx struct {
	src    int32    // index in Snapshot.Stages
	model  int32    // interned model
	kinds  uint8    // bit per device kind the stage accepts
	isAny  bool     // device any
	need   [2]int64 // bytes, by kind
	labels []uint64 // bitset over slots; nil when no labels are required
	tierOf [2]Tier  // tier by kind before busy and stale
	busy   bool     // a busy GPU drops to TierBusy (any-stage, AnyGPUFirst)
	// classOrder[:nclasses] lists the classes of accepted kinds, best tier
	// first; classTier is each class's tier.
	classOrder [numClasses]uint8
	nclasses   uint8
	classTier  [numClasses]Tier
	current    int32 // slot, noSlot or goneSlot
	prev       int32 // position of the previous stage in planner.stages; -1 none
	next       int32

	// Adjacent stages already placed in this plan, set before evaluation.
	nadj     int32
	adj      [2]int32 // their slots
	adjStage [2]int32 // their positions
	adjRel   [2]string
}

// cand is one (stage, instance) pair under evaluation.
type cand struct {
	p      *planner
	st     *stageCtx
	sl     *slot
	in     *slotInfo
	i      int32 // slot index
	loaded bool  // the stage's model is on the instance (snapshot or this plan)
}

// need is the memory a placement would take on the candidate's device.
func (c *cand) need() int64 {
	if c.loaded {
		return 0
	}
	return c.st.need[c.sl.kind]
}

// planner is one plan's working state: an index of the snapshot built
// once, then updated as stages are placed.
type planner struct {
	cfg       Config
	snap      *Snapshot
	slots     []slot
	info      []slotInfo
	names     []string          // by slot
	classes   [numClasses]class // slots by class and bound
	nodeSlots [][]int32         // by node: its slots
	kindCount [2]int32          // slots by kind
	stages    []stageCtx        // placement order
	loadedOn  [][]int32         // by model: slots holding it
	mark      []bool            // by slot: the current stage's model is loaded there
	seen      []uint32          // by slot: stamp of the last stage that visited it
	stamp     uint32            //
	assigned  []int32           // by position: slot chosen, or noSlot
	tierNames [2 * (TierStale + 1)]string

	invW       float64 // 1 / Σ weights
	memA, memB float64 // free-memory norm = memA + memB·fraction (the Mode switch)
	maxModels  int32

	// Scratch kept between plans by a Planner, so a control loop allocates
	// little; every field above is rebuilt from the snapshot by reset.
	order    []int32 // stages in placement order (indexes in Snapshot.Stages)
	measured [][2]int64
	loaded   []modelSlot
	modelID  map[string]int32
	// The fleet's topology, kept while consecutive snapshots list the same
	// instance names and nodes in the same order (a control loop's case):
	// byName, nodeID and nodeOf are then reused instead of rebuilt.
	topoValid bool
	topoNodes []string
	byName    map[string]int32
	nodeID    map[string]int32
	nodeOf    []int32 // by slot
	topoErrs  []error // duplicate names found by indexTopology
	bufs      struct{ nodeStart, nodeAll, modelStart, modelAll, classAll []int32 }
}

// reuse returns s resized to n and zeroed, reallocating only when it is
// too small.
func reuse[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// reuseMap returns m emptied, or a new map when m is nil.
func reuseMap[K comparable, V any](m map[K]V, n int) map[K]V {
	if m == nil {
		return make(map[K]V, n)
	}
	clear(m)
	return m
}

func (p *planner) stage(st *stageCtx) *Stage { return &p.snap.Stages[st.src] }
func (p *planner) inst(i int32) *Instance    { return &p.snap.Instances[i] }

// newPlanner validates s and cfg and indexes s (see reset).
func newPlanner(s *Snapshot, cfg Config) (*planner, error) {
	p := &planner{}
	if err := p.reset(s, cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// reset validates s and cfg and indexes s into p, reusing p's memory:
// per-instance memory, flags and instance-only scores; classes; models;
// labels; stages in placement order.
func (p *planner) reset(s *Snapshot, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("%w: nil", ErrInvalidSnapshot)
	}
	errs := s.validateStages()
	n := len(s.Instances)
	// Stages in placement order: pipeline, then index.
	p.order = reuse(p.order, len(s.Stages))
	order := p.order
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := &s.Stages[a], &s.Stages[b]
		return cmp.Or(strings.Compare(x.Pipeline, y.Pipeline), cmp.Compare(x.Index, y.Index), strings.Compare(x.Name, y.Name))
	})
	for k := 1; k < len(order); k++ {
		x, y := &s.Stages[order[k-1]], &s.Stages[order[k]]
		if x.Pipeline != y.Pipeline {
			continue
		}
		if x.Index == y.Index {
			errs = append(errs, fmt.Errorf("stages %s/%s and %s/%s share index %d", y.Pipeline, x.Name, y.Pipeline, y.Name, y.Index))
		}
		for j := k - 1; j >= 0 && s.Stages[order[j]].Pipeline == y.Pipeline; j-- {
			if s.Stages[order[j]].Name == y.Name {
				errs = append(errs, fmt.Errorf("stage %s/%s listed twice", y.Pipeline, y.Name))
			}
		}
	}

	// Same topology as the last valid snapshot? (Checks the names and
	// nodes themselves: cheap when they share memory with the last ones.)
	sameTopo := p.topoValid && len(p.names) == n
	for i := 0; sameTopo && i < n; i++ {
		sameTopo = p.names[i] == s.Instances[i].Name && p.topoNodes[i] == s.Instances[i].Node
	}
	p.topoValid = false
	p.cfg, p.snap = cfg, s
	p.slots, p.info = reuse(p.slots, n), reuse(p.info, n)
	p.stages, p.assigned = reuse(p.stages, len(order)), reuse(p.assigned, len(order))
	p.mark, p.seen, p.stamp = reuse(p.mark, n), reuse(p.seen, n), 0
	p.kindCount = [2]int32{}
	p.maxModels = int32(min(cfg.MaxModelsPerInstance, math.MaxInt32))
	for t := range p.tierNames {
		p.tierNames[t] = Tier(t).String()
	}
	w := cfg.Weights
	p.invW = 1 / (w.FreeMemory + w.Utilization + w.Queue + w.Loaded + w.Colocation)
	if cfg.Mode == BinPack {
		p.memA, p.memB = 1, -1
	} else {
		p.memA, p.memB = 0, 1
	}

	// Models the stages need; loaded models of other names only count.
	p.modelID = reuseMap(p.modelID, len(order))
	modelID := p.modelID
	for _, si := range order {
		m := s.Stages[si].Model
		if _, ok := modelID[m]; !ok {
			modelID[m] = int32(len(modelID))
		}
	}
	p.measured = reuse(p.measured, len(modelID))
	measured := p.measured
	loaded := p.loaded[:0] // (model, slot) for every loaded model the stages need

	// One pass over the instances: check, index, score what depends on the
	// instance alone.
	if !sameTopo {
		p.indexTopology()
		errs = append(errs, p.topoErrs...)
	}
	for i := range s.Instances {
		in := &s.Instances[i]
		errs = in.validate(i, errs)
		sl, info := &p.slots[i], &p.info[i]
		tel := &in.Telemetry
		var free int64
		if in.Kind == GPU {
			sl.kind = kindGPU
			info.total, free, info.util = sat(tel.GPU.MemoryTotal), sat(tel.GPU.MemoryFree), tel.GPU.Utilization
		} else {
			sl.kind = kindCPU
			info.total, free, info.util = sat(tel.Host.MemoryTotal), sat(tel.Host.MemoryAvailable), tel.Host.CPUUtilization
		}
		p.kindCount[sl.kind]++
		if info.total > 0 {
			info.invTotal = 1 / float64(info.total)
		}
		info.reserve = max(headroom(cfg.Headroom.Fraction, info.total), sat(cfg.Headroom.Bytes))
		sl.room = min(free, info.total) - info.reserve
		sl.capacity = info.total - info.reserve
		info.age = s.Now.Sub(tel.At)
		if in.Healthy {
			sl.flags |= flagHealthy
		}
		if tel.At.IsZero() || (cfg.MaxTelemetryAge > 0 && info.age > cfg.MaxTelemetryAge) {
			sl.flags |= flagStale
		}
		if tel.At.IsZero() || info.total == 0 {
			sl.flags |= flagNoMemory
		}
		if sl.kind == kindGPU && info.util >= cfg.Any.GPUUtilThreshold {
			sl.flags |= flagBusy
		}
		info.node = p.nodeOf[i]
		sl.models = int32(min(len(in.Models), math.MaxInt32))
		for _, m := range in.Models {
			if m.Pending < 0 {
				errs = append(errs, fmt.Errorf("instance %q: model %q: pending %d < 0", in.Name, m.Name, m.Pending))
			}
			info.pending += int64(m.Pending)
			if id, ok := modelID[m.Name]; ok {
				loaded = append(loaded, modelSlot{id, int32(i)})
				measured[id][sl.kind] = max(measured[id][sl.kind], sat(m.Bytes))
			}
		}
		info.static = staticScore(&cand{p: p, sl: sl, in: info})
		sl.bound = info.static + w.FreeMemory
	}
	p.loaded = loaded
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidSnapshot, errors.Join(errs...))
	}
	p.topoValid = true
	p.indexClasses(w.FreeMemory + w.Utilization + w.Queue + w.Loaded + w.Colocation)
	p.indexNodes(len(p.nodeID))
	p.indexModels(loaded, len(modelID), order, modelID)

	labels := p.labelSets(order)
	for k, si := range order {
		st := &s.Stages[si]
		c := &p.stages[k]
		c.src = si
		c.model = modelID[st.Model]
		c.need = [2]int64{sat(st.Footprint.Host), sat(st.Footprint.GPU)}
		for kind := range c.need {
			if c.need[kind] == 0 {
				c.need[kind] = measured[c.model][kind]
			}
		}
		switch st.Device {
		case PreferCPU:
			c.kinds = 1 << kindCPU
		case PreferGPU:
			c.kinds = 1 << kindGPU
		default:
			c.kinds = 1<<kindCPU | 1<<kindGPU
			c.isAny = true
			switch cfg.Any.Prefer {
			case AnyGPUFirst:
				c.tierOf[kindCPU] = TierFallback
				c.busy = true
			case AnyCPUFirst:
				c.tierOf[kindGPU] = TierFallback
			}
		}
		for cl := range uint8(numClasses) {
			kind := cl >> 2
			if c.kinds&(1<<kind) == 0 {
				continue
			}
			t := c.tierOf[kind]
			if c.busy && cl&(flagBusy>>2) != 0 {
				t = TierBusy
			}
			if cl&(flagStale>>1) != 0 {
				t |= TierStale
			}
			c.classTier[cl] = t
			c.classOrder[c.nclasses] = cl
			c.nclasses++
		}
		slices.SortStableFunc(c.classOrder[:c.nclasses], func(a, b uint8) int { return cmp.Compare(c.classTier[a], c.classTier[b]) })
		for key, val := range st.Labels {
			set := labels[key][val]
			if c.labels == nil {
				c.labels = set
				continue
			}
			and := make([]uint64, len(set))
			for i := range and {
				and[i] = c.labels[i] & set[i]
			}
			c.labels = and
		}
		c.current = noSlot
		if st.Current != "" {
			c.current = goneSlot
			if i, ok := p.byName[st.Current]; ok {
				c.current = i
			}
		}
		c.prev, c.next = -1, -1
		if k > 0 {
			if pr := &s.Stages[order[k-1]]; pr.Pipeline == st.Pipeline && pr.Index == st.Index-1 {
				c.prev = int32(k - 1)
				p.stages[k-1].next = int32(k)
			}
		}
	}
	for k := range p.assigned {
		p.assigned[k] = noSlot
	}
	return nil
}

// indexTopology rebuilds byName (and the duplicate-name errors, in
// topoErrs), names, nodeID and nodeOf from p.snap's instances.
func (p *planner) indexTopology() {
	s, n := p.snap, len(p.snap.Instances)
	p.byName, p.nodeID = reuseMap(p.byName, n), reuseMap(p.nodeID, n/8+1)
	p.names, p.topoNodes, p.nodeOf = reuse(p.names, n), reuse(p.topoNodes, n), reuse(p.nodeOf, n)
	p.topoErrs = p.topoErrs[:0]
	for i := range s.Instances {
		in := &s.Instances[i]
		p.names[i], p.topoNodes[i] = in.Name, in.Node
		p.byName[in.Name] = int32(i)
		if len(p.byName)+len(p.topoErrs) != i+1 {
			p.topoErrs = append(p.topoErrs, fmt.Errorf("instance %q listed twice", in.Name))
		}
		p.nodeOf[i] = -1
		if in.Node != "" {
			id, ok := p.nodeID[in.Node]
			if !ok {
				id = int32(len(p.nodeID))
				p.nodeID[in.Node] = id
			}
			p.nodeOf[i] = id
		}
	}
}

// modelSlot says a model the stages need is loaded on a slot.
type modelSlot struct{ model, slot int32 }

// indexNodes fills p.nodeSlots from the slots' nodes: one allocation.
func (p *planner) indexNodes(nodes int) {
	p.bufs.nodeStart = reuse(p.bufs.nodeStart, nodes+1)
	start := p.bufs.nodeStart
	for i := range p.info {
		if nd := p.info[i].node; nd >= 0 {
			start[nd+1]++
		}
	}
	for nd := range nodes {
		start[nd+1] += start[nd]
	}
	p.bufs.nodeAll = reuse(p.bufs.nodeAll, int(start[nodes]))
	all := p.bufs.nodeAll
	p.nodeSlots = reuse(p.nodeSlots, nodes)
	for nd := range p.nodeSlots {
		p.nodeSlots[nd] = all[start[nd]:start[nd]:start[nd+1]]
	}
	for i := range p.info {
		if nd := p.info[i].node; nd >= 0 {
			p.nodeSlots[nd] = append(p.nodeSlots[nd], int32(i))
		}
	}
}

// indexModels fills p.loadedOn from the (model, slot) pairs, leaving room
// for one placement per stage using the model: one allocation.
func (p *planner) indexModels(loaded []modelSlot, models int, order []int32, modelID map[string]int32) {
	p.bufs.modelStart = reuse(p.bufs.modelStart, models+1)
	room := p.bufs.modelStart
	for _, ms := range loaded {
		room[ms.model+1]++
	}
	for _, si := range order {
		room[modelID[p.snap.Stages[si].Model]+1]++
	}
	for m := range models {
		room[m+1] += room[m]
	}
	p.bufs.modelAll = reuse(p.bufs.modelAll, int(room[models]))
	all := p.bufs.modelAll
	p.loadedOn = reuse(p.loadedOn, models)
	for m := range p.loadedOn {
		p.loadedOn[m] = all[room[m]:room[m]:room[m+1]]
	}
	for _, ms := range loaded {
		p.loadedOn[ms.model] = append(p.loadedOn[ms.model], ms.slot)
	}
}

// indexClasses fills p.classes: a counting sort of the slots by class,
// then by bound bucket (bounds lie in [0, sumW]), highest bucket first.
func (p *planner) indexClasses(sumW float64) {
	bucket := func(b float64) int {
		return numBuckets - 1 - min(max(int(b/sumW*numBuckets), 0), numBuckets-1)
	}
	var count [numClasses][numBuckets + 1]int32
	for i := range p.slots {
		sl := &p.slots[i]
		count[classOf(sl)][bucket(sl.bound)+1]++
	}
	p.bufs.classAll = reuse(p.bufs.classAll, len(p.slots))
	all := p.bufs.classAll
	off := int32(0)
	for c := range p.classes {
		cl := &p.classes[c]
		for b := range numBuckets {
			count[c][b+1] += count[c][b]
		}
		n := count[c][numBuckets]
		cl.slots = all[off : off+n : off+n]
		off += n
		cl.start = count[c]
		for b := range cl.max {
			cl.max[b] = math.Inf(-1)
		}
	}
	var fill [numClasses][numBuckets]int32
	for i := range p.slots {
		sl := &p.slots[i]
		c, b := classOf(sl), bucket(sl.bound)
		cl := &p.classes[c]
		cl.slots[cl.start[b]+fill[c][b]] = int32(i)
		fill[c][b]++
		cl.max[b] = max(cl.max[b], sl.bound)
	}
}

// labelSets builds, for every label the stages require, the bitset of
// instances carrying it (key → value → set): one map lookup per instance
// per distinct key.
func (p *planner) labelSets(order []int32) map[string]map[string][]uint64 {
	words := (len(p.slots) + 63) / 64
	sets := map[string]map[string][]uint64{}
	for _, si := range order {
		for k, v := range p.snap.Stages[si].Labels {
			if sets[k] == nil {
				sets[k] = map[string][]uint64{}
			}
			if sets[k][v] == nil {
				sets[k][v] = make([]uint64, words)
			}
		}
	}
	for key, vals := range sets {
		for i := range p.snap.Instances {
			if v, ok := p.snap.Instances[i].Labels[key]; ok {
				if set := vals[v]; set != nil {
					set[i>>6] |= 1 << (i & 63)
				}
			}
		}
	}
	return sets
}

// headroom is ceil(fraction × total), at most total.
func headroom(fraction float64, total int64) int64 {
	r := math.Ceil(fraction * float64(total))
	if r >= float64(total) {
		return total
	}
	return int64(r)
}

// sat converts bytes to int64, saturating.
func sat(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}
