package monitor

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// These tests leave a monitor's durable consumer in each state a crash or
// an operator can leave it in, then start the monitor: it must start, and
// its store must end with every distinct published event exactly once.

const crashCfg = "monitor: {name: m}\nsources: [{name: obs, subjects: [\"vigil.obs.>\"]}]\n"

// crashDurable is the durable consumer of crashCfg's source.
const crashDurable = "m_obs"

// crashRig is a bus, a publisher and a monitor's data directory that
// monitors are started on one after another.
type crashRig struct {
	t    *testing.T
	conn func(string) *bus.Conn
	pub  *bus.Conn
	dir  string
	ids  event.IDSource
	t0   time.Time
	sent map[string]bool // distinct ids published
	last *Monitor        // the monitor of the latest check
}

func newCrashRig(t *testing.T) *crashRig {
	_, conn := startBus(t)
	return &crashRig{t: t, conn: conn, pub: conn("pub"), dir: t.TempDir(), ids: event.NewRandomIDs(), t0: time.Now().UTC(), sent: map[string]bool{}}
}

// publish publishes n new events (and again the events of again, if any)
// and returns the new ones.
func (r *crashRig) publish(n int, again ...event.Event) []event.Event {
	r.t.Helper()
	evs := hostEvents(r.ids, r.t0, "h", event.TypeSysCPU, n)
	r.t0 = r.t0.Add(time.Duration(n) * time.Second)
	if _, err := r.pub.PublishEvents(context.Background(), append(append([]event.Event(nil), evs...), again...)); err != nil {
		r.t.Fatal(err)
	}
	for _, ev := range evs {
		r.sent[ev.ID] = true
	}
	return evs
}

// monitor starts a monitor on the rig's data directory and fails the test
// unless it subscribes to its sources; the returned function stops it
// cleanly.
func (r *crashRig) monitor() (*Monitor, func()) {
	r.t.Helper()
	m, err := New(context.Background(), Options{Config: loadConfig(r.t, crashCfg, nil), Conn: r.conn("m"), DataDir: r.dir, Logger: testutil.Quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		r.t.Fatalf("the monitor did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		r.t.Fatal("the monitor did not start within 20 s")
	}
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("monitor run: %v", err)
		}
	}
	r.t.Cleanup(stop)
	return m, stop
}

// runUntilStored runs a monitor until it has accepted want events, and
// stops it cleanly.
func (r *crashRig) runUntilStored(want int) {
	r.t.Helper()
	m, stop := r.monitor()
	testutil.WaitFor(r.t, 20*time.Second, "the monitor to take the published events", func() bool {
		n, _, err := m.Store().Count(context.Background())
		return err == nil && int(n) >= want
	})
	stop()
}

