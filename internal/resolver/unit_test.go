package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// The contract's test kinds: methods that record what they were asked.
// "blocker" acts on addresses and undoes (and reconciles), "notifier"
// acts on nothing and is one-off, "signaller" acts on processes.

type calls struct {
	mu        sync.Mutex
	planned   []action.Request
	executed  []action.Request
	undone    []action.Request
	reconcile [][]action.Active
	fail      bool
	refuse    bool
	failUndo  bool
}

func (c *calls) counts() (int, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.planned), len(c.executed), len(c.undone)
}

type recMethod struct {
	name string
	c    *calls
}

func (m *recMethod) Plan(req action.Request) (string, error) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	m.c.planned = append(m.c.planned, req)
	return fmt.Sprintf("%s %s", m.name, describe(req.Subject)), nil
}

func (m *recMethod) Execute(_ context.Context, req action.Request) (action.Outcome, error) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.fail {
		return action.Outcome{}, errors.New("the test says no")
	}
	if m.c.refuse {
		return action.Outcome{}, fmt.Errorf("host h: %w: the test's process started at another time", action.ErrRefused)
	}
	m.c.executed = append(m.c.executed, req)
	return action.Outcome{Detail: m.name + " did " + describe(req.Subject), Undo: json.RawMessage(`{"n":` + fmt.Sprint(len(m.c.executed)) + `}`)}, nil
}

func (m *recMethod) Undo(_ context.Context, req action.Request, out action.Outcome) error {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if len(out.Undo) == 0 {
		return errors.New("undo without the outcome's undo data")
	}
	if m.c.failUndo {
		return errors.New("the test says the undo fails")
	}
	m.c.undone = append(m.c.undone, req)
	return nil
}

func (m *recMethod) Reconcile(_ context.Context, active []action.Active) (string, error) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	m.c.reconcile = append(m.c.reconcile, active)
	return fmt.Sprintf("%d kept", len(active)), nil
}

// oneOff is a method that neither undoes nor reconciles.
type oneOff struct{ r *recMethod }

func (m *oneOff) Plan(req action.Request) (string, error) { return m.r.Plan(req) }
func (m *oneOff) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	return m.r.Execute(ctx, req)
}

type noSettings struct{}

func (noSettings) Validate(*config.Problems, string) {}

