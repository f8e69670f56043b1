package signature

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// statsSnapshot is the engine's statistics as of its last tick, for
// scrapes from other goroutines (the engine itself is not locked).
type statsSnapshot struct {
	mu sync.Mutex
	st Stats
}

func (s *statsSnapshot) set(st Stats) {
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
}

func (s *statsSnapshot) get() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// collector exports a signature engine's statistics as Prometheus series
// labelled with the engine's name.
type collector struct {
	snap                                               *statsSnapshot
	events, reports, suppressed, attempts, unmet       *prometheus.Desc
	evicted, state, reloads, reloadErrors, rulesLoaded *prometheus.Desc
	suppressedByRule, summaries                        *prometheus.Desc
}

func newCollector(monitor, name string, snap *statsSnapshot) *collector {
	l := prometheus.Labels{"monitor": monitor, "engine": name}
	d := func(n, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc(n, help, vars, l)
	}
	return &collector{
		snap:         snap,
		events:       d("vigil_signature_events_total", "Events the signature engine examined."),
		reports:      d("vigil_signature_reports_total", "Reports the rules made (after suppression)."),
		suppressed:   d("vigil_signature_suppressed_total", "Reports held back because the rule had just reported the same subject."),
		attempts:     d("vigil_signature_attempts_total", "Sequences reported as attempts: the effect step never came."),
		unmet:        d("vigil_signature_preconditions_unmet_total", "Firings dropped because a requires/unless fact said so."),
		evicted:      d("vigil_signature_evicted_total", "State entries evicted because their table was full, by table.", "table"),
		state:        d("vigil_signature_state_entries", "State entries held, by table.", "table"),
		reloads:      d("vigil_signature_reloads_total", "Rule reloads applied."),
		reloadErrors: d("vigil_signature_reload_errors_total", "Rule reloads refused because the files had mistakes."),
		rulesLoaded:  d("vigil_signature_rules", "Rules running."),
		suppressedByRule: d("vigil_reports_suppressed_total",
			"Reports a rule held back within its quiet time about the same thing, by rule; each quiet time that held some back ends with a summary report.", "rule"),
		summaries: d("vigil_signature_suppression_summaries_total", "Summary reports of what a quiet time held back."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.events, c.reports, c.suppressed, c.attempts, c.unmet, c.evicted, c.state, c.reloads, c.reloadErrors, c.rulesLoaded, c.suppressedByRule, c.summaries} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.snap.get()
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	gauge := func(d *prometheus.Desc, v int, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), lv...)
	}
	counter(c.events, st.Events)
	counter(c.reports, st.Reports)
	counter(c.suppressed, st.Suppressed)
	counter(c.summaries, st.Summaries)
	for id, n := range st.SuppressedByRule {
		counter(c.suppressedByRule, n, id)
	}
	counter(c.attempts, st.Attempts)
	counter(c.unmet, st.PreconditionsUnmet)
	counter(c.evicted, st.GroupsEvicted, "groups")
	counter(c.evicted, st.InstancesEvicted, "instances")
	counter(c.evicted, st.FactsEvicted, "facts")
	counter(c.evicted, st.SuppressEvicted, "suppress")
	gauge(c.state, st.Groups, "groups")
	gauge(c.state, st.Instances, "instances")
	gauge(c.state, st.Facts, "facts")
	gauge(c.state, st.SuppressKeys, "suppress")
	counter(c.reloads, st.Reloads)
	counter(c.reloadErrors, st.ReloadErrors)
	gauge(c.rulesLoaded, st.Rules)
}
