package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/hierarchy"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/probemsg"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// hierFixture is a domain monitor "dom" and its child, the service
// monitor "svc1", on a real embedded bus, with short heartbeats; the
// child's signature engine reports two process spawns of a host, and the
// domain monitor's reports a lost child (MONITOR.LOST is matchable) and
// each report of its child, and publishes its reports (for its parent,
// the enterprise monitor "ent", when a test starts it).
type hierFixture struct {
	t      *testing.T
	srv    *bus.Server
	reg    *engine.Registry
	dom    *monitor.Monitor
	hub    *Hub
	svcCfg *config.ResourceObject
	entCfg *config.ResourceObject
	svcDir string
	mu     sync.Mutex
	svc    *monitor.Monitor
	stop   func()
	n      int
}

const domYAML = `
monitor:
  name: dom
  layer: domain
  parent: ent
  children: [svc1]
  heartbeat: {interval: 200ms, stale_after: 2, lost_after: 3}
subscriptions: [{monitor: svc1}]
engines:
  - kind: signature
    rules: [%s]
resolver: {publish: true, min_severity: green}
`

const entYAML = `
monitor:
  name: ent
  layer: enterprise
  children: [dom]
  heartbeat: {interval: 200ms, stale_after: 2, lost_after: 3}
subscriptions: [{monitor: dom}]
`

const svcYAML = `
monitor:
  name: svc1
  parent: dom
  heartbeat: {interval: 200ms}
sources: [{name: obs, subjects: ["vigil.obs.>"]}]
engines:
  - kind: signature
    rules: [%s]
`

