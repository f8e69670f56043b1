package monitor

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// countEngine is a test engine: it counts events per host and reports a
// host once it has seen Threshold of its events, with their ids as
// evidence. It exercises the engine contract, not any detection.
type countEngine struct {
	threshold int
	seen      map[string][]string
	ticks     *int
}

type countSettings struct {
	Threshold int `yaml:"threshold"`
}

func (s *countSettings) Validate(p *config.Problems, path string) {
	if s.Threshold < 1 {
		p.Addf(config.Join(path, "threshold"), "must be at least 1")
	}
}

func (e *countEngine) Handle(_ context.Context, ev *event.Event, emit engine.Emit) error {
	if ev.Type == event.TypeReport {
		return nil
	}
	e.seen[ev.Host] = append(e.seen[ev.Host], ev.ID)
	if len(e.seen[ev.Host]) == e.threshold {
		emit(event.Report{
			Model: "count", Host: ev.Host, IP: ev.IP, Score: 1, Severity: event.SeverityRed, State: "Seen",
			Evidence: append([]string(nil), e.seen[ev.Host]...), Explanation: fmt.Sprintf("%d events from %s", e.threshold, ev.Host),
			Time: ev.Time,
		})
	}
	return nil
}

func (e *countEngine) Tick(context.Context, time.Time, engine.Emit) error {
	if e.ticks != nil {
		*e.ticks++
	}
	return nil
}

func (e *countEngine) Close(context.Context) error { return nil }

