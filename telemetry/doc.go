// Package telemetry is Baton's node telemetry: the sampler behind `baton
// agent`, the agent's HTTP server and the client the orchestrator polls it
// with.
//
// It owns reading a node — per GPU through NVML (github.com/NVIDIA/go-nvml:
// memory, utilization, temperature, power, compute processes) and the host
// through gopsutil (CPU utilization, memory, load) — into an immutable
// Snapshot, serving the latest one as JSON (GET /snapshot) and Prometheus
// metrics (GET /metrics), and, for nodes without GPUs, SimulatedGPUs: H100s
// from go-nvml's dgxh100 mock whose memory use can be set at run time,
// marked Simulated in every snapshot and announced in the log.
//
// It must not decide placement: it reports what a node has and uses, never
// where a stage should run; that is placement's pure function over these
// snapshots. It must not fail a sample because one field is unreadable (the
// field is listed in Missing and Errors instead), and a node without
// libnvidia-ml is a node with zero GPUs, said once in the log, never a crash.
//
// The NVML path is tested only against go-nvml's mock; real NVML was not
// exercised when this package was written (the development machine has no
// GPU), beyond checking that a missing libnvidia-ml yields zero GPUs.
package telemetry
