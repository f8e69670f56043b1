package node

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/health"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// TestHealthWatchStore: a store whose commits fail, or whose queue does not
// drain, shows on the board until it recovers.
func TestHealthWatchStore(t *testing.T) {
	var st atomic.Pointer[store.Stats]
	st.Store(&store.Stats{})
	b := health.New(nil, testutil.Quiet())
	h := &HealthWatch{Board: b, Store: func() store.Stats { return *st.Load() }, Logger: testutil.Quiet()}
	now := time.Now()
	h.Check(now)
	if b.Err() != nil {
		t.Fatalf("healthy store reported: %v", b.Err())
	}
	st.Store(&store.Stats{Queued: 10, OldestQueued: time.Second, WriteFailing: "commit: database or disk is full"})
	h.Check(now)
	if err := b.InputErr(); err == nil || !strings.Contains(err.Error(), "disk is full") || b.Holds(health.StoreStalled) {
		t.Errorf("failing commits: input %v, stalled %v", err, b.Holds(health.StoreStalled))
	}
	st.Store(&store.Stats{Queued: 10, OldestQueued: storeStallAfter + time.Second})
	h.Check(now)
	if b.Holds(health.StoreWrite) || !b.Holds(health.StoreStalled) || b.InputErr() != nil {
		t.Errorf("stalled queue: %v", b.Conditions())
	}
	st.Store(&store.Stats{})
	h.Check(now)
	if b.Err() != nil {
		t.Errorf("recovered store still reported: %v", b.Err())
	}
}

// TestHealthWatchSpool: a spool dropping records shows until it has
// dropped nothing for spoolQuietFor.
func TestHealthWatchSpool(t *testing.T) {
	var dropped atomic.Uint64
	b := health.New(nil, testutil.Quiet())
	h := &HealthWatch{Board: b, SpoolDropped: dropped.Load, Logger: testutil.Quiet()}
	now := time.Now()
	h.Check(now)
	if b.Err() != nil {
		t.Fatalf("spool that dropped nothing reported: %v", b.Err())
	}
	dropped.Store(40)
	h.Check(now)
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "40 records dropped") || b.InputErr() != nil {
		t.Errorf("dropping spool: %v (blocks input: %v)", err, b.InputErr())
	}
	h.Check(now.Add(spoolQuietFor / 2))
	if !b.Holds(health.SpoolFull) {
		t.Error("spool condition cleared before it was quiet long enough")
	}
	h.Check(now.Add(spoolQuietFor))
	if b.Holds(health.SpoolFull) {
		t.Error("spool condition still holds after it dropped nothing for a while")
	}
}

