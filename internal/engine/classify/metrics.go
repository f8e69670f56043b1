package classify

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// statsBox hands the engine's counters to the metrics collector, which
// runs on the scraper's goroutine.
type statsBox struct {
	mu sync.Mutex
	s  Stats
}

func (b *statsBox) set(s Stats) {
	b.mu.Lock()
	b.s = s
	b.mu.Unlock()
}

func (b *statsBox) get() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

// collector exports an engine's counters.
type collector struct {
	a      *adapter
	labels prometheus.Labels
}

type metricDesc struct {
	d     *prometheus.Desc
	typ   prometheus.ValueType
	value func(Stats) float64
}

func (c *collector) descs() []metricDesc {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, c.labels) }
	return []metricDesc{
		{d("vigil_classify_vectors_total", "Count vectors the process classifier took."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.Vectors) }},
		{d("vigil_classify_vectors_ignored_total", "Count vectors not after their process's latest (repeated or out of order), ignored."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.Ignored) }},
		{d("vigil_classify_vectors_mismatched_total", "Count vectors of another interval than the model's, ignored."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.Mismatched) }},
		{d("vigil_classify_sequences_total", "Sequences of count vectors classified."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.Sequences) }},
		{d("vigil_classify_processes", "Processes followed."), prometheus.GaugeValue, func(s Stats) float64 { return float64(s.Processes) }},
		{d("vigil_classify_evicted_total", "Processes forgotten because max_processes were followed."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.Evicted) }},
		{d("vigil_classify_expired_total", "Processes forgotten because they sent nothing for the expire time."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.Expired) }},
		{d("vigil_classify_held_back_total", "Reports held back by suppression."), prometheus.CounterValue, func(s Stats) float64 { return float64(s.HeldBack) }},
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.descs() {
		ch <- m.d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.stats.get()
	for _, m := range c.descs() {
		ch <- prometheus.MustNewConstMetric(m.d, m.typ, m.value(s))
	}
}
