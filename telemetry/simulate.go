package telemetry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// Errors from SimulatedGPUs.Set; check them with errors.Is.
var (
	// ErrNoSuchGPU means the index names no simulated GPU.
	ErrNoSuchGPU = errors.New("no such simulated gpu")
	// ErrInvalidLoad means the load is impossible: more memory than the GPU
	// has, or utilization outside 0–1.
	ErrInvalidLoad = errors.New("invalid simulated load")
)

// MaxSimulatedGPUs bounds SimulatedOptions.Count (a DGX H100 has 8).
const MaxSimulatedGPUs = 64

// Simulated power draw: idle at simIdleWatts, simLimitWatts (an H100 SXM's
// TDP) at full utilization, linear in between; temperature likewise.
const (
	simIdleWatts  = 70.0
	simLimitWatts = 700.0
	simIdleC      = 30
	simFullC      = 75
)

// SimulatedOptions configures SimulatedGPUs.
type SimulatedOptions struct {
	// Count is how many H100s to simulate (1 to MaxSimulatedGPUs).
	Count int
	// Node seeds the GPUs' UUIDs, which are stable across restarts and
	// differ between nodes.
	Node string
	// Logger receives the line announcing simulation; nil discards it.
	Logger *slog.Logger
}

// SimulatedLoad is what a test or operator sets on a simulated GPU.
type SimulatedLoad struct {
	// MemoryUsedBytes is device memory in use in bytes (≤ the GPU's total).
	MemoryUsedBytes uint64 `json:"memoryUsedBytes"`
	// Utilization is the busy fraction (0–1); memory-bandwidth utilization,
	// power and temperature follow it.
	Utilization float64 `json:"utilization"`
}

// SimulatedGPU is the state of one simulated GPU.
type SimulatedGPU struct {
	Index            int    `json:"index"`
	UUID             string `json:"uuid"`
	MemoryTotalBytes uint64 `json:"memoryTotalBytes"`
	SimulatedLoad
}

// SimulatedGPUs is a GPUSource of H100s built on go-nvml's dgxh100 mock,
// read through the same NVML code path as real hardware, whose memory use
// and utilization can be set at run time. Every snapshot it feeds is marked
// Simulated. It exists for nodes without GPUs (development, integration
// tests); it is never a stand-in for real telemetry.
type SimulatedGPUs struct {
	src   *NVMLSource
	mu    sync.Mutex
	state []SimulatedGPU // guarded by mu; read by the mock's Func fields
}

// NewSimulatedGPUs builds opts.Count idle simulated H100s.
func NewSimulatedGPUs(opts SimulatedOptions) (*SimulatedGPUs, error) {
	if opts.Count < 1 || opts.Count > MaxSimulatedGPUs {
		return nil, fmt.Errorf("simulated gpu count %d: must be 1 to %d", opts.Count, MaxSimulatedGPUs)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := dgxh100.NewWithGPUs(gpus.Multiple(opts.Count, gpus.H100_SXM5_80GB)...)
	s := &SimulatedGPUs{state: make([]SimulatedGPU, len(srv.Devices))}
	for i, d := range srv.Devices {
		dev, ok := d.(*server.Device)
		if !ok {
			return nil, fmt.Errorf("dgxh100 mock device %d is a %T, not a *server.Device", i, d)
		}
		// The mock draws random UUIDs; stable ones let a fleet file or a
		// test name a simulated GPU across agent restarts.
		dev.UUID = simulatedUUID(opts.Node, i)
		s.state[i] = SimulatedGPU{Index: i, UUID: dev.UUID, MemoryTotalBytes: dev.MemoryInfo.Total}
		s.wire(i, dev)
	}
	// Func fields are all set before the source (and any other goroutine)
	// sees the devices; from here on only s.state changes, under s.mu.
	s.src = OpenNVML(srv, NVMLOptions{Logger: logger, Simulated: true})
	logger.Warn("SIMULATED GPUs: telemetry comes from go-nvml's dgxh100 mock, not hardware", "count", opts.Count, "model", gpus.H100_SXM5_80GB.Name)
	return s, nil
}

// wire sets the Func fields of every NVML call the sampler makes (a nil
// Func panics) to answer from s.state[i].
func (s *SimulatedGPUs) wire(i int, dev *server.Device) {
	load := func() SimulatedGPU {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.state[i]
	}
	dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		st := load()
		return nvml.Memory{Total: st.MemoryTotalBytes, Used: st.MemoryUsedBytes, Free: st.MemoryTotalBytes - st.MemoryUsedBytes}, nvml.SUCCESS
	}
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		pct := uint32(math.Round(load().Utilization * 100))
		return nvml.Utilization{Gpu: pct, Memory: pct}, nvml.SUCCESS
	}
	dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) {
		return uint32(math.Round(simIdleC + (simFullC-simIdleC)*load().Utilization)), nvml.SUCCESS
	}
	dev.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		watts := simIdleWatts + (simLimitWatts-simIdleWatts)*load().Utilization
		return uint32(math.Round(watts * 1000)), nvml.SUCCESS
	}
	dev.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) {
		return simLimitWatts * 1000, nvml.SUCCESS
	}
	dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return nil, nvml.SUCCESS // no processes: a made-up PID would mislead
	}
}

// simulatedUUID derives a GPU UUID in NVML's format from node and index.
func simulatedUUID(node string, index int) string {
	h := sha256.Sum256([]byte("baton-simulated-gpu\x00" + node + "\x00" + strconv.Itoa(index)))
	return fmt.Sprintf("GPU-%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// SampleGPUs reads the simulated GPUs through the NVML code path.
func (s *SimulatedGPUs) SampleGPUs(ctx context.Context) ([]GPU, []string) {
	return s.src.SampleGPUs(ctx)
}

// Simulated is always true.
func (s *SimulatedGPUs) Simulated() bool { return true }

// Close releases the mock.
func (s *SimulatedGPUs) Close() error { return s.src.Close() }

// Set replaces the load of GPU index and returns its new state. It is safe
// to call while the GPUs are being sampled; the next sample sees it.
func (s *SimulatedGPUs) Set(index int, load SimulatedLoad) (SimulatedGPU, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index < 0 || index >= len(s.state) {
		return SimulatedGPU{}, fmt.Errorf("gpu %d (have %d): %w", index, len(s.state), ErrNoSuchGPU)
	}
	st := &s.state[index]
	if load.MemoryUsedBytes > st.MemoryTotalBytes {
		return SimulatedGPU{}, fmt.Errorf("gpu %d: memory used %d bytes exceeds total %d: %w", index, load.MemoryUsedBytes, st.MemoryTotalBytes, ErrInvalidLoad)
	}
	if !(load.Utilization >= 0 && load.Utilization <= 1) { // also rejects NaN
		return SimulatedGPU{}, fmt.Errorf("gpu %d: utilization %v outside [0, 1]: %w", index, load.Utilization, ErrInvalidLoad)
	}
	st.SimulatedLoad = load
	return *st, nil
}

// GPUs returns the state of every simulated GPU, by index.
func (s *SimulatedGPUs) GPUs() []SimulatedGPU {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SimulatedGPU, len(s.state))
	copy(out, s.state)
	return out
}
