package harness

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/batonhq/baton/tritonclient"
)

// StatsReader reads cumulative model statistics from one server (model ""
// means every loaded model). *tritonclient.Client is one; HTTPStats reads
// the v2 HTTP statistics extension.
type StatsReader interface {
	ModelStatistics(ctx context.Context, model, version string) ([]tritonclient.ModelStats, error)
}

// StatsSource is one server whose statistics a run reads.
type StatsSource struct {
	// Instance names the server in results (a Triton instance name or address).
	Instance string
	Reader   StatsReader
}

// StatsPlan says where the server-side breakdown comes from. Statistics
// are read at every window boundary; a window's breakdown is the
// difference between its two readings.
type StatsPlan struct {
	// Target is the server of the measured model (Baton for a pipeline,
	// Triton for a model or ensemble); its Success count is the breakdown's
	// denominator and its Success time the model's own request time.
	// Reader nil: the client's count is the denominator.
	Target StatsSource
	// TargetModel and TargetVersion name the measured model there.
	TargetModel, TargetVersion string
	// Stages are the Triton instances that run the stage models.
	Stages []StatsSource
	// StageModels are the stage models to report; empty means every model
	// on Stages that served requests during the window, except TargetModel.
	StageModels []string
}

// statKey is one model version on one instance.
type statKey struct{ instance, model, version string }

// snapshot is one reading of every source.
type snapshot struct {
	target *tritonclient.ModelStats // nil without a target reader
	stages map[statKey]tritonclient.ModelStats
}

// read takes a snapshot; it fails if any source fails.
func (p *StatsPlan) read(ctx context.Context) (*snapshot, error) {
	snap := &snapshot{stages: map[statKey]tritonclient.ModelStats{}}
	if p.Target.Reader != nil {
		st, err := p.Target.Reader.ModelStatistics(ctx, p.TargetModel, p.TargetVersion)
		if err != nil {
			return nil, fmt.Errorf("statistics of %q on %s: %w", p.TargetModel, p.Target.Instance, err)
		}
		var sum tritonclient.ModelStats
		for _, s := range st { // one entry per loaded version
			sum = sum.Add(s)
		}
		snap.target = &sum
	}
	for _, src := range p.Stages {
		all, err := src.Reader.ModelStatistics(ctx, "", "")
		if err != nil {
			return nil, fmt.Errorf("statistics on %s: %w", src.Instance, err)
		}
		for _, s := range all {
			if p.isStage(s.Name) {
				snap.stages[statKey{src.Instance, s.Name, s.Version}] = s
			}
		}
	}
	return snap, nil
}

func (p *StatsPlan) isStage(model string) bool {
	if len(p.StageModels) > 0 {
		return slices.Contains(p.StageModels, model)
	}
	return model != p.TargetModel
}

// statsDelta is the activity between two snapshots.
type statsDelta struct {
	target *tritonclient.ModelStats
	stages map[statKey]tritonclient.ModelStats
	// coldLoads counts stage models that were loaded or reloaded in between
	// (new in the later snapshot, or with counters that went backwards).
	coldLoads int
}

// diff is cur − prev.
func diff(prev, cur *snapshot) *statsDelta {
	d := &statsDelta{stages: map[statKey]tritonclient.ModelStats{}}
	if cur.target != nil && prev.target != nil {
		t := cur.target.Delta(*prev.target)
		d.target = &t
	}
	for k, s := range cur.stages {
		p, ok := prev.stages[k]
		if !ok || reloaded(s, p) {
			d.coldLoads++
		}
		if ok {
			s = s.Delta(p) // Delta keeps s whole after a reload
		}
		d.stages[k] = s
	}
	return d
}

// reloaded mirrors ModelStats.Delta's test for counters that went backwards.
func reloaded(s, prev tritonclient.ModelStats) bool {
	return s.InferenceCount < prev.InferenceCount || s.ExecutionCount < prev.ExecutionCount ||
		s.Success.Count < prev.Success.Count || s.Fail.Count < prev.Fail.Count
}

// mergeDeltas adds up the deltas of several windows; nil if any is nil.
func mergeDeltas(ds []*statsDelta) *statsDelta {
	if len(ds) == 0 {
		return nil
	}
	m := &statsDelta{stages: map[statKey]tritonclient.ModelStats{}}
	hasTarget := true
	var target tritonclient.ModelStats
	for _, d := range ds {
		if d == nil {
			return nil
		}
		if d.target == nil {
			hasTarget = false
		} else {
			target = target.Add(*d.target)
		}
		for k, s := range d.stages {
			m.stages[k] = m.stages[k].Add(s)
		}
		m.coldLoads += d.coldLoads
	}
	if hasTarget {
		m.target = &target
	}
	return m
}

// ServerBreakdown is the server's view of where a request's time went,
// per request of the measured model.
type ServerBreakdown struct {
	// Requests is the denominator: successful requests of the measured
	// model counted by its own server, or by the client when
	// RequestsFromClient (no target statistics).
	Requests           uint64
	RequestsFromClient bool
	// TargetTime is the measured model's mean request time on its own
	// server (Baton's pipeline time, Triton's ensemble or model time);
	// 0 without target statistics.
	TargetTime time.Duration
	// Target is the measured model's own queue and compute means as its
	// server reports them, which is what perf_analyzer's Server columns
	// show: 0 for a Baton pipeline (it neither queues nor computes itself),
	// Triton's figures for an ensemble or a model. Nil without target
	// statistics.
	Target *ModelTimes
	// Stages are the stage models, by name (instances and versions summed).
	Stages []StageStats
	// Queue, ComputeInput, ComputeInfer and ComputeOutput add up the
	// stages' per-request times.
	Queue, ComputeInput, ComputeInfer, ComputeOutput time.Duration
	// StageTime adds up the stages' per-request Triton request times.
	StageTime time.Duration
	// ColdLoads counts stage model (re)loads seen during the measurement.
	ColdLoads int

	targetIsStage bool // a plain model measured directly: nothing orchestrates
}

