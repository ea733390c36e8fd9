package placement

import (
	"fmt"
	"math"
	"time"
)

// DeviceKind is the kind of device a Triton instance runs its models on.
type DeviceKind string

// Device kinds.
const (
	CPU DeviceKind = "cpu"
	GPU DeviceKind = "gpu"
)

// Preference is the device a stage asks for.
type Preference string

// Stage device preferences. An any-stage is placed by Config.Any.
const (
	PreferCPU Preference = "cpu"
	PreferGPU Preference = "gpu"
	PreferAny Preference = "any"
)

// Snapshot is everything one placement decision reads. Plan never modifies
// it and keeps a reference to it (Plan.Explain replays the decision), so a
// snapshot must not be modified once it has been planned.
type Snapshot struct {
	// Now is the decision time: telemetry age and dwell time are measured
	// against it. Placement never reads the clock.
	Now time.Time `json:"now"`
	// Instances lists the fleet, in any order (names are unique).
	Instances []Instance `json:"instances"`
	// Stages lists every stage to place, in any order.
	Stages []Stage `json:"stages"`
}

// Instance is one Triton instance and what is known about it.
type Instance struct {
	// Name identifies the instance; unique in a snapshot; ties between
	// equally scored candidates go to the smallest name.
	Name string `json:"name"`
	// Kind is the device the instance serves models on.
	Kind DeviceKind `json:"kind"`
	// GPU and GPUUUID identify the device of a gpu instance (informational).
	GPU     int    `json:"gpu,omitempty"`
	GPUUUID string `json:"gpuUUID,omitempty"`
	// Node names the machine; instances on the same node are one hop apart
	// for co-location. Empty means unknown (never co-located by node).
	Node string `json:"node,omitempty"`
	// Labels are matched against a stage's required labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Healthy is Triton's readiness as last probed.
	Healthy bool `json:"healthy"`
	// Telemetry is the latest sample of the instance's device and host.
	Telemetry Telemetry `json:"telemetry"`
	// Models lists the models loaded on the instance now.
	Models []LoadedModel `json:"models,omitempty"`
}

// Telemetry is one sample of an instance's device and host. A gpu instance
// is judged by GPU memory and utilization, a cpu instance by host memory
// and CPU utilization.
type Telemetry struct {
	// At is when the sample was taken; zero means never. A sample older than
	// Config.MaxTelemetryAge marks the instance stale.
	At   time.Time     `json:"at"`
	GPU  GPUTelemetry  `json:"gpu"`
	Host HostTelemetry `json:"host"`
}

// GPUTelemetry is NVML's view of an instance's GPU.
type GPUTelemetry struct {
	// MemoryTotal, MemoryUsed and MemoryFree are device memory in bytes.
	// MemoryTotal 0 means memory is unknown (NVML could not read it).
	MemoryTotal uint64 `json:"memoryTotal"`
	MemoryUsed  uint64 `json:"memoryUsed"`
	MemoryFree  uint64 `json:"memoryFree"`
	// Utilization is the fraction of time a kernel ran (0–1).
	Utilization float64 `json:"utilization"`
	// MemoryUtilization is memory bandwidth use (0–1), informational.
	MemoryUtilization float64 `json:"memoryUtilization"`
	// TemperatureC and PowerW are informational.
	TemperatureC int     `json:"temperatureC"`
	PowerW       float64 `json:"powerW"`
}

// HostTelemetry is the host's CPU and memory.
type HostTelemetry struct {
	// CPUUtilization is the fraction of CPU time spent busy (0–1).
	CPUUtilization float64 `json:"cpuUtilization"`
	// MemoryTotal and MemoryAvailable are bytes; MemoryTotal 0 means memory
	// is unknown.
	MemoryTotal     uint64 `json:"memoryTotal"`
	MemoryAvailable uint64 `json:"memoryAvailable"`
	// Load1 is the one-minute load average, informational.
	Load1 float64 `json:"load1"`
}

// LoadedModel is a model loaded on an instance.
type LoadedModel struct {
	Name string `json:"name"`
	// Bytes is the measured footprint on the instance's device (GPU memory
	// on a gpu instance, host memory on a cpu instance); it stands in for a
	// stage's footprint when the stage gives none for that kind.
	Bytes uint64 `json:"bytes"`
	// Pending is the model's queued requests (Triton's
	// nv_inference_pending_request_count); summed per instance for the
	// queue scorer.
	Pending int `json:"pending"`
}

// Stage is one pipeline stage to place.
type Stage struct {
	Pipeline string `json:"pipeline"`
	Name     string `json:"name"`
	// Index is the stage's position in its pipeline (0-based); stages of the
	// same pipeline with adjacent indexes are co-located when possible.
	Index int    `json:"index"`
	Model string `json:"model"`
	// Device is the stage's preference: cpu, gpu or any.
	Device Preference `json:"device"`
	// Footprint is the memory the model needs, per device kind.
	Footprint Footprint `json:"footprint"`
	// Labels must all be present, with equal values, on the instance.
	Labels map[string]string `json:"labels,omitempty"`
	// Current is the instance serving the stage now; empty if unplaced.
	Current string `json:"current,omitempty"`
	// LastMoved is when the stage was last placed or moved; zero if never.
	// Hysteresis keeps a stage in place for Config.Hysteresis.MinDwell after.
	LastMoved time.Time `json:"lastMoved"`
}

// Footprint is the memory a model needs, per device kind, in bytes. Zero
// means unknown: the largest measured footprint of the same model on an
// instance of that kind is used instead, else nothing is reserved.
type Footprint struct {
	GPU  uint64 `json:"gpu"`
	Host uint64 `json:"host"`
}

// validateInstance checks what the planner relies on in one instance.
func (in *Instance) validate(i int, errs []error) []error {
	if in.Name == "" {
		errs = append(errs, fmt.Errorf("instances[%d].name: required", i))
	}
	if in.Kind != CPU && in.Kind != GPU {
		errs = append(errs, fmt.Errorf("instance %q: kind %q, want cpu or gpu", in.Name, in.Kind))
	}
	if math.IsNaN(in.Telemetry.GPU.Utilization) || math.IsNaN(in.Telemetry.Host.CPUUtilization) {
		errs = append(errs, fmt.Errorf("instance %q: utilization is NaN", in.Name))
	}
	return errs
}

// validateStages checks what the planner relies on in the stages; it does
// not check that referenced instances exist (a stage's Current may name a
// departed one).
func (s *Snapshot) validateStages() []error {
	var errs []error
	for i := range s.Stages {
		st := &s.Stages[i]
		switch {
		case st.Pipeline == "" || st.Name == "":
			errs = append(errs, fmt.Errorf("stages[%d]: pipeline and name required", i))
		case st.Model == "":
			errs = append(errs, fmt.Errorf("stage %s/%s: model required", st.Pipeline, st.Name))
		case st.Index < 0:
			errs = append(errs, fmt.Errorf("stage %s/%s: index %d < 0", st.Pipeline, st.Name, st.Index))
		}
		if st.Device != PreferCPU && st.Device != PreferGPU && st.Device != PreferAny {
			errs = append(errs, fmt.Errorf("stage %s/%s: device %q, want cpu, gpu or any", st.Pipeline, st.Name, st.Device))
		}
	}
	return errs
}
