package configs_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/population"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/resolver/sensitise"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// The shipped domain and enterprise resource objects, run as a monitor
// runs them: every engine of the resource object, each event to each
// engine after a tick to its time, an engine's reports to the engines
// that take them (reports_from), and every report stamped with its
// monitor, engine and id as the resolver stamps it. The domains' reports
// are then the enterprise's events, as its subscriptions deliver them.

var t0 = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

type regs struct {
	engines   *engine.Registry
	responses *action.Registry
}

func (r regs) config() config.Registries {
	return config.Registries{Engines: r.engines, Responses: r.responses}
}

func registries(t *testing.T) regs {
	t.Helper()
	eng := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), profile.Factory(), population.Factory()} {
		if err := eng.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	resp := action.NewRegistry()
	if err := sensitise.Register(resp); err != nil {
		t.Fatal(err)
	}
	return regs{eng, resp}
}

// running is one monitor of a shipped resource object.
type running struct {
	t       *testing.T
	name    string
	cfg     *config.ResourceObject
	engines []engine.Engine
	names   []string
	takers  map[string][]int // engine name -> the engines taking its reports
	ids     *event.TimeIDs
	reports []event.Report
	now     time.Time
}

func start(t *testing.T, file, name string) *running {
	t.Helper()
	reg := registries(t)
	cfg, err := config.LoadFile(file, reg.config())
	if err != nil {
		t.Fatal(err)
	}
	m := &running{t: t, name: name, cfg: cfg, takers: map[string][]int{}, ids: event.NewSeededIDs(uint64(len(name)) + uint64(name[len(name)-1]))}
	for i, spec := range cfg.Engines {
		e, err := reg.engines.Build(context.Background(), spec, engine.Deps{Name: spec.Name, Monitor: name, Clock: clock.NewManual(t0), Logger: testutil.Quiet(), Resolve: cfg.Resolve})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		m.engines = append(m.engines, e)
		m.names = append(m.names, spec.Name)
		for _, from := range spec.ReportsFrom {
			m.takers[from] = append(m.takers[from], i)
		}
	}
	return m
}

func (m *running) emitFor(i int) engine.Emit {
	return func(rep event.Report) {
		rep.Monitor, rep.Engine, rep.ID = m.name, m.names[i], m.ids.NewID(rep.Time)
		if err := rep.Validate(); err != nil {
			m.t.Fatalf("%s/%s made an invalid report: %v", m.name, m.names[i], err)
		}
		m.reports = append(m.reports, rep)
		for _, k := range m.takers[m.names[i]] {
			ev := rep.Event()
			if err := m.engines[k].Handle(context.Background(), &ev, m.emitFor(k)); err != nil {
				m.t.Fatal(err)
			}
		}
	}
}

// tick moves the monitor's time on.
func (m *running) tick(at time.Time) {
	if at.After(m.now) {
		m.now = at
	}
	for i, e := range m.engines {
		if err := e.Tick(context.Background(), m.now, m.emitFor(i)); err != nil {
			m.t.Fatal(err)
		}
	}
}

func (m *running) handle(evs ...event.Event) {
	for _, ev := range evs {
		m.tick(ev.Time)
		for i, e := range m.engines {
			if err := e.Handle(context.Background(), &ev, m.emitFor(i)); err != nil {
				m.t.Fatal(err)
			}
		}
	}
}

// sensitise applies a control request to one of the monitor's engines,
// as its control receiver does.
func (m *running) sensitise(engineName string, c engine.Change) string {
	m.t.Helper()
	i := slices.Index(m.names, engineName)
	if i < 0 {
		m.t.Fatalf("%s has no engine %s", m.name, engineName)
	}
	s, ok := m.engines[i].(engine.Sensitiser)
	if !ok {
		m.t.Fatalf("engine %s cannot be sensitised", engineName)
	}
	detail, err := s.Sensitise(c, m.now)
	if err != nil {
		m.t.Fatal(err)
	}
	return detail
}

// of returns the reports of model made so far.
func (m *running) of(model string) []event.Report {
	var out []event.Report
	for _, r := range m.reports {
		if r.Model == model {
			out = append(out, r)
		}
	}
	return out
}

// alarms are the reports above green.
func (m *running) alarms() []string {
	var out []string
	for _, r := range m.reports {
		if r.Severity > event.SeverityGreen {
			out = append(out, r.Model+": "+r.Explanation)
		}
	}
	return out
}