func testRegistry(t testing.TB, c *calls) *action.Registry {
	reg := action.NewRegistry()
	for _, f := range []action.Factory{
		{Kind: "blocker", Needs: []string{"addr"}, Undoable: true},
		{Kind: "notifier"},
		{Kind: "signaller", Needs: []string{"host", "process"}},
	} {
		undo := f.Undoable
		f.NewSettings = func() config.Settings { return &noSettings{} }
		f.New = func(_ context.Context, _ config.Settings, d action.Deps) (action.Method, error) {
			if undo {
				return &recMethod{name: d.Name, c: c}, nil
			}
			return &oneOff{&recMethod{name: d.Name, c: c}}, nil
		}
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// rig is a decision unit over a real store with the test kinds.
type rig struct {
	t      testing.TB
	unit   *Unit
	st     *store.Store
	clk    *clock.Manual
	calls  *calls
	events []event.Event
	mu     sync.Mutex
	path   string
	ro     *config.ResourceObject
	reg    *action.Registry
}

const responsesYAML = `
responses:
  - {kind: blocker, name: block}
  - {kind: notifier, name: page}
  - {kind: signaller, name: kill}
`

func newRig(t testing.TB, resolverYAML string) *rig {
	t.Helper()
	r := &rig{t: t, clk: clock.NewManual(t0), calls: &calls{}, path: filepath.Join(t.TempDir(), "vigil.db")}
	r.reg = testRegistry(t, r.calls)
	ro, err := config.Load([]byte("monitor: {name: gw}\n"+responsesYAML+"resolver:\n"+resolverYAML), "test.yaml", config.Registries{Responses: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	r.ro = ro
	r.open()
	return r
}

// open opens the store and starts a decision unit on it (again, after
// close: a restart).
func (r *rig) open() {
	t := r.t
	t.Helper()
	st, err := store.Open(t.Context(), store.Options{Path: r.path, Clock: r.clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	t.Cleanup(func() { _ = st.Close() })
	methods, err := BuildMethods(t.Context(), r.reg, r.ro.Responses, action.Deps{Monitor: "gw", Clock: r.clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.unit, err = NewUnit(UnitOptions{
		Monitor: "gw", Config: r.ro.Resolver, Methods: methods, Audit: st, Clock: r.clk,
		IDs: event.NewSeededIDs(7), Logger: quiet,
		Protected: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32")},
		Emit: func(ev event.Event) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.unit.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) restart() {
	r.t.Helper()
	if err := r.unit.Close(); err != nil {
		r.t.Fatal(err)
	}
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var repSeq atomic.Int64

// report is a gateway report about src attacking dst; verified says the
// source completed a handshake.
func report(src, dst string, verified bool, sev event.Severity) event.Report {
	n := repSeq.Add(1)
	attrs := map[string]any{"src": src, "dst": dst, "tags": []string{"attack.discovery"}}
	if verified {
		attrs[AttrSrcVerified] = true
	}
	return event.Report{
		ID: fmt.Sprintf("rep-%06d", n), Time: t0, Monitor: "gw", Engine: "signatures", Model: "scan",
		Host: dst, IP: dst, Score: 0.95, Severity: sev, State: "alert", Explanation: "a scan", Attrs: attrs,
	}
}

func (r *rig) decide(rep event.Report) []Decision {
	r.t.Helper()
	rep.Time = r.clk.Now()
	return r.unit.Decide(r.t.Context(), rep)
}

func (r *rig) statuses() map[string]int {
	r.t.Helper()
	out := map[string]int{}
	r.unit.Flush(r.t.Context())
	rows, err := r.st.Responses(r.t.Context(), store.ResponseFilter{Limit: store.MaxLimit})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, row := range rows {
		out[row.Status]++
	}
	return out
}

const blockPolicy = `
  policies:
    - name: block-scanners
      where: {engine: signatures, tags: attack.discovery}
      subject: addr:src
      methods: [block]
      duration: 10m
`

// TestMonitorModeExecutesNothing: with no mode given, every decision is
// made, planned, stored and logged, and no method executes.
func TestMonitorModeExecutesNothing(t *testing.T) {
	r := newRig(t, blockPolicy)
	ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if len(ds) != 1 || ds[0].Status != store.StatusPlanned || !strings.Contains(ds[0].Reason, "monitor mode: would block address 192.0.2.7") {
		t.Fatalf("decisions %+v", ds)
	}
	planned, executed, _ := r.calls.counts()
	if planned != 1 || executed != 0 {
		t.Errorf("planned %d, executed %d: monitor mode must execute nothing", planned, executed)
	}
	row, err := r.st.GetResponse(t.Context(), ds[0].ID)
	if err != nil || row.Mode != "monitor" || row.Policy != "block-scanners" || row.Key != "block|addr=192.0.2.7" || len(row.Reports) != 1 {
		t.Errorf("stored %+v, %v", row, err)
	}
	// The same address again while the planned block would last: once.
	ds = r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if len(ds) != 1 || ds[0].Status != store.StatusSuppressed {
		t.Errorf("second decision %+v", ds)
	}
	if len(r.events) != 0 {
		t.Errorf("monitor mode emitted %d response events", len(r.events))
	}
}

// TestEnforceExecutes: in enforce mode the method runs with the subject,
// the decision is done with its outcome, and a RESPONSE.ACTION event says
// so.
func TestEnforceExecutes(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy)
	ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v", ds)
	}
	_, executed, _ := r.calls.counts()
	if executed != 1 || r.calls.executed[0].Subject.Addr != netip.MustParseAddr("192.0.2.7") || !r.calls.executed[0].Expires.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("executed %+v", r.calls.executed)
	}
	row, _ := r.st.GetResponse(t.Context(), ds[0].ID)
	if row.Status != store.StatusDone || row.Mode != "enforce" || !row.Expires.Equal(t0.Add(10*time.Minute)) || !strings.Contains(string(row.Outcome), `"undo":{"n":1}`) {
		t.Errorf("stored %+v (outcome %s)", row, row.Outcome)
	}
	if len(r.events) != 1 {
		t.Fatalf("%d events", len(r.events))
	}
	ev := r.events[0]
	if !event.KnownType(ev.Type) || !event.KnownType(event.TypeResponseUndo) {
		t.Errorf("%s is not among the types Vigil makes", ev.Type)
	}
	if ev.Type != event.TypeResponseAction || ev.Attrs["decision"] != ds[0].ID || ev.Attrs["status"] != "done" || ev.Attrs["addr"] != "192.0.2.7" ||
		ev.Source != "gw" || ev.Host != "10.0.0.3" || ev.Attrs["expires"] != t0.Add(10*time.Minute).Format(time.RFC3339Nano) {
		t.Errorf("event %+v", ev)
	}
	// A per-policy mode overrides the monitor's; a dry run plans.
	r2 := newRig(t, "  mode: enforce\n"+strings.Replace(blockPolicy, "duration: 10m", "dry_run: true", 1))
	ds = r2.decide(report("192.0.2.8", "10.0.0.3", true, event.SeverityRed))
	if _, executed, _ := r2.calls.counts(); len(ds) != 1 || ds[0].Status != store.StatusDryRun || executed != 0 || len(r2.events) != 1 || r2.events[0].Attrs["status"] != "dry-run" {
		t.Errorf("dry run: %+v, executed %d, events %+v", ds, executed, r2.events)
	}
	r3 := newRig(t, "  mode: enforce\n"+blockPolicy+"      mode: monitor\n")
	ds = r3.decide(report("192.0.2.9", "10.0.0.3", true, event.SeverityRed))
	if _, executed, _ := r3.calls.counts(); len(ds) != 1 || ds[0].Status != store.StatusPlanned || executed != 0 {
		t.Errorf("policy in monitor mode: %+v, executed %d", ds, executed)
	}
}

// TestCountsAndCooldown: a policy decides once a subject has its count
// within the window, not for reports spread wider, and not again within
// its cooldown.
func TestCountsAndCooldown(t *testing.T) {
	r := newRig(t, `  mode: enforce
  policies:
    - name: page-on-scans
      where: {engine: signatures}
      count: 3
      within: 1m
      subject: addr:src
      methods: [page]
      cooldown: 10m
`)
	rep := func() []Decision { return r.decide(report("192.0.2.7", "10.0.0.3", false, event.SeverityYellow)) }
	// Two, then a gap past the window: the count starts over.
	rep()
	rep()
	r.clk.Advance(2 * time.Minute)
	if ds := rep(); len(ds) != 0 {
		t.Fatalf("decided on reports spread over more than the window: %+v", ds)
	}
	rep()
	ds := rep()
	if len(ds) != 1 || ds[0].Status != store.StatusDone || !strings.Contains(ds[0].Reason, "3 matching reports within 1m0s about address 192.0.2.7") {
		t.Fatalf("decisions %+v", ds)
	}
	// The decision carries the reports in the window, not the two before
	// the gap.
	if row, _ := r.st.GetResponse(t.Context(), ds[0].ID); len(row.Reports) != 3 {
		t.Errorf("the decision names %d reports, want the 3 in the window", len(row.Reports))
	}
	// Another address counts on its own.
	for i := 0; i < 3; i++ {
		if ds := r.decide(report("192.0.2.99", "10.0.0.3", false, event.SeverityYellow)); i == 2 && len(ds) != 1 {
			t.Errorf("second subject: %+v", ds)
		}
	}
	// Within the cooldown: counted, not decided.
	for i := 0; i < 6; i++ {
		if ds := rep(); len(ds) != 0 {
			t.Fatalf("decided within the cooldown: %+v", ds)
		}
	}
	r.clk.Advance(10 * time.Minute)
	rep()
	rep()
	if ds := rep(); len(ds) != 1 {
		t.Errorf("after the cooldown: %+v", ds)
	}
	if _, executed, _ := r.calls.counts(); executed != 3 {
		t.Errorf("one-off notifications sent %d times, want 3", executed)
	}
	// What the policy remembers is forgotten once its window and
	// cooldowns have passed.
	rep()
	r.clk.Advance(2 * time.Hour)
	r.unit.ExpireDue(t.Context())
	for _, p := range r.unit.policies {
		if len(p.windows) != 0 || len(p.cooldown) != 0 {
			t.Errorf("policy %s still holds %d windows and %d cooldowns", p.cfg.Name, len(p.windows), len(p.cooldown))
		}
	}
}

// TestCombinedCriteria: seed 002's response criteria, a severity metric
// from one engine and a threshold metric from another, about the same
// host within the window; priority orders the policies.
func TestCombinedCriteria(t *testing.T) {
	r := newRig(t, `  mode: enforce
  policies:
    - name: low
      where: {severity: red}
      methods: [page]
    - name: contain
      where: {engine: tracks, state: Compromised}
      with:
        - where: {engine: profiles, score|gte: 0.9}
      within: 5m
      subject: host
      methods: [page]
      priority: 10
`)
	track := event.Report{ID: "t1", Monitor: "gw", Engine: "tracks", Host: "web-3", Score: 0.95, Severity: event.SeverityRed, State: "Compromised"}
	prof := event.Report{ID: "p1", Monitor: "gw", Engine: "profiles", Host: "web-3", Score: 0.97, Severity: event.SeverityRed}
	ds := r.decide(track)
	if len(ds) != 1 || ds[0].Policy != "low" {
		t.Fatalf("the track report alone: %+v", ds)
	}
	r.clk.Advance(time.Minute)
	ds = r.decide(prof)
	if len(ds) != 2 || ds[0].Policy != "contain" || ds[1].Policy != "low" {
		t.Fatalf("both metrics: %+v (want contain first, by priority)", ds)
	}
	// A threshold report about another host does not complete web-3's.
	r.decide(track)
	other := prof
	other.Host = "web-4"
	for _, d := range r.decide(other) {
		if d.Policy == "contain" {
			t.Errorf("combined across hosts: %+v", d)
		}
	}
}

// TestCorrelatedCriteria: with by: ip, a track turning red about a
// server and the gateway's alerts about the same server are counted
// together, and the decision acts on the address the alerts name (each
// verified one once); alerts about another server, or a red track alone,
// decide nothing; a flood of track reports does not push the one alert
// out of the window.
func TestCorrelatedCriteria(t *testing.T) {
	r := newRig(t, `  mode: enforce
  policies:
    - name: block-attacker
      where: {engine: signatures}
      with:
        - where: {engine: tracks, severity: red}
      within: 2m
      by: ip
      subject: addr:src
      methods: [block]
      duration: 10m
`)
	red := func(ip string) event.Report {
		n := repSeq.Add(1)
		return event.Report{ID: fmt.Sprintf("trk-%06d", n), Monitor: "gw", Engine: "tracks", Model: "m3", IP: ip,
			Score: 0.95, Severity: event.SeverityRed, State: "Compromised", Explanation: ip + " Compromised"}
	}
	if ds := r.decide(report("192.0.2.9", "10.0.0.3", true, event.SeverityYellow)); len(ds) != 0 {
		t.Fatalf("an alert alone decided: %+v", ds)
	}
	r.clk.Advance(10 * time.Second)
	// Track reports keep coming; none names an address.
	for i := 0; i < 3*maxKept; i++ {
		if ds := r.decide(red("10.0.0.4")); len(ds) != 0 {
			t.Fatalf("a red track about another server completed 10.0.0.3's criteria: %+v", ds)
		}
	}
	r.clk.Advance(10 * time.Second)
	ds := r.decide(red("10.0.0.3"))
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("red track after a verified alert about the same server: %+v", ds)
	}
	if !strings.Contains(ds[0].Reason, "about the same ip 10.0.0.3; acting on address 192.0.2.9") {
		t.Errorf("reason does not say what was correlated: %s", ds[0].Reason)
	}
	// The criteria start over after a decision: a second red track alone
	// decides nothing.
	if ds := r.decide(red("10.0.0.3")); len(ds) != 0 {
		t.Errorf("a red track alone after the decision: %+v", ds)
	}
	// Out of the window, the alert no longer counts.
	r.decide(report("192.0.2.10", "10.0.0.5", true, event.SeverityYellow))
	r.clk.Advance(3 * time.Minute)
	if ds := r.decide(red("10.0.0.5")); len(ds) != 0 {
		t.Errorf("an alert older than the window counted: %+v", ds)
	}
	// An unverified alert is refused, and names the target.
	r.decide(report("192.0.2.11", "10.0.0.6", false, event.SeverityYellow))
	ds = r.decide(red("10.0.0.6"))
	if len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, `the target is "10.0.0.6"`) {
		t.Errorf("unverified alert: %+v", ds)
	}
}

// TestRateBudget: 10,000 qualifying reports within a minute from as many
// verified addresses: the method acts within its budget, every other
// decision is stored as suppressed with the reason.
func TestRateBudget(t *testing.T) {
	r := newRig(t, "  mode: enforce\n  budgets:\n    block: {count: 20, per: 1m}\n"+blockPolicy)
	for i := 0; i < 10000; i++ {
		a := netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
		r.decide(report(a.String(), "10.0.0.3", true, event.SeverityRed))
		r.clk.Advance(5 * time.Millisecond) // 10,000 in 50 s
	}
	if _, executed, _ := r.calls.counts(); executed != 20 {
		t.Errorf("executed %d, want the budget of 20", executed)
	}
	st := r.statuses()
	if st[store.StatusDone] != 20 || st[store.StatusSuppressed] != 9980 {
		t.Errorf("statuses %v", st)
	}
	rows, _ := r.st.Responses(t.Context(), store.ResponseFilter{Statuses: []string{store.StatusSuppressed}, Limit: 1})
	if len(rows) != 1 || !strings.Contains(rows[0].Reason, "spent its budget of 20 actions per 1m0s") {
		t.Errorf("suppressed %+v", rows)
	}
	// The budget refills as its window moves on.
	r.clk.Advance(time.Minute)
	if ds := r.decide(report("203.0.200.1", "10.0.0.3", true, event.SeverityRed)); len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Errorf("after a minute: %+v", ds)
	}
}

// TestProtected: protected addresses, prefixes and processes are refused
// whatever the policy says, with the reason, and nothing executes.
func TestProtected(t *testing.T) {
	r := newRig(t, `  mode: enforce
  protect:
    addresses: [10.1.0.0/16]
    processes: [sshd]
  policies:
    - name: block-all
      where: {severity: red}
      subject: addr:src
      methods: [block]
    - name: kill-all
      where: {severity: red}
      subject: process
      methods: [kill]
`)
	cases := []struct {
		name, src string
		attrs     map[string]any
		want      string
	}{
		{"configured prefix", "10.1.2.3", nil, "address 10.1.2.3 is protected (10.1.0.0/16)"},
		{"the monitor's own (given by the node)", "198.51.100.1", nil, "address 198.51.100.1 is protected"},
		{"loopback is not special but configured ones are", "10.1.255.255", nil, "is protected"},
		{"a prefix holding a protected address", "10.0.0.0/8", nil, "prefix 10.0.0.0/8 holds protected addresses (10.1.0.0/16)"},
		{"pid 1", "", map[string]any{"pid": int64(1), "start": int64(5), "exe": "/sbin/init"}, "process 1 is protected"},
		{"the monitor itself", "", map[string]any{"pid": int64(os.Getpid()), "start": int64(5)}, "is protected (pid 1 and the monitor's own)"},
		{"sshd by name", "", map[string]any{"pid": int64(4242), "start": int64(9), "exe": "/usr/sbin/sshd", "name": "sshd"}, `process "sshd" is protected`},
		{"a process without its start time", "", map[string]any{"pid": int64(4243)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := report(tc.src, "10.0.0.3", true, event.SeverityRed)
			if tc.src == "" {
				delete(rep.Attrs, "src")
			}
			for k, v := range tc.attrs {
				rep.Attrs[k] = v
			}
			ds := r.decide(rep)
			if tc.want == "" {
				if len(ds) != 0 {
					t.Errorf("decided on a process named without its start time: %+v", ds)
				}
				return
			}
			if len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, tc.want) {
				t.Errorf("decisions %+v, want refused: %s", ds, tc.want)
			}
		})
	}
	if planned, executed, _ := r.calls.counts(); executed != 0 || planned != 0 {
		t.Errorf("a protected subject reached a method: planned %d, executed %d", planned, executed)
	}
}

// TestSpoofAwareness: an address is blocked only when a triggering report
// shows it could not have been forged; otherwise the decision is refused
// and names the target.
func TestSpoofAwareness(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy)
	ds := r.decide(report("192.0.2.50", "10.0.0.1", false, event.SeverityRed))
	if len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, "could not have been forged") || !strings.Contains(ds[0].Reason, `the target is "10.0.0.1"`) {
		t.Fatalf("unverified source: %+v", ds)
	}
	// Verified for another address does not count for this one.
	rep := report("192.0.2.51", "10.0.0.1", true, event.SeverityRed)
	rep.Attrs["src"] = "192.0.2.52"
	rep.Attrs["src_verified"] = true
	r.decide(report("192.0.2.51", "10.0.0.1", false, event.SeverityRed))
	if _, executed, _ := r.calls.counts(); executed != 0 {
		t.Fatalf("blocked an unverified address")
	}
	if ds := r.decide(report("192.0.2.53", "10.0.0.1", true, event.SeverityRed)); len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Errorf("verified source: %+v", ds)
	}
}

// TestExpiryAndUndo: an action expires on the injected clock's time and
// is undone by its method; an operator's undo of an expired, unknown or
// one-off decision is a clear error.
func TestExpiryAndUndo(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy+`    - name: page
      where: {severity: red}
      methods: [page]
`)
	ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if len(ds) != 2 {
		t.Fatalf("decisions %+v", ds)
	}
	block, page := ds[0], ds[1]
	r.clk.Advance(9*time.Minute + 59*time.Second)
	r.unit.ExpireDue(t.Context())
	if _, _, undone := r.calls.counts(); undone != 0 {
		t.Fatal("undone before its time")
	}
	r.clk.Advance(time.Second)
	r.unit.ExpireDue(t.Context())
	if _, _, undone := r.calls.counts(); undone != 1 {
		t.Fatal("not undone on time")
	}
	row, _ := r.st.GetResponse(t.Context(), block.ID)
	if row.Status != store.StatusExpired || !row.Undone.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("expired row %+v", row)
	}
	if last := r.events[len(r.events)-1]; last.Type != event.TypeResponseUndo || last.Attrs["status"] != "expired" {
		t.Errorf("last event %+v", last)
	}
	if err := r.unit.Undo(t.Context(), block.ID, "admin"); !errors.Is(err, ErrNotActive) || !strings.Contains(err.Error(), "expired already") {
		t.Errorf("undo of an expired decision: %v", err)
	}
	if err := r.unit.Undo(t.Context(), "no-such-id", "admin"); !errors.Is(err, ErrUnknownDecision) {
		t.Errorf("undo of an unknown decision: %v", err)
	}
	if err := r.unit.Undo(t.Context(), page.ID, "admin"); !errors.Is(err, ErrNotActive) || !strings.Contains(err.Error(), "cannot undo") {
		t.Errorf("undo of a notification: %v", err)
	}
	// An operator undoes an action in force; it then acts again when the
	// policy decides again.
	ds = r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if err := r.unit.Undo(t.Context(), ds[0].ID, "admin"); err != nil {
		t.Fatal(err)
	}
	row, _ = r.st.GetResponse(t.Context(), ds[0].ID)
	if row.Status != store.StatusUndone || !strings.Contains(row.Reason, "undone by admin") {
		t.Errorf("undone row %+v", row)
	}
	if err := r.unit.Undo(t.Context(), ds[0].ID, "admin"); !errors.Is(err, ErrNotActive) {
		t.Errorf("second undo: %v", err)
	}
	if ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed)); ds[0].Status != store.StatusDone {
		t.Errorf("after the undo: %+v", ds)
	}
}

