package monitor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// vectorLog is what vector engines of a test were handed, across monitor
// runs: how many times each vector (by its id).
type vectorLog struct {
	mu   sync.Mutex
	seen map[string]int
	// delay slows every engine down, so that vectors wait in queues.
	delay time.Duration
}

func (l *vectorLog) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.seen))
	for k, v := range l.seen {
		out[k] = v
	}
	return out
}

// vectorEngine is a test engine that takes count vectors and reports a
// process's tenth, to show its reports reach the resolver.
type vectorEngine struct {
	countEngine
	log *vectorLog
}

var _ engine.VectorHandler = (*vectorEngine)(nil)

func (e *vectorEngine) HandleVectors(_ context.Context, vs []*event.CountVector, emit engine.Emit) error {
	for _, v := range vs {
		if e.log.delay > 0 {
			time.Sleep(e.log.delay)
		}
		e.log.mu.Lock()
		e.log.seen[bus.CountVectorID(v)]++
		e.log.mu.Unlock()
		if v.Start.Second() == 9 && v.Start.Minute() == 0 && v.PID == 7 {
			emit(event.Report{Model: "vectors", Host: v.Host, Score: 1, Severity: event.SeverityRed, State: "Seen", Time: v.Start,
				Explanation: fmt.Sprintf("tenth vector of pid %d", v.PID)})
		}
	}
	return nil
}

func vectorRegistry(t testing.TB, log *vectorLog) *engine.Registry {
	reg := testRegistry(t)
	err := reg.Register(engine.Factory{
		Kind:        "vectors",
		NewSettings: func() config.Settings { return &countSettings{Threshold: 3} },
		New: func(_ context.Context, s config.Settings, _ engine.Deps) (engine.Engine, error) {
			return &vectorEngine{countEngine: countEngine{threshold: 3, seen: map[string][]string{}}, log: log}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func testVectors(host string, pid int32, t0 time.Time, n int) []event.CountVector {
	out := make([]event.CountVector, n)
	for i := range out {
		out[i] = event.CountVector{Host: host, PID: pid, Process: "nginx", Start: t0.Add(time.Duration(i) * time.Second), Interval: time.Second,
			Counts: []event.SyscallCount{{Nr: 0, Count: uint64(i + 1)}, {Nr: 1, Count: 3}}}
	}
	return out
}

// A monitor whose engines take no vectors creates no count-vector
// consumer: vectors stay in their stream for those that do.
func TestNoVectorConsumerWithoutVectorEngine(t *testing.T) {
	_, conn := startBus(t)
	cfg := loadConfig(t, "monitor: {name: plain}\nengines:\n  - kind: count\n", testRegistry(t))
	r := run(t, Options{Config: cfg, Engines: testRegistry(t), Conn: conn("plain")})
	<-r.m.Ready()
	_, err := conn("check").JS.Consumer(context.Background(), bus.StreamCV, "plain_cv")
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("consumer plain_cv: %v, want not found", err)
	}
	if r.m.vec != nil {
		t.Fatal("vector state built for engines that take no vectors")
	}
}

// Every vector the agents publish reaches each vector engine exactly once
// across an orderly restart, including those published while the monitor
// was down; a vector about another host than its subject's, a malformed
// message and a repeated publish are counted and never handed over; the
// engines' reports are recorded.
func TestVectorsReachEnginesOnceAcrossRestart(t *testing.T) {
	_, conn := startBus(t)
	log := &vectorLog{seen: map[string]int{}, delay: 200 * time.Microsecond}
	reg := vectorRegistry(t, log)
	yaml := `
monitor: {name: cls}
engines:
  - kind: vectors
    name: first
  - kind: vectors
    name: second
  - kind: count
`
	cfg := loadConfig(t, yaml, reg)
	dir := t.TempDir()
	pub := conn("agent")
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)

	promReg := prometheus.NewRegistry()
	r := run(t, Options{Config: cfg, Engines: reg, Conn: conn("cls"), DataDir: dir, Registerer: promReg})
	first := append(testVectors("web1", 7, t0, 600), testVectors("web2", 8, t0, 600)...)
	if n, err := pub.PublishCountVectors(ctx, first); err != nil || n != len(first) {
		t.Fatalf("publish: %d, %v", n, err)
	}
	// The same vectors again (the agent retried after its window): the
	// stream keeps one of each, by id.
	if _, err := pub.PublishCountVectors(ctx, first[:5]); err != nil {
		t.Fatal(err)
	}
	// Another host's vector on web1's subject, and garbage.
	liar := testVectors("db1", 9, t0, 1)[0]
	if err := pub.NC.Publish(bus.CVSubject("web1"), liar.AppendCompact(nil)); err != nil {
		t.Fatal(err)
	}
	if err := pub.NC.Publish(bus.CVSubject("web1"), []byte{0xC1, 0xff}); err != nil {
		t.Fatal(err)
	}
	// Stopped while vectors are still on their way.
	testutil.WaitFor(t, 20*time.Second, "some vectors to be handled", func() bool { return r.m.VectorsIn() > 100 })
	r.stop()
	mis := promtest.ToFloat64(r.m.vec.met.misrouted) + promtest.ToFloat64(r.m.vec.met.decodeErrors)

	second := testVectors("web1", 7, t0.Add(time.Hour), 300)
	if n, err := pub.PublishCountVectors(ctx, second); err != nil || n != len(second) {
		t.Fatalf("publish: %d, %v", n, err)
	}
	r2 := run(t, Options{Config: cfg, Engines: reg, Conn: conn("cls"), DataDir: dir})
	want := len(first) + len(second)
	testutil.WaitFor(t, 30*time.Second, "every vector handled", func() bool {
		return int(r.m.VectorsIn()+r2.m.VectorsIn()) >= want
	})
	r2.stop()
	mis += promtest.ToFloat64(r2.m.vec.met.misrouted) + promtest.ToFloat64(r2.m.vec.met.decodeErrors)

	seen := log.counts()
	if len(seen) != want {
		t.Fatalf("%d distinct vectors handed to the engines, want %d", len(seen), want)
	}
	for id, n := range seen {
		if n != 2 { // two engines, once each
			t.Fatalf("vector %s handed %d times to two engines, want 2", id, n)
		}
	}
	if got := r.m.VectorsIn() + r2.m.VectorsIn(); int(got) != want {
		t.Fatalf("VectorsIn %d over two runs, want %d", got, want)
	}
	if mis != 2 {
		t.Fatalf("misrouted + malformed vectors counted %v, want 2", mis)
	}
	if v := promtest.ToFloat64(r.m.met.reports.WithLabelValues("first", "red")); v != 1 {
		t.Fatalf("first engine's reports in the first run: %v, want 1", v)
	}
	if n, err := promtest.GatherAndCount(promReg, "vigil_vectors_in_total"); err != nil || n != 1 {
		t.Fatalf("vigil_vectors_in_total series: %d, %v", n, err)
	}
}