// disseminated are the domains' reports in time order, as the
// enterprise's subscriptions deliver them (the domains publish every
// report, green included).
func disseminated(domains ...*running) []event.Event {
	var out []event.Event
	for _, d := range domains {
		for _, r := range d.reports {
			out = append(out, r.Event())
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Network sensor records, at a time after t0.
func netEvent(typ string, at time.Duration, src, dst string, attrs map[string]any) event.Event {
	a := map[string]any{"src": src, "dst": dst, "proto": "tcp", "direction": "inbound", "sport": int64(40000 + at/time.Second%20000)}
	for k, v := range attrs {
		a[k] = v
	}
	return event.Event{ID: fmt.Sprintf("%s-%s-%d", typ, dst, at), Time: t0.Add(at), Type: typ, IP: dst, Source: "gw", Attrs: a}
}

func finger(at time.Duration, src, dst string) event.Event {
	return netEvent("NET.CONN", at, src, dst, map[string]any{"dport": int64(79), "outcome": "refused", "tries": int64(1)})
}

func closedPort(at time.Duration, src, dst string, port int64) event.Event {
	return netEvent("NET.CONN", at, src, dst, map[string]any{"dport": port, "outcome": "refused", "tries": int64(1)})
}

func vrfy(at time.Duration, src, dst string) event.Event {
	return netEvent("NET.SMTP", at, src, dst, map[string]any{"dport": int64(25), "app": "smtp", "command": "VRFY", "argument": "root", "reply": int64(252)})
}

// retried is a connection attempt whose SYN went twice.
func retried(at time.Duration, src, dst string) event.Event {
	return netEvent("NET.CONN", at, src, dst, map[string]any{"dport": int64(443), "outcome": "established", "tries": int64(2), "rtt_ms": 1010.0})
}

func traversal(at time.Duration, src, dst string) event.Event {
	return netEvent("NET.HTTP", at, src, dst, map[string]any{"dport": int64(80), "app": "http", "method": "GET", "path": "/cgi-bin/../../../../etc/passwd", "status": int64(404)})
}

// rattle sends, from src, a finger request, a VRFY and a probe of a
// closed port to a domain's server, starting at at: three probes, under
// every threshold of the domain (doorknob-rattling's 8, the gateway
// pack's finger-probes 3 and smtp-recon 5).
func rattle(d *running, at time.Duration, src, dst string) {
	d.handle(finger(at, src, dst), vrfy(at+10*time.Second, src, dst), closedPort(at+30*time.Second, src, dst, 23))
}

func domains(t *testing.T, names ...string) []*running {
	var out []*running
	for _, n := range names {
		out = append(out, start(t, "domain.yaml", n))
	}
	return out
}

// TestRoundRobinDoorknobRattling: a prober spreads three probes to each
// of three domains; no domain reports them above green (each says, in
// green, how many it saw), and the enterprise, adding them up per source
// across domains, reports nine probes over three domains (its threshold
// is 8). The same nine probes seen by one domain alone are that domain's
// own alarm and not the enterprise's; six and three in two domains an
// hour apart are nobody's.
func TestRoundRobinDoorknobRattling(t *testing.T) {
	const prober = "203.0.113.66"
	ds := domains(t, "dom1", "dom2", "dom3")
	for i, d := range ds {
		rattle(d, time.Duration(i)*3*time.Minute, prober, fmt.Sprintf("10.%d.0.25", i+1))
		d.tick(t0.Add(15 * time.Minute))
		if a := d.alarms(); len(a) > 0 {
			t.Errorf("%s reported the probes itself: %q", d.name, a)
		}
		if got := d.of("probes-seen"); len(got) != 1 || got[0].Attrs["count"] != int64(3) || got[0].Attrs["src"] != prober || got[0].Severity != event.SeverityGreen {
			t.Fatalf("%s: want one green probes-seen counting 3 from %s, got %+v", d.name, prober, got)
		}
	}
	ent := start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(ds...)...)
	got := ent.of("round-robin-probing")
	if len(got) != 1 {
		t.Fatalf("want one round-robin-probing report, got %d: %q", len(got), ent.alarms())
	}
	r := got[0]
	if r.IP != prober || r.Severity != event.SeverityYellow || r.Attrs["count"] != int64(9) || !slices.Equal(r.Attrs["values"].([]string), []string{"dom1", "dom2", "dom3"}) {
		t.Errorf("report %+v", r)
	}
	if want := "9 probes from 203.0.113.66 spread over dom1,dom2,dom3 within 30m, below each domain's own threshold"; r.Explanation != want {
		t.Errorf("explanation %q, want %q", r.Explanation, want)
	}

	// The same nine probes into one domain: its own threshold, and no
	// round robin for the enterprise.
	one := start(t, "domain.yaml", "dom1")
	for i := range 3 {
		rattle(one, time.Duration(i)*3*time.Minute, prober, "10.1.0.25")
	}
	one.tick(t0.Add(15 * time.Minute))
	if len(one.of("doorknob-rattling")) != 1 {
		t.Errorf("twelve probes in one domain: want the domain's own doorknob-rattling, got %q", one.alarms())
	}
	ent = start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(one)...)
	if n := len(ent.of("round-robin-probing")); n != 0 {
		t.Errorf("one domain's probes made %d round-robin reports", n)
	}

	// Two domains, outside one window of each other.
	early, late := start(t, "domain.yaml", "dom1"), start(t, "domain.yaml", "dom2")
	rattle(early, 0, prober, "10.1.0.25")
	rattle(early, 2*time.Minute, prober, "10.1.0.25")
	rattle(late, 70*time.Minute, prober, "10.2.0.25")
	early.tick(t0.Add(80 * time.Minute))
	late.tick(t0.Add(80 * time.Minute))
	ent = start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(early, late)...)
	if n := len(ent.of("round-robin-probing")); n != 0 {
		t.Errorf("probes an hour apart made %d round-robin reports", n)
	}
}

