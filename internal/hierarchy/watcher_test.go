package hierarchy

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/hbmsg"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func hb(name string, seq uint64) hbmsg.Heartbeat {
	return hbmsg.Heartbeat{Version: 1, Monitor: name, Layer: "domain", Parent: "ent", Seq: seq, Time: t0,
		Interval: hbmsg.Duration(2 * time.Second), Counters: hbmsg.Counters{EventsIn: seq * 10}}
}

type recorder struct {
	mu  sync.Mutex
	got []Transition
}

func (r *recorder) add(t Transition) { r.mu.Lock(); r.got = append(r.got, t); r.mu.Unlock() }
func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.got {
		out = append(out, t.Name+":"+string(t.From)+">"+string(t.To))
	}
	return out
}

func newWatcher(t *testing.T, clk clock.Clock, rec *recorder, children ...string) *Watcher {
	t.Helper()
	w, err := New(Options{Children: children, Interval: 2 * time.Second, StaleAfter: 2, LostAfter: 3, Clock: clk, OnTransition: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A child is unknown until its first heartbeat, alive while they come,
// stale after two intervals without one, lost after three, and alive
// again when they resume (a restart's sequence starting over is fine).
func TestChildGoesStaleThenLostAndComesBack(t *testing.T) {
	clk := clock.NewManual(t0)
	rec := &recorder{}
	w := newWatcher(t, clk, rec, "dom1")
	if c := w.Children()[0]; c.State != StateUnknown || !c.LastSeen.IsZero() {
		t.Fatalf("before any heartbeat: %+v", c)
	}
	if !w.Observe("dom1", hb("dom1", 1)) {
		t.Fatal("first heartbeat refused")
	}
	for i := uint64(2); i <= 4; i++ {
		clk.Advance(2 * time.Second)
		w.Observe("dom1", hb("dom1", i))
		w.Check()
	}
	if c := w.Children()[0]; c.State != StateAlive || c.Seq != 4 || c.Counters.EventsIn != 40 || c.Layer != "domain" {
		t.Fatalf("while heartbeats come: %+v", c)
	}
	seen := clk.Now()
	clk.Advance(3999 * time.Millisecond)
	if tr := w.Check(); len(tr) != 0 {
		t.Fatalf("one interval and a bit missed: %+v", tr)
	}
	clk.Advance(time.Millisecond)
	tr := w.Check()
	if len(tr) != 1 || tr[0].To != StateStale || tr[0].Missed != 2 || !tr[0].LastSeen.Equal(seen) || tr[0].Layer != "domain" {
		t.Fatalf("two intervals missed: %+v", tr)
	}
	clk.Advance(2 * time.Second)
	tr = w.Check()
	if len(tr) != 1 || tr[0].From != StateStale || tr[0].To != StateLost || tr[0].Missed != 3 {
		t.Fatalf("three intervals missed: %+v", tr)
	}
	clk.Advance(time.Minute)
	if tr := w.Check(); len(tr) != 0 {
		t.Fatalf("a lost child is reported lost once: %+v", tr)
	}
	if c := w.Children()[0]; c.Missed != 33 {
		t.Fatalf("missed after 66 s: %d", c.Missed)
	}
	// It restarts: its sequence begins again.
	w.Observe("dom1", hb("dom1", 1))
	c := w.Children()[0]
	if c.State != StateAlive || c.Missed != 0 || c.Restarts != 1 || !c.LastSeen.Equal(clk.Now()) {
		t.Fatalf("back: %+v", c)
	}
	want := []string{"dom1:unknown>alive", "dom1:alive>stale", "dom1:stale>lost", "dom1:lost>alive"}
	if got := rec.states(); !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
}

// A child never heard from is lost once LostAfter intervals have passed
// since watching began.
func TestSilentChildIsLostWithoutBeingSeen(t *testing.T) {
	clk := clock.NewManual(t0)
	rec := &recorder{}
	w := newWatcher(t, clk, rec, "a", "b")
	clk.Advance(4 * time.Second)
	w.Observe("b", hb("b", 1))
	w.Check()
	clk.Advance(2 * time.Second)
	w.Check()
	want := []string{"b:unknown>alive", "a:unknown>lost"}
	if got := rec.states(); !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	if c := w.Children()[0]; c.Name != "a" || c.State != StateLost || !c.LastSeen.IsZero() {
		t.Fatalf("never seen: %+v", c)
	}
}

// Heartbeats naming a component that is not a child, or another child
// than the subject they came on, are ignored and counted; a flood is cut
// to a few per interval.
func TestForeignAndFloodingHeartbeatsAreIgnored(t *testing.T) {
	clk := clock.NewManual(t0)
	rec := &recorder{}
	w := newWatcher(t, clk, rec, "dom1", "dom2")
	if w.Observe("dom9", hb("dom9", 1)) || w.Observe("dom1", hb("dom2", 1)) {
		t.Fatal("foreign heartbeat accepted")
	}
	accepted := 0
	for i := uint64(1); i <= 100; i++ {
		if w.Observe("dom1", hb("dom1", i)) {
			accepted++
		}
	}
	if accepted != burst {
		t.Fatalf("a burst of 100 heartbeats: %d accepted, want %d", accepted, burst)
	}
	clk.Advance(time.Second) // two tokens back at one per 500 ms
	for i := uint64(101); i <= 110; i++ {
		if w.Observe("dom1", hb("dom1", i)) {
			accepted++
		}
	}
	if accepted != burst+2 {
		t.Fatalf("after a second: %d accepted, want %d", accepted, burst+2)
	}
	cs := w.Counts()
	if cs.Foreign != 2 || cs.Flooded != 104 || cs.Accepted != 6 {
		t.Fatalf("counts %+v", cs)
	}
	if c := w.Children(); c[1].State != StateUnknown || c[0].Flooded != 104 {
		t.Fatalf("children %+v", c)
	}
}

// A child that heartbeats faster than its parent expects is taken at the
// expected rate and stays alive; one that announces a longer interval is
// judged by its own.
func TestChildIntervalsOtherThanExpected(t *testing.T) {
	clk := clock.NewManual(t0)
	rec := &recorder{}
	w := newWatcher(t, clk, rec, "fast", "slow")
	for i := uint64(1); i <= 200; i++ {
		h := hb("fast", i)
		h.Interval = hbmsg.Duration(100 * time.Millisecond)
		w.Observe("fast", h)
		if i%20 == 1 {
			s := hb("slow", i)
			s.Interval = hbmsg.Duration(5 * time.Second)
			w.Observe("slow", s)
		}
		clk.Advance(100 * time.Millisecond)
		w.Check()
	}
	// Silence for 7 s: over three expected intervals since fast's last
	// heartbeat, under two of slow's own since its last (9 s ago).
	clk.Advance(7 * time.Second)
	w.Check()
	want := []string{"fast:unknown>alive", "slow:unknown>alive", "fast:alive>lost"}
	if got := rec.states(); !slices.Equal(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []Options{
		{Interval: 0, StaleAfter: 2, LostAfter: 3},
		{Interval: time.Second, StaleAfter: 0, LostAfter: 3},
		{Interval: time.Second, StaleAfter: 3, LostAfter: 3},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// End to end on a real bus: a sender's heartbeats make its watcher see it
// alive; when it stops, lost; when it starts again, alive. A heartbeat
// published on a child's subject naming another child is not taken.
func TestHeartbeatsOverTheBus(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	watcherConn := bustest.Connect(t, srv, "parent")
	childConn := bustest.Connect(t, srv, "child")
	rec := &recorder{}
	iv := 50 * time.Millisecond
	w, err := New(Options{Children: []string{"svc1", "svc2"}, Interval: iv, StaleAfter: 2, LostAfter: 3, Clock: clock.Real{}, OnTransition: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := w.Subscribe(watcherConn.NC)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	send := func() (stop func()) {
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			Heartbeats(cctx, Sender{Name: "svc1", Layer: "service", Parent: "dom", Interval: iv,
				Counters: func() hbmsg.Counters { return hbmsg.Counters{EventsIn: 7} }, Publish: childConn.NC.Publish})
		}()
		return func() { ccancel(); <-done }
	}
	state := func(name string) State {
		for _, c := range w.Children() {
			if c.Name == name {
				return c.State
			}
		}
		return ""
	}
	stopChild := send()
	testutil.WaitFor(t, 10*time.Second, "svc1 alive", func() bool { return state("svc1") == StateAlive })
	if c := w.Children()[0]; c.Counters.EventsIn != 7 || c.Layer != "service" {
		t.Fatalf("svc1: %+v", c)
	}
	// svc1 claiming to be svc2.
	if err := childConn.NC.Publish(bus.HeartbeatSubject("svc1"), hbmsg.Encode(hb("svc2", 1))); err != nil {
		t.Fatal(err)
	}
	if err := childConn.NC.Publish(bus.HeartbeatSubject("svc1"), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "foreign and invalid heartbeats counted", func() bool {
		c := w.Counts()
		return c.Foreign == 1 && c.Invalid == 1
	})
	// A flood on svc1's subject: a few taken, the rest counted and
	// dropped (or dropped by the client beyond its pending limit:
	// nothing is queued without bound).
	before := w.Counts()
	for i := range 2000 {
		h := hb("svc1", uint64(1000+i))
		h.Interval = hbmsg.Duration(iv)
		if err := childConn.NC.Publish(bus.HeartbeatSubject("svc1"), hbmsg.Encode(h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := childConn.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the flood counted", func() bool {
		c := w.Counts()
		return c.Flooded-before.Flooded >= 100
	})
	if c := w.Counts(); c.Accepted-before.Accepted > 100 {
		t.Errorf("a flood of 2000 heartbeats: %d accepted", c.Accepted-before.Accepted)
	}
	stopChild()
	testutil.WaitFor(t, 10*time.Second, "svc1 lost", func() bool { return state("svc1") == StateLost })
	stopChild = send()
	defer stopChild()
	testutil.WaitFor(t, 10*time.Second, "svc1 alive again", func() bool { return state("svc1") == StateAlive })
	var svc1 []string
	for _, s := range rec.states() {
		if s[:5] == "svc1:" {
			svc1 = append(svc1, s)
		}
	}
	want := []string{"svc1:unknown>alive", "svc1:alive>stale", "svc1:stale>lost", "svc1:lost>alive"}
	if !slices.Equal(svc1, want) {
		t.Fatalf("svc1's transitions %v, want %v", svc1, want)
	}
	if state("svc2") != StateLost {
		t.Fatalf("svc2, silent throughout: %s", state("svc2"))
	}
}
