package sensitise

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/population"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// build makes a sensitise method from a resource object's section.
func build(t testing.TB, yaml string, deps action.Deps) action.Method {
	t.Helper()
	return buildAs(t, "dom", yaml, deps)
}

// buildAs makes a sensitise method of monitor sender.
func buildAs(t testing.TB, sender, yaml string, deps action.Deps) action.Method {
	t.Helper()
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load([]byte("monitor: {name: "+sender+"}\nresponses:\n"+yaml), "m.yml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	deps.Monitor, deps.Clock, deps.Logger = sender, clock.Real{}, testutil.Quiet()
	m, err := reg.Build(context.Background(), ro.Responses[0], deps)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlanSaysWhatWouldBeAskedOfWhichMonitor(t *testing.T) {
	g := build(t, "  - {kind: sensitise, name: arm, monitor: svc-web, engine: signatures, action: enable-group, parameters: {group: exfiltration}}\n", action.Deps{})
	got, err := g.Plan(action.Request{ID: "d1", Time: t0, Subject: action.Subject{Host: "web-1"}})
	want := `ask monitor svc-web (vigil.ctl.svc-web.dom) to turn on the standby rules of group "exfiltration" in engine signatures for 10m0s`
	if err != nil || got != want {
		t.Errorf("Plan = %q, %v\nwant %q", got, err, want)
	}
	// The decision's expiry sets the duration.
	got, _ = g.Plan(action.Request{ID: "d1", Time: t0, Expires: t0.Add(time.Hour)})
	if !strings.HasSuffix(got, "for 1h0m0s") {
		t.Errorf("Plan of a decision lasting an hour: %q", got)
	}
	// Its own monitor by default; the subject from the decision.
	l := build(t, "  - {kind: sensitise, name: watch, engine: sources, action: lower-threshold, parameters: {factor: 0.25}, duration: 30m}\n", action.Deps{})
	got, err = l.Plan(action.Request{ID: "d2", Time: t0, Subject: action.Subject{Addr: netip.MustParseAddr("::ffff:198.51.100.7"), Host: "gw"}})
	want = `ask monitor dom (vigil.ctl.dom.dom) to lower the alarm threshold of subject "198.51.100.7" to 0.25 of itself in engine sources (every class) for 30m0s`
	if err != nil || got != want {
		t.Errorf("Plan = %q, %v\nwant %q", got, err, want)
	}
	if got, _ := l.Plan(action.Request{ID: "d3", Time: t0, Subject: action.Subject{Host: "web-1"}}); !strings.Contains(got, `subject "web-1"`) {
		t.Errorf("Plan with a host subject: %q", got)
	}
	for name, c := range map[string]struct {
		m    action.Method
		req  action.Request
		says string
	}{
		"no subject":   {l, action.Request{ID: "d", Time: t0}, "names no address or host"},
		"too long":     {g, action.Request{ID: "d", Time: t0, Expires: t0.Add(48 * time.Hour)}, "longer than the 24h0m0s"},
		"expired":      {g, action.Request{ID: "d", Time: t0, Expires: t0.Add(-time.Second)}, "positive time"},
		"control char": {l, action.Request{ID: "d", Time: t0, Subject: action.Subject{Host: "web\x1b[2J"}}, "control character"},
	} {
		if _, err := c.m.Plan(c.req); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
}

func TestSettingsAreValidatedWithTheirPlace(t *testing.T) {
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	doc := `monitor: {name: m}
responses:
  - {kind: sensitise, name: a, engine: signatures, action: enable-all}
  - {kind: sensitise, name: b, action: enable-group, parameters: {group: g, rules: "*"}}
  - {kind: sensitise, name: c, engine: p, action: lower-threshold, parameters: {factor: 2}, duration: 48h, timeout: 1h}
  - {kind: sensitise, name: d, engine: p, action: lower-threshold}
  - {kind: sensitise, name: e, monitor: svc, engine: signatures, action: raise-sampling, parameters: {interval: soon}}
  - {kind: sensitise, name: f, action: watch-address, parameters: {address: somewhere}}
  - {kind: sensitise, name: g, sensor: gw-1, engine: signatures, action: enable-group, parameters: {group: g}}
`
	_, err := config.Load([]byte(doc), "m.yml", config.Registries{Responses: reg})
	if err == nil {
		t.Fatal("mistakes accepted")
	}
	for _, want := range []string{
		`m.yml:3`, `"enable-all": want "enable-group", "lower-threshold", "raise-sampling" or "watch-address"`,
		`m.yml:4`, `missing "engine"`, `takes no parameter "rules"`,
		`m.yml:5`, `factor "2"`, "longer than the 24h0m0s", "timeout",
		`m.yml:6`, `needs parameter "factor"`,
		`m.yml:7`, `asks the agent of the decision's host, not a monitor`, `"signatures": an agent's sampling is raised`, `interval "soon"`,
		`m.yml:8`, `responses[5].sensor: missing "sensor": the id of the network sensor asked`, `address "somewhere"`,
		`m.yml:9`, `only "watch-address" asks a network sensor`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
}

// logBuffer keeps a monitor's log lines.
type logBuffer struct{ testutil.LockedBuffer }

func (l *logBuffer) has(s string) bool { return strings.Contains(l.String(), s) }

// reports keeps the reports a monitor makes.
type reports struct {
	mu   sync.Mutex
	list []event.Report
}

func (r *reports) ObserveEvent(*event.Event) {}
func (r *reports) ObserveReport(rep *event.Report) {
	r.mu.Lock()
	r.list = append(r.list, *rep)
	r.mu.Unlock()
}

// about says which of the reports of model name the event id.
func (r *reports) about(model, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.list {
		if rep.Model == model && len(rep.Evidence) > 0 && rep.Evidence[0] == id {
			return true
		}
	}
	return false
}

// madeAt says whether a report of model was made about time at.
func (r *reports) madeAt(model string, at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.list {
		if rep.Model == model && rep.Time.Equal(at) {
			return true
		}
	}
	return false
}

const svcRules = `
rules:
  - id: outbound-ssh
    group: exfiltration
    enabled: false
    severity: red
    suppress: 0s
    match: {type: NET.CONN, where: {dport: 22}}
  - id: marker
    suppress: 0s
    match: {type: TEST.MARK}
`

const svcResource = `monitor: {name: svc}
sources:
  - {name: obs, subjects: ["vigil.obs.>"]}
engines:
  - {kind: signature, name: signatures, rules: [rules.yaml], reload: 0s}
  - kind: profile
    name: sources
    classes:
      - name: source
        match: {type: NET.CONN}
        subject: src
        measures: [{categorical: service}]
`

// TestSensitiseAMonitorOverTheBus runs a real service monitor (signature
// and profile engines, its own clock) on a real bus, and a domain
// monitor's sensitise methods asking it, with the monitors' identity:
// a standby rule group does not fire until a method's Execute turns it
// on; then it fires; when the monitor's clock passes the change's end it
// stops firing; a second change ended early by Undo stops at once; a
// profile's threshold is lowered for a subject it knows and refused for
// one it does not; a monitor that is not there is an error that says so.
func TestSensitiseAMonitorOverTheBus(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(svcRules), 0o600); err != nil {
		t.Fatal(err)
	}
	engines := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), profile.Factory()} {
		if err := engines.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load([]byte(svcResource), filepath.Join(dir, "svc.yml"), config.Registries{Engines: engines})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	var logs logBuffer
	seen := &reports{}
	svc, err := monitor.New(context.Background(), monitor.Options{Config: cfg, Engines: engines, Conn: bustest.ConnectAs(t, s, mon, "svc"),
		DataDir: t.TempDir(), Clock: clk, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Observers: []monitor.Observer{seen}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor: %v", err)
		}
	}()
	select {
	case <-svc.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor did not come up")
	}

	// Events come from an agent, with the sensors' identity.
	agent := bustest.ConnectAs(t, s, sen, "agent")
	ids := event.NewRandomIDs()
	n := 0
	// probe sends an outbound ssh connection and a marker after it, waits
	// for the marker's report (the engine has seen both by then), and
	// says whether the connection was reported.
	probe := func() bool {
		t.Helper()
		n++
		at := t0.Add(time.Duration(n) * time.Second)
		ssh := event.Event{ID: ids.NewID(at), Time: at, Type: "NET.CONN", Host: "web-1", IP: "198.51.100.7", Source: "test",
			Attrs: map[string]any{"src": "198.51.100.7", "dst": "203.0.113.9", "dport": int64(22), "service": "ssh"}}
		mark := event.Event{ID: ids.NewID(at), Time: at, Type: "TEST.MARK", Host: "web-1", Source: "test"}
		if _, err := agent.PublishEvents(context.Background(), []event.Event{ssh, mark}); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 20*time.Second, "the marker's report", func() bool { return seen.about("marker", mark.ID) })
		return seen.about("outbound-ssh", ssh.ID)
	}

	dom := bustest.ConnectAs(t, s, mon, "dom")
	deps := action.Deps{Request: dom.Request}
	arm := build(t, "  - {kind: sensitise, name: arm, monitor: svc, engine: signatures, action: enable-group, parameters: {group: exfiltration}, duration: 10m}\n", deps)

	if probe() {
		t.Fatal("the standby group fired before it was turned on")
	}
	out, err := arm.Execute(context.Background(), action.Request{ID: "dec-1", Key: "arm/web-1", Time: t0, Subject: action.Subject{Host: "web-1"}, Reason: "red report from svc-db"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Detail, "monitor svc: engine signatures: enabled the 1 standby rule(s) of group exfiltration (outbound-ssh)") || !out.Expires.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("outcome %+v", out)
	}
	if !logs.has("control request applied") || !logs.has("by=dom") {
		t.Error("the monitor did not log the request it applied, with who asked")
	}
	if !probe() {
		t.Fatal("the group did not fire once turned on")
	}
	if !probe() {
		t.Fatal("the group fired once only")
	}

	clk.Advance(10 * time.Minute)
	testutil.WaitFor(t, 20*time.Second, "the change to expire on the monitor's clock", func() bool { return logs.has("rule group request expired") })
	if probe() {
		t.Fatal("the group still fires after its time")
	}
	// Undo after expiry: nothing left to end, not an error.
	if err := arm.(action.Undoer).Undo(context.Background(), action.Request{ID: "dec-1"}, out); err != nil {
		t.Errorf("undo after expiry: %v", err)
	}

	// Again, ended early by Undo.
	out, err = arm.Execute(context.Background(), action.Request{ID: "dec-2", Key: "arm/web-1", Time: clk.Now(), Subject: action.Subject{Host: "web-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !probe() {
		t.Fatal("the group did not fire when turned on again")
	}
	if err := arm.(action.Undoer).Undo(context.Background(), action.Request{ID: "dec-2"}, out); err != nil {
		t.Fatal(err)
	}
	if probe() {
		t.Fatal("the group still fires after Undo")
	}

	// A profile's threshold, for the subject of the decision.
	watch := build(t, "  - {kind: sensitise, name: watch, monitor: svc, engine: sources, action: lower-threshold, parameters: {factor: 0.5}}\n", deps)
	out, err = watch.Execute(context.Background(), action.Request{ID: "dec-3", Time: clk.Now(), Subject: action.Subject{Addr: netip.MustParseAddr("198.51.100.7")}})
	if err != nil || !strings.Contains(out.Detail, `lowered the alarm threshold of subject "198.51.100.7" to 0.5 of itself in source`) {
		t.Errorf("lower-threshold: %+v, %v", out, err)
	}
	_, err = watch.Execute(context.Background(), action.Request{ID: "dec-4", Time: clk.Now(), Subject: action.Subject{Addr: netip.MustParseAddr("203.0.113.1")}})
	if !errors.Is(err, action.ErrRefused) || !strings.Contains(err.Error(), `no class has a profile of subject "203.0.113.1"`) {
		t.Errorf("an unknown subject: %v, want a refusal saying so", err)
	}

	// A monitor nobody runs.
	absent := build(t, "  - {kind: sensitise, name: far, monitor: nowhere, engine: signatures, action: enable-group, parameters: {group: g}, timeout: 500ms}\n", deps)
	if _, err := absent.Execute(context.Background(), action.Request{ID: "dec-5", Time: clk.Now()}); err == nil || !strings.Contains(err.Error(), "nothing answers on "+bus.CtlSubject("nowhere", "dom")+" (monitor nowhere is not running") {
		t.Errorf("a monitor that is not there: %v", err)
	}
	// No bus at all.
	if _, err := build(t, "  - {kind: sensitise, name: x, engine: e, action: enable-group, parameters: {group: g}}\n", action.Deps{}).Execute(context.Background(), action.Request{ID: "d", Time: t0}); err == nil || !strings.Contains(err.Error(), "no bus connection") {
		t.Errorf("without a bus: %v", err)
	}
}

// TestDocExampleLoads loads the resource object of docs/RESPONSES.md
// "Sensitising engines", so the example a reader copies stays valid.
func TestDocExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Sensitising engines")
	if !ok {
		t.Fatal("docs/RESPONSES.md has no section \"Sensitising engines\"")
	}
	_, rest, _ := strings.Cut(section, "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load([]byte("monitor: {name: svc-db}\n"+example), "RESPONSES.md", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Responses) != 4 || len(ro.Resolver.Policies) != 1 {
		t.Fatalf("loaded %d methods, %d policies", len(ro.Responses), len(ro.Resolver.Policies))
	}
	m, err := reg.Build(context.Background(), ro.Responses[0], action.Deps{Monitor: "svc-db"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan(action.Request{ID: "d", Time: t0, Expires: t0.Add(30 * time.Minute)})
	if flat := strings.Join(strings.Fields(section), " "); err != nil || !strings.Contains(flat, plan) {
		t.Errorf("the plan %q (%v) is not the one the section shows", plan, err)
	}
}

const loopRules = `
rules:
  - id: outbound-ssh
    group: exfiltration
    enabled: false
    severity: red
    suppress: 0s
    match: {type: NET.CONN, where: {dport: 22}}
  - id: database-dump
    severity: red
    suppress: 0s
    match: {type: TEST.DUMP}
  - id: marker
    suppress: 0s
    match: {type: TEST.MARK}
`

const loopResource = `monitor: {name: svc}
sources:
  - {name: obs, subjects: ["vigil.obs.>"]}
engines:
  - {kind: signature, name: signatures, rules: [rules.yaml], reload: 0s}
responses:
  - {kind: sensitise, name: arm-exfil, engine: signatures, action: enable-group, parameters: {group: exfiltration}}
resolver:
  mode: enforce
  policies:
    - name: dump-arms-exfil
      where: {model: database-dump}
      subject: host
      methods: [arm-exfil]
      duration: 10m
`

// TestReportSensitisesItsOwnMonitor closes the loop of seed 002 section
// 3.5 in one monitor: a red report makes the decision unit run a
// sensitise method, which asks this very monitor over the bus to turn a
// standby group on; the group then fires on what it ignored before, and
// the decision is done with the change's end as its expiry.
func TestReportSensitisesItsOwnMonitor(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(loopRules), 0o600); err != nil {
		t.Fatal(err)
	}
	engines := engine.NewRegistry()
	if err := engines.Register(signature.Factory()); err != nil {
		t.Fatal(err)
	}
	methods := action.NewRegistry()
	if err := Register(methods); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(loopResource), filepath.Join(dir, "svc.yml"), config.Registries{Engines: engines, Responses: methods})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	seen := &reports{}
	svc, err := monitor.New(context.Background(), monitor.Options{Config: cfg, Engines: engines, Responses: methods, Conn: bustest.ConnectAs(t, s, mon, "svc"),
		DataDir: t.TempDir(), Clock: clk, Logger: testutil.Quiet(), Observers: []monitor.Observer{seen}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor: %v", err)
		}
	}()
	select {
	case <-svc.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor did not come up")
	}
	agent := bustest.ConnectAs(t, s, sen, "agent")
	ids := event.NewRandomIDs()
	publish := func(typ string, attrs map[string]any) event.Event {
		t.Helper()
		ev := event.Event{ID: ids.NewID(t0), Time: t0, Type: typ, Host: "db-1", IP: "10.0.0.7", Source: "test", Attrs: attrs}
		if _, err := agent.PublishEvents(context.Background(), []event.Event{ev}); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	ssh := map[string]any{"src": "10.0.0.7", "dst": "203.0.113.9", "dport": int64(22)}
	before := publish("NET.CONN", ssh)
	publish("TEST.DUMP", nil)
	var decided store.Response
	testutil.WaitFor(t, 20*time.Second, "the decision to sensitise", func() bool {
		rows, err := svc.Store().Responses(context.Background(), store.ResponseFilter{})
		if err != nil || len(rows) == 0 || rows[0].Status != store.StatusDone {
			return false
		}
		decided = rows[0]
		return true
	})
	if decided.Method != "arm-exfil" || !strings.Contains(string(decided.Outcome), "enabled the 1 standby rule(s) of group exfiltration") || !decided.Expires.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("decision %+v", decided)
	}
	after := publish("NET.CONN", ssh)
	mark := publish("TEST.MARK", nil)
	testutil.WaitFor(t, 20*time.Second, "the marker's report", func() bool { return seen.about("marker", mark.ID) })
	if seen.about("outbound-ssh", before.ID) {
		t.Error("the connection before the decision was reported")
	}
	if !seen.about("outbound-ssh", after.ID) {
		t.Error("the connection after the decision was not reported")
	}
}

// TestRaisedSamplingNeedsAHost: a policy whose subject gives no host
// cannot raise an agent's sampling; enabling a group needs no subject.
func TestRaisedSamplingNeedsAHost(t *testing.T) {
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	load := func(subject, method string) error {
		_, err := config.Load([]byte(`monitor: {name: m}
responses:
  - {kind: sensitise, name: closer, action: raise-sampling, parameters: {interval: 1s}}
  - {kind: sensitise, name: arm, engine: sig, action: enable-group, parameters: {group: g}}
resolver:
  policies:
    - {name: p, where: {severity: red}, subject: "`+subject+`", methods: [`+method+`]}
`), "m.yml", config.Registries{Responses: reg})
		return err
	}
	if err := load("ip", "closer"); err == nil || !strings.Contains(err.Error(), `method "closer" (sensitise) acts on a host`) {
		t.Errorf("raise-sampling under subject ip: %v", err)
	}
	for _, c := range [][2]string{{"host", "closer"}, {"ip", "arm"}, {"addr:src", "arm"}} {
		if err := load(c[0], c[1]); err != nil {
			t.Errorf("%s under subject %s: %v", c[1], c[0], err)
		}
	}
}

// TestMonitorTakesOnlyItsParentAndPeers runs a real service monitor that
// declares its parent (dom) and a peer (svc2) on a real bus: the sensitise
// methods of its parent and of its peer change its engines; another
// monitor's is refused with a reply naming who may ask; and each request,
// applied or refused, is in the monitor's store as a CONTROL.REQUEST
// event saying who asked what and what came of it.
func TestMonitorTakesOnlyItsParentAndPeers(t *testing.T) {
	s, mon, _ := bustest.StartLocal(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(svcRules), 0o600); err != nil {
		t.Fatal(err)
	}
	engines := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), profile.Factory()} {
		if err := engines.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	resource := strings.Replace(svcResource, "monitor: {name: svc}", "monitor: {name: svc, parent: dom, peers: [svc2]}", 1)
	cfg, err := config.Load([]byte(resource), filepath.Join(dir, "svc.yml"), config.Registries{Engines: engines})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	svc, err := monitor.New(context.Background(), monitor.Options{Config: cfg, Engines: engines, Conn: bustest.ConnectAs(t, s, mon, "svc"),
		DataDir: t.TempDir(), Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor: %v", err)
		}
	}()
	select {
	case <-svc.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor did not come up")
	}
	conn := bustest.ConnectAs(t, s, mon, "others")
	deps := action.Deps{Request: conn.Request}
	const arm = "  - {kind: sensitise, name: arm, monitor: svc, engine: signatures, action: enable-group, parameters: {group: exfiltration}, duration: 10m}\n"

	_, err = buildAs(t, "dom9", arm, deps).Execute(context.Background(), action.Request{ID: "stranger-1", Time: t0})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "vigil.ctl: monitor dom9 is neither the parent (dom) nor a peer of svc") {
		t.Errorf("a stranger's request: %v, want a refusal naming the parent", err)
	}
	out, err := buildAs(t, "svc2", arm, deps).Execute(context.Background(), action.Request{ID: "peer-1", Time: t0})
	if err != nil || !out.Expires.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("the peer's request: %+v, %v", out, err)
	}
	lower := "  - {kind: sensitise, name: watch, monitor: svc, engine: signatures, action: enable-group, parameters: {group: exfiltration}, duration: 5m}\n"
	if _, err := buildAs(t, "dom", lower, deps).Execute(context.Background(), action.Request{ID: "parent-1", Time: t0}); err != nil {
		t.Errorf("the parent's request: %v", err)
	}
	if n := svc.Control().Count("unauthorised"); n != 1 {
		t.Errorf("%d requests refused for their sender, want 1", n)
	}

	// The audit trail, in the monitor's own store.
	var evs []event.Event
	testutil.WaitFor(t, 20*time.Second, "three CONTROL.REQUEST events stored", func() bool {
		evs, err = svc.Store().Events(context.Background(), store.Filter{Type: event.TypeControlRequest})
		return err == nil && len(evs) == 3
	})
	got := map[string]event.Event{}
	for _, ev := range evs {
		got[ev.Str("request")] = ev
		if ev.Host != "svc" || ev.Source != "svc" || !ev.Time.Equal(t0) {
			t.Errorf("audit event %+v: want host and source svc at the monitor's time", ev)
		}
	}
	for id, want := range map[string]struct{ sender, status, authorised, expires string }{
		"stranger-1": {"dom9", "refused", "false", ""},
		"peer-1":     {"svc2", "done", "true", "2026-11-22T10:10:00Z"},
		"parent-1":   {"dom", "done", "true", "2026-11-22T10:05:00Z"},
	} {
		ev, ok := got[id]
		if !ok {
			t.Errorf("no audit event of request %s: %+v", id, evs)
			continue
		}
		if ev.Str("sender") != want.sender || ev.Str("status") != want.status || ev.Str("authorised") != want.authorised ||
			ev.Str("expires") != want.expires || ev.Str("action") != "enable-group" || ev.Str("target") != "signatures" ||
			ev.Str("parameters") != "group=exfiltration" || ev.Str("detail") == "" {
			t.Errorf("audit event of %s: %+v", id, ev.Attrs)
		}
	}
}