// TestUntilGreen: an until_green policy's action is undone when its
// track turns green (a green report of the same monitor, engine and model
// about the same host), and only that one: not by a green report of
// another host or model, and the action about another host stays.
func TestUntilGreen(t *testing.T) {
	r := newRig(t, `  mode: enforce
  policies:
    - name: alert
      where: {severity: red}
      subject: addr:src
      methods: [block]
      until_green: true
`)
	first := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	second := r.decide(report("192.0.2.8", "10.0.0.4", true, event.SeverityRed))
	if len(first) != 1 || len(second) != 1 || first[0].Status != store.StatusDone || second[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v %+v", first, second)
	}
	r.decide(report("192.0.2.9", "10.0.0.5", true, event.SeverityGreen)) // a host no action is about
	model := report("192.0.2.7", "10.0.0.3", true, event.SeverityGreen)
	model.Model = "another-model"
	r.decide(model)
	if _, _, undone := r.calls.counts(); undone != 0 {
		t.Fatalf("undone by a green report of another track: %d", undone)
	}
	r.clk.Advance(time.Minute)
	r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityGreen))
	if _, _, undone := r.calls.counts(); undone != 1 {
		t.Fatalf("undone %d, want the action of the track that turned green only", undone)
	}
	row, _ := r.st.GetResponse(t.Context(), first[0].ID)
	if row.Status != store.StatusUndone || !strings.Contains(row.Reason, "the track turned green") || !row.Undone.Equal(t0.Add(time.Minute)) {
		t.Errorf("row %+v", row)
	}
	if row, _ := r.st.GetResponse(t.Context(), second[0].ID); row.Status != store.StatusDone {
		t.Errorf("the other host's action: %+v", row)
	}
}

