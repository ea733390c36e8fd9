package telemetry_test

import (
	"testing"

	"github.com/batonhq/baton/telemetry"
)

// TestHostStatsOnThisMachine reads the real host through gopsutil.
func TestHostStatsOnThisMachine(t *testing.T) {
	hs := telemetry.NewHostStats()
	for i := range 2 { // the first CPU figure is since boot, the second since the first
		h, errs := hs.SampleHost(t.Context())
		if len(errs) != 0 || len(h.Missing) != 0 {
			t.Fatalf("sample %d: errors %q missing %v", i, errs, h.Missing)
		}
		if h.CPUUtilization < 0 || h.CPUUtilization > 1 {
			t.Errorf("sample %d: CPU utilization %v outside [0, 1]", i, h.CPUUtilization)
		}
		if h.MemoryTotalBytes == 0 {
			t.Errorf("sample %d: memory total 0", i)
		}
		if h.MemoryAvailableBytes > h.MemoryTotalBytes || h.MemoryUsedBytes > h.MemoryTotalBytes {
			t.Errorf("sample %d: available %d, used %d of total %d", i, h.MemoryAvailableBytes, h.MemoryUsedBytes, h.MemoryTotalBytes)
		}
		if h.Load1 < 0 || h.Load5 < 0 || h.Load15 < 0 {
			t.Errorf("sample %d: load %v %v %v", i, h.Load1, h.Load5, h.Load15)
		}
	}
}