// TestChildrenNotReportingSettings: to names the monitors asked, so it
// goes without monitor and only with a monitor's actions; a monitor
// without children cannot use it.
func TestChildrenNotReportingSettings(t *testing.T) {
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	doc := `monitor: {name: ent}
responses:
  - {kind: sensitise, name: a, to: children-not-reporting, monitor: dom1, engine: e, action: enable-group, parameters: {group: g}}
  - {kind: sensitise, name: b, to: everyone, engine: e, action: enable-group, parameters: {group: g}}
  - {kind: sensitise, name: c, to: children-not-reporting, action: raise-sampling, parameters: {interval: 1s}}
`
	_, err := config.Load([]byte(doc), "ent.yml", config.Registries{Responses: reg})
	for _, want := range []string{
		"ent.yml:3", "responses[0].to: to names the monitors asked: leave monitor out",
		"ent.yml:4", `responses[1].to: "everyone": want "children-not-reporting"`,
		"ent.yml:5", `responses[2].to: "raise-sampling" asks an agent or a sensor, not monitors`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
	ro, err := config.Load([]byte("monitor: {name: ent}\nresponses:\n  - {kind: sensitise, name: s, to: children-not-reporting, engine: e, action: enable-group, parameters: {group: g}}\n"), "ent.yml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Build(context.Background(), ro.Responses[0], action.Deps{Monitor: "ent", Clock: clock.Real{}, Logger: testutil.Quiet()}); err == nil || !strings.Contains(err.Error(), "monitor ent has no children") {
		t.Errorf("without children: %v", err)
	}
}

// spreadReport is an enterprise's report counting reports from several
// monitors (a threshold whose spread is the monitor).
func spreadReport(hit ...string) event.Report {
	return event.Report{ID: "r1", Time: t0, Monitor: "ent", Engine: "enterprise-correlation", Model: "spreading-web-attack", Host: hit[len(hit)-1],
		Score: 0.95, Severity: event.SeverityRed, Attrs: map[string]any{"spread": "monitor", "values": hit, "count": int64(len(hit))}}
}

// TestChildrenNotReportingPlan: the children asked are those the
// decision's reports do not name, in the order the monitor lists them;
// when every child has reported, nobody is asked.
func TestChildrenNotReportingPlan(t *testing.T) {
	m := build(t, "  - {kind: sensitise, name: s, to: children-not-reporting, engine: domain-correlation, action: enable-group, parameters: {group: web}}\n",
		action.Deps{Children: []string{"dom1", "dom2", "dom3", "dom4"}})
	got, err := m.Plan(action.Request{ID: "d1", Time: t0, Reports: []event.Report{spreadReport("dom3", "dom1")}})
	// (Each by its control subject, whatever the subject's form.)
	want := `ask monitor dom2 (` + peer{Name: "dom2"}.subject("dom") + `) to turn on the standby rules of group "web" in engine domain-correlation for 10m0s; ask monitor dom4 (` + peer{Name: "dom4"}.subject("dom") + `) to turn on the standby rules of group "web" in engine domain-correlation for 10m0s`
	if err != nil || got != want {
		t.Errorf("Plan = %q, %v\nwant %q", got, err, want)
	}
	// A child's own report (a policy on the domains' reports) names it.
	own := event.Report{ID: "r2", Time: t0, Monitor: "dom2", Model: "web-attack", Severity: event.SeverityRed, Score: 0.95}
	got, _ = m.Plan(action.Request{ID: "d2", Time: t0, Reports: []event.Report{own, spreadReport("dom1", "dom3")}})
	if strings.Contains(got, "dom2") || strings.Contains(got, "dom1") || !strings.Contains(got, "dom4") {
		t.Errorf("Plan = %q, want dom4 alone", got)
	}
	// Values as a decoded report carries them (a list of any).
	rep := spreadReport("dom1")
	rep.Attrs["values"] = []any{"dom1", "dom2", "dom3", "dom4"}
	got, err = m.Plan(action.Request{ID: "d3", Time: t0, Reports: []event.Report{rep}})
	if err != nil || got != "ask nobody: every child has reported it (dom1, dom2, dom3, dom4)" {
		t.Errorf("Plan = %q, %v", got, err)
	}
	out, err := m.Execute(context.Background(), action.Request{ID: "d3", Time: t0, Reports: []event.Report{rep}})
	if err != nil || !strings.HasPrefix(out.Detail, "nobody asked") {
		t.Errorf("Execute = %+v, %v", out, err)
	}
	if err := m.(action.Undoer).Undo(context.Background(), action.Request{ID: "d3"}, out); err != nil {
		t.Errorf("Undo of nothing asked: %v", err)
	}
}

// TestSensitiseChildrenNotReportingOverTheBus runs three real domain
// monitors (configs/domain.yaml) on a real bus, and the enterprise's
// method (configs/enterprise.yaml's sensitise-unhit-domains) after a
// web attack was reported by dom1 and dom2: dom3 alone is asked and turns
// its standby group on, so that one attack request is reported red by
// dom3 and by no other; Undo turns it off again.
func TestSensitiseChildrenNotReportingOverTheBus(t *testing.T) {
	s, mon, _ := bustest.StartLocal(t)
	engines := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), profile.Factory(), population.Factory()} {
		if err := engines.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"dom1", "dom2", "dom3"}
	seen := map[string]*reports{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, name := range names {
		cfg, err := config.LoadFile(filepath.Join("..", "..", "..", "configs", "domain.yaml"), config.Registries{Engines: engines})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Monitor.Name = name
		seen[name] = &reports{}
		m, err := monitor.New(context.Background(), monitor.Options{Config: cfg, Engines: engines, Conn: bustest.ConnectAs(t, s, mon, name),
			DataDir: t.TempDir(), Clock: clock.NewManual(t0), Logger: testutil.Quiet(), Observers: []monitor.Observer{seen[name]}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Run(ctx); err != nil {
				t.Errorf("monitor %s: %v", name, err)
			}
		}()
		select {
		case <-m.Ready():
		case <-time.After(20 * time.Second):
			t.Fatalf("monitor %s did not come up", name)
		}
	}

	// The enterprise's method, as configs/enterprise.yaml configures it.
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ro, err := config.LoadFile(filepath.Join("..", "..", "..", "configs", "enterprise.yaml"), config.Registries{Engines: engines, Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	ent := bustest.ConnectAs(t, s, mon, "ent")
	method, err := reg.Build(context.Background(), ro.Responses[0], action.Deps{Monitor: "ent", Clock: clock.Real{}, Logger: testutil.Quiet(), Request: ent.Request, Children: ro.Monitor.Children})
	if err != nil {
		t.Fatal(err)
	}
	out, err := method.Execute(context.Background(), action.Request{ID: "dec-1", Key: "spread", Time: t0, Expires: t0.Add(time.Hour), Reports: []event.Report{spreadReport("dom1", "dom2")}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.Detail, "dom1") || strings.Contains(out.Detail, "dom2") || !strings.Contains(out.Detail, "monitor dom3: engine domain-correlation: enabled the 1 standby rule(s) of group web-attacks-spreading (web-attack-first)") {
		t.Errorf("outcome %+v", out)
	}

	// Attack requests from src, seen by every domain's gateway; the
	// first one's time.
	sensor := bustest.ConnectAs(t, s, mon, "gw")
	ids := event.NewRandomIDs()
	n := 0
	attack := func(src string) (hit []string) {
		t.Helper()
		var first time.Time
		// Three requests: the first, then two more, which make every
		// domain's web-attack (three requests from one source). That
		// report comes after domain-correlation has taken the first
		// request's report (it takes them in order): then whether the
		// first attempt was reported is known.
		for k := range 3 {
			n++
			at := t0.Add(time.Duration(n) * time.Minute)
			if k == 0 {
				first = at
			}
			req := event.Event{ID: ids.NewID(at), Time: at, Type: "NET.HTTP", IP: "10.3.0.80", Source: "gw",
				Attrs: map[string]any{"src": src, "dst": "10.3.0.80", "proto": "tcp", "sport": int64(40000 + n), "dport": int64(80), "method": "GET", "path": "/index.php?id=1%27%20or%20%271%27=%271", "status": int64(200)}}
			if _, err := sensor.PublishEvents(context.Background(), []event.Event{req}); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range names {
			testutil.WaitFor(t, 20*time.Second, name+"'s web-attack", func() bool { return seen[name].madeAt("web-attack", t0.Add(time.Duration(n)*time.Minute)) })
		}
		for _, name := range names {
			if seen[name].madeAt("web-attack-first", first) {
				hit = append(hit, name)
			}
		}
		return hit
	}
	if hit := attack("192.0.2.77"); len(hit) != 1 || hit[0] != "dom3" {
		t.Fatalf("first attempt reported by %v, want dom3 alone", hit)
	}
	if err := method.(action.Undoer).Undo(context.Background(), action.Request{ID: "dec-1"}, out); err != nil {
		t.Fatal(err)
	}
	if hit := attack("192.0.2.78"); len(hit) != 0 {
		t.Fatalf("after Undo the first attempt is still reported by %v", hit)
	}
}
