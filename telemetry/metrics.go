package telemetry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the agent's latest Snapshot at scrape time, so series of
// a GPU that disappeared vanish with it and nothing needs resetting. A field
// listed in Missing is left out rather than exported as a misleading zero.
type collector struct {
	latest func() (Snapshot, bool)

	info, simulated, seq, taken, errors                 *prometheus.Desc
	cpu, memTotal, memAvail, memUsed, l1, l5, l15, ngpu *prometheus.Desc

	gpuInfo, gpuMemTotal, gpuMemUsed, gpuMemFree, gpuUtil, gpuMemUtil *prometheus.Desc
	gpuTemp, gpuPower, gpuPowerLimit, gpuProcs                        *prometheus.Desc
}

var gpuLabels = []string{"uuid", "index"}

func newCollector(latest func() (Snapshot, bool)) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	g := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, gpuLabels...), extra...), nil)
	}
	return &collector{
		latest:    latest,
		info:      d("baton_node_info", "Always 1; labels name the node the agent samples.", "node"),
		simulated: d("baton_telemetry_simulated", "1 when GPU telemetry comes from go-nvml's mock (simulation), 0 from hardware."),
		seq:       d("baton_telemetry_samples_total", "Samples taken since the agent started."),
		taken:     d("baton_telemetry_last_sample_timestamp_seconds", "When the latest sample was taken, Unix seconds."),
		errors:    d("baton_telemetry_sample_errors", "Fields the latest sample could not read."),

		cpu:      d("baton_node_cpu_utilization", "Busy fraction of all CPUs since the previous sample (0-1)."),
		memTotal: d("baton_node_memory_total_bytes", "Physical memory in bytes."),
		memAvail: d("baton_node_memory_available_bytes", "Memory available to new processes without swapping, in bytes."),
		memUsed:  d("baton_node_memory_used_bytes", "Memory in use, in bytes."),
		l1:       d("baton_node_load1", "1-minute load average."),
		l5:       d("baton_node_load5", "5-minute load average."),
		l15:      d("baton_node_load15", "15-minute load average."),
		ngpu:     d("baton_node_gpus", "GPUs NVML reported in the latest sample."),

		gpuInfo:       g("baton_gpu_info", "Always 1; labels name the GPU model.", "name"),
		gpuMemTotal:   g("baton_gpu_memory_total_bytes", "GPU memory in bytes."),
		gpuMemUsed:    g("baton_gpu_memory_used_bytes", "GPU memory in use, in bytes."),
		gpuMemFree:    g("baton_gpu_memory_free_bytes", "GPU memory free, in bytes."),
		gpuUtil:       g("baton_gpu_utilization", "Fraction of the driver's sample period a kernel ran (0-1)."),
		gpuMemUtil:    g("baton_gpu_memory_utilization", "Fraction of the driver's sample period GPU memory was read or written (0-1); bandwidth, not capacity."),
		gpuTemp:       g("baton_gpu_temperature_celsius", "GPU core temperature in degrees Celsius."),
		gpuPower:      g("baton_gpu_power_watts", "Board power draw in watts."),
		gpuPowerLimit: g("baton_gpu_power_limit_watts", "Enforced power limit in watts."),
		gpuProcs:      g("baton_gpu_processes", "Compute processes holding GPU memory."),
	}
}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.info, c.simulated, c.seq, c.taken, c.errors,
		c.cpu, c.memTotal, c.memAvail, c.memUsed, c.l1, c.l5, c.l15, c.ngpu,
		c.gpuInfo, c.gpuMemTotal, c.gpuMemUsed, c.gpuMemFree, c.gpuUtil, c.gpuMemUtil,
		c.gpuTemp, c.gpuPower, c.gpuPowerLimit, c.gpuProcs,
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector; before the first sample it
// exports nothing.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.latest()
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.info, 1, s.Node)
	gauge(c.simulated, boolFloat(s.Simulated))
	ch <- prometheus.MustNewConstMetric(c.seq, prometheus.CounterValue, float64(s.Seq))
	gauge(c.taken, float64(s.Taken.UnixNano())/1e9)
	gauge(c.errors, float64(len(s.Errors)))

	h := s.Host
	if h.Has(HostCPU) {
		gauge(c.cpu, h.CPUUtilization)
	}
	if h.Has(HostMemory) {
		gauge(c.memTotal, float64(h.MemoryTotalBytes))
		gauge(c.memAvail, float64(h.MemoryAvailableBytes))
		gauge(c.memUsed, float64(h.MemoryUsedBytes))
	}
	if h.Has(HostLoad) {
		gauge(c.l1, h.Load1)
		gauge(c.l5, h.Load5)
		gauge(c.l15, h.Load15)
	}
	gauge(c.ngpu, float64(len(s.GPUs)))

	for _, g := range s.GPUs {
		l := []string{g.UUID, strconv.Itoa(g.Index)}
		gauge(c.gpuInfo, 1, g.UUID, strconv.Itoa(g.Index), g.Name)
		if g.Has(GPUMemory) {
			gauge(c.gpuMemTotal, float64(g.MemoryTotalBytes), l...)
			gauge(c.gpuMemUsed, float64(g.MemoryUsedBytes), l...)
			gauge(c.gpuMemFree, float64(g.MemoryFreeBytes), l...)
		}
		if g.Has(GPUUtilization) {
			gauge(c.gpuUtil, g.Utilization, l...)
			gauge(c.gpuMemUtil, g.MemoryUtilization, l...)
		}
		if g.Has(GPUTemperature) {
			gauge(c.gpuTemp, float64(g.TemperatureC), l...)
		}
		if g.Has(GPUPower) {
			gauge(c.gpuPower, g.PowerWatts, l...)
		}
		if g.Has(GPUPowerLimit) {
			gauge(c.gpuPowerLimit, g.PowerLimitWatts, l...)
		}
		if g.Has(GPUProcesses) {
			gauge(c.gpuProcs, float64(len(g.Processes)), l...)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