// TestRestartReloadsActive: a new decision unit on the same store hands
// the actions in force to the method's Reconcile, keeps them once (the
// same key acts once), and expires them on time; one whose time passed
// while the monitor was down is undone at start.
func TestRestartReloadsActive(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy)
	first := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))[0]
	r.clk.Advance(5 * time.Minute)
	second := r.decide(report("192.0.2.8", "10.0.0.3", true, event.SeverityRed))[0]
	r.restart()
	if len(r.calls.reconcile) != 2 || len(r.calls.reconcile[1]) != 2 || r.calls.reconcile[1][0].Request.ID != first.ID ||
		string(r.calls.reconcile[1][0].Outcome.Undo) != `{"n":1}` {
		t.Fatalf("reconciled %+v", r.calls.reconcile)
	}
	if ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed)); ds[0].Status != store.StatusSuppressed {
		t.Errorf("the same key after the restart: %+v", ds)
	}
	r.clk.Advance(5 * time.Minute) // the first one's time
	r.unit.ExpireDue(t.Context())
	if _, _, undone := r.calls.counts(); undone != 1 || r.calls.undone[0].ID != first.ID {
		t.Fatalf("undone %+v", r.calls.undone)
	}
	// Down past the second one's expiry: undone at start.
	r.clk.Advance(time.Hour)
	r.restart()
	if _, _, undone := r.calls.counts(); undone != 2 || r.calls.undone[1].ID != second.ID {
		t.Errorf("undone %+v", r.calls.undone)
	}
	if active, _ := r.st.ActiveResponses(t.Context()); len(active) != 0 {
		t.Errorf("still active: %+v", active)
	}
}

