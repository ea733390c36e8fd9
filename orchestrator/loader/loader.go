// Package loader puts models where placement decided: it loads a model on
// a Triton instance with an instance_group override (KIND_GPU with the
// device index, or KIND_CPU), and unloads it once no call is in flight
// there. Operations on one (instance, model) are serialised and identical
// concurrent requests share one load.
//
// It must not decide where models go (package placement does) nor route
// requests (package fleet does).
package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/batonhq/baton/tritonclient"
	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// ErrDrainTimeout: calls were still in flight when the drain deadline came.
var ErrDrainTimeout = errors.New("in-flight calls did not drain")

// Fleet is what the loader needs from the fleet.
type Fleet interface {
	// Client returns the instance's client.
	Client(instance string) (*tritonclient.Client, bool)
	// InFlight counts calls to model now running on instance.
	InFlight(instance, model string) int64
}

// Placement is where and how a model should run.
type Placement struct {
	Instance string
	// Kind is KindGPU or KindCPU.
	Kind tritonclient.InstanceKind
	// GPUs are device indices for KindGPU.
	GPUs []int32
	// Simulated marks an instance declared as GPU on a machine without
	// one: the model is loaded with KIND_CPU and the placement is labelled.
	Simulated bool
	// Count is the number of model instances (default 1).
	Count int32
}

// Options configures a Loader.
type Options struct {
	// Repository is the model repository directory whose config.pbtxt files
	// are the base of every override (the instances serve the same files).
	Repository string
	// DrainPoll is how often Unload checks in-flight calls (default 10ms).
	DrainPoll time.Duration
	Logger    *slog.Logger
}

// Loader applies placements. Safe for concurrent use.
type Loader struct {
	fleet Fleet
	opts  Options
	sf    singleflight.Group

	mu    sync.Mutex
	locks map[string]*sync.Mutex // instance\x00model → serialises operations
	loads int64                  // loads issued, for tests and metrics
	// measured holds the largest measured footprint per model and device
	// kind ("cpu"/"gpu"), fed back to placement.
	measured map[string]Footprint
}

// Measured returns model's measured footprint on a device kind ("cpu" or
// "gpu"), if a load has measured one.
func (l *Loader) Measured(model, kind string) (Footprint, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.measured[model+"\x00"+kind]
	return f, ok
}

// New creates a Loader.
func New(f Fleet, opts Options) *Loader {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DrainPoll <= 0 {
		opts.DrainPoll = 10 * time.Millisecond
	}
	return &Loader{fleet: f, opts: opts, locks: map[string]*sync.Mutex{}, measured: map[string]Footprint{}}
}

func (l *Loader) lock(instance, model string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := instance + "\x00" + model
	m, ok := l.locks[k]
	if !ok {
		m = &sync.Mutex{}
		l.locks[k] = m
	}
	return m
}

// Loads reports how many loads the loader has issued.
func (l *Loader) Loads() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads
}

// effectiveKind is the instance_group kind Triton is asked for.
func (p Placement) effectiveKind() tritonclient.InstanceKind {
	if p.Simulated {
		return tritonclient.KindCPU
	}
	return p.Kind
}

// Ensure makes model ready on p.Instance with p's instance group. If it is
// already loaded there with that kind it does nothing; if it is loaded with
// another kind it is unloaded first (Triton's in-place reload of a changed
// config keeps both copies resident, and KIND changes are not documented to
// reload in place). Concurrent identical calls share one load.
func (l *Loader) Ensure(ctx context.Context, model string, p Placement) error {
	key := p.Instance + "\x00" + model + "\x00" + p.effectiveKind().String()
	_, err, _ := l.sf.Do(key, func() (any, error) {
		m := l.lock(p.Instance, model)
		m.Lock()
		defer m.Unlock()
		return nil, l.ensure(context.WithoutCancel(ctx), model, p)
	})
	return err
}

