package deliver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Tracked is a Deliverer that counts the records its sensor wrote and those
// of them the bus acknowledged, so that a sensor that has stopped can wait,
// on that condition rather than for a while, until what it wrote has left.
type Tracked struct {
	*Deliverer
	written atomic.Uint64

	mu       sync.Mutex
	acked    uint64        // the sensor's records the bus acknowledged
	progress chan struct{} // closed (and replaced) on every acknowledgement
}

// OpenTracked opens a deliverer (see Open) that counts what it carries.
func OpenTracked(o Options) (*Tracked, error) {
	d, err := Open(o)
	if err != nil {
		return nil, err
	}
	t := &Tracked{Deliverer: d, progress: make(chan struct{})}
	d.onDelivered = t.acknowledged
	return t, nil
}

// acknowledged counts n more of the sensor's records delivered.
func (t *Tracked) acknowledged(n uint64) {
	t.mu.Lock()
	t.acked += n
	close(t.progress)
	t.progress = make(chan struct{})
	t.mu.Unlock()
}

// Write spools the sensor's records and counts those the spool takes
// (the deliverer skips invalid ones).
func (t *Tracked) Write(evs []event.Event) error {
	n, err := t.Deliverer.write(evs)
	t.written.Add(uint64(n))
	return err
}

// WriteCompact spools the sensor's records already in compact form and
// counts them.
func (t *Tracked) WriteCompact(recs [][]byte) error {
	n, err := t.Deliverer.writeCompact(recs)
	t.written.Add(uint64(n))
	return err
}

// Written is how many records the sensor handed over.
func (t *Tracked) Written() uint64 { return t.written.Load() }

// Acknowledged is how many of the sensor's records the bus acknowledged.
func (t *Tracked) Acknowledged() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked
}

// Left is how many written records neither reached the bus nor were
// dropped by the full spool.
func (t *Tracked) Left() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leftLocked()
}

func (t *Tracked) leftLocked() int64 {
	return int64(t.written.Load()) - int64(t.acked) - int64(t.Dropped())
}

// Drain waits until every record written so far has reached the bus or
// been dropped, or ctx ends; it returns how many are left.
func (t *Tracked) Drain(ctx context.Context) int64 {
	for {
		t.mu.Lock()
		left, progress := t.leftLocked(), t.progress
		t.mu.Unlock()
		if left <= 0 {
			return 0
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return left
		}
	}
}

// RunDrained forwards the spool until ctx ends; then, the sensor having
// stopped writing, goes on until what it wrote has left (or grace has
// passed) and closes the spool. It returns how many records were left in
// the spool for the next run.
func (t *Tracked) RunDrained(ctx context.Context, grace time.Duration) int64 {
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); t.Run(fctx) }()
	<-ctx.Done()
	dctx, cancel := context.WithTimeout(fctx, grace)
	left := t.Drain(dctx)
	cancel()
	stop()
	<-done
	return left
}