// TestAggregateDegradation: mild loss (a few retried connection attempts
// a minute) in two domains at once: each reports it in green, none
// alarms, and the enterprise reports aggregate degradation naming both.
// The same loss in one domain over two minutes, or in two domains half an
// hour apart, is not aggregate.
func TestAggregateDegradation(t *testing.T) {
	lossy := func(d *running, from time.Duration, n int) {
		for i := range n {
			d.handle(retried(from+time.Duration(i)*10*time.Second, fmt.Sprintf("198.51.100.%d", 10+i), "10.0.0.80"))
		}
		d.tick(t0.Add(from + 2*time.Minute))
	}
	ds := domains(t, "dom1", "dom2")
	lossy(ds[0], 0, 4)
	lossy(ds[1], 20*time.Second, 5)
	for _, d := range ds {
		if a := d.alarms(); len(a) > 0 {
			t.Errorf("%s alarmed on mild loss: %q", d.name, a)
		}
		if got := d.of("connection-retries"); len(got) != 1 || got[0].Severity != event.SeverityGreen {
			t.Fatalf("%s: want one green connection-retries, got %+v", d.name, got)
		}
	}
	ent := start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(ds...)...)
	got := ent.of("aggregate-degradation")
	if len(got) != 1 || !slices.Equal(got[0].Attrs["values"].([]string), []string{"dom1", "dom2"}) || got[0].Severity != event.SeverityYellow {
		t.Fatalf("want one aggregate-degradation naming dom1 and dom2, got %+v", got)
	}

	// One domain, two lossy minutes.
	one := start(t, "domain.yaml", "dom1")
	lossy(one, 0, 4)
	lossy(one, 3*time.Minute, 4)
	if n := len(one.of("connection-retries")); n != 2 {
		t.Fatalf("want two minutes of mild loss reported, got %d", n)
	}
	ent = start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(one)...)
	if n := len(ent.of("aggregate-degradation")); n != 0 {
		t.Errorf("one domain's loss made %d aggregate reports", n)
	}
	// Two domains, half an hour apart.
	a, b := start(t, "domain.yaml", "dom1"), start(t, "domain.yaml", "dom2")
	lossy(a, 0, 4)
	lossy(b, 30*time.Minute, 4)
	ent = start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(a, b)...)
	if n := len(ent.of("aggregate-degradation")); n != 0 {
		t.Errorf("loss half an hour apart made %d aggregate reports", n)
	}
}

// profileReport is a domain's gateway-profiles report (a profile class
// scoring anomalous), as a domain monitor disseminates it.
func profileReport(monitor, class string, at time.Duration) event.Event {
	r := event.Report{ID: fmt.Sprintf("%s-%s-%d", monitor, class, at), Time: t0.Add(at), Monitor: monitor, Engine: "gateway-profiles",
		Model: class, Host: "gw", Score: 0.99, Severity: event.SeverityYellow, State: "Anomalous",
		Explanation: class + ": T2 41.2 above 12.5", Attrs: map[string]any{"t2": 41.2, "subject": "gw", "top_measure": "rate"}}
	return r.Event()
}

