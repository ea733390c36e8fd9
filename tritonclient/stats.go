package tritonclient

import (
	"context"
	"time"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// StatDuration is a count of events and their total duration.
type StatDuration struct {
	Count uint64
	Total time.Duration
}

// Mean is Total/Count, or 0 with no events.
func (d StatDuration) Mean() time.Duration {
	if d.Count == 0 {
		return 0
	}
	return d.Total / time.Duration(d.Count)
}

// MemoryUsage is memory Triton attributes to a model version.
type MemoryUsage struct {
	// Type is "CPU", "CPU_PINNED" or "GPU".
	Type string
	// ID is the device id (GPU index) for GPU memory.
	ID int64
	// Bytes used.
	Bytes uint64
}

// ModelStats is one model version's cumulative statistics since its load.
type ModelStats struct {
	Name, Version string
	// LastInference is when the last inference ran (zero if never).
	LastInference  time.Time
	InferenceCount uint64
	ExecutionCount uint64
	Success        StatDuration
	Fail           StatDuration
	Queue          StatDuration
	ComputeInput   StatDuration
	ComputeInfer   StatDuration
	ComputeOutput  StatDuration
	CacheHit       StatDuration
	CacheMiss      StatDuration
	MemoryUsage    []MemoryUsage
}

// Delta is s minus an earlier snapshot prev of the same model version: the
// activity between the two scrapes. Counters that went backwards mean the
// model was reloaded in between; Delta then returns s unchanged (all of its
// activity happened since prev). MemoryUsage and LastInference are s's.
func (s ModelStats) Delta(prev ModelStats) ModelStats {
	if s.InferenceCount < prev.InferenceCount || s.ExecutionCount < prev.ExecutionCount || s.Success.Count < prev.Success.Count || s.Fail.Count < prev.Fail.Count {
		return s
	}
	sub := func(a, b StatDuration) StatDuration {
		return StatDuration{Count: a.Count - b.Count, Total: a.Total - b.Total}
	}
	d := s
	d.InferenceCount -= prev.InferenceCount
	d.ExecutionCount -= prev.ExecutionCount
	d.Success = sub(s.Success, prev.Success)
	d.Fail = sub(s.Fail, prev.Fail)
	d.Queue = sub(s.Queue, prev.Queue)
	d.ComputeInput = sub(s.ComputeInput, prev.ComputeInput)
	d.ComputeInfer = sub(s.ComputeInfer, prev.ComputeInfer)
	d.ComputeOutput = sub(s.ComputeOutput, prev.ComputeOutput)
	d.CacheHit = sub(s.CacheHit, prev.CacheHit)
	d.CacheMiss = sub(s.CacheMiss, prev.CacheMiss)
	return d
}

// Add sums two snapshots' counters and durations, e.g. the same model on
// several instances. Name and Version are s's (or o's when s has none);
// MemoryUsage and LastInference are s's.
func (s ModelStats) Add(o ModelStats) ModelStats {
	add := func(x, y StatDuration) StatDuration {
		return StatDuration{Count: x.Count + y.Count, Total: x.Total + y.Total}
	}
	if s.Name == "" {
		s.Name, s.Version = o.Name, o.Version
	}
	s.InferenceCount += o.InferenceCount
	s.ExecutionCount += o.ExecutionCount
	s.Success = add(s.Success, o.Success)
	s.Fail = add(s.Fail, o.Fail)
	s.Queue = add(s.Queue, o.Queue)
	s.ComputeInput = add(s.ComputeInput, o.ComputeInput)
	s.ComputeInfer = add(s.ComputeInfer, o.ComputeInfer)
	s.ComputeOutput = add(s.ComputeOutput, o.ComputeOutput)
	s.CacheHit = add(s.CacheHit, o.CacheHit)
	s.CacheMiss = add(s.CacheMiss, o.CacheMiss)
	return s
}

// ModelStatistics returns statistics for model (all loaded models if model
// is ""), one entry per loaded version.
func (c *Client) ModelStatistics(ctx context.Context, model, version string) ([]ModelStats, error) {
	resp, err := c.rpc.ModelStatistics(ctx, &pb.ModelStatisticsRequest{Name: model, Version: version})
	if err != nil {
		return nil, c.wrapErr(ctx, "ModelStatistics", model, err)
	}
	out := make([]ModelStats, 0, len(resp.GetModelStats()))
	for _, m := range resp.GetModelStats() {
		out = append(out, statsFromProto(m))
	}
	return out, nil
}

func statsFromProto(m *pb.ModelStatistics) ModelStats {
	dur := func(d *pb.StatisticDuration) StatDuration {
		return StatDuration{Count: d.GetCount(), Total: time.Duration(d.GetNs())}
	}
	is := m.GetInferenceStats()
	s := ModelStats{
		Name:           m.GetName(),
		Version:        m.GetVersion(),
		InferenceCount: m.GetInferenceCount(),
		ExecutionCount: m.GetExecutionCount(),
		Success:        dur(is.GetSuccess()),
		Fail:           dur(is.GetFail()),
		Queue:          dur(is.GetQueue()),
		ComputeInput:   dur(is.GetComputeInput()),
		ComputeInfer:   dur(is.GetComputeInfer()),
		ComputeOutput:  dur(is.GetComputeOutput()),
		CacheHit:       dur(is.GetCacheHit()),
		CacheMiss:      dur(is.GetCacheMiss()),
	}
	if ms := m.GetLastInference(); ms > 0 {
		s.LastInference = time.UnixMilli(int64(ms))
	}
	for _, u := range m.GetMemoryUsage() {
		s.MemoryUsage = append(s.MemoryUsage, MemoryUsage{Type: u.GetType(), ID: u.GetId(), Bytes: u.GetByteSize()})
	}
	return s
}