// Compute is ComputeInput + ComputeInfer + ComputeOutput.
func (b *ServerBreakdown) Compute() time.Duration {
	return b.ComputeInput + b.ComputeInfer + b.ComputeOutput
}

// ModelTimes are a model's mean queue and compute times per request, each
// over its own count, as perf_analyzer computes them.
type ModelTimes struct {
	Queue, ComputeInput, ComputeInfer, ComputeOutput time.Duration
}

func modelTimes(s tritonclient.ModelStats) ModelTimes {
	return ModelTimes{Queue: s.Queue.Mean(), ComputeInput: s.ComputeInput.Mean(), ComputeInfer: s.ComputeInfer.Mean(), ComputeOutput: s.ComputeOutput.Mean()}
}

// PerfAnalyzerServer is what perf_analyzer's Server Queue and Server
// Compute columns hold: the measured model's own times, or, without target
// statistics, the stages' sums.
func (b *ServerBreakdown) PerfAnalyzerServer() ModelTimes {
	if b.Target != nil {
		return *b.Target
	}
	return ModelTimes{Queue: b.Queue, ComputeInput: b.ComputeInput, ComputeInfer: b.ComputeInfer, ComputeOutput: b.ComputeOutput}
}

// Orchestration is TargetTime − StageTime when both are known and the
// target is not itself the only stage: Baton's overhead including its hops
// to Triton for a pipeline, the ensemble scheduler's for an ensemble.
func (b *ServerBreakdown) Orchestration() (time.Duration, bool) {
	if b.TargetTime <= 0 || len(b.Stages) == 0 || b.targetIsStage {
		return 0, false
	}
	return b.TargetTime - b.StageTime, true
}

// StageStats is one stage model's statistics over a measurement.
type StageStats struct {
	Model     string
	Instances []string
	// Calls counts its successful requests; CallsPerRequest is Calls per
	// measured request (15 for a model used by 15 stages), rounded to a
	// whole number when within 0.1 of one.
	Calls           uint64
	CallsPerRequest float64
	// Means per call, each over its own count as perf_analyzer computes them.
	Queue, ComputeInput, ComputeInfer, ComputeOutput time.Duration
	// Request is Triton's mean request time (queue, compute and its own handling).
	Request time.Duration
}

// breakdown turns a delta into per-request figures; clientRequests is the
// denominator when the target has no statistics. It returns nil when there
// is nothing to divide by.
func breakdown(d *statsDelta, clientRequests int, stageOrder []string, targetModel string) *ServerBreakdown {
	if d == nil {
		return nil
	}
	b := &ServerBreakdown{ColdLoads: d.coldLoads}
	if d.target != nil {
		b.Requests = d.target.Success.Count
		b.TargetTime = d.target.Success.Mean()
		b.Target = ptr(modelTimes(*d.target))
	} else {
		b.Requests, b.RequestsFromClient = uint64(max(clientRequests, 0)), true
	}
	if b.Requests == 0 {
		return nil
	}
	byModel := map[string]*tritonclient.ModelStats{}
	instances := map[string][]string{}
	for k, s := range d.stages {
		if s.Success.Count == 0 && s.Fail.Count == 0 {
			continue // loaded but idle: not part of this measurement
		}
		sum := ptrOr(byModel[k.model]).Add(s)
		byModel[k.model] = &sum
		if !slices.Contains(instances[k.model], k.instance) {
			instances[k.model] = append(instances[k.model], k.instance)
		}
	}
	models := make([]string, 0, len(byModel))
	for m := range byModel {
		models = append(models, m)
	}
	slices.SortFunc(models, func(a, c string) int { return compareByOrder(stageOrder, a, c) })
	for _, m := range models {
		s := byModel[m]
		slices.Sort(instances[m])
		calls := float64(s.Success.Count) / float64(b.Requests)
		if r := math.Round(calls); r >= 1 && math.Abs(calls-r) < 0.1 {
			calls = r
		}
		st := StageStats{
			Model: m, Instances: instances[m], Calls: s.Success.Count, CallsPerRequest: calls,
			Queue: s.Queue.Mean(), ComputeInput: s.ComputeInput.Mean(), ComputeInfer: s.ComputeInfer.Mean(),
			ComputeOutput: s.ComputeOutput.Mean(), Request: s.Success.Mean(),
		}
		b.Stages = append(b.Stages, st)
		b.targetIsStage = b.targetIsStage || m == targetModel
		per := func(d time.Duration) time.Duration { return time.Duration(float64(d) * calls) }
		b.Queue += per(st.Queue)
		b.ComputeInput += per(st.ComputeInput)
		b.ComputeInfer += per(st.ComputeInfer)
		b.ComputeOutput += per(st.ComputeOutput)
		b.StageTime += per(st.Request)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func ptrOr(s *tritonclient.ModelStats) tritonclient.ModelStats {
	if s == nil {
		return tritonclient.ModelStats{}
	}
	return *s
}

// compareByOrder sorts names by their place in order, names not in it
// after those, alphabetically.
func compareByOrder(order []string, a, b string) int {
	ia, ib := slices.Index(order, a), slices.Index(order, b)
	switch {
	case ia >= 0 && ib >= 0:
		return ia - ib
	case ia >= 0:
		return -1
	case ib >= 0:
		return 1
	}
	return strings.Compare(a, b)
}
