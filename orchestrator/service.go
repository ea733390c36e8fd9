package orchestrator

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonhq/baton/orchestrator/executor"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/orchestrator/store"
	"github.com/batonhq/baton/tritonclient"
)

// ErrPipelineNotFound: no pipeline has that name.
var ErrPipelineNotFound = errors.New("pipeline not found")

// ErrReadOnly: the pipeline comes from a spec file and the API cannot change it.
var ErrReadOnly = errors.New("pipeline is defined by a file")

// Source says where a pipeline definition comes from.
type Source string

// Pipeline sources.
const (
	SourceFile Source = "file"
	SourceAPI  Source = "api"
)

// PipelineInfo is a pipeline as the admin API shows it.
type PipelineInfo struct {
	Spec     *pipeline.Spec `json:"spec"`
	Source   Source         `json:"source"`
	Path     string         `json:"path,omitempty"`
	Revision uint64         `json:"revision,omitempty"`
}

// entry is a live pipeline.
type entry struct {
	info PipelineInfo
	plan *pipeline.Plan
	st   *stats
}

// stats are cumulative per-pipeline counters, Triton-style.
type stats struct {
	success, fail         atomic.Uint64
	successNs, failNs     atomic.Int64
	inferences, lastInfMs atomic.Int64
}

// Service holds the live pipelines and runs them: the one object the
// front doors and the admin API talk to.
type Service struct {
	exec     *executor.Executor
	metadata pipeline.MetadataSource
	store    *store.Store
	groups   GroupSet
	logger   *slog.Logger

	mu      sync.RWMutex
	entries map[string]*entry
	ready   atomic.Bool
}

// Config wires a Service.
type Config struct {
	Executor *executor.Executor
	// Metadata checks specs against Triton (nil: static checks only).
	Metadata pipeline.MetadataSource
	// Store persists API-created pipelines (nil: they live in memory only).
	Store *store.Store
	// Groups are the multi-model groups stages may reference (nil: none).
	Groups GroupSet
	Logger *slog.Logger
}

// GroupSet says which multi-model groups exist.
type GroupSet interface {
	Has(name string) bool
}

// checkGroups reports group stages whose group is not defined.
func (s *Service) checkGroups(spec *pipeline.Spec) error {
	var problems []pipeline.Problem
	for i, st := range spec.Stages {
		if st.Group != "" && (s.groups == nil || !s.groups.Has(st.Group)) {
			problems = append(problems, pipeline.Problem{Path: fmt.Sprintf("stages[%d].group", i), Message: fmt.Sprintf("unknown group %q", st.Group)})
		}
	}
	if len(problems) > 0 {
		return &pipeline.ValidationError{Pipeline: spec.Name, Problems: problems}
	}
	return nil
}

// NewService creates a Service with no pipelines.
func NewService(cfg Config) *Service {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{exec: cfg.Executor, metadata: cfg.Metadata, store: cfg.Store, groups: cfg.Groups, logger: logger, entries: map[string]*entry{}}
}

