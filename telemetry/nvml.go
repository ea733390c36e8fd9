package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVMLOptions configures an NVMLSource.
type NVMLOptions struct {
	// Logger receives the one line that says why a node reports no GPUs;
	// nil discards it.
	Logger *slog.Logger
	// Simulated labels every sample as coming from a mock (set by
	// SimulatedGPUs; leave false for real NVML).
	Simulated bool
}

// NVMLSource is the GPUSource backed by an nvml.Interface: the real library
// (OpenSystemNVML) or one of go-nvml's mocks.
type NVMLSource struct {
	lib       nvml.Interface
	ok        bool // Init succeeded; Close must call Shutdown
	simulated bool
	closeOnce sync.Once
}

// OpenSystemNVML loads the machine's libnvidia-ml. On a node without the
// driver it logs one line and returns a source that reports zero GPUs.
func OpenSystemNVML(logger *slog.Logger) *NVMLSource {
	return OpenNVML(nvml.New(), NVMLOptions{Logger: logger})
}

// OpenNVML initialises lib. Any Init failure (ERROR_LIBRARY_NOT_FOUND on a
// node without the driver, ERROR_DRIVER_NOT_LOADED, …) is logged once and
// yields a source that reports zero GPUs: the node is treated as CPU-only.
func OpenNVML(lib nvml.Interface, opts NVMLOptions) *NVMLSource {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &NVMLSource{lib: lib, simulated: opts.Simulated}
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
		s.ok = true
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		logger.Info("no NVIDIA driver (libnvidia-ml not found): reporting 0 GPUs")
	default:
		logger.Warn("NVML init failed: reporting 0 GPUs", "err", ret.Error())
	}
	return s
}

// Simulated reports whether the source was opened over a mock.
func (s *NVMLSource) Simulated() bool { return s.simulated }

// Close shuts NVML down if it was initialised; it is safe to call twice.
func (s *NVMLSource) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if !s.ok {
			return
		}
		if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
			err = fmt.Errorf("nvml shutdown: %w", ret)
		}
	})
	return err
}

// SampleGPUs reads every device NVML reports. A device whose handle cannot
// be had is left out (and named in errs); a field a device cannot give is
// zero, named in GPU.Missing and in errs. NVML calls cannot be cancelled,
// so ctx is checked between devices only.
func (s *NVMLSource) SampleGPUs(ctx context.Context) ([]GPU, []string) {
	if !s.ok {
		return []GPU{}, nil
	}
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return []GPU{}, []string{fmt.Sprintf("nvml device count: %v", ret)}
	}
	gpus := make([]GPU, 0, n)
	var errs []string
	for i := range n {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Sprintf("gpus %d to %d not read: %v", i, n-1, err))
			break
		}
		dev, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Sprintf("gpu %d: handle: %v", i, ret))
			continue
		}
		g, derrs := readDevice(i, dev)
		gpus = append(gpus, g)
		errs = append(errs, derrs...)
	}
	return gpus, errs
}

// readDevice reads one device's fields; each NVML call that fails leaves its
// field zero and is recorded rather than abandoning the device.
func readDevice(index int, dev nvml.Device) (GPU, []string) {
	g := GPU{Index: index}
	var errs []string
	miss := func(field string, ret nvml.Return) {
		g.Missing = append(g.Missing, field)
		errs = append(errs, fmt.Sprintf("gpu %d: %s: %v", index, field, ret))
	}

	if uuid, ret := dev.GetUUID(); ret == nvml.SUCCESS {
		g.UUID = uuid
	} else {
		miss(GPUUUID, ret)
	}
	if name, ret := dev.GetName(); ret == nvml.SUCCESS {
		g.Name = name
	} else {
		miss(GPUName, ret)
	}
	if m, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryTotalBytes, g.MemoryUsedBytes, g.MemoryFreeBytes = m.Total, m.Used, m.Free
	} else {
		miss(GPUMemory, ret)
	}
	if u, ret := dev.GetUtilizationRates(); ret == nvml.SUCCESS {
		// NVML reports whole percentages.
		g.Utilization, g.MemoryUtilization = fraction(u.Gpu), fraction(u.Memory)
	} else {
		miss(GPUUtilization, ret)
	}
	if t, ret := dev.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		g.TemperatureC = int(t)
	} else {
		miss(GPUTemperature, ret)
	}
	if mw, ret := dev.GetPowerUsage(); ret == nvml.SUCCESS {
		g.PowerWatts = float64(mw) / 1000 // NVML reports milliwatts
	} else {
		miss(GPUPower, ret)
	}
	if mw, ret := dev.GetEnforcedPowerLimit(); ret == nvml.SUCCESS {
		g.PowerLimitWatts = float64(mw) / 1000
	} else {
		miss(GPUPowerLimit, ret)
	}
	if procs, ret := dev.GetComputeRunningProcesses(); ret == nvml.SUCCESS {
		for _, p := range procs {
			used := p.UsedGpuMemory
			// NVML_VALUE_NOT_AVAILABLE (-1 as unsigned long long), e.g. under
			// Windows WDDM or some container setups.
			if used == math.MaxUint64 {
				used = 0
				errs = append(errs, fmt.Sprintf("gpu %d: process %d: used memory not available", index, p.Pid))
			}
			g.Processes = append(g.Processes, Process{PID: p.Pid, UsedMemoryBytes: used})
		}
	} else {
		miss(GPUProcesses, ret)
	}
	return g, errs
}

// fraction turns a whole percentage into 0–1, clamping nonsense above 100.
func fraction(percent uint32) float64 { return min(float64(percent), 100) / 100 }