func testRegistry(t testing.TB) *engine.Registry {
	reg := engine.NewRegistry()
	err := reg.Register(engine.Factory{
		Kind:        "count",
		NewSettings: func() config.Settings { return &countSettings{Threshold: 3} },
		New: func(_ context.Context, s config.Settings, _ engine.Deps) (engine.Engine, error) {
			return &countEngine{threshold: s.(*countSettings).Threshold, seen: map[string][]string{}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func loadConfig(t testing.TB, yaml string, reg *engine.Registry) *config.ResourceObject {
	t.Helper()
	cfg, err := config.Load([]byte(yaml), filepath.Join(t.TempDir(), "ro.yml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startBus(t *testing.T) (*bus.Server, func(name string) *bus.Conn) {
	t.Helper()
	srv := bustest.Start(t, bus.ServerOptions{})
	return srv, func(name string) *bus.Conn { return bustest.Connect(t, srv, name) }
}

type running struct {
	m    *Monitor
	stop func()
}

func run(t *testing.T, o Options) *running {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testutil.Quiet()
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	m, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	testutil.WaitFor(t, 20*time.Second, "monitor to subscribe", func() bool { return o.Conn.NC.NumSubscriptions() > 0 })
	var once sync.Once
	r := &running{m: m, stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("monitor run: %v", err)
			}
		})
	}}
	t.Cleanup(r.stop)
	return r
}

func hostEvents(ids event.IDSource, t0 time.Time, host, typ string, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		tm := t0.Add(time.Duration(i) * time.Second)
		out[i] = event.Event{ID: ids.NewID(tm), Time: tm, Type: typ, Host: host, IP: "10.0.0.9", Source: "test", Attrs: map[string]any{"i": int64(i)}}
	}
	return out
}

// TestServiceToDomain runs a service monitor with an engine and a domain
// monitor subscribed to its reports: events published on the bus are
// filtered, stored and analysed by the service monitor; its report reaches
// its store, the bus and the domain monitor, which stores it as an event.
func TestServiceToDomain(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	svcCfg := loadConfig(t, `
monitor: {name: svc-web}
sources:
  - name: obs
    subjects: ["vigil.obs.>"]
    filter: {exclude_types: ["SYS.NET.*"]}
engines:
  - kind: count
    threshold: 3
resolver: {min_severity: yellow}
`, reg)
	domCfg := loadConfig(t, `
monitor: {name: dom, layer: domain}
subscriptions:
  - monitor: svc-web
    min_severity: red
`, reg)
	svcReg := prometheus.NewRegistry()
	svc := run(t, Options{Config: svcCfg, Engines: reg, Conn: conn("svc"), Registerer: svcReg})
	dom := run(t, Options{Config: domCfg, Engines: reg, Conn: conn("dom")})

	pub := conn("publisher")
	ids := event.NewRandomIDs()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	evs := append(hostEvents(ids, t0, "web-3", event.TypeProcSpawn, 3), hostEvents(ids, t0, "web-3", event.TypeSysNetRX, 5)...)
	evs = append(evs, hostEvents(ids, t0, "web-4", event.TypeSysCPU, 2)...)
	if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	// Publish the first one again without a message id, so the stream
	// keeps it: the monitor must recognise the duplicate by its event id.
	if err := pub.NC.Publish(bus.ObsSubject(evs[0].Host), evs[0].AppendCompact(nil)); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	testutil.WaitFor(t, 20*time.Second, "service monitor to store 5 events and a report", func() bool {
		st := svc.m.Store().Stats()
		return st.EventsWritten == 5 && st.ReportsWritten == 1
	})
	reps, err := svc.m.Store().Reports(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	r := reps[0]
	if r.Monitor != "svc-web" || r.Engine != "count" || r.Host != "web-3" || len(r.Evidence) != 3 || r.Evidence[0] != evs[0].ID || len(r.ID) != event.IDLen {
		t.Errorf("report: %+v", r)
	}
	// The domain monitor consumes the report as an event.
	testutil.WaitFor(t, 20*time.Second, "domain monitor to store the report", func() bool { return dom.m.Store().Stats().EventsWritten == 1 })
	got, err := dom.m.Store().Events(ctx, store.Filter{Type: event.TypeReport})
	if err != nil || len(got) != 1 {
		t.Fatalf("domain events: %v %v", got, err)
	}
	back, err := event.ReportFromEvent(&got[0])
	if err != nil || back.ID != r.ID || back.Score != 1 || back.Monitor != "svc-web" {
		t.Errorf("report as seen by the domain monitor: %+v %v", back, err)
	}
	if n := promtest.ToFloat64(svc.m.met.filtered.WithLabelValues("obs")); n != 5 {
		t.Errorf("filtered %v, want 5", n)
	}
	if v := promtest.ToFloat64(svc.m.met.reports.WithLabelValues("count", "red")); v != 1 {
		t.Errorf("reports metric %v", v)
	}
	testutil.WaitFor(t, 20*time.Second, "the duplicate to be recognised", func() bool { return promtest.ToFloat64(svc.m.met.duplicates) == 1 })
	svc.stop()
	dom.stop()
}

// TestShutdownFlushes checks that events received before the context ends
// are all stored by the time Run returns.
func TestShutdownFlushes(t *testing.T) {
	_, conn := startBus(t)
	cfg := loadConfig(t, "monitor: {name: m}\n", nil)
	dir := t.TempDir()
	mon := run(t, Options{Config: cfg, Conn: conn("m"), DataDir: dir})
	pub := conn("pub")
	evs := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "h", event.TypeSysCPU, 20000)
	if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "some events", func() bool { return mon.m.EventsIn() > 0 })
	mon.stop()
	in := mon.m.EventsIn()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(dir, "vigil.db"), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _, err := st.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if uint64(n) != in {
		t.Errorf("monitor accepted %d events but the store holds %d", in, n)
	}
}

func TestFilterAndDedup(t *testing.T) {
	f := newFilter(config.Filter{Types: []string{"PROC.*", "SYS.CPU"}, ExcludeTypes: []string{"PROC.TERM"}, Hosts: []string{"a", "10.0.0.1"}})
	for _, tc := range []struct {
		ev   event.Event
		keep bool
	}{
		{event.Event{Type: "PROC.CPU", Host: "a"}, true},
		{event.Event{Type: "PROC.TERM", Host: "a"}, false},
		{event.Event{Type: "SYS.CPU", IP: "10.0.0.1"}, true},
		{event.Event{Type: "SYS.CPUX", Host: "a"}, false},
		{event.Event{Type: "SYS.MEM", Host: "a"}, false},
		{event.Event{Type: "PROC.CPU", Host: "b"}, false},
	} {
		if got := f.keep(&tc.ev); got != tc.keep {
			t.Errorf("keep(%+v) = %v", tc.ev, got)
		}
	}
	d := newDedup(2)
	if d.seen("x") || d.seen("y") || !d.seen("x") || d.seen("z") || d.seen("x") {
		t.Error("dedup window of 2 misbehaved")
	}
	if off := newDedup(0); off.seen("x") || off.seen("x") {
		t.Error("disabled dedup remembered")
	}
	a, b := contentID([]byte("abc")), contentID([]byte("abc"))
	if a != b || len(a) != event.IDLen || contentID([]byte("abd")) == a {
		t.Error("content ids not stable or not distinct")
	}
}

// TestReplayDeterministic replays the same input twice and checks the
// output is byte-identical, with time from the events.
func TestReplayDeterministic(t *testing.T) {
	reg := testRegistry(t)
	cfg := loadConfig(t, "monitor: {name: r}\nengines: [{kind: count, threshold: 2}]\n", reg)
	var in bytes.Buffer
	for i := range 6 {
		fmt.Fprintf(&in, `{"time":"2026-11-22T10:00:%02dZ","type":"SYS.CPU","host":"h%d"}`+"\n", i, i%2)
	}
	in.WriteString("{broken\n")
	out := func() (string, ReplayResult) {
		var buf bytes.Buffer
		var bad []int
		res, err := Replay(context.Background(), ReplayOptions{Config: cfg, Engines: reg, Logger: testutil.Quiet(), BadLine: func(le *event.LineError) { bad = append(bad, le.Line) }}, bytes.NewReader(in.Bytes()), &buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) != 1 || bad[0] != 7 {
			t.Errorf("bad lines %v", bad)
		}
		return buf.String(), res
	}
	a, res := out()
	b, _ := out()
	if a != b {
		t.Fatalf("replay not deterministic:\n%s\n%s", a, b)
	}
	lines := strings.Split(strings.TrimSpace(a), "\n")
	if res.Events != 6 || res.Reports != 2 || len(lines) != 2 {
		t.Fatalf("replay result %+v, output:\n%s", res, a)
	}
	r, err := event.DecodeReportJSON([]byte(lines[0]))
	if err != nil {
		t.Fatal(err)
	}
	if r.Host != "h0" || !r.Time.Equal(time.Date(2026, 11, 22, 10, 0, 2, 0, time.UTC)) || r.Monitor != "r" {
		t.Errorf("first report %+v", r)
	}
}

// TestCoreSource consumes at-most-once observations from the live subjects.
func TestCoreSource(t *testing.T) {
	_, conn := startBus(t)
	cfg := loadConfig(t, "monitor: {name: fast}\nsources: [{name: live, subjects: [\"vigil.live.>\"], delivery: core}]\n", nil)
	mc := conn("fast")
	mon := run(t, Options{Config: cfg, Conn: mc})
	<-mon.m.Ready()
	// A round trip on the monitor's connection: the server has its
	// subscription before anything is published.
	if err := mc.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	pub := conn("pub")
	evs := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "h", event.TypeSysCPU, 500)
	for i := range evs {
		if err := pub.PublishEventCore(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// A durable publish does not reach a live-only monitor.
	if _, err := pub.PublishEvents(context.Background(), hostEvents(event.NewRandomIDs(), time.Now().UTC(), "other", event.TypeSysCPU, 5)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "500 live events stored", func() bool { return mon.m.Store().Stats().EventsWritten == 500 })
	mon.stop()
	if got := mon.m.EventsIn(); got != 500 {
		t.Errorf("accepted %d events, want the 500 live ones", got)
	}
	if d := promtest.ToFloat64(mon.m.met.storeDropped); d != 0 {
		t.Errorf("store dropped %v with no load", d)
	}
}

// reportSink counts the REPORT events an engine receives.
type reportSink struct{ got *atomic.Int64 }

func (e reportSink) Handle(_ context.Context, ev *event.Event, _ engine.Emit) error {
	if ev.Type == event.TypeReport && ev.Attrs["engine"] == "counter" {
		e.got.Add(1)
	}
	return nil
}
func (reportSink) Tick(context.Context, time.Time, engine.Emit) error { return nil }
func (reportSink) Close(context.Context) error                        { return nil }

// TestReportsFrom runs a live monitor in which one engine receives the
// other's reports, and stops it while events still flow: the reports
// arrive, and the shutdown closes the queues in order (no send on a closed
// queue).
func TestReportsFrom(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	var got atomic.Int64
	if err := reg.Register(engine.Factory{
		Kind:        "sink",
		NewSettings: func() config.Settings { return &countSettings{Threshold: 1} },
		New: func(context.Context, config.Settings, engine.Deps) (engine.Engine, error) {
			return reportSink{&got}, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "monitor: {name: m}\nengines:\n  - {kind: count, name: counter, threshold: 2}\n  - {kind: sink, name: sink, reports_from: [counter]}\n", reg)
	mon := run(t, Options{Config: cfg, Engines: reg, Conn: conn("m"), DataDir: t.TempDir()})
	pub := conn("pub")
	ids := event.NewRandomIDs()
	var evs []event.Event
	for h := range 2000 {
		evs = append(evs, hostEvents(ids, time.Now().UTC(), fmt.Sprint("h", h), event.TypeSysCPU, 2)...)
	}
	if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "reports reaching the other engine", func() bool { return got.Load() > 0 })
	mon.stop()
	if got.Load() == 0 || got.Load() > 2000 {
		t.Errorf("the sink received %d reports", got.Load())
	}
}
