package deliver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/spool"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// stored reads every message of the observation stream.
func stored(t *testing.T, conn *bus.Conn) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	st, err := conn.JS.Stream(ctx, bus.StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	total := int(st.CachedInfo().State.Msgs)
	cons, err := conn.JS.OrderedConsumer(ctx, bus.StreamObs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]jetstream.Msg, 0, total)
	for range total {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// deliverAll runs d until it has delivered n observations.
func deliverAll(t *testing.T, d *Deliverer, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	testutil.WaitFor(t, 15*time.Second, "the spool to be delivered", func() bool { return d.Delivered() >= uint64(n) })
	cancel()
	<-done
}

func observations(n int, host string) []event.Event {
	ids := event.NewSeededIDs(uint64(len(host)))
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	evs := make([]event.Event, n)
	for i := range evs {
		tm := t0.Add(time.Duration(i) * time.Millisecond)
		evs[i] = event.Event{ID: ids.NewID(tm), Time: tm, Type: event.TypeSysCPU, Host: host, IP: "10.0.0.3", Source: "agent",
			Attrs: map[string]any{"seq": int64(i), "name": "sshd", "args": []string{"-D", "-e"}, "cpu": 0.25, "root": i%2 == 0}}
	}
	return evs
}

// TestPublishesSpooledBytes checks that what reaches the bus is, byte for
// byte, what the spool holds, on each observation's subject with its id.
func TestPublishesSpooledBytes(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	conn := bustest.Connect(t, srv, "test")
	d, err := Open(Options{Dir: t.TempDir(), Publish: conn.PublishCompactEvents, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	evs := observations(1200, "web-3") // more than one batch
	bad := evs[7]
	bad.Type = "" // invalid: never spooled, never published
	if err := d.Write(append(evs, bad)); err != nil {
		t.Fatal(err)
	}
	read, _, err := d.sp.Read(10000)
	if err != nil {
		t.Fatal(err)
	}
	var spooled [][]byte // copied: a Read's records are valid until the next
	for _, r := range read {
		spooled = append(spooled, bytes.Clone(r))
	}
	if len(spooled) != len(evs) {
		t.Fatalf("%d records spooled for %d valid observations", len(spooled), len(evs))
	}
	deliverAll(t, d, len(evs))
	msgs := stored(t, conn)
	if len(msgs) != len(evs) {
		t.Fatalf("%d messages on the bus, %d spooled", len(msgs), len(evs))
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Data(), spooled[i]) {
			t.Fatalf("message %d differs from the spooled record", i)
		}
		if m.Subject() != bus.ObsSubject("web-3") || m.Headers().Get(jetstream.MsgIDHeader) != evs[i].ID {
			t.Fatalf("message %d: subject %s, id %s", i, m.Subject(), m.Headers().Get(jetstream.MsgIDHeader))
		}
	}
	if d.Delivered() != uint64(len(evs)) {
		t.Errorf("delivered %d, want %d", d.Delivered(), len(evs))
	}
}

// TestSkipsUnreadableSpooledRecord puts a record the bus cannot read (a
// spool written in a form this version does not know) between readable
// ones: the bus refuses the batch, the deliverer skips that record, and
// every other reaches the bus once, in order.
func TestSkipsUnreadableSpooledRecord(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	conn := bustest.Connect(t, srv, "test")
	d, err := Open(Options{Dir: t.TempDir(), Publish: conn.PublishCompactEvents, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	evs := observations(40, "web-3")
	if err := d.Write(evs[:20]); err != nil {
		t.Fatal(err)
	}
	if err := d.sp.AppendAll([][]byte{{0x7e, 'n', 'o', 't', ' ', 'a', 'n', ' ', 'e', 'v', 'e', 'n', 't'}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(evs[20:]); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, d, len(evs))
	msgs := stored(t, conn)
	if len(msgs) != len(evs) {
		t.Fatalf("%d messages on the bus, want the %d readable records", len(msgs), len(evs))
	}
	for i, m := range msgs {
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != evs[i].ID {
			t.Fatalf("message %d is %s, want %s", i, id, evs[i].ID)
		}
	}
	if d.Delivered() != uint64(len(evs)) {
		t.Errorf("delivered %d, want %d", d.Delivered(), len(evs))
	}
}

// TestDeliversOldSpool delivers a spool written by the previous version
// (testdata/spool-v1, compact records only) and checks that every record
// reaches the bus as it was, once, even when the spool is delivered twice.
func TestDeliversOldSpool(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	conn := bustest.Connect(t, srv, "test")
	copySpool := func() string {
		dir := t.TempDir()
		files, _ := filepath.Glob(filepath.Join("testdata", "spool-v1", "*"))
		if len(files) == 0 {
			t.Fatal("no testdata/spool-v1")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// What the old spool holds, read by the spool itself.
	dir := copySpool()
	sp, err := spool.Open(spool.Options{Dir: dir, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := sp.Read(1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the old spool holds nothing")
	}
	for range 2 { // the second delivery is a repeat: stored once
		d, err := Open(Options{Dir: copySpool(), Publish: conn.PublishCompactEvents, Logger: testutil.Quiet()})
		if err != nil {
			t.Fatal(err)
		}
		deliverAll(t, d, len(want))
		if d.Delivered() != uint64(len(want)) {
			t.Fatalf("delivered %d of %d", d.Delivered(), len(want))
		}
	}
	msgs := stored(t, conn)
	if len(msgs) != len(want) {
		t.Fatalf("%d messages on the bus for %d spooled records", len(msgs), len(want))
	}
	for i, m := range msgs {
		ev, err := event.DecodeBus(m.Data())
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		host := ev.Host
		if host == "" {
			host = ev.IP
		}
		if !bytes.Equal(m.Data(), want[i]) || m.Subject() != bus.ObsSubject(host) || m.Headers().Get(jetstream.MsgIDHeader) != ev.ID {
			t.Errorf("message %d (%s on %s) is not the spooled record on its subject", i, ev.ID, m.Subject())
		}
	}
}

// TestDroppedReport fills a small spool before the bus is reachable and
// checks the SENSOR.DROPPED report: counted, and timed by the injected
// clock.
func TestDroppedReport(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	conn := bustest.Connect(t, srv, "test")
	when := time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC)
	d, err := Open(Options{Dir: t.TempDir(), MaxBytes: 128 << 10, Publish: conn.PublishCompactEvents,
		HostID: "web-3", Source: "agent", Clock: clock.NewManual(when), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	evs := observations(3000, "web-3")
	for i := 0; i < len(evs); i += 100 {
		if err := d.Write(evs[i : i+100]); err != nil {
			t.Fatal(err)
		}
	}
	if d.Dropped() == 0 {
		t.Fatal("nothing dropped: the test proves little")
	}
	deliverAll(t, d, len(evs)-int(d.Dropped()))
	var reports []event.Event
	n := 0
	for _, m := range stored(t, conn) {
		ev, err := event.DecodeBus(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == TypeDropped {
			reports = append(reports, ev)
		} else {
			n++
		}
	}
	if len(reports) != 1 {
		t.Fatalf("%d drop reports", len(reports))
	}
	r := reports[0]
	if !r.Time.Equal(when) || r.Attrs["dropped_total"] != int64(d.Dropped()) || r.Host != "web-3" {
		t.Errorf("drop report %+v; want time %v and %d dropped", r, when, d.Dropped())
	}
	if uint64(n)+d.Dropped() != uint64(len(evs)) {
		t.Errorf("%d delivered + %d dropped != %d written", n, d.Dropped(), len(evs))
	}
}
