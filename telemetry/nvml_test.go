package telemetry_test

import (
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/google/go-cmp/cmp"

	"github.com/batonhq/baton/telemetry"
)

const h100Bytes = 81920 << 20 // 80 GiB, the dgxh100 mock's memory per GPU

// newDGXH100 is go-nvml's DGX H100 fake with every Func field the sampler
// calls set (a nil one panics): GPU i runs at 10·i % utilization and
// 5·i % memory bandwidth, 40+i °C, 300+i W of a 700 W limit, and holds
// (i+1) GiB in one process with PID 1000+i.
func newDGXH100(t *testing.T) (*server.Server, []*server.Device) {
	t.Helper()
	srv := dgxh100.New()
	devs := make([]*server.Device, len(srv.Devices))
	for i, d := range srv.Devices {
		dev := d.(*server.Device)
		devs[i] = dev
		used := uint64(i+1) << 30
		dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: h100Bytes, Used: used, Free: h100Bytes - used}, nvml.SUCCESS
		}
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: uint32(10 * i), Memory: uint32(5 * i)}, nvml.SUCCESS
		}
		dev.GetTemperatureFunc = func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
			if s != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return uint32(40 + i), nvml.SUCCESS
		}
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return uint32(300_000 + 1000*i), nvml.SUCCESS }
		dev.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, nvml.SUCCESS }
		dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: uint32(1000 + i), UsedGpuMemory: used}}, nvml.SUCCESS
		}
	}
	return srv, devs
}

func TestNVMLReadsEveryH100(t *testing.T) {
	srv, devs := newDGXH100(t)
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
	defer src.Close()

	gpus, errs := src.SampleGPUs(t.Context())
	if len(errs) != 0 {
		t.Fatalf("errors: %q", errs)
	}
	if len(gpus) != 8 {
		t.Fatalf("got %d GPUs, want the DGX H100's 8", len(gpus))
	}
	seen := map[string]bool{}
	for i, g := range gpus {
		want := telemetry.GPU{
			Index: i, UUID: devs[i].UUID, Name: "NVIDIA H100 80GB HBM3",
			MemoryTotalBytes: h100Bytes, MemoryUsedBytes: uint64(i+1) << 30, MemoryFreeBytes: h100Bytes - uint64(i+1)<<30,
			Utilization:       float64(10*i) / 100, // whole percent → fraction
			MemoryUtilization: float64(5*i) / 100,
			TemperatureC:      40 + i,
			PowerWatts:        float64(300 + i), // (300 000 + 1000·i) mW
			PowerLimitWatts:   700,
			Processes:         []telemetry.Process{{PID: uint32(1000 + i), UsedMemoryBytes: uint64(i+1) << 30}},
		}
		if diff := cmp.Diff(want, g); diff != "" {
			t.Errorf("GPU %d (-want +got):\n%s", i, diff)
		}
		if !strings.HasPrefix(g.UUID, "GPU-") || seen[g.UUID] {
			t.Errorf("GPU %d UUID %q: want a distinct GPU-… UUID", i, g.UUID)
		}
		seen[g.UUID] = true
	}
	if src.Simulated() {
		t.Error("a source opened without Simulated reports Simulated")
	}
}

func TestNVMLUnsupportedFieldIsAnErrorNotAFailure(t *testing.T) {
	srv, devs := newDGXH100(t)
	devs[3].GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	devs[5].GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NO_PERMISSION }
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
	defer src.Close()

	gpus, errs := src.SampleGPUs(t.Context())
	wantErrs := []string{
		"gpu 3: temperature: ERROR_NOT_SUPPORTED",
		"gpu 5: processes: ERROR_NO_PERMISSION",
	}
	if diff := cmp.Diff(wantErrs, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if len(gpus) != 8 {
		t.Fatalf("got %d GPUs, want 8: one unsupported field must not drop a GPU", len(gpus))
	}
	if diff := cmp.Diff([]string{telemetry.GPUTemperature}, gpus[3].Missing); diff != "" {
		t.Errorf("GPU 3 Missing (-want +got):\n%s", diff)
	}
	if gpus[3].Has(telemetry.GPUTemperature) || !gpus[3].Has(telemetry.GPUMemory) {
		t.Errorf("GPU 3 Has: temperature %v memory %v, want false true", gpus[3].Has(telemetry.GPUTemperature), gpus[3].Has(telemetry.GPUMemory))
	}
	if gpus[3].TemperatureC != 0 || gpus[3].MemoryUsedBytes != 4<<30 || gpus[3].PowerWatts != 303 {
		t.Errorf("GPU 3 = %+v: want temperature zeroed, the other fields read", gpus[3])
	}
	if gpus[5].Processes != nil || gpus[5].Has(telemetry.GPUProcesses) {
		t.Errorf("GPU 5 processes %v missing %v: want none, listed as missing", gpus[5].Processes, gpus[5].Missing)
	}
}

