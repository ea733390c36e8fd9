package tritonclient

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrBadMetrics is wrapped by ParseMetrics errors for pages that are not valid Prometheus text format.
var ErrBadMetrics = errors.New("bad metrics page")

// Metrics is one scrape of a Triton /metrics page.
type Metrics struct {
	// GPUs holds one entry per GPU, sorted by UUID; it is empty on CPU-only servers.
	GPUs []GPUMetrics
	// CPU holds the host CPU and memory metrics.
	CPU CPUMetrics
	// Models holds one entry per loaded model version, sorted by model name then version (numerically where both are integers).
	Models []ModelMetrics
	// PinnedMemoryTotalBytes is the size of the pinned (page-locked) host memory pool in bytes.
	PinnedMemoryTotalBytes float64
	// PinnedMemoryUsedBytes is the part of the pinned host memory pool in use, in bytes.
	PinnedMemoryUsedBytes float64
}

// GPUMetrics is the per-GPU part of a Triton metrics page.
type GPUMetrics struct {
	// UUID is the GPU's UUID as reported by NVML, e.g. "GPU-1b2c...".
	UUID string
	// Utilization is the GPU utilization as a fraction from 0 to 1.
	Utilization float64
	// MemoryTotalBytes is the GPU's total memory in bytes.
	MemoryTotalBytes float64
	// MemoryUsedBytes is the GPU's used memory in bytes.
	MemoryUsedBytes float64
	// PowerUsageWatts is the GPU's current power draw in watts.
	PowerUsageWatts float64
	// PowerLimitWatts is the GPU's power management limit in watts.
	PowerLimitWatts float64
	// EnergyJoules is the GPU's energy consumption since Triton started, in joules.
	EnergyJoules float64
}

// CPUMetrics is the host part of a Triton metrics page.
type CPUMetrics struct {
	// Utilization is the host CPU utilization as a fraction from 0 to 1.
	Utilization float64
	// MemoryTotalBytes is the host's total RAM in bytes.
	MemoryTotalBytes float64
	// MemoryUsedBytes is the host's used RAM in bytes.
	MemoryUsedBytes float64
}

// ModelMetrics is the per-model-version part of a Triton metrics page; counts and durations are cumulative since the model loaded.
type ModelMetrics struct {
	// Model is the model name.
	Model string
	// Version is the model version, e.g. "1".
	Version string
	// RequestSuccess is the number of successful inference requests.
	RequestSuccess float64
	// RequestFailure is the number of failed inference requests, summed over all reasons.
	RequestFailure float64
	// FailureByReason is the number of failed requests per reason label (OTHER, BACKEND, CANCELED, REJECTED); never nil.
	FailureByReason map[string]float64
	// InferenceCount is the number of inferences performed, counting each batch element.
	InferenceCount float64
	// ExecutionCount is the number of model executions (batches) performed.
	ExecutionCount float64
	// PendingRequests is the number of requests waiting to execute at scrape time.
	PendingRequests float64
	// RequestDuration is the cumulative end-to-end request time.
	RequestDuration time.Duration
	// QueueDuration is the cumulative time requests spent queued.
	QueueDuration time.Duration
	// ComputeInputDuration is the cumulative time spent preparing inputs.
	ComputeInputDuration time.Duration
	// ComputeInferDuration is the cumulative time spent executing the model.
	ComputeInferDuration time.Duration
	// ComputeOutputDuration is the cumulative time spent extracting outputs.
	ComputeOutputDuration time.Duration
}

// Triton metric label names.
const (
	labelGPU     = "gpu_uuid"
	labelModel   = "model"
	labelVersion = "version"
	labelReason  = "reason"
)

// ParseMetrics parses a Triton /metrics page in Prometheus text format; unknown metric families are ignored and errors wrap ErrBadMetrics.
func ParseMetrics(r io.Reader) (*Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMetrics, err)
	}
	b := metricsBuilder{
		gpus:   map[string]*GPUMetrics{},
		models: map[modelVersionKey]*ModelMetrics{},
	}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			b.add(name, m)
		}
	}
	return b.build(), nil
}

// modelVersionKey identifies one model version.
type modelVersionKey struct{ model, version string }

// metricsBuilder accumulates samples into a Metrics.
type metricsBuilder struct {
	out    Metrics
	gpus   map[string]*GPUMetrics
	models map[modelVersionKey]*ModelMetrics
}

