package telemetry

import (
	"context"
	"fmt"
	"sync"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// HostStats is the HostSource backed by gopsutil. It keeps the previous CPU
// times itself (rather than gopsutil's package-level "last call" state) so
// that utilization is the busy fraction between two of its own samples.
type HostStats struct {
	mu   sync.Mutex
	prev cpuTimes // guarded by mu; zero before the first sample
	util float64  // guarded by mu; the last utilization, reused when no time passed
}

// cpuTimes is the machine-wide CPU time in seconds, split busy/total.
type cpuTimes struct{ busy, total float64 }

// NewHostStats returns a HostSource reading the local machine.
func NewHostStats() *HostStats { return &HostStats{} }

// SampleHost reads CPU times, virtual memory and the load average.
func (h *HostStats) SampleHost(ctx context.Context) (Host, []string) {
	var host Host
	var errs []string
	miss := func(field string, err error) {
		host.Missing = append(host.Missing, field)
		errs = append(errs, fmt.Sprintf("host %s: %v", field, err))
	}

	if util, err := h.cpuUtilization(ctx); err == nil {
		host.CPUUtilization = util
	} else {
		miss(HostCPU, err)
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		host.MemoryTotalBytes, host.MemoryAvailableBytes, host.MemoryUsedBytes = vm.Total, vm.Available, vm.Used
	} else {
		miss(HostMemory, err)
	}
	if avg, err := load.AvgWithContext(ctx); err == nil {
		host.Load1, host.Load5, host.Load15 = avg.Load1, avg.Load5, avg.Load15
	} else {
		miss(HostLoad, err)
	}
	return host, errs
}

// cpuUtilization is Δbusy / Δtotal over all CPUs since the previous call;
// the first call measures since boot.
func (h *HostStats) cpuUtilization(ctx context.Context) (float64, error) {
	times, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return 0, err
	}
	if len(times) == 0 {
		return 0, fmt.Errorf("no cpu times")
	}
	return h.advance(splitCPUTimes(times[0])), nil
}

// advance records now and returns Δbusy / Δtotal since the previous
// reading, clamped to 0–1; when no CPU time passed it repeats the last value.
func (h *HostStats) advance(now cpuTimes) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	dBusy, dTotal := now.busy-h.prev.busy, now.total-h.prev.total
	h.prev = now
	if dTotal > 0 {
		h.util = min(max(dBusy/dTotal, 0), 1)
	}
	return h.util
}

// splitCPUTimes counts idle and iowait as idle and the rest as busy. Guest
// time is already inside User and Nice on Linux, so it is not added again.
func splitCPUTimes(t cpu.TimesStat) cpuTimes {
	busy := t.User + t.Nice + t.System + t.Irq + t.Softirq + t.Steal
	return cpuTimes{busy: busy, total: busy + t.Idle + t.Iowait}
}
