// Package placer closes the placement loop: it turns the fleet (instances,
// health, telemetry, loaded models) and the live pipelines into a
// placement.Snapshot, asks package placement for a plan, and carries the
// plan out make-before-break: load on the new instance (loader), switch the
// stage's route (fleet), then drain and unload the old copy when no other
// stage uses it there. It keeps the last plan for the explanation API.
//
// It must not score or filter instances itself (placement does) nor talk
// to Triton other than through the loader.
package placer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/batonhq/baton/orchestrator/fleet"
	"github.com/batonhq/baton/orchestrator/loader"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/placement"
	"github.com/batonhq/baton/tritonclient"
)

// Pipelines lists the live pipelines to place.
type Pipelines interface {
	Plans() []*pipeline.Plan
}

// Options configures a Placer.
type Options struct {
	Config placement.Config
	// Interval between planning rounds (default 2s).
	Interval time.Duration
	// Repository is the model repository, for footprint estimates.
	Repository string
	// SimulateGPUs loads models placed on instances declared as GPU with
	// KIND_CPU: a clearly labelled simulation mode for machines without a
	// GPU, whose GPU telemetry comes from the NVML mock.
	SimulateGPUs bool
	// Drain bounds the wait for in-flight calls before an unload (default 30s).
	Drain  time.Duration
	Logger *slog.Logger
}

// Placer runs planning rounds. Safe for concurrent use.
type Placer struct {
	fleet     *fleet.Fleet
	pipelines Pipelines
	loader    *loader.Loader
	opts      Options

	round   sync.Mutex        // one round at a time
	planner placement.Planner // reused between rounds (guarded by round)

	mu        sync.Mutex
	last      *placement.Plan
	lastMoved map[string]time.Time // pipeline\x00stage
	current   map[string]string    // pipeline\x00stage → instance
	footprint map[string]uint64    // model → estimated bytes
	moves     int
}

// New creates a Placer.
func New(f *fleet.Fleet, p Pipelines, l *loader.Loader, opts Options) *Placer {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Drain <= 0 {
		opts.Drain = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Placer{fleet: f, pipelines: p, loader: l, opts: opts,
		lastMoved: map[string]time.Time{}, current: map[string]string{}, footprint: map[string]uint64{}}
}

func key(pipeline, stage string) string { return pipeline + "\x00" + stage }

// Last is the most recent plan (nil before the first round).
func (p *Placer) Last() *placement.Plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Moves counts the stage moves carried out so far.
func (p *Placer) Moves() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.moves
}

// Current returns the instance serving a stage per the last applied plan.
func (p *Placer) Current(pipeline, stage string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current[key(pipeline, stage)]
}

// Run plans every Interval, and as soon as the fleet reports a change in
// telemetry, health or models, until ctx ends.
func (p *Placer) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		if _, err := p.Step(ctx); err != nil && ctx.Err() == nil {
			p.opts.Logger.Error("placement round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.fleet.Changed():
		}
	}
}

// Step runs one round: snapshot, plan, apply. It returns the plan.
func (p *Placer) Step(ctx context.Context) (*placement.Plan, error) {
	p.round.Lock()
	defer p.round.Unlock()
	snap := p.snapshot(time.Now())
	plan, err := p.planner.Place(snap, p.opts.Config)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.last = plan
	p.mu.Unlock()
	for _, a := range plan.Assignments {
		switch a.Action {
		case placement.ActionPlace, placement.ActionMove:
			if err := p.apply(ctx, plan.Now, a); err != nil {
				p.opts.Logger.Error("placing stage failed; it stays where it was", "pipeline", a.Pipeline, "stage", a.Stage, "to", a.Instance, "err", err)
			}
		case placement.ActionKeep:
			p.fleet.SetAssignment(a.Pipeline, a.Stage, a.Instance)
		case placement.ActionNone:
			p.opts.Logger.Warn("stage cannot be placed", "pipeline", a.Pipeline, "stage", a.Stage, "err", a.Error)
		}
	}
	return plan, nil
}

