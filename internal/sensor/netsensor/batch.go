package netsensor

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

// Batching bounds: records are written when BatchRecords are waiting, or
// once the oldest has waited BatchWait.
const (
	BatchRecords = 100
	BatchWait    = 200 * time.Millisecond
)

// Batcher collects a sensor's records and writes them (to a spool, or
// standard output) in batches. Add and Flush are called from the sensor's
// goroutine only.
type Batcher struct {
	write   func([]event.Event) error
	log     *slog.Logger
	clock   clock.Clock
	written atomic.Uint64
	batch   []event.Event
	since   time.Time
}

// NewBatcher writes batches with write; a nil clock is the wall clock.
func NewBatcher(write func([]event.Event) error, clk clock.Clock, log *slog.Logger) *Batcher {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Batcher{write: write, clock: clk, log: log}
}

// Add takes one record (the sensor's emit function).
func (b *Batcher) Add(ev event.Event) {
	if len(b.batch) == 0 {
		b.since = b.clock.Now()
	}
	b.batch = append(b.batch, ev)
	if len(b.batch) >= BatchRecords {
		b.Flush()
	}
}

// Flush writes what is waiting. A failed write is logged and its records
// are not counted as written.
func (b *Batcher) Flush() {
	if len(b.batch) == 0 {
		return
	}
	if err := b.write(b.batch); err != nil {
		b.log.Error("writing records", "err", err)
	} else {
		b.written.Add(uint64(len(b.batch)))
	}
	b.batch = b.batch[:0]
}

// Written is how many records were written.
func (b *Batcher) Written() uint64 { return b.written.Load() }

// Source wraps src so that records that have waited BatchWait are flushed
// between packets, and whenever the capture pauses or ends.
func (b *Batcher) Source(src Source) Source { return &batchingSource{Source: src, b: b} }

type batchingSource struct {
	Source
	b *Batcher
	n int
}

func (s *batchingSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.Source.Next()
	s.n++
	if len(s.b.batch) > 0 && (err != nil || s.n%256 == 0 && s.b.clock.Now().Sub(s.b.since) > BatchWait) {
		s.b.Flush()
	}
	return data, ci, err
}

// Runner is a sensor over one source whose records are batched to a
// writer.
type Runner struct {
	Sensor  *Sensor
	Batcher *Batcher
	src     Source
}

// NewRunner builds a sensor of cfg over src writing through write.
func NewRunner(cfg Config, src Source, write func([]event.Event) error, log *slog.Logger) *Runner {
	b := NewBatcher(write, nil, log)
	return &Runner{Sensor: New(cfg, nil, b.Add, log), Batcher: b, src: src}
}

// Run runs the sensor until the source ends or ctx does, and writes what
// is left in the batch.
func (r *Runner) Run(ctx context.Context) error {
	err := r.Sensor.Run(ctx, r.Batcher.Source(r.src))
	r.Batcher.Flush()
	return err
}