// TestEscalation: catch and release: each new decision about a repeat
// offender lasts the next step, the last step repeating, counted from the
// store (so a restart does not forgive).
func TestEscalation(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+strings.Replace(blockPolicy, "duration: 10m", "escalate: [10m, 1h, 24h]", 1))
	want := []time.Duration{10 * time.Minute, time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i, d := range want {
		if i == 2 {
			r.restart()
		}
		ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
		if len(ds) != 1 || ds[0].Status != store.StatusDone {
			t.Fatalf("step %d: %+v", i, ds)
		}
		row, _ := r.st.GetResponse(t.Context(), ds[0].ID)
		if got := row.Expires.Sub(row.Time); got != d {
			t.Errorf("step %d lasts %v, want %v", i, got, d)
		}
		r.clk.Advance(d)
		r.unit.ExpireDue(t.Context())
	}
	// Another address starts at the first step.
	ds := r.decide(report("192.0.2.8", "10.0.0.3", true, event.SeverityRed))
	row, _ := r.st.GetResponse(t.Context(), ds[0].ID)
	if got := row.Expires.Sub(row.Time); got != 10*time.Minute {
		t.Errorf("a first offender gets %v", got)
	}
}

// TestRefusedExecution: an execution the method (or the host acting for
// it) refused is recorded refused with its reason, not failed, and
// nothing is held in force.
func TestRefusedExecution(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy)
	r.calls.refuse = true
	ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, "started at another time") {
		t.Fatalf("decisions %+v", ds)
	}
	r.calls.refuse = false
	if ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed)); ds[0].Status != store.StatusDone {
		t.Errorf("after a refusal: %+v", ds)
	}
}

