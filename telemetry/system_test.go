package telemetry

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestSystemNVML opens this machine's real NVML. On a node without
// libnvidia-ml (the machine this was written on) that must be zero GPUs and
// exactly one log line, however often it is sampled; where the driver is
// present it checks the real GPUs instead.
func TestSystemNVML(t *testing.T) {
	var logs bytes.Buffer // written only from this goroutine
	src := OpenSystemNVML(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if src.ok {
		testRealGPUs(t, src)
		return
	}
	for range 3 {
		gpus, errs := src.SampleGPUs(t.Context())
		if gpus == nil || len(gpus) != 0 || len(errs) != 0 {
			t.Fatalf("got GPUs %v errors %q, want an empty list and no errors", gpus, errs)
		}
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want exactly 1:\n%s", len(lines), logs.String())
	}
	if !strings.Contains(lines[0], "no NVIDIA driver (libnvidia-ml not found): reporting 0 GPUs") {
		t.Errorf("log line %q does not say why there are no GPUs", lines[0])
	}
}

func testRealGPUs(t *testing.T, src *NVMLSource) {
	t.Log("libnvidia-ml present: checking real GPUs")
	defer func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	gpus, errs := src.SampleGPUs(t.Context())
	t.Logf("%d GPUs, field errors %q", len(gpus), errs)
	for _, g := range gpus {
		if g.Has(GPUMemory) && (g.MemoryTotalBytes == 0 || g.MemoryUsedBytes > g.MemoryTotalBytes) {
			t.Errorf("GPU %d memory used %d of %d", g.Index, g.MemoryUsedBytes, g.MemoryTotalBytes)
		}
		if g.Utilization < 0 || g.Utilization > 1 {
			t.Errorf("GPU %d utilization %v outside [0, 1]", g.Index, g.Utilization)
		}
		if g.Has(GPUUUID) && !strings.HasPrefix(g.UUID, "GPU-") && !strings.HasPrefix(g.UUID, "MIG-") {
			t.Errorf("GPU %d UUID %q", g.Index, g.UUID)
		}
	}
}
