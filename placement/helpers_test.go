package placement

import (
	"testing"
	"time"
)

// t0 is every test snapshot's Now.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const gib = 1 << 30

func gb(f float64) uint64 { return uint64(f * gib) }

// gpuInst is a healthy gpu instance on its own node, sampled 5s before t0.
func gpuInst(name string, totalGiB, freeGiB, util float64) Instance {
	return Instance{
		Name: name, Kind: GPU, Node: "node-" + name, Healthy: true,
		Telemetry: Telemetry{At: t0.Add(-5 * time.Second), GPU: GPUTelemetry{
			MemoryTotal: gb(totalGiB), MemoryFree: gb(freeGiB), MemoryUsed: gb(totalGiB - freeGiB), Utilization: util,
		}},
	}
}

// cpuInst is a healthy cpu instance on its own node, sampled 5s before t0.
func cpuInst(name string, totalGiB, availGiB, util float64) Instance {
	return Instance{
		Name: name, Kind: CPU, Node: "node-" + name, Healthy: true,
		Telemetry: Telemetry{At: t0.Add(-5 * time.Second), Host: HostTelemetry{
			MemoryTotal: gb(totalGiB), MemoryAvailable: gb(availGiB), CPUUtilization: util,
		}},
	}
}

func stage(pipeline, name string, index int, model string, dev Preference, gpuGiB, hostGiB float64) Stage {
	return Stage{Pipeline: pipeline, Name: name, Index: index, Model: model, Device: dev,
		Footprint: Footprint{GPU: gb(gpuGiB), Host: gb(hostGiB)}}
}

// mustPlace plans s with cfg and fails the test on an invalid input.
func mustPlace(t testing.TB, s *Snapshot, cfg Config) *Plan {
	t.Helper()
	p, err := Place(s, cfg)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	return p
}

func mustExplain(t testing.TB, p *Plan, pipelines ...string) *Explanation {
	t.Helper()
	e, err := p.Explain(pipelines...)
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	return e
}
