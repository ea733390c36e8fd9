package telemetry

import (
	"slices"
	"time"
)

// Snapshot is one sample of a node: host CPU, memory and load plus every GPU.
// The Sampler never modifies a Snapshot after returning it; callers that
// keep one must not modify its slices either (use Clone for a private copy).
type Snapshot struct {
	// Node names the machine the agent runs on.
	Node string `json:"node"`
	// Seq numbers the Sampler's snapshots: 1, 2, … (monotonic per process).
	Seq uint64 `json:"seq"`
	// Taken is when sampling began, read from the Sampler's clock.
	Taken time.Time `json:"taken"`
	// Host is the machine's CPU, memory and load.
	Host Host `json:"host"`
	// GPUs lists the GPUs NVML reported, by index; empty (never null) on a
	// node without GPUs or without libnvidia-ml.
	GPUs []GPU `json:"gpus"`
	// Simulated is true when GPUs come from go-nvml's mock, not from hardware.
	Simulated bool `json:"simulated"`
	// Errors lists what could not be read, one entry per field, e.g.
	// "gpu 3: temperature: ERROR_NOT_SUPPORTED". The rest of the sample stands.
	Errors []string `json:"errors,omitempty"`
}

// Host is the machine's CPU, memory and load average.
type Host struct {
	// CPUUtilization is the fraction of all CPUs' time spent busy (0–1)
	// since the previous sample (since boot for the first one).
	CPUUtilization float64 `json:"cpuUtilization"`
	// MemoryTotalBytes is physical memory in bytes.
	MemoryTotalBytes uint64 `json:"memoryTotalBytes"`
	// MemoryAvailableBytes is memory, in bytes, that can be given to new
	// processes without swapping (Linux's MemAvailable); ≤ MemoryTotalBytes.
	MemoryAvailableBytes uint64 `json:"memoryAvailableBytes"`
	// MemoryUsedBytes is memory in use in bytes, as gopsutil counts it.
	MemoryUsedBytes uint64 `json:"memoryUsedBytes"`
	// Load1, Load5 and Load15 are the 1, 5 and 15 minute load averages
	// (runnable tasks, not divided by the CPU count).
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	// Missing names the fields that could not be read (HostCPU, HostMemory,
	// HostLoad) and so hold zero rather than a measurement.
	Missing []string `json:"missing,omitempty"`
}

// Host fields that may be Missing.
const (
	HostCPU    = "cpu"
	HostMemory = "memory"
	HostLoad   = "load"
)

// GPU is one GPU as NVML reports it.
type GPU struct {
	// Index is NVML's device index (0-based, as in nvidia-smi).
	Index int `json:"index"`
	// UUID is the GPU's stable identifier, e.g. "GPU-3b1e…".
	UUID string `json:"uuid"`
	// Name is the product name, e.g. "NVIDIA H100 80GB HBM3".
	Name string `json:"name"`
	// MemoryTotalBytes, MemoryUsedBytes and MemoryFreeBytes are device
	// memory in bytes (NVML's v1 memory info; used includes reserved memory).
	MemoryTotalBytes uint64 `json:"memoryTotalBytes"`
	MemoryUsedBytes  uint64 `json:"memoryUsedBytes"`
	MemoryFreeBytes  uint64 `json:"memoryFreeBytes"`
	// Utilization is the fraction of the last sample period (1/6 s to 1 s,
	// chosen by the driver) in which a kernel was running (0–1).
	Utilization float64 `json:"utilization"`
	// MemoryUtilization is the fraction of that period in which device
	// memory was being read or written (0–1): bandwidth, not capacity; for
	// capacity use MemoryUsedBytes / MemoryTotalBytes.
	MemoryUtilization float64 `json:"memoryUtilization"`
	// TemperatureC is the GPU core temperature in degrees Celsius.
	TemperatureC int `json:"temperatureC"`
	// PowerWatts is the current board power draw in watts.
	PowerWatts float64 `json:"powerWatts"`
	// PowerLimitWatts is the enforced power limit in watts.
	PowerLimitWatts float64 `json:"powerLimitWatts"`
	// Processes lists the compute processes on the GPU where NVML gives them.
	Processes []Process `json:"processes,omitempty"`
	// Missing names the fields NVML could not give (GPUUUID … GPUProcesses);
	// they hold zero rather than a measurement. A consumer must not read a
	// zero MemoryUsedBytes as "empty" when GPUMemory is listed here.
	Missing []string `json:"missing,omitempty"`
}

// GPU fields that may be Missing.
const (
	GPUUUID        = "uuid"
	GPUName        = "name"
	GPUMemory      = "memory"
	GPUUtilization = "utilization"
	GPUTemperature = "temperature"
	GPUPower       = "power"
	GPUPowerLimit  = "powerLimit"
	GPUProcesses   = "processes"
)

// Process is one process holding GPU memory.
type Process struct {
	// PID is the process id as the host (not a container) sees it.
	PID uint32 `json:"pid"`
	// UsedMemoryBytes is the device memory the process holds in bytes; 0
	// when NVML cannot attribute memory per process (an Errors entry says so).
	UsedMemoryBytes uint64 `json:"usedMemoryBytes"`
}

// Clone returns a deep copy of s that shares no slices with it.
func (s Snapshot) Clone() Snapshot {
	c := s
	c.Host.Missing = slices.Clone(s.Host.Missing)
	c.Errors = slices.Clone(s.Errors)
	c.GPUs = make([]GPU, len(s.GPUs))
	for i, g := range s.GPUs {
		g.Processes = slices.Clone(g.Processes)
		g.Missing = slices.Clone(g.Missing)
		c.GPUs[i] = g
	}
	return c
}

// Has reports whether the GPU's field was read (is not in Missing).
func (g GPU) Has(field string) bool { return !slices.Contains(g.Missing, field) }

// Has reports whether the host's field was read (is not in Missing).
func (h Host) Has(field string) bool { return !slices.Contains(h.Missing, field) }