// TestFailedExecution: a method's error is recorded as failed with its
// reason, and nothing is held in force.
func TestFailedExecution(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy)
	r.calls.fail = true
	ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))
	if len(ds) != 1 || ds[0].Status != store.StatusFailed || !strings.Contains(ds[0].Reason, "the test says no") {
		t.Fatalf("decisions %+v", ds)
	}
	r.calls.fail = false
	if ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed)); ds[0].Status != store.StatusDone {
		t.Errorf("after a failure: %+v", ds)
	}
}

// TestUndoRetried: an expired action whose undo fails stays in force and
// is tried again, later each time, until its method undoes it.
func TestUndoRetried(t *testing.T) {
	r := newRig(t, "  mode: enforce\n"+blockPolicy)
	d := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed))[0]
	r.calls.failUndo = true
	r.clk.Advance(10 * time.Minute)
	r.unit.ExpireDue(t.Context())
	if row, _ := r.st.GetResponse(t.Context(), d.ID); row.Status != store.StatusDone {
		t.Fatalf("after a failed undo: %+v", row)
	}
	if ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed)); ds[0].Status != store.StatusSuppressed || !strings.Contains(ds[0].Reason, "its undo pending") {
		t.Errorf("the same key while its undo fails: %+v", ds)
	}
	r.calls.failUndo = false
	r.clk.Advance(500 * time.Millisecond)
	r.unit.ExpireDue(t.Context())
	if _, _, undone := r.calls.counts(); undone != 0 {
		t.Fatal("tried again before its back-off")
	}
	r.clk.Advance(time.Second)
	r.unit.ExpireDue(t.Context())
	if row, _ := r.st.GetResponse(t.Context(), d.ID); row.Status != store.StatusExpired {
		t.Errorf("after the retry: %+v", row)
	}
}