// TestHealthWatchJetStream: JetStream turned off (as the server does after
// a write error) shows on the board; while the disk has no space the
// watch keeps it off, so publishers are refused at once; once there is
// space it restarts JetStream (the bus server in the process), and what
// was stored before is still there and publishing works again, on the
// same connection (which reconnects by itself).
func TestHealthWatchJetStream(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	conn := bustest.Connect(t, srv, "watch-test")
	ctx := context.Background()
	ids := event.NewSeededIDs(7)
	evs := func(n int) []event.Event {
		out := make([]event.Event, n)
		for i := range out {
			out[i] = event.Event{ID: ids.NewID(time.Now()), Time: time.Now().UTC(), Type: event.TypeSysCPU, Host: "h", Source: "test"}
		}
		return out
	}
	if n, err := conn.PublishEvents(ctx, evs(50)); n != 50 || err != nil {
		t.Fatalf("publish before: %d %v", n, err)
	}

	var free atomic.Uint64
	b := health.New(nil, testutil.Quiet())
	h := &HealthWatch{Board: b, Server: srv, Logger: testutil.Quiet(), Free: func(string) (uint64, bool) { return free.Load(), true }}
	h.Check(time.Now())
	if b.Err() != nil {
		t.Fatalf("healthy server reported: %v", b.Err())
	}

	if err := srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	h.Check(time.Now())
	if err := b.InputErr(); err == nil || !strings.Contains(err.Error(), "JetStream is disabled") || !strings.Contains(err.Error(), "0 bytes free") {
		t.Fatalf("JetStream off: %v", err)
	}
	began := time.Now()
	_, err := conn.PublishEvents(ctx, evs(1))
	if err == nil || !bus.IsStorageRefusal(err) || !strings.Contains(err.Error(), "/healthz") || time.Since(began) > bus.DefaultAckWait+time.Second {
		t.Errorf("publish while JetStream is off: %v after %v", err, time.Since(began))
	}
	if srv.JetStreamProblem() == nil {
		t.Fatal("the watch started JetStream again with no space free")
	}

	free.Store(1 << 30)
	h.Check(time.Now())
	if b.Err() != nil || srv.JetStreamProblem() != nil {
		t.Fatalf("after space returned: board %v, server %v", b.Err(), srv.JetStreamProblem())
	}
	if n, err := conn.PublishEvents(ctx, evs(20)); n != 20 || err != nil {
		t.Fatalf("publish after the restart: %d %v", n, err)
	}
	s, err := conn.JS.Stream(ctx, bus.StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 70 {
		t.Errorf("stream holds %d messages after the restart; want the 50 before and 20 after", info.State.Msgs)
	}
}

// strayStreamDir makes, beside the server's streams, the directory of a
// stream that is not registered and has no metafile: what the server's
// health check sees while a stream is being made (its directory is there
// before the stream is registered and its metafile written), and also
// what a stream whose files cannot be recovered leaves.
func strayStreamDir(t *testing.T, srv *bus.Server) string {
	t.Helper()
	obs, err := filepath.Glob(filepath.Join(srv.StoreDir(), "jetstream", "*", "streams", bus.StreamObs))
	if err != nil || len(obs) != 1 {
		t.Fatalf("stream %s's directory under %s: %v %v", bus.StreamObs, srv.StoreDir(), obs, err)
	}
	dir := filepath.Join(filepath.Dir(obs[0]), "VIGIL_BEING_MADE")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHealthWatchStreamBeingMade: the server's health check reads a
// stream directory without its stream ("could not be recovered") as a
// problem. Seen on one check, as while a stream is being made, it is
// neither reported nor acted on: JetStream is not restarted (a restart
// then would lose the stream being made). Seen on every check for
// jetStreamConfirm, as with a stream that cannot be recovered, it is
// reported and JetStream is restarted.
func TestHealthWatchStreamBeingMade(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	bustest.Connect(t, srv, "watch-test")
	var logs bytes.Buffer
	b := health.New(nil, testutil.Quiet())
	h := &HealthWatch{Board: b, Server: srv, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Free: func(string) (uint64, bool) { return 1 << 30, true }}
	restarted := func() bool { return strings.Contains(logs.String(), "restarting JetStream") }

	dir := strayStreamDir(t, srv)
	problem := srv.JetStreamProblem()
	if problem == nil || !strings.Contains(problem.Error(), "could not be recovered") || bus.IsJetStreamOff(problem) {
		t.Fatalf("server's health with a stream directory without its stream: %v", problem)
	}
	t0 := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	h.Check(t0)
	if b.Err() != nil || restarted() {
		t.Fatalf("a stream problem seen once was acted on: board %v, log %q", b.Err(), logs.String())
	}
	// The stream is made: the next check finds nothing, and what was seen
	// is forgotten.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	h.Check(t0.Add(healthEvery))
	if b.Err() != nil || restarted() {
		t.Fatalf("after the stream was made: board %v, log %q", b.Err(), logs.String())
	}

	// A stream that stays unrecoverable: seen on every check, acted on
	// once it has lasted jetStreamConfirm, not before.
	strayStreamDir(t, srv)
	start := t0.Add(time.Minute)
	for at := time.Duration(0); at < jetStreamConfirm; at += healthEvery {
		h.Check(start.Add(at))
		if b.Err() != nil || restarted() {
			t.Fatalf("acted on a stream problem seen for %v only: board %v, log %q", at, b.Err(), logs.String())
		}
	}
	h.Check(start.Add(jetStreamConfirm))
	if err := b.InputErr(); err == nil || !strings.Contains(err.Error(), "could not be recovered") || !restarted() {
		t.Fatalf("a stream problem lasting %v: board %v, log %q", jetStreamConfirm, err, logs.String())
	}
}

// TestHealthWatchBeforeStreamsReady: until the monitor has made its
// streams, JetStream is not looked at, however long a problem lasts.
func TestHealthWatchBeforeStreamsReady(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	bustest.Connect(t, srv, "watch-test")
	ready := make(chan struct{})
	b := health.New(nil, testutil.Quiet())
	h := &HealthWatch{Board: b, Server: srv, StreamsReady: ready, Logger: testutil.Quiet(),
		Free: func(string) (uint64, bool) { return 1 << 30, true }}
	strayStreamDir(t, srv)
	t0 := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	for at := time.Duration(0); at <= 2*jetStreamConfirm; at += healthEvery {
		h.Check(t0.Add(at))
	}
	if b.Err() != nil {
		t.Fatalf("JetStream looked at before the streams were made: %v", b.Err())
	}
	close(ready)
	for at := 3 * jetStreamConfirm; at <= 4*jetStreamConfirm; at += healthEvery {
		h.Check(t0.Add(at))
	}
	if !b.Holds(health.JetStream) {
		t.Fatal("a lasting stream problem not reported once the streams were made")
	}
}
