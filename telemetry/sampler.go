package telemetry

import (
	"context"
	"sync"
	"time"
)

// GPUSource reads the node's GPUs: NVML on real hardware, go-nvml's mock
// in simulation and tests.
type GPUSource interface {
	// SampleGPUs returns every GPU it could read, by index, and one entry
	// per field or device it could not read. It never fails as a whole: a
	// node without NVML has zero GPUs and no errors.
	SampleGPUs(ctx context.Context) (gpus []GPU, errs []string)
	// Simulated reports whether the GPUs come from a mock, not hardware.
	Simulated() bool
}

// HostSource reads the host's CPU, memory and load.
type HostSource interface {
	// SampleHost returns what it could read; a field it could not read is
	// zero, named in Host.Missing and described in errs.
	SampleHost(ctx context.Context) (h Host, errs []string)
}

// SamplerOptions configures a Sampler.
type SamplerOptions struct {
	// Node names the machine in every Snapshot.
	Node string
	// GPUs reads the GPUs; nil means a node without GPUs.
	GPUs GPUSource
	// Host reads CPU, memory and load; nil leaves Host zero and every host
	// field Missing.
	Host HostSource
	// Now is the clock that stamps Snapshot.Taken; nil means time.Now.
	Now func() time.Time
}

// Sampler turns one reading of its sources into a Snapshot. It is safe for
// concurrent use; samples are taken one at a time, in Seq order.
type Sampler struct {
	opts SamplerOptions
	mu   sync.Mutex // serialises sources, which need not be concurrency-safe
	seq  uint64     // guarded by mu
}

// NewSampler returns a Sampler over opts' sources.
func NewSampler(opts SamplerOptions) *Sampler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sampler{opts: opts}
}

// Sample reads the host and every GPU once. Unreadable fields are recorded
// in Snapshot.Errors; Sample itself does not fail.
func (s *Sampler) Sample(ctx context.Context) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	snap := Snapshot{Node: s.opts.Node, Seq: s.seq, Taken: s.opts.Now(), GPUs: []GPU{}}
	if s.opts.Host != nil {
		h, errs := s.opts.Host.SampleHost(ctx)
		snap.Host = h
		snap.Errors = append(snap.Errors, errs...)
	} else {
		snap.Host.Missing = []string{HostCPU, HostMemory, HostLoad}
	}
	if s.opts.GPUs != nil {
		gpus, errs := s.opts.GPUs.SampleGPUs(ctx)
		if gpus != nil {
			snap.GPUs = gpus
		}
		snap.Errors = append(snap.Errors, errs...)
		snap.Simulated = s.opts.GPUs.Simulated()
	}
	return snap
}
