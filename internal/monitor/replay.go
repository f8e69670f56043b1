package monitor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
)

// ReplayOptions configure an offline run.
type ReplayOptions struct {
	Config  *config.ResourceObject
	Engines *engine.Registry
	Logger  *slog.Logger
	// Seed makes report ids reproducible (default 1).
	Seed uint64
	// BadLine receives each line that did not decode; the replay goes on.
	BadLine func(*event.LineError)
	// Progress, when set, is called every ProgressEvery events.
	Progress      func(ReplayResult)
	ProgressEvery int
}

// ReplayResult counts what a replay saw.
type ReplayResult struct {
	Events     int // events given to the engines
	Bad        int // lines that did not decode
	Duplicates int // events whose id was seen before
	Filtered   int // events no source's filter keeps
	Reports    int // reports written
}

// Replay runs the resource object's engines over recorded events (JSON
// lines) and writes their reports as JSON lines to out. Time is the events'
// time: before each event the engines are told the time (Tick), so
// windows and timeouts behave as they did live. Ids of events without one
// derive from their bytes and report ids from Seed, so the same input
// always gives the same output. An event passes if any source's filter
// keeps it.
func Replay(ctx context.Context, o ReplayOptions, in io.Reader, out io.Writer) (ReplayResult, error) {
	var res ReplayResult
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Engines == nil {
		o.Engines = engine.NewRegistry()
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	cfg := o.Config
	clk := clock.NewManual(time.Unix(0, 0).UTC())
	ids := event.NewSeededIDs(o.Seed)
	w := bufio.NewWriter(out)
	var writeErr error
	var buf []byte
	res2 := resolver.New(resolver.Options{
		Monitor: cfg.Monitor.Name, IDs: ids, Clock: clk, Logger: o.Logger,
		Record: func(r *event.Report) {
			buf = append(r.AppendJSON(buf[:0]), '\n')
			if _, err := w.Write(buf); err != nil && writeErr == nil {
				writeErr = err
			}
			res.Reports++
		},
	})
	met := newReplayMetrics()
	// A replay runs every engine in this goroutine: an engine's reports
	// reach the engines that take them at once, in order.
	feed := func(r *runner, w work) { r.do(ctx, w) }
	runners, err := buildRunners(ctx, cfg, o.Engines, engine.Deps{Monitor: cfg.Monitor.Name, Clock: clk, Logger: o.Logger, Resolve: cfg.Resolve}, res2, met, feed)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, r := range runners {
			_ = r.eng.Close(context.WithoutCancel(ctx))
		}
	}()
	var filters []*filter
	for _, s := range cfg.Sources {
		filters = append(filters, newFilter(s.Filter))
	}
	seen := newDedup(cfg.Monitor.DedupWindow)
	lr := event.NewLineReader(in, event.MaxEventBytes)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		line, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *event.LineError
		if errors.As(err, &le) {
			res.Bad++
			if o.BadLine != nil {
				o.BadLine(le)
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("replay: reading events: %w", err)
		}
		ev, err := event.DecodeJSON(line)
		if err == nil {
			if ev.ID == "" {
				ev.ID = contentID(line)
			}
			err = ev.Normalize(ids, clk.Now(), "replay")
		}
		if err != nil {
			res.Bad++
			if o.BadLine != nil {
				o.BadLine(&event.LineError{Line: lr.Line(), Err: err})
			}
			continue
		}
		if len(filters) > 0 && !keepAny(filters, &ev) {
			res.Filtered++
			continue
		}
		if seen.seen(ev.ID) {
			res.Duplicates++
			continue
		}
		clk.Set(ev.Time)
		now := clk.Now()
		evp := &ev
		for _, r := range runners {
			r.do(ctx, work{tick: now})
			r.do(ctx, work{ev: evp})
		}
		res.Events++
		if o.Progress != nil && o.ProgressEvery > 0 && res.Events%o.ProgressEvery == 0 {
			o.Progress(res)
		}
		if writeErr != nil {
			return res, fmt.Errorf("replay: writing reports: %w", writeErr)
		}
	}
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("replay: writing reports: %w", err)
	}
	return res, writeErr
}

func keepAny(fs []*filter, ev *event.Event) bool {
	for _, f := range fs {
		if f.keep(ev) {
			return true
		}
	}
	return false
}