func newHierFixture(t *testing.T) *hierFixture {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(`rules:
  - {id: spawns, severity: red, suppress: 0s, match: {type: PROC.SPAWN}, threshold: {count: 2, window: 1h}}
  - {id: child-lost, severity: yellow, suppress: 0s, match: {type: MONITOR.LOST}}
  - {id: child-report, severity: red, suppress: 0s, match: {type: REPORT, where: {monitor: svc1}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &hierFixture{t: t, srv: bustest.Start(t, bus.ServerOptions{}), reg: engine.NewRegistry(), hub: NewHub(), svcDir: t.TempDir()}
	if err := f.reg.Register(signature.Factory()); err != nil {
		t.Fatal(err)
	}
	load := func(text, name string) *config.ResourceObject {
		cfg, err := config.Load([]byte(strings.ReplaceAll(text, "%s", rules)), filepath.Join(dir, name), config.Registries{Engines: f.reg})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	f.svcCfg = load(svcYAML, "svc1.yaml")
	f.entCfg = load(entYAML, "ent.yaml")
	f.dom, _ = f.run(load(domYAML, "dom.yaml"), t.TempDir(), f.hub)
	return f
}

// startEnterprise starts ent, dom's parent, which takes dom's reports; it
// returns ent and the hub of its live page.
func (f *hierFixture) startEnterprise() (*monitor.Monitor, *Hub) {
	f.t.Helper()
	hub := NewHub()
	m, _ := f.run(f.entCfg, f.t.TempDir(), hub)
	return m, hub
}

// run starts a monitor until the test ends (or until the returned
// function is called).
func (f *hierFixture) run(cfg *config.ResourceObject, dir string, obs ...monitor.Observer) (*monitor.Monitor, func()) {
	f.t.Helper()
	f.n++
	conn := bustest.Connect(f.t, f.srv, cfg.Monitor.Name+"-"+string(rune('0'+f.n)))
	m, err := monitor.New(context.Background(), monitor.Options{Config: cfg, Engines: f.reg, Conn: conn, DataDir: dir,
		Logger: slog.New(slog.DiscardHandler), Observers: obs})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		f.t.Fatalf("monitor %s: %v", cfg.Monitor.Name, err)
	case <-time.After(20 * time.Second):
		f.t.Fatalf("monitor %s did not start", cfg.Monitor.Name)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("monitor %s: %v", cfg.Monitor.Name, err)
			}
		})
	}
	f.t.Cleanup(stop)
	return m, stop
}

// startChild starts svc1 (again, on the same data directory).
func (f *hierFixture) startChild() {
	f.t.Helper()
	m, stop := f.run(f.svcCfg, f.svcDir)
	f.mu.Lock()
	f.svc, f.stop = m, stop
	f.mu.Unlock()
}

func (f *hierFixture) stopChild() {
	f.mu.Lock()
	stop := f.stop
	f.mu.Unlock()
	stop()
}

func (f *hierFixture) childState() hierarchy.State {
	for _, c := range f.dom.Children() {
		if c.Name == "svc1" {
			return c.State
		}
	}
	return ""
}

// spawns publishes two process spawns of host web-1, which svc1 reports;
// it returns svc1's report once stored.
func (f *hierFixture) spawns() event.Report {
	f.t.Helper()
	pub := bustest.Connect(f.t, f.srv, "publisher")
	ids := event.NewRandomIDs()
	now := time.Now().UTC()
	var evs []event.Event
	for i := range 2 {
		tm := now.Add(time.Duration(i) * time.Millisecond)
		evs = append(evs, event.Event{ID: ids.NewID(tm), Time: tm, Type: event.TypeProcSpawn, Host: "web-1", Source: "agent", Attrs: map[string]any{"name": "sh"}})
	}
	if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
		f.t.Fatal(err)
	}
	var rep event.Report
	testutil.WaitFor(f.t, 20*time.Second, "svc1's report", func() bool {
		rs, err := f.svc.Store().Reports(context.Background(), store.Filter{})
		if err != nil || len(rs) == 0 {
			return false
		}
		rep = rs[0]
		return true
	})
	return rep
}

// TestHierarchyAPI reads the domain monitor's place and its child's
// health, and probes the child through it, as a viewer: the child's
// status and the evidence events behind its report; an unknown report,
// a monitor that is no child and a malformed probe each get a clear
// answer.
func TestHierarchyAPI(t *testing.T) {
	f := newHierFixture(t)
	f.startChild()
	acc := accounts(t, t.TempDir())
	s, err := New(Options{Listen: "127.0.0.1:0", Store: f.dom.Store(), Live: f.dom, Hierarchy: f.dom, Hub: f.hub, Accounts: acc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	af := &authFixture{url: s.URL()}
	anon := af.client(t)
	if resp, _ := anon.do(http.MethodGet, "/api/hierarchy", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("hierarchy without a session: %d", resp.StatusCode)
	}
	v := af.client(t)
	if resp := v.login("vera", "vera-password"); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	testutil.WaitFor(t, 10*time.Second, "svc1 alive", func() bool { return f.childState() == hierarchy.StateAlive })
	report := f.spawns()

	var h hierarchyView
	testutil.WaitFor(t, 10*time.Second, "svc1's counters in /api/hierarchy", func() bool {
		resp, body := v.do(http.MethodGet, "/api/hierarchy", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/hierarchy: %d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatal(err)
		}
		return len(h.Children) == 1 && h.Children[0].Counters.EventsIn == 2
	})
	if h.Self.Name != "dom" || h.Self.Layer != "domain" || h.Self.Parent != "ent" || h.Self.Peers == nil {
		t.Errorf("self %+v", h.Self)
	}
	if c := h.Children[0]; c.Name != "svc1" || c.State != hierarchy.StateAlive || c.Layer != "service" || c.LastSeen.IsZero() || c.Counters.ReportsOut != 1 {
		t.Errorf("child %+v", c)
	}

	resp, body := v.do(http.MethodGet, "/api/probe?monitor=svc1&kind=status", "")
	rep, err := probemsg.DecodeReply([]byte(strings.TrimSpace(body)))
	if resp.StatusCode != http.StatusOK || err != nil || rep.Monitor != "svc1" || rep.Status != probemsg.StatusOK {
		t.Fatalf("status probe: %d %s (%v)", resp.StatusCode, body, err)
	}
	var st probemsg.Status
	if err := json.Unmarshal(rep.Data, &st); err != nil || st.Counters.EventsIn != 2 || st.Parent != "dom" {
		t.Errorf("status %+v %v", st, err)
	}

	resp, body = v.do(http.MethodGet, "/api/probe?monitor=svc1&kind=evidence&report="+report.ID, "")
	rep, err = probemsg.DecodeReply([]byte(strings.TrimSpace(body)))
	var ev probemsg.Evidence
	if resp.StatusCode != http.StatusOK || err != nil || json.Unmarshal(rep.Data, &ev) != nil || len(ev.Events) != 2 {
		t.Fatalf("evidence probe: %d %s (%v)", resp.StatusCode, body, err)
	}
	for _, raw := range ev.Events {
		if e, err := event.DecodeJSON(raw); err != nil || e.Type != event.TypeProcSpawn || e.Host != "web-1" {
			t.Errorf("evidence event %s: %v", raw, err)
		}
	}

	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/api/probe?monitor=svc1&kind=evidence&report=01NOSUCH", http.StatusNotFound, `"status":"not-found","detail":"monitor svc1 holds no report \"01NOSUCH\""`},
		{"/api/probe?monitor=svc9&kind=status", http.StatusNotFound, `monitor \"svc9\": not a child of this monitor dom`},
		{"/api/probe?monitor=svc1&kind=passwords", http.StatusBadRequest, `kind \"passwords\": want one of tracks, profile, evidence, status`},
		{"/api/probe?monitor=svc1&kind=profile", http.StatusBadRequest, `missing \"subject\"`},
		{"/api/probe?kind=status", http.StatusBadRequest, `missing \"monitor\"`},
		{"/api/probe?monitor=svc1&kind=status&x=1", http.StatusBadRequest, `unknown parameter \"x\"`},
		{"/api/probe?monitor=svc1&kind=tracks&limit=many", http.StatusBadRequest, `limit \"many\": not a number`},
		{"/api/hierarchy?x=1", http.StatusBadRequest, "takes no parameters"},
	} {
		resp, body := v.do(http.MethodGet, c.path, "")
		if resp.StatusCode != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", c.path, resp.StatusCode, body, c.code, c.want)
		}
	}

	// The child stops: the probe times out with a clear error, and the
	// domain monitor's rule on MONITOR.LOST reports it.
	f.stopChild()
	testutil.WaitFor(t, 10*time.Second, "svc1 lost", func() bool { return f.childState() == hierarchy.StateLost })
	resp, body = v.do(http.MethodGet, "/api/probe?monitor=svc1&kind=status", "")
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "probe of svc1: no monitor of that name answers probes") {
		t.Errorf("probe of a stopped child: %d %s", resp.StatusCode, body)
	}
	testutil.WaitFor(t, 10*time.Second, "the domain monitor's report of the lost child", func() bool {
		rs, err := f.dom.Store().Reports(context.Background(), store.Filter{Model: "child-lost"})
		return err == nil && len(rs) >= 1 && rs[0].Host == "svc1"
	})
}

