// Package deliver carries a sensor's observations to the bus without ever
// holding the sensor up: observations go first to an on-disk spool, in
// their compact form, and a forwarder publishes those bytes as they are
// (no decoding, no re-encoding) durably, in order, acknowledging each
// batch only once the bus has stored it. While the bus is away the spool
// fills (up to its bound, then the oldest are dropped and counted); when
// it returns the backlog is delivered, and a SENSOR.DROPPED observation
// reports any loss.
package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/spool"
)

// TypeDropped is the observation that reports records the spool dropped.
const TypeDropped = "SENSOR.DROPPED"

// Publisher stores events durably on the bus, each record one event in
// compact form published as it is (bus.Conn.PublishPackedEvents, several
// to a message, or bus.Conn.PublishCompactEvents, one), and returns how
// many were acknowledged, in order. The records are valid only
// until it returns (the spool reads the next batch into their memory).
type Publisher func(ctx context.Context, recs [][]byte) (int, error)

// Options configure a deliverer.
type Options struct {
	// Dir and MaxBytes locate and bound the spool.
	Dir      string
	MaxBytes int64
	Publish  Publisher
	// HostID and Source name the sensor in the SENSOR.DROPPED reports.
	HostID, Source string
	IDs            event.IDSource
	// Clock times the SENSOR.DROPPED reports (default the wall clock).
	Clock  clock.Clock
	Logger *slog.Logger
}

// Deliverer is a Sink for sensors that forwards to the bus.
type Deliverer struct {
	o         Options
	sp        *spool.Spool
	reported  atomic.Uint64 // drops already reported
	delivered atomic.Uint64
	// onDelivered, if set before Run, is told of every batch delivered:
	// how many of the sensor's observations it held.
	onDelivered func(n uint64)
	buf         []byte   // a Write's records, encoded one after another
	ends        []int    // where each ends in buf
	recs        [][]byte // and each, in buf
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
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	sp, err := spool.Open(spool.Options{Dir: o.Dir, MaxBytes: o.MaxBytes, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return &Deliverer{o: o, sp: sp}, nil
}

// Write appends observations to the spool; it never touches the network.
// An invalid observation is logged and skipped: the spool holds only what
// the bus will accept, published later as it is.
func (d *Deliverer) Write(evs []event.Event) error {
	_, err := d.write(evs)
	return err
}

// write is Write, returning how many observations the spool took.
func (d *Deliverer) write(evs []event.Event) (int, error) {
	d.buf = d.buf[:0]
	d.ends = d.ends[:0]
	for i := range evs {
		var err error
		if d.buf, err = evs[i].AppendValidCompact(d.buf); err != nil {
			d.o.Logger.Error("deliver: invalid observation skipped", "id", evs[i].ID, "type", evs[i].Type, "err", err)
			continue
		}
		d.ends = append(d.ends, len(d.buf))
	}
	d.recs = d.recs[:0]
	start := 0
	for _, end := range d.ends {
		d.recs = append(d.recs, d.buf[start:end])
		start = end
	}
	return d.writeCompact(d.recs)
}

// WriteCompact appends observations already in compact form, valid ones
// (a sensor's that wrote them with event.Builder), to the spool as they
// are. It implements host.CompactSink.
func (d *Deliverer) WriteCompact(recs [][]byte) error {
	_, err := d.writeCompact(recs)
	return err
}

// writeCompact is WriteCompact, returning how many the spool took.
func (d *Deliverer) writeCompact(recs [][]byte) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	if err := d.sp.AppendAll(recs); err != nil {
		return 0, fmt.Errorf("deliver: %w", err)
	}
	return len(recs), nil
}

// Delivered is how many of the sensor's observations the bus acknowledged
// (a batch counted once, when the whole of it was).
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

// send publishes the spooled records as they are, in their compact form.
func (d *Deliverer) send(ctx context.Context, recs [][]byte) error {
	out := make([][]byte, len(recs), len(recs)+1)
	copy(out, recs)
	spooled := len(out)
	dropped := d.sp.Dropped()
	if dropped > d.reported.Load() {
		now := d.o.Clock.Now().UTC()
		ev := event.Event{
			ID: d.o.IDs.NewID(now), Time: now, Type: TypeDropped, Host: d.o.HostID, Source: d.o.Source,
			Attrs: map[string]any{"dropped": int64(dropped - d.reported.Load()), "dropped_total": int64(dropped), "reason": "spool full while the bus was unreachable"},
		}
		out = append(out, ev.AppendCompact(nil))
	}
	err := d.publish(ctx, out)
	if err != nil {
		// The spool's records were written by this package and are checked
		// by CRC: only a change of format could make one unreadable. They
		// are looked at only when a batch was refused, and one that cannot
		// be read is skipped rather than block the queue.
		if readable := d.readable(out[:spooled]); len(readable) < spooled {
			out = append(readable, out[spooled:]...)
			spooled = len(readable)
			err = d.publish(ctx, out)
		}
	}
	if err != nil {
		return err // offered again whole: counted once delivered
	}
	d.reported.Store(dropped)
	d.delivered.Add(uint64(spooled))
	if d.onDelivered != nil {
		d.onDelivered(uint64(spooled))
	}
	return nil
}

// publish publishes a batch, giving up after a while: a publish to a bus
// that went away waits for an acknowledgement that never comes, and the
// batch is offered again.
func (d *Deliverer) publish(ctx context.Context, recs [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := d.o.Publish(pctx, recs)
	return err
}

// readable returns, in a new list, the records whose leading fields can be
// read, logging each of the others.
func (d *Deliverer) readable(recs [][]byte) [][]byte {
	out := make([][]byte, 0, len(recs)+1)
	for _, r := range recs {
		if _, err := event.PeekCompact(r); err != nil {
			d.o.Logger.Error("deliver: unreadable spooled observation skipped", "err", err)
			continue
		}
		out = append(out, r)
	}
	return out
}
