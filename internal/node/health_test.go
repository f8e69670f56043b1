package node

import (
	"context"
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
// space it restarts JetStream in place, and what was stored before is
// still there and publishing works again, on the same connection.
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