// TestProbeThroughDomainAPI serves the enterprise monitor's API over a
// tree of three monitors on a real bus (ent, its domain dom, dom's
// service monitor svc1) and drills down from the enterprise: dom's report
// of svc1's report, the evidence behind it from dom's store (svc1's
// report), then, through dom (via=svc1), the evidence behind svc1's
// report from svc1's store: the host's observations. A hop that is no
// child of dom, a bad path and a stopped service monitor each get a
// clear answer naming the hop.
func TestProbeThroughDomainAPI(t *testing.T) {
	f := newHierFixture(t)
	f.startChild()
	ent, hub := f.startEnterprise()
	s, err := New(Options{Listen: "127.0.0.1:0", Store: ent.Store(), Live: ent, Hierarchy: ent, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b.String()
	}
	evidence := func(path string) (probemsg.Reply, []event.Event) {
		t.Helper()
		code, body := get(path)
		rep, err := probemsg.DecodeReply([]byte(strings.TrimSpace(body)))
		var ev probemsg.Evidence
		if code != http.StatusOK || err != nil || json.Unmarshal(rep.Data, &ev) != nil {
			t.Fatalf("GET %s: %d %s (%v)", path, code, body, err)
		}
		var out []event.Event
		for _, raw := range ev.Events {
			e, err := event.DecodeJSON(raw)
			if err != nil {
				t.Fatalf("GET %s: event %s: %v", path, raw, err)
			}
			out = append(out, e)
		}
		return rep, out
	}

	testutil.WaitFor(t, 10*time.Second, "dom alive under ent", func() bool {
		cs := ent.Children()
		return len(cs) == 1 && cs[0].State == hierarchy.StateAlive
	})
	svcReport := f.spawns()
	var domReport event.Event
	testutil.WaitFor(t, 20*time.Second, "dom's report at the enterprise", func() bool {
		evs, err := ent.Store().Events(context.Background(), store.Filter{Type: event.TypeReport})
		if err != nil || len(evs) == 0 {
			return false
		}
		domReport = evs[0]
		return true
	})
	if domReport.Source != "dom" {
		t.Fatalf("report at the enterprise from %q", domReport.Source)
	}

	rep, evs := evidence("/api/probe?monitor=dom&kind=evidence&report=" + domReport.ID)
	if rep.Monitor != "dom" || len(evs) != 1 || evs[0].ID != svcReport.ID || evs[0].Type != event.TypeReport || evs[0].Source != "svc1" {
		t.Fatalf("dom's evidence %+v: %+v", rep, evs)
	}
	rep, evs = evidence("/api/probe?monitor=dom&via=svc1&kind=evidence&report=" + svcReport.ID)
	if rep.Monitor != "svc1" || len(evs) != 2 {
		t.Fatalf("svc1's evidence through dom %+v: %+v", rep, evs)
	}
	for _, e := range evs {
		if e.Type != event.TypeProcSpawn || e.Host != "web-1" {
			t.Errorf("svc1's evidence event %+v", e)
		}
	}

	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/api/probe?monitor=dom&via=svc1&kind=evidence&report=01NOSUCH", http.StatusNotFound, `"monitor":"svc1","status":"not-found","detail":"monitor svc1 holds no report \"01NOSUCH\""`},
		{"/api/probe?monitor=dom&via=svc9&kind=status", http.StatusNotFound, `"monitor":"dom","status":"not-found","detail":"monitor dom has no child \"svc9\": the probe goes no further"`},
		{"/api/probe?monitor=svc1&kind=status", http.StatusNotFound, `monitor \"svc1\": not a child of this monitor ent`},
		{"/api/probe?monitor=dom&via=svc1,,x&kind=status", http.StatusBadRequest, `missing \"via[1]\"`},
		{"/api/probe?monitor=dom&via=svc1,svc1&kind=status", http.StatusBadRequest, `via[1]: monitor \"svc1\" is on the path twice`},
		{"/api/probe?monitor=dom&via=a,b,c,d,e,f,g,h,i&kind=status", http.StatusBadRequest, `via: 9 monitors, at most 8`},
		{"/api/probe?monitor=dom&via=svc1&via=svc2&kind=status", http.StatusBadRequest, `parameter \"via\" given 2 times`},
	} {
		code, body := get(c.path)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", c.path, code, body, c.code, c.want)
		}
	}

	f.stopChild()
	code, body := get("/api/probe?monitor=dom&via=svc1&kind=status")
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"monitor":"dom","status":"unreachable","detail":"monitor dom relaying to svc1: probe of svc1: no monitor of that name answers probes"`) {
		t.Errorf("probe through dom of a stopped svc1: %d %s", code, body)
	}
}