func (l *Loader) ensure(ctx context.Context, model string, p Placement) error {
	c, ok := l.fleet.Client(p.Instance)
	if !ok {
		return fmt.Errorf("load %q: unknown instance %q", model, p.Instance)
	}
	want := p.effectiveKind()
	if ready, err := c.ModelReady(ctx, model, ""); err == nil && ready {
		cfg, err := c.ModelConfig(ctx, model, "")
		if err == nil && hasGroup(cfg, want, max(p.Count, 1)) {
			return nil
		}
		if err := l.drainAndUnload(ctx, c, p.Instance, model, 0); err != nil {
			return err
		}
	}
	base, err := tritonclient.ReadModelConfig(filepath.Join(l.opts.Repository, model, "config.pbtxt"))
	if err != nil {
		return fmt.Errorf("load %q on %s: base config: %w", model, p.Instance, err)
	}
	o := tritonclient.Override{SetInstanceGroup: true, Kind: want, Count: p.Count}
	if want == tritonclient.KindGPU {
		o.GPUs = p.GPUs
	}
	cfg, err := o.Apply(base)
	if err != nil {
		return err
	}
	start := time.Now()
	l.mu.Lock()
	l.loads++
	l.mu.Unlock()
	if err := c.Load(ctx, model, cfg); err != nil {
		return fmt.Errorf("load %q on %s as %s: %w", model, p.Instance, want, err)
	}
	took := time.Since(start)
	// The footprint belongs to the placement's kind: a simulated GPU
	// placement measures host memory but stands for the GPU copy.
	kindKey := "cpu"
	if p.Kind == tritonclient.KindGPU {
		kindKey = "gpu"
	}
	if fp, ok := measure(ctx, c, model, want); ok {
		l.mu.Lock()
		if prev := l.measured[model+"\x00"+kindKey]; fp.Bytes > prev.Bytes {
			l.measured[model+"\x00"+kindKey] = fp
		}
		l.mu.Unlock()
		l.opts.Logger.Info("model loaded", "model", model, "instance", p.Instance, "kind", want.String(), "simulated_gpu", p.Simulated, "took", took.Round(time.Millisecond), "footprint_bytes", fp.Bytes, "footprint_source", fp.Source)
		return nil
	}
	l.opts.Logger.Info("model loaded", "model", model, "instance", p.Instance, "kind", want.String(), "simulated_gpu", p.Simulated, "took", took.Round(time.Millisecond), "footprint", "unmeasured")
	return nil
}

// hasGroup reports whether the loaded config is exactly one instance group
// of kind want and count.
func hasGroup(cfg *pb.ModelConfig, want tritonclient.InstanceKind, count int32) bool {
	g := cfg.GetInstanceGroup()
	return len(g) == 1 && tritonclient.InstanceKind(g[0].GetKind()) == want && g[0].GetCount() == count
}

// Unload waits until no call to model is in flight on instance (bounded
// by drain; 0 means until ctx ends), then unloads it and waits until Triton
// reports it gone. Never unloads with calls in flight: on ErrDrainTimeout
// the model stays loaded.
func (l *Loader) Unload(ctx context.Context, instance, model string, drain time.Duration) error {
	c, ok := l.fleet.Client(instance)
	if !ok {
		return fmt.Errorf("unload %q: unknown instance %q", model, instance)
	}
	m := l.lock(instance, model)
	m.Lock()
	defer m.Unlock()
	return l.drainAndUnload(ctx, c, instance, model, drain)
}

func (l *Loader) drainAndUnload(ctx context.Context, c *tritonclient.Client, instance, model string, drain time.Duration) error {
	dctx := ctx
	if drain > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, drain)
		defer cancel()
	}
	t := time.NewTicker(l.opts.DrainPoll)
	defer t.Stop()
	for l.fleet.InFlight(instance, model) > 0 {
		select {
		case <-dctx.Done():
			return fmt.Errorf("unload %q on %s: %w (%d in flight)", model, instance, ErrDrainTimeout, l.fleet.InFlight(instance, model))
		case <-t.C:
		}
	}
	if err := c.UnloadAndWait(ctx, model, false); err != nil {
		return fmt.Errorf("unload %q on %s: %w", model, instance, err)
	}
	l.opts.Logger.Info("model unloaded", "model", model, "instance", instance)
	return nil
}