// TestRunDecidesAndExpires runs the unit as the monitor does: reports
// offered from several goroutines are decided by Run, an operator's undo
// comes in beside it, and the clock's ticks expire the rest.
func TestRunDecidesAndExpires(t *testing.T) {
	r := newRig(t, "  mode: enforce\n  default_budget: {count: 1000, per: 1m}\n"+blockPolicy)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.unit.Run(ctx) }()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				rep := report(fmt.Sprintf("203.0.113.%d", g*25+i), "10.0.0.3", true, event.SeverityRed)
				rep.ID = fmt.Sprintf("g%d-%d", g, i)
				r.unit.Offer(rep)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for r.unit.Decisions(store.StatusDone) < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := r.unit.Decisions(store.StatusDone); n != 100 {
		t.Fatalf("%d decisions done, want 100 (dropped %d)", n, r.unit.Dropped())
	}
	r.calls.mu.Lock()
	first := r.calls.executed[0].ID
	r.calls.mu.Unlock()
	if err := r.unit.Undo(t.Context(), first, "admin"); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(11 * time.Minute)
	for r.unit.Decisions(store.StatusExpired) < 99 && time.Now().Before(deadline) {
		r.clk.Advance(time.Second) // each tick of the manual clock runs ExpireDue
		time.Sleep(5 * time.Millisecond)
	}
	if n, u := r.unit.Decisions(store.StatusExpired), r.unit.Decisions(store.StatusUndone); n != 99 || u != 1 {
		t.Errorf("%d expired and %d undone, want 99 and 1", n, u)
	}
	cancel()
	<-done
	if st := r.statuses(); st[store.StatusExpired] != 99 || st[store.StatusUndone] != 1 {
		t.Errorf("stored statuses %v", st)
	}
}