// apply carries out one place/move, make-before-break.
func (p *Placer) apply(ctx context.Context, now time.Time, a placement.Assignment) error {
	in, ok := p.fleet.Instance(a.Instance)
	if !ok {
		return fmt.Errorf("unknown instance %q", a.Instance)
	}
	lp := loader.Placement{Instance: a.Instance, Kind: tritonclient.KindCPU}
	if a.Device == placement.GPU {
		lp.Kind, lp.GPUs, lp.Simulated = tritonclient.KindGPU, []int32{int32(in.Spec.GPU)}, p.opts.SimulateGPUs
	}
	if err := p.loader.Ensure(ctx, a.Model, lp); err != nil { // make
		return err
	}
	p.fleet.NoteLoaded(a.Instance, a.Model)
	p.fleet.SetAssignment(a.Pipeline, a.Stage, a.Instance) // switch
	k := key(a.Pipeline, a.Stage)
	p.mu.Lock()
	from := p.current[k]
	p.current[k], p.lastMoved[k] = a.Instance, now
	p.moves++
	stillUsed := false
	for ok2, inst := range p.current {
		if inst == from && ok2 != k && p.modelOf(ok2) == a.Model {
			stillUsed = true
		}
	}
	p.mu.Unlock()
	p.opts.Logger.Info("stage placed", "pipeline", a.Pipeline, "stage", a.Stage, "model", a.Model, "action", a.Action,
		"from", from, "to", a.Instance, "device", a.Device, "simulated_gpu", lp.Simulated, "score", a.Score, "reason", a.Reason)
	if from == "" || from == a.Instance || stillUsed {
		return nil
	}
	if err := p.loader.Unload(ctx, from, a.Model, p.opts.Drain); err != nil { // break
		return fmt.Errorf("moved, but the old copy stays: %w", err)
	}
	p.fleet.NoteUnloaded(from, a.Model)
	return nil
}

// modelOf finds the model of a placed stage key; caller holds p.mu.
func (p *Placer) modelOf(k string) string {
	if p.last == nil {
		return ""
	}
	for _, a := range p.last.Assignments {
		if key(a.Pipeline, a.Stage) == k {
			return a.Model
		}
	}
	return ""
}

// snapshot builds placement's input from the fleet and the pipelines.
func (p *Placer) snapshot(now time.Time) *placement.Snapshot {
	s := &placement.Snapshot{Now: now}
	for _, in := range p.fleet.Instances() {
		st := in.State()
		tel := in.Telemetry()
		pi := placement.Instance{
			Name: in.Spec.Name, Kind: placement.DeviceKind(in.Spec.Kind), GPU: in.Spec.GPU, GPUUUID: in.Spec.GPUUUID,
			Node: in.Spec.Node, Labels: in.Spec.Labels, Healthy: st.Healthy,
		}
		if tel.Node != nil {
			pi.Telemetry.At = tel.FetchedAt
			h := tel.Node.Host
			pi.Telemetry.Host = placement.HostTelemetry{CPUUtilization: h.CPUUtilization, MemoryTotal: h.MemoryTotalBytes, MemoryAvailable: h.MemoryAvailableBytes, Load1: h.Load1}
			if g, ok := tel.GPU(in.Spec); ok {
				pi.Telemetry.GPU = placement.GPUTelemetry{MemoryTotal: g.MemoryTotalBytes, MemoryUsed: g.MemoryUsedBytes, MemoryFree: g.MemoryFreeBytes,
					Utilization: g.Utilization, MemoryUtilization: g.MemoryUtilization, TemperatureC: g.TemperatureC, PowerW: g.PowerWatts}
			}
		}
		for _, m := range st.Models {
			lm := placement.LoadedModel{Name: m, Bytes: p.estimate(m), Pending: st.PendingByModel[m]}
			if fp, ok := p.loader.Measured(m, in.Spec.Kind); ok {
				lm.Bytes = fp.Bytes
			}
			pi.Models = append(pi.Models, lm)
		}
		s.Instances = append(s.Instances, pi)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, plan := range p.pipelines.Plans() {
		for _, st := range plan.Stages {
			if st.Group != "" {
				continue // group members are placed per request (multi-model groups)
			}
			k := key(plan.Spec.Name, st.Name)
			fp := placement.Footprint{GPU: p.estimateLocked(st.Model), Host: p.estimateLocked(st.Model)}
			if m, ok := p.loader.Measured(st.Model, "gpu"); ok {
				fp.GPU = m.Bytes
			}
			if m, ok := p.loader.Measured(st.Model, "cpu"); ok {
				fp.Host = m.Bytes
			}
			s.Stages = append(s.Stages, placement.Stage{
				Pipeline: plan.Spec.Name, Name: st.Name, Index: st.Index, Model: st.Model,
				Device:    placement.Preference(st.Device),
				Footprint: fp,
				Current:   p.current[k], LastMoved: p.lastMoved[k],
			})
		}
	}
	return s
}

func (p *Placer) estimate(model string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.estimateLocked(model)
}

// estimateLocked is a model's footprint estimate: its files × 4 plus 64 MiB
// for the backend's own process; a load's measurement (loader.Measured)
// replaces it.
func (p *Placer) estimateLocked(model string) uint64 {
	if b, ok := p.footprint[model]; ok {
		return b
	}
	b := loader.Estimate(p.opts.Repository, model)
	p.footprint[model] = b
	return b
}
