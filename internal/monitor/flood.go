package monitor

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

// floodWindow is the interval of the flood summaries: at most one
// MONITOR.FLOOD event per subscription per window.
const floodWindow = 10 * time.Second

// bucket is a token bucket on the monitor's clock: rate tokens a second,
// at most burst held. A subscription takes one per report.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends a token if one is left at now.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.last).Seconds())
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// flood is a subscription's bound: its bucket and what it dropped.
type flood struct {
	monitor string // the subscribed monitor
	limit   *bucket
	// dropped since the last summary.
	dropped atomic.Uint64
}

// admit tells whether the subscription's next report is within its rate;
// one beyond it is counted.
func (m *Monitor) admit(src *source) bool {
	f := src.flood
	if f == nil || f.limit.take(m.o.Clock.Now()) {
		return true
	}
	f.dropped.Add(1)
	src.flooded.Inc()
	return false
}

// startFloodSummaries turns, every floodWindow, each subscription's
// dropped reports into one MONITOR.FLOOD event of the monitor's own
// pipeline (stored, shown, matchable by rules) and one log line. The
// returned function stops it, before the pipeline closes.
func (m *Monitor) startFloodSummaries(floods []*flood) (stop func()) {
	if len(floods) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	src := m.newSource("flood", nil)
	src.own = true
	tick := clock.NewTicker(m.o.Clock, floodWindow)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C():
				now := m.o.Clock.Now()
				for _, f := range floods {
					if ev := m.floodEvent(f, now); ev != nil {
						m.push(item{ev: ev, src: src})
					}
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// floodEvent is the summary of what f dropped since the last one (nil
// when nothing was).
func (m *Monitor) floodEvent(f *flood, now time.Time) *event.Event {
	n := f.dropped.Swap(0)
	if n == 0 {
		return nil
	}
	m.log.Warn("subscription beyond its rate: reports acknowledged and not analysed",
		"child", printable(f.monitor, badLogText), "dropped", n, "window", floodWindow.String(),
		"max_rate", f.limit.rate, "burst", int64(f.limit.burst))
	ev := &event.Event{
		ID: m.o.IDs.NewID(now), Time: now.UTC(), Type: event.TypeMonitorFlood, Host: f.monitor, Source: m.cfg.Monitor.Name,
		Attrs: map[string]any{"monitor": f.monitor, "dropped": int64(n), "window": floodWindow.String(),
			"max_rate": f.limit.rate, "burst": int64(f.limit.burst)},
	}
	if err := ev.Validate(); err != nil {
		m.log.Warn("flood event not made", "child", printable(f.monitor, badLogText), "err", err)
		return nil
	}
	return ev
}