// add records one sample of the family called name.
func (b *metricsBuilder) add(name string, m *dto.Metric) {
	v := sampleValue(m)
	switch name {
	case "nv_gpu_utilization":
		b.gpu(m).Utilization = v
	case "nv_gpu_memory_total_bytes":
		b.gpu(m).MemoryTotalBytes = v
	case "nv_gpu_memory_used_bytes":
		b.gpu(m).MemoryUsedBytes = v
	case "nv_gpu_power_usage":
		b.gpu(m).PowerUsageWatts = v
	case "nv_gpu_power_limit":
		b.gpu(m).PowerLimitWatts = v
	case "nv_energy_consumption":
		b.gpu(m).EnergyJoules = v
	case "nv_cpu_utilization":
		b.out.CPU.Utilization = v
	case "nv_cpu_memory_total_bytes":
		b.out.CPU.MemoryTotalBytes = v
	case "nv_cpu_memory_used_bytes":
		b.out.CPU.MemoryUsedBytes = v
	case "nv_pinned_memory_pool_total_bytes":
		b.out.PinnedMemoryTotalBytes = v
	case "nv_pinned_memory_pool_used_bytes":
		b.out.PinnedMemoryUsedBytes = v
	// Per-model samples are summed so that series split by extra labels add up.
	case "nv_inference_request_success":
		b.model(m).RequestSuccess += v
	case "nv_inference_request_failure":
		mm := b.model(m)
		mm.RequestFailure += v
		if reason, ok := metricLabel(m, labelReason); ok {
			mm.FailureByReason[reason] += v
		}
	case "nv_inference_count":
		b.model(m).InferenceCount += v
	case "nv_inference_exec_count":
		b.model(m).ExecutionCount += v
	case "nv_inference_pending_request_count":
		b.model(m).PendingRequests += v
	case "nv_inference_request_duration_us":
		b.model(m).RequestDuration += microsToDuration(v)
	case "nv_inference_queue_duration_us":
		b.model(m).QueueDuration += microsToDuration(v)
	case "nv_inference_compute_input_duration_us":
		b.model(m).ComputeInputDuration += microsToDuration(v)
	case "nv_inference_compute_infer_duration_us":
		b.model(m).ComputeInferDuration += microsToDuration(v)
	case "nv_inference_compute_output_duration_us":
		b.model(m).ComputeOutputDuration += microsToDuration(v)
	}
}

// gpu returns the entry for the GPU that m is labelled with, creating it if needed.
func (b *metricsBuilder) gpu(m *dto.Metric) *GPUMetrics {
	uuid, _ := metricLabel(m, labelGPU)
	g, ok := b.gpus[uuid]
	if !ok {
		g = &GPUMetrics{UUID: uuid}
		b.gpus[uuid] = g
	}
	return g
}

// model returns the entry for the model version that m is labelled with, creating it if needed.
func (b *metricsBuilder) model(m *dto.Metric) *ModelMetrics {
	name, _ := metricLabel(m, labelModel)
	version, _ := metricLabel(m, labelVersion)
	k := modelVersionKey{name, version}
	mm, ok := b.models[k]
	if !ok {
		mm = &ModelMetrics{Model: name, Version: version, FailureByReason: map[string]float64{}}
		b.models[k] = mm
	}
	return mm
}

// build returns the accumulated Metrics with GPUs and models sorted.
func (b *metricsBuilder) build() *Metrics {
	out := b.out
	for _, g := range b.gpus {
		out.GPUs = append(out.GPUs, *g)
	}
	slices.SortFunc(out.GPUs, func(x, y GPUMetrics) int { return cmp.Compare(x.UUID, y.UUID) })
	for _, mm := range b.models {
		out.Models = append(out.Models, *mm)
	}
	slices.SortFunc(out.Models, func(x, y ModelMetrics) int {
		if c := cmp.Compare(x.Model, y.Model); c != 0 {
			return c
		}
		return compareVersions(x.Version, y.Version)
	})
	return &out
}

// compareVersions orders model versions numerically when both are integers and as strings otherwise.
func compareVersions(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}

// metricLabel returns the value of the label called name on m.
func metricLabel(m *dto.Metric, name string) (string, bool) {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue(), true
		}
	}
	return "", false
}

// sampleValue returns the value of a counter, gauge or untyped sample, or 0 for other kinds.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	default:
		return 0
	}
}

// microsToDuration converts a count of microseconds to a Duration, rounding to the nearest nanosecond and saturating at the Duration range.
func microsToDuration(us float64) time.Duration {
	ns := math.Round(us * float64(time.Microsecond))
	switch {
	case math.IsNaN(ns):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= math.MinInt64:
		return math.MinInt64
	default:
		return time.Duration(ns)
	}
}

// Model returns the metrics for one model version and whether the page had any.
func (m *Metrics) Model(name, version string) (ModelMetrics, bool) {
	for _, mm := range m.Models {
		if mm.Model == name && mm.Version == version {
			return mm, true
		}
	}
	return ModelMetrics{}, false
}
