package monitor

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/hbmsg"
	"github.com/vigil-ids/vigil/internal/hierarchy"
)

// hier is the monitor's part in the hierarchy: its own heartbeats, and
// the watcher of its children's (monitor.children and the monitors of its
// subscriptions).
type hier struct {
	watcher *hierarchy.Watcher // nil without children
	src     *source            // the health events' source
	events  chan *event.Event  // health events on their way to the pipeline
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// ChildNames are the monitors whose heartbeats a monitor watches: its
// declared children and the monitors it subscribes to, each once, sorted.
func (m *Monitor) ChildNames() []string {
	var out []string
	out = append(out, m.cfg.Monitor.Children...)
	for _, s := range m.cfg.Subscriptions {
		out = append(out, s.Monitor)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Counters are the monitor's own counters, as its heartbeats carry them.
func (m *Monitor) Counters() hbmsg.Counters {
	return hbmsg.Counters{EventsIn: m.eventsIn.Load(), ReportsOut: m.reportsOut.Load(),
		Lag: uint64(max(m.store.Stats().Queued, 0)), Drops: m.Dropped() + m.storeDrops.Load()}
}

// Children says what the monitor knows of its children's health (nil
// when it watches none).
func (m *Monitor) Children() []hierarchy.Child {
	h := m.hier.Load()
	if h == nil || h.watcher == nil {
		return nil
	}
	return h.watcher.Children()
}

// HeartbeatCounts are the children's heartbeats the monitor took and
// ignored (zero when it watches none).
func (m *Monitor) HeartbeatCounts() hierarchy.Counts {
	h := m.hier.Load()
	if h == nil || h.watcher == nil {
		return hierarchy.Counts{}
	}
	return h.watcher.Counts()
}

// startHierarchy starts the monitor's heartbeats and, when it has
// children, the watcher of theirs, whose changes become events of the
// monitor's own pipeline (MONITOR.STALE, MONITOR.LOST, MONITOR.ALIVE).
// Nothing here waits on a child.
func (m *Monitor) startHierarchy(ctx context.Context) {
	if m.o.Conn == nil {
		return
	}
	hb := m.cfg.Monitor.Heartbeat
	ctx, cancel := context.WithCancel(ctx)
	h := &hier{cancel: cancel, events: make(chan *event.Event, 256)}
	// Published once complete: the live views read it from other
	// goroutines.
	defer m.hier.Store(h)
	nc := m.o.Conn.NC
	var failOnce sync.Once
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		hierarchy.Heartbeats(ctx, hierarchy.Sender{
			Name: m.cfg.Monitor.Name, Layer: m.cfg.Monitor.Layer, Parent: m.cfg.Monitor.Parent,
			Interval: hb.Interval, Counters: m.Counters, Clock: m.o.Clock, Publish: nc.Publish,
			Failed: func(err error) {
				failOnce.Do(func() { m.log.Warn("heartbeat not sent", "err", err) })
			},
		})
	}()
	children := m.ChildNames()
	if len(children) == 0 {
		return
	}
	w, err := hierarchy.New(hierarchy.Options{
		Children: children, Interval: hb.Interval, StaleAfter: hb.StaleAfter, LostAfter: hb.LostAfter,
		Clock: m.o.Clock, OnTransition: func(t hierarchy.Transition) { m.childChanged(h, t) },
	})
	if err != nil {
		m.log.Warn("children's health is not watched", "err", err)
		return
	}
	stop, err := w.Subscribe(nc)
	if err != nil {
		m.log.Warn("children's health is not watched", "err", err)
		return
	}
	h.watcher = w
	m.watchChildren(w)
	h.src = m.newSource("hierarchy", nil)
	h.src.own = true
	h.wg.Add(2)
	go func() { defer h.wg.Done(); defer stop(); w.Run(ctx) }()
	go func() {
		defer h.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-h.events:
				m.push(item{ev: ev, src: h.src})
			}
		}
	}()
}

// stopHierarchy ends the heartbeats and the watcher, before the
// pipeline closes.
func (m *Monitor) stopHierarchy() {
	if h := m.hier.Load(); h != nil {
		h.cancel()
		h.wg.Wait()
	}
}

// childChanged turns a child's change of state into an event of the
// monitor's pipeline (stored, shown, matchable by rules). It never waits:
// a queue full of them (256 changes not yet taken) drops the newest,
// logged.
func (m *Monitor) childChanged(h *hier, t hierarchy.Transition) {
	typ := event.TypeMonitorAlive
	switch t.To {
	case hierarchy.StateStale:
		typ = event.TypeMonitorStale
	case hierarchy.StateLost:
		typ = event.TypeMonitorLost
	}
	lastSeen := ""
	if !t.LastSeen.IsZero() {
		lastSeen = t.LastSeen.UTC().Format(time.RFC3339Nano)
	}
	ev := &event.Event{
		ID: m.o.IDs.NewID(t.At), Time: t.At.UTC(), Type: typ, Host: t.Name, Source: m.cfg.Monitor.Name,
		Attrs: map[string]any{"monitor": t.Name, "layer": t.Layer, "last_seen": lastSeen, "missed": int64(t.Missed), "from": string(t.From)},
	}
	if err := ev.Validate(); err != nil {
		m.log.Warn("child health event not made", "child", t.Name, "err", err)
		return
	}
	m.log.Info("child "+string(t.To), "child", t.Name, "layer", t.Layer, "missed", t.Missed, "last_seen", lastSeen)
	select {
	case h.events <- ev:
	default:
		m.log.Warn("child health event dropped: queue full", "child", t.Name, "state", t.To)
	}
}

// watchChildren exports the children's health and the heartbeats ignored.
func (m *Monitor) watchChildren(w *hierarchy.Watcher) {
	labels := func(k, v string) prometheus.Labels { return prometheus.Labels{"monitor": m.cfg.Monitor.Name, k: v} }
	for _, st := range []hierarchy.State{hierarchy.StateUnknown, hierarchy.StateAlive, hierarchy.StateStale, hierarchy.StateLost} {
		_ = m.met.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_children", Help: "Children (monitors watched by their heartbeats), by state.", ConstLabels: labels("state", string(st)),
		}, func() float64 {
			n := 0
			for _, c := range w.Children() {
				if c.State == st {
					n++
				}
			}
			return float64(n)
		}))
	}
	for reason, f := range map[string]func(hierarchy.Counts) uint64{
		"invalid": func(c hierarchy.Counts) uint64 { return c.Invalid },
		"foreign": func(c hierarchy.Counts) uint64 { return c.Foreign },
		"flooded": func(c hierarchy.Counts) uint64 { return c.Flooded },
	} {
		_ = m.met.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vigil_heartbeats_ignored_total", Help: "Children's heartbeats ignored: invalid, naming another monitor than their subject's (foreign), or beyond a child's rate (flooded).",
			ConstLabels: labels("reason", reason),
		}, func() float64 { return float64(f(w.Counts())) }))
	}
}