// TestCommonAnomaly: firewall discards anomalous in all three domains
// within the hour are one enterprise report naming them; in two domains,
// or three times in one, or in three domains over three hours, they are
// not.
func TestCommonAnomaly(t *testing.T) {
	cases := []struct {
		name    string
		reports []event.Event
		want    []string
	}{
		{"three domains", []event.Event{profileReport("dom1", "gateway-discards", 0), profileReport("dom2", "gateway-discards", 20*time.Minute), profileReport("dom3", "gateway-discards", 50*time.Minute)}, []string{"dom1", "dom2", "dom3"}},
		{"one domain three times", []event.Event{profileReport("dom1", "gateway-discards", 0), profileReport("dom1", "gateway-discards", 20*time.Minute), profileReport("dom1", "gateway-discards", 40*time.Minute)}, nil},
		{"two domains", []event.Event{profileReport("dom1", "gateway-discards", 0), profileReport("dom2", "gateway-discards", 20*time.Minute), profileReport("dom2", "gateway-discards", 40*time.Minute)}, nil},
		{"different anomalies", []event.Event{profileReport("dom1", "gateway-discards", 0), profileReport("dom2", "gateway", 20*time.Minute), profileReport("dom3", "gateway-discards", 40*time.Minute)}, nil},
		{"three hours", []event.Event{profileReport("dom1", "gateway-discards", 0), profileReport("dom2", "gateway-discards", 70*time.Minute), profileReport("dom3", "gateway-discards", 140*time.Minute)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ent := start(t, "enterprise.yaml", "ent")
			ent.handle(c.reports...)
			got := ent.of("common-anomaly")
			switch {
			case c.want == nil && len(got) != 0:
				t.Errorf("reported %q", ent.alarms())
			case c.want != nil && (len(got) != 1 || !slices.Equal(got[0].Attrs["values"].([]string), c.want)):
				t.Errorf("want one report naming %v, got %+v", c.want, got)
			case c.want != nil:
				if want := "gateway-discards anomalous in dom1,dom2,dom3 within 1h: enterprise-wide, not one domain's"; got[0].Explanation != want || got[0].Host != "gateway-discards" {
					t.Errorf("report %q about %q", got[0].Explanation, got[0].Host)
				}
			}
		})
	}
}

