package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/health"
	"github.com/vigil-ids/vigil/internal/store"
)

// Health watching: how often the parts are looked at, when a queue that
// does not drain is a stall, and how much free space JetStream's
// filesystem needs before JetStream is started again.
const (
	healthEvery       = 250 * time.Millisecond
	storeStallAfter   = 30 * time.Second
	jetStreamFreeNeed = 4 << 20
	jetStreamRetry    = 2 * time.Second
	// A problem the server's health check reports about a stream is acted
	// on only once every check has seen it for jetStreamConfirm, and at
	// least jetStreamConfirmChecks times: the check lists the streams'
	// directories and looks each one up, so a stream being created (its
	// directory made, its metafile not yet written, the stream not yet
	// registered) reads as "could not be recovered" for an instant.
	// Restarting JetStream then would lose the stream being created.
	jetStreamConfirm       = 2 * time.Second
	jetStreamConfirmChecks = 3
	// spoolQuietFor is how long a spool must drop nothing before it is
	// no longer reported full.
	spoolQuietFor = 30 * time.Second
)

// HealthWatch reports a monitor's conditions on a board and recovers
// what can be recovered in place.
type HealthWatch struct {
	Board *health.Board
	// Store returns the store's counters.
	Store func() store.Stats
	// Server is the embedded bus server (nil when the bus is remote).
	Server *bus.Server
	// Free returns the bytes free for JetStream's directory (ok false when
	// unknown); default: the filesystem's.
	Free func(dir string) (free uint64, ok bool)
	// SpoolDropped, when set, is how many records the host agent's full
	// spool dropped.
	SpoolDropped func() uint64
	// StreamsReady, when set, is closed once the monitor has made its
	// streams and consumers; JetStream is not looked at before, so that
	// the streams being made at start are never taken for broken ones.
	StreamsReady <-chan struct{}
	Logger       *slog.Logger

	lastRestart time.Time
	// problemSince is when the stream problem now seen was first seen
	// (zero when the last check saw none) and problemChecks on how many
	// checks in a row.
	problemSince  time.Time
	problemChecks int
	dropped       uint64
	droppedAt     time.Time
}

// Component runs the watch until ctx ends.
func (h *HealthWatch) Component() Component {
	return Component{Name: "health", Run: func(ctx context.Context) error {
		t := time.NewTicker(healthEvery)
		defer t.Stop()
		for {
			h.Check(time.Now())
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}}
}

// Check looks at every part once: the store's commits and queue, and the
// embedded server's JetStream, which it shuts down while its disk is full
// (publishers are then refused at once rather than left without an
// answer) and restarts it (the bus server in this process) once there is
// space again.
func (h *HealthWatch) Check(now time.Time) {
	b := h.Board
	if h.Store != nil {
		st := h.Store()
		if st.WriteFailing != "" {
			b.Set(health.StoreWrite, "store commits fail and are retried, what is queued is kept: "+st.WriteFailing, true)
		} else {
			b.Clear(health.StoreWrite)
		}
		if st.Queued > 0 && st.OldestQueued > storeStallAfter {
			b.Set(health.StoreStalled, fmt.Sprintf("%d items wait for the store, the oldest for %v", st.Queued, st.OldestQueued.Round(time.Second)), false)
		} else {
			b.Clear(health.StoreStalled)
		}
	}
	if h.SpoolDropped != nil {
		if n := h.SpoolDropped(); n > h.dropped {
			h.dropped, h.droppedAt = n, now
			b.Set(health.SpoolFull, fmt.Sprintf("the host agent's spool is full while the bus does not take its records: %d records dropped so far, the oldest first", n), false)
		} else if now.Sub(h.droppedAt) >= spoolQuietFor {
			b.Clear(health.SpoolFull)
		}
	}
	if h.Server == nil || !h.streamsReady() {
		return
	}
	problem := h.Server.JetStreamProblem()
	if problem == nil {
		h.problemSince, h.problemChecks = time.Time{}, 0
		b.Clear(health.JetStream)
		return
	}
	if !bus.IsJetStreamOff(problem) && !h.confirmed(now) {
		// Perhaps a stream being made; a broken one is still broken at
		// the next checks.
		return
	}
	free := h.Free
	if free == nil {
		free = freeBytes
	}
	dir := h.Server.StoreDir()
	avail, known := free(dir)
	reason := problem.Error()
	if known {
		reason += fmt.Sprintf("; %d bytes free in the data directory", avail)
	}
	b.Set(health.JetStream, reason, true)
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if known && avail < jetStreamFreeNeed {
		// Until there is space, JetStream off answers publishers at once
		// (no responders) where a failing stream leaves them waiting.
		if err := h.Server.ShutdownJetStream(); err != nil {
			log.Warn("shutting JetStream down while its disk is full", "err", err)
		}
		return
	}
	if now.Sub(h.lastRestart) < jetStreamRetry {
		return
	}
	h.lastRestart = now
	log.Info("restarting JetStream (the bus server in this process)", "problem", problem, "free_bytes", avail)
	if err := h.Server.RestartJetStream(); err != nil {
		log.Warn("JetStream did not restart; retrying", "err", err)
		return
	}
	h.problemSince, h.problemChecks = time.Time{}, 0
	if h.Server.JetStreamProblem() == nil {
		b.Clear(health.JetStream)
	}
}

// streamsReady says whether the monitor's streams are made (always when
// no StreamsReady is given).
func (h *HealthWatch) streamsReady() bool {
	if h.StreamsReady == nil {
		return true
	}
	select {
	case <-h.StreamsReady:
		return true
	default:
		return false
	}
}

// confirmed counts a check that saw a stream problem and says whether it
// has now been seen long enough, and often enough, to be a real one.
func (h *HealthWatch) confirmed(now time.Time) bool {
	if h.problemChecks == 0 || now.Before(h.problemSince) {
		h.problemSince, h.problemChecks = now, 0
	}
	h.problemChecks++
	return h.problemChecks >= jetStreamConfirmChecks && now.Sub(h.problemSince) >= jetStreamConfirm
}

// reportPublish wraps a publisher so that a bus refusing to store
// (insufficient resources, no answer) shows on the board until a publish
// succeeds again. The condition does not block input: the next publish is
// what finds out whether the bus stores again.
func reportPublish(b *health.Board, publish func(context.Context, []event.Event) (int, error)) func(context.Context, []event.Event) (int, error) {
	return func(ctx context.Context, evs []event.Event) (int, error) {
		n, err := publish(ctx, evs)
		switch {
		case err == nil:
			b.Clear(health.BusPublish)
		case bus.IsStorageRefusal(err):
			b.Set(health.BusPublish, err.Error(), false)
		}
		return n, err
	}
}
