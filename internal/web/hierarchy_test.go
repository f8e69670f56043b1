package web

import (
	"context"
	"encoding/json"
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
// domain monitor's reports a lost child (MONITOR.LOST is matchable).
type hierFixture struct {
	t      *testing.T
	srv    *bus.Server
	reg    *engine.Registry
	dom    *monitor.Monitor
	hub    *Hub
	svcCfg *config.ResourceObject
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
	f.dom, _ = f.run(load(domYAML, "dom.yaml"), t.TempDir(), f.hub)
	return f
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