// LoadDir adds every *.yaml, *.yml and *.json spec in dir (read-only to the
// API). All invalid files are reported together.
func (s *Service) LoadDir(dir string) error {
	paths, err := pipeline.SpecFiles(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		spec, err := pipeline.Parse(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		plan, err := pipeline.Compile(spec)
		if err == nil {
			err = s.checkGroups(spec)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		s.mu.Lock()
		if prev, dup := s.entries[spec.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: pipeline %q already defined in %s", p, spec.Name, prev.info.Path))
		} else {
			s.entries[spec.Name] = &entry{info: PipelineInfo{Spec: spec, Source: SourceFile, Path: p}, plan: plan, st: &stats{}}
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// LoadStore adds the pipelines persisted by earlier API calls. A stored
// pipeline whose name a file already defines is skipped with a warning.
func (s *Service) LoadStore(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	recs, err := s.store.List(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		spec, err := pipeline.Parse(r.Spec)
		if err == nil {
			var plan *pipeline.Plan
			if plan, err = pipeline.Compile(spec); err == nil {
				err = s.checkGroups(spec)
			}
			if err == nil {
				if prev, dup := s.entries[spec.Name]; dup {
					s.logger.Warn("stored pipeline shadowed by a spec file", "pipeline", spec.Name, "file", prev.info.Path)
					continue
				}
				s.entries[spec.Name] = &entry{info: PipelineInfo{Spec: spec, Source: SourceAPI, Revision: r.Revision}, plan: plan, st: &stats{}}
				continue
			}
		}
		// Keep serving the others; this one is reported, not dropped from disk.
		s.logger.Error("stored pipeline no longer valid; not serving it", "pipeline", r.Name, "err", err)
	}
	return nil
}

// SetReady flips readiness (503 on the ready endpoints while false).
func (s *Service) SetReady(ready bool) { s.ready.Store(ready) }

// Ready reports readiness.
func (s *Service) Ready() bool { return s.ready.Load() }

// Plan returns the compiled pipeline called name.
func (s *Service) Plan(name string) (*pipeline.Plan, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[name]
	if !ok {
		return nil, false
	}
	return e.plan, true
}

// Get returns a pipeline's admin view.
func (s *Service) Get(name string) (PipelineInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[name]
	if !ok {
		return PipelineInfo{}, fmt.Errorf("%w: %q", ErrPipelineNotFound, name)
	}
	return e.info, nil
}

// List returns every pipeline, sorted by name.
func (s *Service) List() []PipelineInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]PipelineInfo, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.info)
	}
	slices.SortFunc(out, func(a, b PipelineInfo) int { return cmp.Compare(a.Spec.Name, b.Spec.Name) })
	return out
}

// Apply validates spec (against Triton's metadata where reachable),
// persists it and makes it live. created reports whether it is new. An
// invalid spec returns a *pipeline.ValidationError with every problem.
func (s *Service) Apply(ctx context.Context, spec *pipeline.Spec) (info PipelineInfo, created bool, err error) {
	if s.metadata != nil {
		err = pipeline.ValidateWithMetadata(ctx, spec, s.metadata)
	} else {
		err = pipeline.Validate(spec)
	}
	if err == nil {
		err = s.checkGroups(spec)
	}
	if err != nil {
		return PipelineInfo{}, false, err
	}
	plan, err := pipeline.Compile(spec)
	if err != nil {
		return PipelineInfo{}, false, err
	}
	s.mu.RLock()
	prev, exists := s.entries[spec.Name]
	s.mu.RUnlock()
	if exists && prev.info.Source == SourceFile {
		return PipelineInfo{}, false, fmt.Errorf("%w: %q is defined in %s", ErrReadOnly, spec.Name, prev.info.Path)
	}
	info = PipelineInfo{Spec: spec, Source: SourceAPI}
	if s.store != nil {
		doc, err := json.Marshal(spec)
		if err != nil {
			return PipelineInfo{}, false, err
		}
		rec, err := s.store.Put(ctx, spec.Name, doc, 0)
		if err != nil {
			return PipelineInfo{}, false, fmt.Errorf("persist pipeline %q: %w", spec.Name, err)
		}
		info.Revision = rec.Revision
	}
	s.mu.Lock()
	st := &stats{}
	if old, ok := s.entries[spec.Name]; ok {
		st = old.st
	}
	s.entries[spec.Name] = &entry{info: info, plan: plan, st: st}
	s.mu.Unlock()
	s.logger.Info("pipeline applied", "pipeline", spec.Name, "created", !exists, "revision", info.Revision, "stages", len(spec.Stages))
	return info, !exists, nil
}

// Delete removes an API-created pipeline.
func (s *Service) Delete(ctx context.Context, name string) error {
	s.mu.RLock()
	e, ok := s.entries[name]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrPipelineNotFound, name)
	}
	if e.info.Source == SourceFile {
		return fmt.Errorf("%w: %q is defined in %s", ErrReadOnly, name, e.info.Path)
	}
	if s.store != nil {
		if err := s.store.Delete(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.mu.Lock()
	delete(s.entries, name)
	s.mu.Unlock()
	s.logger.Info("pipeline deleted", "pipeline", name)
	return nil
}

// Infer runs the named pipeline.
func (s *Service) Infer(ctx context.Context, name string, req *executor.Request) (*executor.Result, error) {
	s.mu.RLock()
	e, ok := s.entries[name]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrPipelineNotFound, name)
	}
	start := time.Now()
	res, err := s.exec.Run(ctx, e.plan, req)
	d := time.Since(start)
	if err != nil {
		e.st.fail.Add(1)
		e.st.failNs.Add(int64(d))
		return res, err
	}
	e.st.success.Add(1)
	e.st.successNs.Add(int64(d))
	if len(req.Inputs) > 0 && len(req.Inputs[0].Shape) > 0 {
		e.st.inferences.Add(req.Inputs[0].Shape[0])
	} else {
		e.st.inferences.Add(1)
	}
	e.st.lastInfMs.Store(time.Now().UnixMilli())
	return res, nil
}

// Statistics returns Triton-style cumulative statistics for a pipeline.
func (s *Service) Statistics(name string) (tritonclient.ModelStats, bool) {
	s.mu.RLock()
	e, ok := s.entries[name]
	s.mu.RUnlock()
	if !ok {
		return tritonclient.ModelStats{}, false
	}
	st := tritonclient.ModelStats{
		Name: name, Version: "1",
		InferenceCount: uint64(e.st.inferences.Load()),
		ExecutionCount: e.st.success.Load(),
		Success:        tritonclient.StatDuration{Count: e.st.success.Load(), Total: time.Duration(e.st.successNs.Load())},
		Fail:           tritonclient.StatDuration{Count: e.st.fail.Load(), Total: time.Duration(e.st.failNs.Load())},
		// A pipeline has no queue of its own; like Triton, count one
		// zero-length queue entry per success. perf_analyzer finds the
		// version it measured by the queue count that grew.
		Queue: tritonclient.StatDuration{Count: e.st.success.Load()},
	}
	if ms := e.st.lastInfMs.Load(); ms > 0 {
		st.LastInference = time.UnixMilli(ms)
	}
	return st, true
}

// PipelineNames lists pipeline names, sorted.
func (s *Service) PipelineNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.entries))
	for n := range s.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Plans returns the compiled pipelines, sorted by name.
func (s *Service) Plans() []*pipeline.Plan {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*pipeline.Plan, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.plan)
	}
	slices.SortFunc(out, func(a, b *pipeline.Plan) int { return cmp.Compare(a.Spec.Name, b.Spec.Name) })
	return out
}
