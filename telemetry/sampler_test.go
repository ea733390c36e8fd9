package telemetry_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/batonhq/baton/telemetry"
)

func TestSamplerComposesSources(t *testing.T) {
	clock := newClock()
	host := fakeHost{host: idleHost.host, errs: []string{"host load: no /proc/loadavg"}}
	host.host.Missing = []string{telemetry.HostLoad}
	gpus := fakeGPUs{
		gpus:      []telemetry.GPU{{Index: 0, UUID: "GPU-a", MemoryTotalBytes: 16 << 30}},
		errs:      []string{"gpu 0: power: ERROR_NOT_SUPPORTED"},
		simulated: true,
	}
	s := telemetry.NewSampler(telemetry.SamplerOptions{Node: "n1", GPUs: gpus, Host: host, Now: clock.Now})

	got := s.Sample(t.Context())
	want := telemetry.Snapshot{
		Node: "n1", Seq: 1, Taken: clock.Now(), Host: host.host, GPUs: gpus.gpus, Simulated: true,
		Errors: []string{"host load: no /proc/loadavg", "gpu 0: power: ERROR_NOT_SUPPORTED"}, // host first, then GPUs
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}

	clock.Advance(5 * time.Second)
	if next := s.Sample(t.Context()); next.Seq != 2 || !next.Taken.Equal(want.Taken.Add(5*time.Second)) {
		t.Errorf("second sample: seq %d taken %v, want 2 at %v", next.Seq, next.Taken, want.Taken.Add(5*time.Second))
	}
}

func TestSamplerWithoutSources(t *testing.T) {
	s := telemetry.NewSampler(telemetry.SamplerOptions{Node: "bare"})
	got := s.Sample(t.Context())
	if got.GPUs == nil || len(got.GPUs) != 0 || got.Simulated {
		t.Errorf("GPUs %v simulated %v: want an empty, non-nil list from hardware", got.GPUs, got.Simulated)
	}
	if diff := cmp.Diff([]string{telemetry.HostCPU, telemetry.HostMemory, telemetry.HostLoad}, got.Host.Missing); diff != "" {
		t.Errorf("host Missing (-want +got):\n%s", diff)
	}
	if got.Taken.IsZero() {
		t.Error("Taken is zero with the default clock")
	}
}

func TestSnapshotCloneSharesNothing(t *testing.T) {
	orig := telemetry.Snapshot{
		Host:   telemetry.Host{Missing: []string{"load"}},
		GPUs:   []telemetry.GPU{{UUID: "GPU-a", Processes: []telemetry.Process{{PID: 1}}, Missing: []string{"power"}}},
		Errors: []string{"e"},
	}
	c := orig.Clone()
	c.Host.Missing[0] = "x"
	c.GPUs[0].UUID = "x"
	c.GPUs[0].Processes[0].PID = 9
	c.GPUs[0].Missing[0] = "x"
	c.Errors[0] = "x"
	if orig.Host.Missing[0] != "load" || orig.GPUs[0].UUID != "GPU-a" || orig.GPUs[0].Processes[0].PID != 1 ||
		orig.GPUs[0].Missing[0] != "power" || orig.Errors[0] != "e" {
		t.Errorf("changing the clone changed the original: %+v", orig)
	}
}
