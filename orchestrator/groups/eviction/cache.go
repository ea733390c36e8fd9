package eviction

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

var (
	// ErrNoRoom means the model does not fit now: pinned or in-use models
	// hold the memory it needs. Retry after releases or unpins.
	ErrNoRoom = errors.New("no room in memory budget")
	// ErrTooLarge means the model can never fit: it alone exceeds the budget.
	ErrTooLarge = errors.New("model larger than memory budget")
	// ErrNotLoaded means the call names a model the cache does not hold.
	ErrNotLoaded = errors.New("model not loaded")
	// ErrNotAcquired means Release was called without a matching Acquire: a
	// bug in the caller.
	ErrNotAcquired = errors.New("release without acquire")
)

// NoRoomError explains an ErrNoRoom: how many bytes were needed and which
// models blocked the eviction. It unwraps to ErrNoRoom.
type NoRoomError struct {
	// Model is the model that did not fit.
	Model string
	// Need is the model's size in bytes.
	Need uint64
	// Reclaimable is the free bytes plus the bytes of every evictable model.
	Reclaimable uint64
	// Blocked lists the pinned or in-use models, sorted by name.
	Blocked []string
	// MaxModels is the cache's model-count cap when it, not the bytes,
	// is what blocks the admission (0 otherwise).
	MaxModels int
}

func (e *NoRoomError) Error() string {
	if e.MaxModels > 0 {
		return fmt.Sprintf("admit model %q: %d models already held (the cap), blocked by %v: %v",
			e.Model, e.MaxModels, e.Blocked, ErrNoRoom)
	}
	return fmt.Sprintf("admit model %q: need %d bytes, at most %d reclaimable, blocked by %v: %v",
		e.Model, e.Need, e.Reclaimable, e.Blocked, ErrNoRoom)
}

func (e *NoRoomError) Unwrap() error { return ErrNoRoom }

type entry struct {
	Entry
	priority float64
	pins     int
	refs     int
}

// Cache is the memory accounting and eviction choice for one instance of a
// multi-model group.
//
// A Cache is not safe for concurrent use: the caller holds its own lock
// around every call, including the unload and load it performs on the
// cache's answer.
type Cache struct {
	policy Policy
	budget uint64 // bytes
	used   uint64 // bytes; sum of held sizes (above budget only after Update grew one)
	clock  uint64 // monotonic use counter
	models map[string]*entry
	// maxModels caps the number of models held (0: no cap).
	maxModels int
}

// New returns an empty Cache with the given policy (nil means LRU) and a
// memory budget in bytes.
func New(policy Policy, budgetBytes uint64) *Cache {
	if policy == nil {
		policy = LRU()
	}
	return &Cache{policy: policy, budget: budgetBytes, models: make(map[string]*entry)}
}

// SetMaxModels caps how many models the cache holds at once (0: only the
// byte budget counts). Admit evicts to respect both.
func (c *Cache) SetMaxModels(n int) { c.maxModels = max(n, 0) }

// Policy returns the cache's eviction policy.
func (c *Cache) Policy() Policy { return c.policy }

// Budget returns the memory budget in bytes.
func (c *Cache) Budget() uint64 { return c.budget }

// Used returns the bytes held by loaded (or reserved) models.
func (c *Cache) Used() uint64 { return c.used }

// Loaded returns the loaded models sorted by name.
func (c *Cache) Loaded() []string {
	names := make([]string, 0, len(c.models))
	for name := range c.models {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Contains reports whether model is loaded (or reserved).
func (c *Cache) Contains(model string) bool {
	_, ok := c.models[model]
	return ok
}

// Touch records a request hit on a loaded model; it reports whether the
// model was loaded.
func (c *Cache) Touch(model string) bool {
	e, ok := c.models[model]
	if !ok {
		return false
	}
	c.use(e)
	return true
}

func (c *Cache) use(e *entry) {
	c.clock++
	e.LastUse = c.clock
	e.Uses++
	e.priority = c.policy.Priority(e.Entry)
}

// Admit reserves sizeBytes for model, a cold model about to load whose cold
// load takes loadCost, and returns the models to evict first, in eviction
// order. The victims and the reservation take effect in the accounting at
// once: the caller unloads the victims, loads the model, and calls Remove
// for the model if its load fails (and for any victim whose unload fails
// and is kept, after re-admitting it).
//
// Victims are loaded models with no pins and no in-flight references,
// lowest policy priority first (ties: older LastUse first), taken until the
// model fits. If the model alone exceeds the budget the error wraps
// ErrTooLarge; if pinned or in-use models block it, the error is a
// *NoRoomError wrapping ErrNoRoom. On error nothing changes.
//
// Admitting a model that is already loaded is a hit: it is touched and
// nothing is evicted, whatever sizeBytes says.
func (c *Cache) Admit(model string, sizeBytes uint64, loadCost time.Duration) (evict []string, err error) {
	if e, ok := c.models[model]; ok {
		c.use(e)
		return nil, nil
	}
	if sizeBytes > c.budget {
		return nil, fmt.Errorf("admit model %q: %d bytes, budget %d: %w", model, sizeBytes, c.budget, ErrTooLarge)
	}
	victims, err := c.makeRoom(model, sizeBytes, 1)
	if err != nil {
		return nil, err
	}
	evict = c.evict(victims)
	e := &entry{Entry: Entry{Model: model, Size: sizeBytes, LoadCost: loadCost.Seconds()}}
	c.models[model] = e
	c.used += sizeBytes
	c.use(e)
	return evict, nil
}

// makeRoom returns the victims that must go, in eviction order, before
// sizeBytes more bytes and extraModels more models fit; it changes nothing.
// Used may exceed the budget (after Update grew a model): the victims then
// bring it back under.
func (c *Cache) makeRoom(model string, sizeBytes uint64, extraModels int) ([]*entry, error) {
	var needBytes uint64
	if c.used+sizeBytes > c.budget {
		needBytes = c.used + sizeBytes - c.budget
	}
	needCount := 0
	if c.maxModels > 0 {
		needCount = max(len(c.models)+extraModels-c.maxModels, 0)
	}
	if needBytes == 0 && needCount == 0 {
		return nil, nil
	}
	var cands []*entry
	var blocked []string
	for _, e := range c.models {
		switch {
		case e.Model == model:
			// Update of a loaded model: it is not its own victim.
		case e.pins > 0 || e.refs > 0:
			blocked = append(blocked, e.Model)
		case e.Size > 0 || needCount > 0: // a zero-size model frees bytes only by count
			cands = append(cands, e)
		}
	}
	slices.SortFunc(cands, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.LastUse, b.LastUse))
	})
	var freed uint64
	for i, e := range cands {
		freed += e.Size
		if freed >= needBytes && i+1 >= needCount {
			return cands[:i+1], nil
		}
	}
	slices.Sort(blocked)
	var free uint64
	if c.budget > c.used {
		free = c.budget - c.used
	}
	e := &NoRoomError{Model: model, Need: sizeBytes, Reclaimable: freed + free, Blocked: blocked}
	if freed >= needBytes { // the bytes were there: the count cap blocked it
		e.MaxModels = c.maxModels
	}
	return nil, e
}

