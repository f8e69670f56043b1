// Package ingest publishes records that come from files and from other
// tools' logs (JSON-lines events, firewall logs, NIDS alerts; the readers
// are its subpackages): in batches, at least every Wait, so that a pipe
// that trickles is delivered as it comes, with every bad line reported by
// its number and skipped.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

// Batching bounds: events are published Batch at a time before waiting for
// the bus's acknowledgements, and none waits longer than Wait.
const (
	Batch = 4096
	Wait  = 200 * time.Millisecond
)

// Publisher stores events (bus.Conn.PublishEvents, or a writer of JSON
// lines) and says how many it stored.
type Publisher func(ctx context.Context, evs []event.Event) (int, error)

// Reader returns the next event: io.EOF at the end, an *event.LineError
// for a line to skip, any other error to stop.
type Reader func() (event.Event, error)

// Result is what one ingest did.
type Result struct {
	Published int // events the publisher stored
	Bad       int // lines skipped
}

// Options of one ingest.
type Options struct {
	// Name is the input's, for messages.
	Name    string
	Next    Reader
	Publish Publisher
	// BadLine is told of every skipped line.
	BadLine func(*event.LineError)
}

// Run publishes what o.Next reads, in batches of Batch and at least every
// Wait, until the input ends or ctx does. An error says how many events
// were published before it.
func Run(ctx context.Context, o Options) (Result, error) {
	var res Result
	type item struct {
		ev  event.Event
		err error
	}
	items := make(chan item, Batch)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(items)
		for {
			ev, err := o.Next()
			select {
			case items <- item{ev, err}:
			case <-rctx.Done():
				return
			}
			var le *event.LineError
			if err != nil && !errors.As(err, &le) {
				return
			}
		}
	}()
	var batch []event.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := o.Publish(ctx, batch)
		res.Published += n
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("%w (published %d events)", err, res.Published)
		}
		return nil
	}
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for {
		select {
		case it, ok := <-items:
			var le *event.LineError
			switch {
			case !ok || errors.Is(it.err, io.EOF):
				return res, flush()
			case it.err == nil:
				if len(batch) == 0 {
					timer.Reset(Wait)
				}
				batch = append(batch, it.ev)
				if len(batch) == Batch {
					if err := flush(); err != nil {
						return res, err
					}
				}
			case errors.As(it.err, &le):
				res.Bad++
				if o.BadLine != nil {
					o.BadLine(le)
				}
			default:
				_ = flush()
				return res, fmt.Errorf("reading %s: %w (published %d events)", o.Name, it.err, res.Published)
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return res, err
			}
		case <-ctx.Done():
			return res, flush()
		}
	}
}

// Lines reads lines of r (at most max bytes each; 0 for the default) and
// parses each into an event, normalised with ids, the clock's time and
// source. Lines whose parse error skip accepts are passed over in silence;
// other parse errors skip the line with its number.
func Lines(r io.Reader, max int, parse func([]byte) (event.Event, error), skip func(error) bool, ids event.IDSource, clk clock.Clock, source string) Reader {
	lr := event.NewLineReader(r, max)
	if clk == nil {
		clk = clock.Real{}
	}
	return func() (event.Event, error) {
		for {
			line, err := lr.Next()
			if err != nil {
				return event.Event{}, err
			}
			ev, err := parse(line)
			if err != nil && skip != nil && skip(err) {
				continue
			}
			if err == nil {
				err = ev.Normalize(ids, clk.Now(), source)
			}
			if err != nil {
				return event.Event{}, &event.LineError{Line: lr.Line(), Err: err}
			}
			return ev, nil
		}
	}
}

// JSONPublisher writes events as JSON lines to w (every one of them is
// "published" once written).
func JSONPublisher(w io.Writer) Publisher {
	var mu sync.Mutex
	var buf []byte
	return func(_ context.Context, evs []event.Event) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		buf = buf[:0]
		for i := range evs {
			buf = append(evs[i].AppendJSON(buf), '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return 0, err
		}
		return len(evs), nil
	}
}