func TestNVMLProcessMemoryNotAvailable(t *testing.T) {
	srv, devs := newDGXH100(t)
	devs[0].GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 42, UsedGpuMemory: math.MaxUint64}}, nvml.SUCCESS // NVML_VALUE_NOT_AVAILABLE
	}
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
	defer src.Close()

	gpus, errs := src.SampleGPUs(t.Context())
	if diff := cmp.Diff([]telemetry.Process{{PID: 42}}, gpus[0].Processes); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gpu 0: process 42: used memory not available"}, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestNVMLGPUFillsUpBetweenSamples(t *testing.T) {
	srv, devs := newDGXH100(t)
	var used atomic.Uint64
	used.Store(2 << 30)
	devs[6].GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		u := used.Load()
		return nvml.Memory{Total: h100Bytes, Used: u, Free: h100Bytes - u}, nvml.SUCCESS
	}
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
	defer src.Close()
	clock := newClock()
	sampler := telemetry.NewSampler(telemetry.SamplerOptions{Node: "dgx-1", GPUs: src, Host: idleHost, Now: clock.Now})

	first := sampler.Sample(t.Context())
	used.Store(79 << 30) // a model loads 77 GiB
	clock.Advance(telemetry.DefaultInterval)
	second := sampler.Sample(t.Context())

	type mem struct{ Seq, Used, Free uint64 }
	got := []mem{
		{first.Seq, first.GPUs[6].MemoryUsedBytes, first.GPUs[6].MemoryFreeBytes},
		{second.Seq, second.GPUs[6].MemoryUsedBytes, second.GPUs[6].MemoryFreeBytes},
	}
	want := []mem{
		{1, 2 << 30, 78 << 30}, // 80 GiB − 2 GiB
		{2, 79 << 30, 1 << 30}, // 80 GiB − 79 GiB
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GPU 6 memory by sample (-want +got):\n%s", diff)
	}
	if d := second.Taken.Sub(first.Taken); d != telemetry.DefaultInterval {
		t.Errorf("samples %v apart by the injected clock, want %v", d, telemetry.DefaultInterval)
	}
	if first.GPUs[5].MemoryUsedBytes != second.GPUs[5].MemoryUsedBytes {
		t.Error("GPU 5 changed though only GPU 6 filled up")
	}
}

func TestNVMLInitFailureReportsNoGPUs(t *testing.T) {
	srv, _ := newDGXH100(t)
	srv.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
	logger, logs := newLogger()
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{Logger: logger})

	gpus, errs := src.SampleGPUs(t.Context())
	if gpus == nil || len(gpus) != 0 || len(errs) != 0 {
		t.Errorf("got GPUs %v errors %q, want an empty list and no errors", gpus, errs)
	}
	lines := logs.lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "0 GPUs") || !strings.Contains(lines[0], "ERROR_DRIVER_NOT_LOADED") {
		t.Errorf("log %q: want one line naming the failure and 0 GPUs", lines)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := len(srv.ShutdownCalls()); n != 0 {
		t.Errorf("Shutdown called %d times after a failed Init, want 0", n)
	}
}

func TestNVMLCloseShutsDownOnce(t *testing.T) {
	srv, _ := newDGXH100(t)
	src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
	for range 2 {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if n := len(srv.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
}

func TestNVMLDeviceFailures(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		srv, _ := newDGXH100(t)
		srv.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
		src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
		defer src.Close()
		gpus, errs := src.SampleGPUs(t.Context())
		if len(gpus) != 0 || cmp.Diff([]string{"nvml device count: ERROR_UNKNOWN"}, errs) != "" {
			t.Errorf("got %d GPUs, errors %q", len(gpus), errs)
		}
	})
	t.Run("lost GPU", func(t *testing.T) {
		srv, _ := newDGXH100(t)
		handle := srv.DeviceGetHandleByIndexFunc
		srv.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
			if i == 2 {
				return nil, nvml.ERROR_GPU_IS_LOST
			}
			return handle(i)
		}
		src := telemetry.OpenNVML(srv, telemetry.NVMLOptions{})
		defer src.Close()
		gpus, errs := src.SampleGPUs(t.Context())
		var indexes []int
		for _, g := range gpus {
			indexes = append(indexes, g.Index)
		}
		if diff := cmp.Diff([]int{0, 1, 3, 4, 5, 6, 7}, indexes); diff != "" {
			t.Errorf("GPU indexes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"gpu 2: handle: ERROR_GPU_IS_LOST"}, errs); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
	})
}
