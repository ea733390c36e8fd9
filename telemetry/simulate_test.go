package telemetry_test

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonhq/baton/telemetry"
)

func newSimulated(t *testing.T, count int, node string) *telemetry.SimulatedGPUs {
	t.Helper()
	sim, err := telemetry.NewSimulatedGPUs(telemetry.SimulatedOptions{Count: count, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func TestSimulatedGPUsStartIdleAndLabelled(t *testing.T) {
	logger, logs := newLogger()
	sim, err := telemetry.NewSimulatedGPUs(telemetry.SimulatedOptions{Count: 2, Node: "sim-1", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if lines := logs.lines(); len(lines) != 1 || !strings.Contains(lines[0], "SIMULATED GPUs") {
		t.Errorf("log %q: want one line announcing simulation", lines)
	}

	snap := telemetry.NewSampler(telemetry.SamplerOptions{Node: "sim-1", GPUs: sim}).Sample(t.Context())
	if !snap.Simulated {
		t.Error("snapshot of simulated GPUs is not marked Simulated")
	}
	if len(snap.Errors) != 0 {
		t.Errorf("errors %q: every NVML call the sampler makes must be wired", snap.Errors)
	}
	state := sim.GPUs()
	want := []telemetry.GPU{
		{Index: 0, UUID: state[0].UUID, Name: "NVIDIA H100 80GB HBM3", MemoryTotalBytes: h100Bytes, MemoryFreeBytes: h100Bytes,
			TemperatureC: 30, PowerWatts: 70, PowerLimitWatts: 700},
		{Index: 1, UUID: state[1].UUID, Name: "NVIDIA H100 80GB HBM3", MemoryTotalBytes: h100Bytes, MemoryFreeBytes: h100Bytes,
			TemperatureC: 30, PowerWatts: 70, PowerLimitWatts: 700},
	}
	if diff := cmp.Diff(want, snap.GPUs); diff != "" {
		t.Errorf("idle GPUs (-want +got):\n%s", diff)
	}
}

func TestSimulatedGPUsFollowTheirLoad(t *testing.T) {
	sim := newSimulated(t, 2, "sim-1")
	sampler := telemetry.NewSampler(telemetry.SamplerOptions{GPUs: sim})

	st, err := sim.Set(1, telemetry.SimulatedLoad{MemoryUsedBytes: 64 << 30, Utilization: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryUsedBytes != 64<<30 || st.Utilization != 0.9 || st.MemoryTotalBytes != h100Bytes {
		t.Errorf("Set returned %+v", st)
	}
	g := sampler.Sample(t.Context()).GPUs[1]
	// power 70 + (700−70)·0.9 = 637 W; temperature 30 + 45·0.9 = 70.5 → 71 °C
	want := telemetry.GPU{Index: 1, UUID: st.UUID, Name: "NVIDIA H100 80GB HBM3",
		MemoryTotalBytes: h100Bytes, MemoryUsedBytes: 64 << 30, MemoryFreeBytes: 16 << 30,
		Utilization: 0.9, MemoryUtilization: 0.9, TemperatureC: 71, PowerWatts: 637, PowerLimitWatts: 700}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("loaded GPU (-want +got):\n%s", diff)
	}

	if _, err := sim.Set(1, telemetry.SimulatedLoad{}); err != nil {
		t.Fatal(err)
	}
	if g := sampler.Sample(t.Context()).GPUs[1]; g.MemoryUsedBytes != 0 || g.MemoryFreeBytes != h100Bytes {
		t.Errorf("after unloading: used %d free %d, want 0 and all", g.MemoryUsedBytes, g.MemoryFreeBytes)
	}
}

func TestSimulatedGPUsRejectImpossibleLoads(t *testing.T) {
	sim := newSimulated(t, 2, "sim-1")
	tests := []struct {
		name  string
		index int
		load  telemetry.SimulatedLoad
		want  error
	}{
		{"index past the end", 2, telemetry.SimulatedLoad{}, telemetry.ErrNoSuchGPU},
		{"negative index", -1, telemetry.SimulatedLoad{}, telemetry.ErrNoSuchGPU},
		{"more memory than 80 GiB", 0, telemetry.SimulatedLoad{MemoryUsedBytes: h100Bytes + 1}, telemetry.ErrInvalidLoad},
		{"utilization above 1", 0, telemetry.SimulatedLoad{Utilization: 1.01}, telemetry.ErrInvalidLoad},
		{"negative utilization", 0, telemetry.SimulatedLoad{Utilization: -0.1}, telemetry.ErrInvalidLoad},
		{"NaN utilization", 0, telemetry.SimulatedLoad{Utilization: math.NaN()}, telemetry.ErrInvalidLoad},
		{"exactly full", 0, telemetry.SimulatedLoad{MemoryUsedBytes: h100Bytes, Utilization: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sim.Set(tt.index, tt.load); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Set(%d, %+v) = %v, want %v", tt.index, tt.load, err, tt.want)
			}
		})
	}
	if got := sim.GPUs()[1]; got.MemoryUsedBytes != 0 || got.Utilization != 0 {
		t.Errorf("GPU 1 changed by rejected loads: %+v", got)
	}
}

func TestSimulatedGPUCount(t *testing.T) {
	for _, n := range []int{0, -1, telemetry.MaxSimulatedGPUs + 1} {
		if _, err := telemetry.NewSimulatedGPUs(telemetry.SimulatedOptions{Count: n}); err == nil {
			t.Errorf("count %d accepted", n)
		}
	}
}

func TestSimulatedUUIDsAreStablePerNode(t *testing.T) {
	uuidRE := regexp.MustCompile(`^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	uuids := func(node string) []string {
		var out []string
		for _, g := range newSimulated(t, 3, node).GPUs() {
			if !uuidRE.MatchString(g.UUID) {
				t.Errorf("UUID %q is not in NVML's format", g.UUID)
			}
			out = append(out, g.UUID)
		}
		return out
	}
	a, again, b := uuids("node-a"), uuids("node-a"), uuids("node-b")
	if diff := cmp.Diff(a, again); diff != "" {
		t.Errorf("UUIDs differ between two agents of the same node (-first +second):\n%s", diff)
	}
	if a[0] == a[1] || a[0] == b[0] {
		t.Errorf("UUIDs collide: node-a %q, node-b %q", a, b)
	}
}

// TestSimulatedGPUsConcurrentSetAndSample is for the race detector: an HTTP
// handler sets loads while the agent's loop samples.
func TestSimulatedGPUsConcurrentSetAndSample(t *testing.T) {
	sim := newSimulated(t, 2, "sim-1")
	sampler := telemetry.NewSampler(telemetry.SamplerOptions{GPUs: sim})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if _, err := sim.Set(i%2, telemetry.SimulatedLoad{MemoryUsedBytes: uint64(i) << 20, Utilization: float64(i%100) / 100}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	torn := 0
	for range 200 {
		for _, g := range sampler.Sample(t.Context()).GPUs {
			if g.MemoryUsedBytes+g.MemoryFreeBytes != g.MemoryTotalBytes {
				torn++
			}
		}
	}
	wg.Wait()
	if torn > 0 {
		t.Errorf("%d readings where used + free ≠ total (torn reads)", torn)
	}
}
