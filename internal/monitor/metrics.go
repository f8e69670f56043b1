package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
)

// metrics are a monitor's Prometheus series.
type metrics struct {
	reg           prometheus.Registerer
	eventsIn      *prometheus.CounterVec
	filtered      *prometheus.CounterVec
	decodeErrors  *prometheus.CounterVec
	misrouted     *prometheus.CounterVec
	flooded       *prometheus.CounterVec
	duplicates    prometheus.Counter
	reports       *prometheus.CounterVec
	engineErrors  *prometheus.CounterVec
	publishErrors prometheus.Counter
	storeDropped  prometheus.Counter
	engineDropped *prometheus.CounterVec
}

// newCounters makes the series without registering them.
func newCounters(monitor string) *metrics {
	labels := prometheus.Labels{"monitor": monitor}
	return &metrics{
		eventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_in_total", Help: "Distinct events accepted (new to the store), by source.", ConstLabels: labels,
		}, []string{"source"}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_filtered_total", Help: "Events dropped by a source's filter, by source.", ConstLabels: labels,
		}, []string{"source"}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_decode_errors_total", Help: "Messages that did not decode as events, by source.", ConstLabels: labels,
		}, []string{"source"}),
		misrouted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_misrouted_total", Help: "Observations dropped because their host is not the one their subject names (its publisher's), and reports refused because they name another monitor than their subject's, by source.", ConstLabels: labels,
		}, []string{"source"}),
		flooded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_reports_flooded_total", Help: "Subscribed monitors' reports beyond the subscription's max_rate and burst, acknowledged and not analysed, by subscribed monitor.", ConstLabels: labels,
		}, []string{"subscription"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_events_duplicate_total", Help: "Redelivered events recognised by id, by the de-duplication window or by the store.", ConstLabels: labels,
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_reports_out_total", Help: "Reports made, by engine and severity.", ConstLabels: labels,
		}, []string{"engine", "severity"}),
		engineErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_engine_errors_total", Help: "Engine failures on an event or tick, and invalid reports, by engine.", ConstLabels: labels,
		}, []string{"engine"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_reports_publish_errors_total", Help: "Reports that could not be disseminated on the bus (they are stored).", ConstLabels: labels,
		}),
		storeDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_store_dropped_total", Help: "Events of at-most-once (core) sources analysed but not stored because the store was behind.", ConstLabels: labels,
		}),
		engineDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_engine_dropped_total", Help: "Events of at-most-once (core) sources an engine missed because its queue was full, by engine.", ConstLabels: labels,
		}, []string{"engine"}),
	}
}

// newReplayMetrics are counters nobody scrapes: a replay reports its own
// totals.
func newReplayMetrics() *metrics { return newCounters("replay") }

// newMetrics makes and registers a live monitor's series, the store's
// among them.
func newMetrics(reg prometheus.Registerer, m *Monitor) *metrics {
	labels := prometheus.Labels{"monitor": m.cfg.Monitor.Name}
	met := newCounters(m.cfg.Monitor.Name)
	met.reg = reg
	st := m.store
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	reg.MustRegister(met.eventsIn, met.filtered, met.decodeErrors, met.misrouted, met.flooded, met.duplicates, met.reports, met.engineErrors, met.publishErrors, met.storeDropped, met.engineDropped,
		gauge("vigil_store_lag_items", "Events and reports accepted but not yet committed to the store.", func() float64 { return float64(st.Stats().Queued) }),
		gauge("vigil_store_lag_seconds", "Age of the oldest item waiting for the store.", func() float64 { return st.Stats().OldestQueued.Seconds() }),
		counter("vigil_store_events_written_total", "Events committed to the store.", func() float64 { return float64(st.Stats().EventsWritten) }),
		counter("vigil_store_reports_written_total", "Reports committed to the store.", func() float64 { return float64(st.Stats().ReportsWritten) }),
		counter("vigil_store_duplicates_total", "Items the store ignored because their id was already stored.", func() float64 { return float64(st.Stats().Duplicates) }),
		counter("vigil_store_write_errors_total", "Failed store commits (retried).", func() float64 { return float64(st.Stats().WriteErrors) }),
		counter("vigil_store_deleted_total", "Rows removed by retention.", func() float64 { return float64(st.Stats().Deleted) }),
	)
	return met
}

// watchDrops exports the messages a core subscription lost to slowness.
func (met *metrics) watchDrops(source string, sub *bus.Subscription) {
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_bus_dropped_total", Help: "Messages the bus dropped because this monitor was too slow (core subscriptions).",
		ConstLabels: prometheus.Labels{"source": source},
	}, func() float64 { return float64(sub.Dropped()) })
	_ = met.reg.Register(c)
}