// TestManualRequest: an operator's own request is carried out in monitor
// mode too, acts once while in force, never touches a protected address,
// and a request the method cannot take is a clear error.
func TestManualRequest(t *testing.T) {
	r := newRig(t, blockPolicy) // monitor mode
	addr := netip.MustParseAddr("192.0.2.7")
	d, err := r.unit.Request(t.Context(), Manual{Method: "block", Subject: action.Subject{Addr: addr}, Duration: time.Hour, Who: "admin", Reason: "seen in the logs"})
	if err != nil || d.Status != store.StatusDone || d.Key != "block|addr=192.0.2.7" || !strings.Contains(d.Reason, `requested by admin: "seen in the logs"`) {
		t.Fatalf("request: %+v, %v", d, err)
	}
	row, _ := r.st.GetResponse(t.Context(), d.ID)
	if row.Policy != "" || row.Mode != "enforce" || !row.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("stored %+v", row)
	}
	// A policy's decision on the same address now acts once.
	if ds := r.decide(report("192.0.2.7", "10.0.0.3", true, event.SeverityRed)); ds[0].Status != store.StatusSuppressed {
		t.Errorf("a policy on the same key: %+v", ds)
	}
	if d, _ := r.unit.Request(t.Context(), Manual{Method: "block", Subject: action.Subject{Addr: addr}}); d.Status != store.StatusSuppressed {
		t.Errorf("the same request again: %+v", d)
	}
	if d, _ := r.unit.Request(t.Context(), Manual{Method: "block", Subject: action.Subject{Addr: netip.MustParseAddr("198.51.100.1")}}); d.Status != store.StatusRefused {
		t.Errorf("a protected address: %+v", d)
	}
	if _, err := r.unit.Request(t.Context(), Manual{Method: "nope", Subject: action.Subject{Addr: addr}}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "block, kill, page") {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := r.unit.Request(t.Context(), Manual{Method: "block", Subject: action.Subject{Host: "web-3"}}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "acts on an address") {
		t.Errorf("no address: %v", err)
	}
	if err := r.unit.Undo(t.Context(), d.ID, "admin"); err != nil {
		t.Errorf("undo: %v", err)
	}
	if _, executed, undone := r.calls.counts(); executed != 1 || undone != 1 {
		t.Errorf("executed %d, undone %d", executed, undone)
	}
}
