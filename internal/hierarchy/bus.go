package hierarchy

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/hbmsg"
)

// Subscribe subscribes nc to the heartbeat subject of each child (core
// NATS: a heartbeat missed is simply missed). The returned function ends
// the subscriptions.
func (w *Watcher) Subscribe(nc *nats.Conn) (stop func(), err error) {
	var subs []*nats.Subscription
	stop = func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, name := range w.Names() {
		subject := bus.HeartbeatSubject(name)
		s, err := nc.Subscribe(subject, func(m *nats.Msg) {
			h, err := hbmsg.Decode(m.Data)
			if err != nil {
				w.Invalid()
				return
			}
			// The subject's token is its publisher's (on a bus with
			// mutual TLS only that certificate may publish there): a
			// heartbeat naming another component is not taken.
			if bus.Token(h.Monitor) != strings.TrimPrefix(m.Subject, bus.PrefixHeartbeat) {
				w.foreign()
				return
			}
			w.Observe(h.Monitor, h)
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("hierarchy: subscribing to %s: %w", subject, err)
		}
		// A flood queues no more than this before the client drops it.
		_ = s.SetPendingLimits(256, 1<<20)
		subs = append(subs, s)
	}
	return stop, nil
}

// Run checks the children's states a few times per interval on the
// watcher's clock until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := clock.NewTicker(w.o.Clock, max(w.o.Interval/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			w.Check()
		}
	}
}

// Sender describes the component that sends heartbeats.
type Sender struct {
	Name, Layer, Parent string
	Interval            time.Duration
	// Counters reads the component's counters at each heartbeat.
	Counters func() hbmsg.Counters
	Clock    clock.Clock
	// Publish sends one heartbeat (core NATS: nc.Publish).
	Publish func(subject string, data []byte) error
	// Failed is called with a heartbeat that could not be published.
	Failed func(error)
}

// Heartbeats sends a heartbeat at once and then every interval until ctx
// ends. It never waits on a receiver.
func Heartbeats(ctx context.Context, s Sender) {
	if s.Clock == nil {
		s.Clock = clock.Real{}
	}
	var seq atomic.Uint64
	subject := bus.HeartbeatSubject(s.Name)
	send := func() {
		h := hbmsg.Heartbeat{Version: hbmsg.Version, Monitor: s.Name, Layer: s.Layer, Parent: s.Parent,
			Seq: seq.Add(1), Time: s.Clock.Now().UTC(), Interval: hbmsg.Duration(s.Interval)}
		if s.Counters != nil {
			h.Counters = s.Counters()
		}
		if err := s.Publish(subject, hbmsg.Encode(h)); err != nil && s.Failed != nil {
			s.Failed(err)
		}
	}
	send()
	t := clock.NewTicker(s.Clock, s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			send()
		}
	}
}