// evict takes victims out of the accounting and tells the policy.
func (c *Cache) evict(victims []*entry) []string {
	var names []string
	for _, v := range victims {
		c.policy.Evicted(v.priority)
		c.used -= v.Size
		delete(c.models, v.Model)
		names = append(names, v.Model)
	}
	return names
}

// Update corrects a held model's size and load cost once they are
// measured, and returns the models to evict (as Admit does) when the
// model grew past the free bytes. If pinned or in-use models block that,
// the new size is recorded anyway, Used exceeds the budget until later
// Admits evict enough, and the error is a *NoRoomError. A size above the
// whole budget is recorded too and reported with ErrTooLarge: the caller
// should unload the model.
func (c *Cache) Update(model string, sizeBytes uint64, loadCost time.Duration) (evict []string, err error) {
	e, ok := c.models[model]
	if !ok {
		return nil, fmt.Errorf("update model %q: %w", model, ErrNotLoaded)
	}
	c.used = c.used - e.Size + sizeBytes
	e.Size, e.LoadCost = sizeBytes, loadCost.Seconds()
	e.priority = c.policy.Priority(e.Entry)
	if sizeBytes > c.budget {
		return nil, fmt.Errorf("update model %q: %d bytes, budget %d: %w", model, sizeBytes, c.budget, ErrTooLarge)
	}
	victims, err := c.makeRoom(model, 0, 0)
	if err != nil {
		return nil, err
	}
	return c.evict(victims), nil
}

// State is one held model as the admin API shows it.
type State struct {
	Entry
	// Pins and Refs count pins and in-flight requests.
	Pins, Refs int
	// Priority is the policy's keep-value (lowest is evicted first).
	Priority float64
}

// Get returns the state of one held model.
func (c *Cache) Get(model string) (State, bool) {
	e, ok := c.models[model]
	if !ok {
		return State{}, false
	}
	return State{Entry: e.Entry, Pins: e.pins, Refs: e.refs, Priority: e.priority}, true
}

// States lists the held models sorted by name.
func (c *Cache) States() []State {
	out := make([]State, 0, len(c.models))
	for _, e := range c.models {
		out = append(out, State{Entry: e.Entry, Pins: e.pins, Refs: e.refs, Priority: e.priority})
	}
	slices.SortFunc(out, func(a, b State) int { return cmp.Compare(a.Model, b.Model) })
	return out
}

// Remove forgets model after it was unloaded or its load failed; it does
// not count as an eviction for the policy. It reports whether the model was
// loaded.
func (c *Cache) Remove(model string) bool {
	e, ok := c.models[model]
	if !ok {
		return false
	}
	c.used -= e.Size
	delete(c.models, model)
	return true
}

// Pin keeps model loaded until a matching Unpin; pins nest.
func (c *Cache) Pin(model string) error {
	e, ok := c.models[model]
	if !ok {
		return fmt.Errorf("pin model %q: %w", model, ErrNotLoaded)
	}
	e.pins++
	return nil
}

// Unpin undoes one Pin; unpinning an unpinned model is a no-op.
func (c *Cache) Unpin(model string) error {
	e, ok := c.models[model]
	if !ok {
		return fmt.Errorf("unpin model %q: %w", model, ErrNotLoaded)
	}
	if e.pins > 0 {
		e.pins--
	}
	return nil
}

// Acquire marks one in-flight request on model; until the matching Release
// the model is never evicted.
func (c *Cache) Acquire(model string) error {
	e, ok := c.models[model]
	if !ok {
		return fmt.Errorf("acquire model %q: %w", model, ErrNotLoaded)
	}
	e.refs++
	return nil
}

// Release ends one in-flight request on model.
func (c *Cache) Release(model string) error {
	e, ok := c.models[model]
	if !ok {
		return fmt.Errorf("release model %q: %w", model, ErrNotLoaded)
	}
	if e.refs == 0 {
		return fmt.Errorf("release model %q: %w", model, ErrNotAcquired)
	}
	e.refs--
	return nil
}