// TestSpreadingWebAttack: a source attacking the web servers of domain 1,
// then domain 2, keeps at it in each (three requests, the domains' own
// threshold): each domain reports it, and the enterprise reports the
// spread with the domains hit. Its sensitise method asks the children
// that have not reported it (dom3 alone) to turn on the standby group
// web-attacks-spreading; domain 3, so sensitised, reports the first
// attempt it sees, which unsensitised it does not.
func TestSpreadingWebAttack(t *testing.T) {
	const attacker = "192.0.2.77"
	ds := domains(t, "dom1", "dom2", "dom3")
	for i, d := range ds[:2] {
		base := time.Duration(i) * 5 * time.Minute
		for k := range 3 {
			d.handle(traversal(base+time.Duration(k)*20*time.Second, attacker, fmt.Sprintf("10.%d.0.80", i+1)))
		}
		if got := d.of("web-attack"); len(got) != 1 || got[0].Severity != event.SeverityRed || got[0].Attrs["src"] != attacker {
			t.Fatalf("%s: want one red web-attack from %s, got %q (all: %+v)", d.name, attacker, d.alarms(), d.reports)
		}
	}
	ent := start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(ds...)...)
	got := ent.of("spreading-web-attack")
	if len(got) != 1 || !slices.Equal(got[0].Attrs["values"].([]string), []string{"dom1", "dom2"}) {
		t.Fatalf("want one spreading-web-attack naming dom1 and dom2, got %q", ent.alarms())
	}
	spread := got[0]

	// The enterprise's method asks the domains not yet hit.
	reg := registries(t)
	spec := ent.cfg.Responses[slices.IndexFunc(ent.cfg.Responses, func(p config.PluginSpec) bool { return p.Name == "sensitise-unhit-domains" })]
	var asked []string
	var req controlmsg.Request
	deps := action.Deps{Monitor: "ent", Clock: clock.NewManual(t0), Logger: testutil.Quiet(), Children: ent.cfg.Monitor.Children,
		Request: func(_ context.Context, subject string, data []byte) ([]byte, error) {
			var err error
			if req, err = controlmsg.DecodeRequest(data); err != nil {
				return nil, err
			}
			asked = append(asked, subject)
			// Domain 3's monitor applies it, as its control receiver does.
			target := strings.TrimPrefix(subject, "vigil.ctl.")
			d := ds[slices.IndexFunc(ds, func(d *running) bool { return strings.HasPrefix(target, d.name) })]
			dur := time.Duration(req.Duration)
			detail := d.sensitise(req.Target, engine.Change{ID: req.ID, By: req.Monitor, Action: req.Action, Params: req.Parameters, Until: d.now.Add(dur)})
			return controlmsg.Encode(controlmsg.Reply{Version: controlmsg.Version, ID: req.ID, Monitor: d.name, Status: controlmsg.StatusDone, Detail: detail, Expires: d.now.Add(dur)}), nil
		}}
	m, err := reg.responses.Build(context.Background(), spec, deps)
	if err != nil {
		t.Fatal(err)
	}
	dreq := action.Request{ID: "dec-1", Policy: "spreading-web-attack", Method: spec.Name, Kind: spec.Kind, Time: spread.Time, Expires: spread.Time.Add(time.Hour), Reports: []event.Report{spread}}
	plan, err := m.Plan(dreq)
	if err != nil || strings.Contains(plan, "dom1") || strings.Contains(plan, "dom2") || !strings.Contains(plan, `ask monitor dom3`) || !strings.Contains(plan, `group "web-attacks-spreading" in engine domain-correlation for 1h0m0s`) {
		t.Errorf("plan %q, %v", plan, err)
	}

	// Unsensitised, domain 3 keeps a first attempt to itself (green).
	ds[2].handle(traversal(20*time.Minute, "198.51.100.9", "10.3.0.80"))
	if a := ds[2].alarms(); len(a) != 0 {
		t.Fatalf("domain 3 alarmed on one attempt before being sensitised: %q", a)
	}
	out, err := m.Execute(context.Background(), dreq)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || !strings.HasPrefix(asked[0], "vigil.ctl.dom3") || !strings.Contains(out.Detail, "monitor dom3: enabled the 1 standby rule(s) of group web-attacks-spreading (web-attack-first)") {
		t.Fatalf("asked %v: %+v", asked, out)
	}
	ds[2].handle(traversal(25*time.Minute, attacker, "10.3.0.80"))
	first := ds[2].of("web-attack-first")
	if len(first) != 1 || first[0].Severity != event.SeverityRed || first[0].IP != "10.3.0.80" || first[0].Attrs["src"] != attacker {
		t.Fatalf("sensitised domain 3: want its first attempt reported red, got %q", ds[2].alarms())
	}
	// Domains 1 and 2 were not asked: one more attempt there is below
	// their threshold again.
	ds[0].handle(traversal(26*time.Minute, "198.51.100.10", "10.1.0.80"))
	if n := len(ds[0].of("web-attack-first")); n != 0 {
		t.Errorf("domain 1 was sensitised too (%d first-attempt reports)", n)
	}

	// One domain attacked again and again is not a spread.
	solo := start(t, "domain.yaml", "dom1")
	for k := range 9 {
		solo.handle(traversal(time.Duration(k)*2*time.Minute, attacker, "10.1.0.80"))
	}
	ent = start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(solo)...)
	if len(solo.of("web-attack")) < 2 || len(ent.of("spreading-web-attack")) != 0 {
		t.Errorf("one domain's attacks: %d web-attack, %d spreading", len(solo.of("web-attack")), len(ent.of("spreading-web-attack")))
	}
	// Two domains, two hours apart.
	a, b := start(t, "domain.yaml", "dom1"), start(t, "domain.yaml", "dom2")
	for k := range 3 {
		a.handle(traversal(time.Duration(k)*20*time.Second, attacker, "10.1.0.80"))
		b.handle(traversal(2*time.Hour+time.Duration(k)*20*time.Second, attacker, "10.2.0.80"))
	}
	ent = start(t, "enterprise.yaml", "ent")
	ent.handle(disseminated(a, b)...)
	if n := len(ent.of("spreading-web-attack")); n != 0 {
		t.Errorf("attacks two hours apart made %d spreading reports", n)
	}
}