// check starts a monitor, waits until it has stored every distinct
// published event, stops it and checks that the store holds exactly those.
// It returns how many events that monitor handed to its engines (those
// its de-duplication window did not recognise).
func (r *crashRig) check() uint64 {
	r.t.Helper()
	want := len(r.sent)
	m, stop := r.monitor()
	testutil.WaitFor(r.t, 20*time.Second, "the store to catch up", func() bool {
		n, _, err := m.Store().Count(context.Background())
		return err == nil && int(n) >= want
	})
	stop()
	r.last = m
	in := m.EventsAnalysed()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(r.dir, "vigil.db"), Logger: testutil.Quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	defer st.Close()
	n, _, err := st.Count(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	if int(n) != want {
		r.t.Fatalf("store holds %d events, %d distinct were published", n, want)
	}
	evs, err := st.Events(context.Background(), store.Filter{Limit: store.MaxLimit})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, ev := range evs {
		if !r.sent[ev.ID] {
			r.t.Fatalf("store holds event %s that was never published", ev.ID)
		}
	}
	return in
}

// dieHolding plays a monitor killed while it held messages it had not
// stored: a consumer of the monitor's durable name receives take messages
// and is gone without acknowledging them.
func (r *crashRig) dieHolding(take int) {
	r.t.Helper()
	c := r.conn("doomed")
	var got atomic.Int64
	sub, err := c.ConsumeDurable(context.Background(), bus.DurableOptions{Name: crashDurable, Subjects: []string{bus.AllObs}, Batch: take}, func(m *bus.Msg) {
		got.Add(1)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	testutil.WaitFor(r.t, 10*time.Second, "the doomed consumer to receive", func() bool { return got.Load() >= int64(take) })
	sub.Stop()
	c.Close()
	info := r.consumer()
	if info.NumAckPending == 0 {
		r.t.Fatalf("the doomed consumer left nothing pending: %+v", info)
	}
}

// consumer is the monitor's durable consumer as the bus holds it.
func (r *crashRig) consumer() *jetstream.ConsumerInfo {
	r.t.Helper()
	c, err := r.pub.JS.Consumer(context.Background(), bus.StreamObs, crashDurable)
	if err != nil {
		r.t.Fatal(err)
	}
	return c.CachedInfo()
}

// TestRestartAfterTakeoverThenCleanStop is the sequence that bricked a
// monitor: killed holding messages, restarted (its consumer recreated with
// a start sequence), stopped cleanly, started again (which asked for a
// deliver-all consumer of the same name).
func TestRestartAfterTakeoverThenCleanStop(t *testing.T) {
	r := newCrashRig(t)
	r.publish(500)
	r.runUntilStored(500)
	r.publish(500)
	r.dieHolding(300)
	r.runUntilStored(1000)
	if info := r.consumer(); info.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || info.Config.OptStartSeq != 501 {
		t.Fatalf("after the takeover the consumer delivers %v from %d, want by start sequence from 501", info.Config.DeliverPolicy, info.Config.OptStartSeq)
	}
	r.publish(500)
	r.check() // the start that failed
	r.publish(10)
	r.check()
}

// TestRestartWithPendingAcks starts a monitor on a consumer an earlier
// user left with unacknowledged messages: they are delivered at once (well
// within the 30 s acknowledgement wait) and stored once.
func TestRestartWithPendingAcks(t *testing.T) {
	r := newCrashRig(t)
	r.publish(300)
	r.runUntilStored(300)
	r.publish(700)
	r.dieHolding(500)
	start := time.Now()
	r.check()
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the pending messages took %v to be stored", took)
	}
}

// TestRestartAfterStreamRecreated deletes the observation stream (and with
// it the consumer) after a monitor stored part of it; the stream is
// recreated with its sequence numbers starting over, holding new events
// and some the store already has.
func TestRestartAfterStreamRecreated(t *testing.T) {
	r := newCrashRig(t)
	old := r.publish(800)
	r.runUntilStored(800)
	if err := r.pub.JS.DeleteStream(context.Background(), bus.StreamObs); err != nil {
		t.Fatal(err)
	}
	if err := r.pub.EnsureStreams(context.Background(), bus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	r.publish(300, old[:50]...)
	// The saved position is in the deleted stream: the new one is
	// delivered whole.
	if in := r.check(); in != 350 {
		t.Errorf("the monitor took %d events from the recreated stream, want its 350", in)
	}
}

// TestRestartAfterConsumerDeleted deletes the monitor's consumer while the
// monitor is down: the new consumer starts after the position the store
// has saved, so the monitor receives only what it lacks. Without a saved
// position the whole stream is delivered again and the store keeps each
// event once.
func TestRestartAfterConsumerDeleted(t *testing.T) {
	r := newCrashRig(t)
	r.publish(800)
	r.runUntilStored(800)
	del := func() {
		t.Helper()
		if err := r.pub.JS.DeleteConsumer(context.Background(), bus.StreamObs, crashDurable); err != nil {
			t.Fatal(err)
		}
	}
	del()
	r.publish(200)
	if in := r.check(); in != 200 {
		t.Errorf("after the consumer was deleted the monitor took %d events, want the 200 it lacked", in)
	}

	// Without the saved position (a store from before positions were kept).
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(r.dir, "vigil.db"), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveState(context.Background(), positionKey(crashDurable, bus.StreamObs), []byte("{}"), time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	del()
	r.publish(100)
	if in := r.check(); in != 1100 {
		t.Errorf("without a position the monitor took %d events, want the whole stream's 1100", in)
	}
	checkDistinct(t, r.last, 100, 1000)
}

// checkDistinct checks a stopped monitor's counts of distinct events and
// of duplicates, in its accessor and in its metrics.
func checkDistinct(t *testing.T, m *Monitor, distinct, dups uint64) {
	t.Helper()
	if got := m.EventsIn(); got != distinct {
		t.Errorf("EventsIn %d, want %d distinct", got, distinct)
	}
	if got := promtest.ToFloat64(m.met.eventsIn.WithLabelValues("obs")); got != float64(distinct) {
		t.Errorf("vigil_events_in_total %v, want %d distinct", got, distinct)
	}
	if got := promtest.ToFloat64(m.met.duplicates); got != float64(dups) {
		t.Errorf("vigil_events_duplicate_total %v, want %d", got, dups)
	}
}

// TestEventsInCountsDistinct redelivers a stream a store holds already:
// vigil_events_in_total counts each event once, the redeliveries the
// monitor's window cannot know (an earlier run's) being recognised by the
// store. (The window's own duplicates: TestServiceToDomain.)
func TestEventsInCountsDistinct(t *testing.T) {
	r := newCrashRig(t)
	r.publish(200)
	r.runUntilStored(200)
	if in := r.check(); in != 0 {
		t.Fatalf("a monitor with nothing new took %d events", in)
	}
	checkDistinct(t, r.last, 0, 0)
	// The consumer and the saved position gone: the stream is delivered
	// again from its start.
	if err := r.pub.JS.DeleteConsumer(context.Background(), bus.StreamObs, crashDurable); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(r.dir, "vigil.db"), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveState(context.Background(), positionKey(crashDurable, bus.StreamObs), []byte("{}"), time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r.publish(20)
	if in := r.check(); in != 220 {
		t.Errorf("the monitor analysed %d events, want the stream's 220", in)
	}
	checkDistinct(t, r.last, 20, 200)
}
