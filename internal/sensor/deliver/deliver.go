// Package deliver carries a sensor's observations to the bus without ever
// holding the sensor up: observations go first to an on-disk spool, and a
// forwarder publishes them durably, in order, acknowledging each batch only
// once the bus has stored it. While the bus is away the spool fills (up to
// its bound, then the oldest are dropped and counted); when it returns the
// backlog is delivered, and a SENSOR.DROPPED observation reports any loss.
package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/spool"
)

// TypeDropped is the observation that reports records the spool dropped.
const TypeDropped = "SENSOR.DROPPED"

// Publisher stores events durably on the bus (bus.Conn.PublishEvents).
type Publisher func(ctx context.Context, evs []event.Event) (int, error)

// Options configure a deliverer.
type Options struct {
	// Dir and MaxBytes locate and bound the spool.
	Dir      string
	MaxBytes int64
	Publish  Publisher
	// HostID and Source name the sensor in the SENSOR.DROPPED reports.
	HostID, Source string
	IDs            event.IDSource
	Logger         *slog.Logger
}

// Deliverer is a Sink for sensors that forwards to the bus.
type Deliverer struct {
	o         Options
	sp        *spool.Spool
	reported  atomic.Uint64 // drops already reported
	delivered atomic.Uint64
	buf       []byte
}

// Open opens the spool (delivering what a previous run left in it once
// Run starts).
func Open(o Options) (*Deliverer, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	sp, err := spool.Open(spool.Options{Dir: o.Dir, MaxBytes: o.MaxBytes, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return &Deliverer{o: o, sp: sp}, nil
}

// Write appends observations to the spool; it never touches the network.
func (d *Deliverer) Write(evs []event.Event) error {
	for i := range evs {
		d.buf = evs[i].AppendCompact(d.buf[:0])
		if err := d.sp.Append(d.buf); err != nil {
			return fmt.Errorf("deliver: %w", err)
		}
	}
	return nil
}

// Delivered is how many observations reached the bus.
func (d *Deliverer) Delivered() uint64 { return d.delivered.Load() }

// Dropped is how many observations the full spool dropped.
func (d *Deliverer) Dropped() uint64 { return d.sp.Dropped() }

// Run forwards the spool to the bus until ctx ends, then closes the spool
// (what is left is delivered by the next run).
func (d *Deliverer) Run(ctx context.Context) {
	spool.Forward(ctx, d.sp, 512, d.send, d.o.Logger)
	if err := d.sp.Close(); err != nil {
		d.o.Logger.Warn("closing the spool", "err", err)
	}
}

func (d *Deliverer) send(ctx context.Context, recs [][]byte) error {
	evs := make([]event.Event, 0, len(recs)+1)
	for _, r := range recs {
		ev, err := event.DecodeCompact(r)
		if err != nil {
			// Written by this package, checked by CRC: only a change of
			// format could cause this. Skip rather than block the queue.
			d.o.Logger.Error("deliver: undecodable spooled observation skipped", "err", err)
			continue
		}
		evs = append(evs, ev)
	}
	dropped := d.sp.Dropped()
	if dropped > d.reported.Load() {
		now := time.Now().UTC()
		evs = append(evs, event.Event{
			ID: d.o.IDs.NewID(now), Time: now, Type: TypeDropped, Host: d.o.HostID, Source: d.o.Source,
			Attrs: map[string]any{"dropped": int64(dropped - d.reported.Load()), "dropped_total": int64(dropped), "reason": "spool full while the bus was unreachable"},
		})
	}
	// A publish to a bus that went away waits for an acknowledgement that
	// never comes; give up after a while and offer the batch again.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := d.o.Publish(pctx, evs)
	d.delivered.Add(uint64(min(n, len(recs))))
	if err == nil {
		d.reported.Store(dropped)
	}
	return err
}
