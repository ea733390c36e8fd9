package groups

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the group manager's Prometheus series.
type metrics struct {
	m            *Manager
	requests     *prometheus.CounterVec
	coldLoad     *prometheus.HistogramVec
	evictions    *prometheus.CounterVec
	loadFailures *prometheus.CounterVec

	loadedDesc, usedDesc, budgetDesc, unreturnedDesc *prometheus.Desc
}

func newMetrics(m *Manager) *metrics {
	return &metrics{
		m: m,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_group_requests_total",
			Help: "Group stage calls routed, by group and result: hit (target loaded), cold (waited for a load), unknown (not a member), error.",
		}, []string{"group", "result"}),
		coldLoad: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "baton_group_cold_load_seconds",
			Help:    "Time of one on-demand load of a group member (Triton's load call).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"group"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_group_evictions_total",
			Help: "Group members unloaded to make room, by group and instance.",
		}, []string{"group", "instance"}),
		loadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_group_load_failures_total",
			Help: "Failed on-demand loads, by group and reason (failed: Triton refused the model; unavailable: the instance went away).",
		}, []string{"group", "reason"}),
		loadedDesc:     prometheus.NewDesc("baton_group_loaded_models", "Group members loaded (or loading) per instance.", []string{"group", "instance"}, nil),
		usedDesc:       prometheus.NewDesc("baton_group_memory_used_bytes", "Bytes the group's loaded members take per instance (measured footprints; estimates until measured).", []string{"group", "instance"}, nil),
		budgetDesc:     prometheus.NewDesc("baton_group_memory_budget_bytes", "The group's memory budget per instance.", []string{"group", "instance"}, nil),
		unreturnedDesc: prometheus.NewDesc("baton_group_memory_unreturned_bytes", "Bytes of evicted members that did not come back after their unload, per instance.", []string{"group", "instance"}, nil),
	}
}

func (x *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{x.requests, x.coldLoad, x.evictions, x.loadFailures, x} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Describe implements prometheus.Collector for the per-instance gauges.
func (x *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- x.loadedDesc
	ch <- x.usedDesc
	ch <- x.budgetDesc
	ch <- x.unreturnedDesc
}

// Collect implements prometheus.Collector: the gauges are read from the
// groups' accounting at scrape time.
func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, name := range x.m.Names() {
		v, _ := x.m.Group(name)
		for _, in := range v.Instances {
			ch <- prometheus.MustNewConstMetric(x.loadedDesc, prometheus.GaugeValue, float64(len(in.Models)), name, in.Instance)
			ch <- prometheus.MustNewConstMetric(x.usedDesc, prometheus.GaugeValue, float64(in.UsedBytes), name, in.Instance)
			ch <- prometheus.MustNewConstMetric(x.budgetDesc, prometheus.GaugeValue, float64(in.BudgetBytes), name, in.Instance)
			ch <- prometheus.MustNewConstMetric(x.unreturnedDesc, prometheus.GaugeValue, float64(in.UnreturnedBytes), name, in.Instance)
		}
	}
}
