package telemetry

import (
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
)

func TestSplitCPUTimes(t *testing.T) {
	// busy = user+nice+system+irq+softirq+steal = 10+1+4+0.5+0.5+1 = 17;
	// total = busy+idle+iowait = 17+80+3 = 100; guest (inside user) is not added.
	got := splitCPUTimes(cpu.TimesStat{User: 10, Nice: 1, System: 4, Irq: 0.5, Softirq: 0.5, Steal: 1, Idle: 80, Iowait: 3, Guest: 7, GuestNice: 1})
	if want := (cpuTimes{busy: 17, total: 100}); got != want {
		t.Errorf("splitCPUTimes = %+v, want %+v", got, want)
	}
}

func TestHostCPUUtilizationBetweenSamples(t *testing.T) {
	h := NewHostStats()
	steps := []struct {
		name string
		now  cpuTimes
		want float64
	}{
		{"first: since boot", cpuTimes{busy: 30, total: 120}, 0.25},      // 30/120
		{"second: the delta", cpuTimes{busy: 60, total: 160}, 0.75},      // (60−30)/(160−120)
		{"no time passed: repeat", cpuTimes{busy: 60, total: 160}, 0.75}, // Δtotal 0
		{"counter went back: clamp", cpuTimes{busy: 50, total: 200}, 0},  // −10/40 → 0
		{"idle went back: clamp", cpuTimes{busy: 100, total: 220}, 1},    // 50/20 → 1
		{"all idle", cpuTimes{busy: 100, total: 320}, 0},                 // 0/100
	}
	for _, s := range steps {
		if got := h.advance(s.now); got != s.want {
			t.Errorf("%s: utilization %v, want %v", s.name, got, s.want)
		}
	}
}
