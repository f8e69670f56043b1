package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/hierarchy"
	"github.com/vigil-ids/vigil/internal/probemsg"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// probeTap counts the probes sent on a subject (beside the monitor that
// answers them, if any) and says who sent them.
type probeTap struct {
	mu       sync.Mutex
	subjects []string
}

func tapProbes(t *testing.T, nc *nats.Conn, subject string) *probeTap {
	t.Helper()
	tap := &probeTap{}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		tap.mu.Lock()
		tap.subjects = append(tap.subjects, m.Subject)
		tap.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return tap
}

// atLeast waits at most 5 s for the tap to have seen n probes (its
// connection gets them apart from the prober's reply), and returns how
// many it saw.
func (p *probeTap) atLeast(n int) int {
	deadline := time.Now().Add(5 * time.Second)
	for len(p.seen()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return len(p.seen())
}

func (p *probeTap) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.subjects...)
}

// TestProbeRelayedDownTheTree runs three monitors on a real bus, the
// enterprise ent, its domain dom and dom's service monitor svc1 (and a
// sibling svc2), and probes, from the enterprise, the evidence behind
// svc1's report through dom: dom relays the probe to svc1 as itself, svc1
// answers its parent, and its host observations come back to the
// enterprise. Only the monitor on the path is asked; dom relays only its
// parent's probes and only to its own children; a hop that is no child,
// is not running, answers only another parent or does not answer in time
// gives a reply naming it, within the sender's time.
func TestProbeRelayedDownTheTree(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	if err := reg.Register(engine.Factory{
		Kind:        "listing",
		NewSettings: func() config.Settings { return &countSettings{Threshold: 2} },
		New: func(_ context.Context, s config.Settings, _ engine.Deps) (engine.Engine, error) {
			return &listingEngine{countEngine: countEngine{threshold: s.(*countSettings).Threshold, seen: map[string][]string{}}, last: map[string]time.Time{}}, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	svc := func(name, parent string) *running {
		cfg := loadConfig(t, `
monitor: {name: `+name+`, layer: service, parent: `+parent+`}
sources: [{name: obs, subjects: ["vigil.obs.>"]}]
engines: [{kind: listing, name: lst}]
`, reg)
		return run(t, Options{Config: cfg, Engines: reg, Conn: conn(name)})
	}
	svc1 := svc("svc1", "dom")
	svc("svc2", "dom")
	// rogue is declared dom's child but answers another parent.
	svc("rogue", "elsewhere")
	domCfg := loadConfig(t, `
monitor: {name: dom, layer: domain, parent: ent, children: [svc1, svc2, svc3, rogue, slow]}
subscriptions: [{monitor: svc1}]
`, reg)
	run(t, Options{Config: domCfg, Engines: reg, Conn: conn("dom")})
	entCfg := loadConfig(t, "monitor: {name: ent, layer: enterprise, children: [dom]}\n", reg)
	ent := run(t, Options{Config: entCfg, Engines: reg, Conn: conn("ent")})

	pub := conn("pub")
	evs := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "web-1", event.TypeProcSpawn, 2)
	if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "svc1's report stored", func() bool { return svc1.m.Store().Stats().ReportsWritten == 1 })
	reps, err := svc1.m.Store().Reports(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	report := reps[0]

	taps := conn("taps")
	toSvc1 := tapProbes(t, taps.NC, "vigil.probe.svc1.*")
	toSvc2 := tapProbes(t, taps.NC, "vigil.probe.svc2.*")
	// slow takes probes and never answers.
	tapProbes(t, taps.NC, "vigil.probe.slow.*")

	ctx := context.Background()
	fromEnt := func(req probemsg.Request, timeout time.Duration) probemsg.Reply {
		t.Helper()
		rep, err := ent.m.ProbeChild(ctx, "dom", req, timeout)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		if rep.ID != req.ID {
			t.Fatalf("reply %+v to %q", rep, req.ID)
		}
		return rep
	}

	// The evidence behind svc1's report, from the enterprise, through dom.
	rep := fromEnt(probemsg.Request{ID: "e", Kind: probemsg.KindEvidence, Report: report.ID, Via: []string{"svc1"}}, 5*time.Second)
	var ev probemsg.Evidence
	if err := json.Unmarshal(rep.Data, &ev); err != nil || rep.Status != probemsg.StatusOK || rep.Monitor != "svc1" {
		t.Fatalf("evidence through dom: %+v %v", rep, err)
	}
	if len(ev.Events) != 2 || len(ev.Missing) != 0 {
		t.Fatalf("evidence data %+v", ev)
	}
	for i, raw := range ev.Events {
		e, err := event.DecodeJSON(raw)
		if err != nil || e.Host != "web-1" || e.Type != event.TypeProcSpawn || e.ID != evs[0].ID && e.ID != evs[1].ID {
			t.Errorf("evidence event %d: %+v %v", i, e, err)
		}
	}
	rep = fromEnt(probemsg.Request{ID: "s", Kind: probemsg.KindStatus, Via: []string{"svc1"}}, 5*time.Second)
	var st probemsg.Status
	if err := json.Unmarshal(rep.Data, &st); err != nil || st.Name != "svc1" || st.Parent != "dom" || st.Counters.ReportsOut != 1 {
		t.Errorf("svc1's status through dom: %+v %v", st, err)
	}
	// svc1 was asked by dom, its parent, each time; svc2 never.
	testutil.WaitFor(t, 5*time.Second, "the taps to see the probes", func() bool { return len(toSvc1.seen()) == 2 })
	for _, s := range toSvc1.seen() {
		if s != "vigil.probe.svc1.dom" {
			t.Errorf("svc1 probed on %s, want by dom only", s)
		}
	}

	for _, c := range []struct {
		via     []string
		timeout time.Duration
		status  string
		monitor string
		detail  string
	}{
		{[]string{"svc9"}, 5 * time.Second, probemsg.StatusNotFound, "dom", `monitor dom has no child "svc9": the probe goes no further`},
		{[]string{"svc3"}, 5 * time.Second, probemsg.StatusUnreachable, "dom", "monitor dom relaying to svc3: probe of svc3: no monitor of that name answers probes"},
		{[]string{"rogue"}, 5 * time.Second, probemsg.StatusRefused, "rogue", "monitor rogue answers probes from its parent elsewhere only, not from dom"},
		{[]string{"svc1", "leaf"}, 5 * time.Second, probemsg.StatusNotFound, "svc1", `monitor svc1 has no child "leaf": the probe goes no further`},
		{[]string{"svc1", "dom"}, 5 * time.Second, probemsg.StatusRefused, "dom", "monitor dom is itself on the probe's path svc1 > dom"},
		{[]string{"slow"}, 2 * time.Second, probemsg.StatusUnreachable, "dom", "monitor dom relaying to slow: probe of slow: no reply within 1.8s"},
		{[]string{"svc1"}, 250 * time.Millisecond, probemsg.StatusUnreachable, "dom", "monitor dom: no time left to relay the probe to svc1"},
	} {
		start := time.Now()
		rep := fromEnt(probemsg.Request{ID: "x", Kind: probemsg.KindStatus, Via: c.via}, c.timeout)
		if rep.Status != c.status || rep.Monitor != c.monitor || rep.Detail != c.detail || rep.Data != nil {
			t.Errorf("via %q: %+v, want %s from %s: %q", c.via, rep, c.status, c.monitor, c.detail)
		}
		if d := time.Since(start); d >= c.timeout {
			t.Errorf("via %q: answered in %v, past the sender's %v", c.via, d, c.timeout)
		}
	}
	if n := toSvc1.atLeast(3); n != 3 {
		t.Errorf("svc1 probed %d times, want 3 (once more, on the way to leaf)", n)
	}

	// Not from dom's parent: refused by dom, nothing relayed.
	intruder := conn("intruder")
	rep, err = probemsg.Probe(ctx, intruder.NC, "dom", "intruder", probemsg.Request{ID: "i", Kind: probemsg.KindEvidence, Report: report.ID, Via: []string{"svc1"}}, 5*time.Second)
	if err != nil || rep.Status != probemsg.StatusRefused || rep.Monitor != "dom" || rep.Detail != "monitor dom answers probes from its parent ent only, not from intruder" {
		t.Errorf("relay asked by another monitor than dom's parent: %+v %v", rep, err)
	}
	// The enterprise cannot skip the domain: svc1 is not its child.
	if _, err := ent.m.ProbeChild(ctx, "svc1", probemsg.Request{ID: "d", Kind: probemsg.KindStatus}, time.Second); !errors.Is(err, hierarchy.ErrNotChild) {
		t.Errorf("enterprise probing svc1 directly: %v", err)
	}
	rep, err = probemsg.Probe(ctx, conn("ent2").NC, "svc1", "ent", probemsg.Request{ID: "d", Kind: probemsg.KindStatus}, 5*time.Second)
	if err != nil || rep.Status != probemsg.StatusRefused || !strings.Contains(rep.Detail, "from its parent dom only, not from ent") {
		t.Errorf("svc1 probed by the enterprise directly: %+v %v", rep, err)
	}
	if n := toSvc1.atLeast(4); n != 4 {
		t.Errorf("svc1 probed %d times, want 4 (the direct probe it refused)", n)
	}
	if s := toSvc2.seen(); len(s) != 0 {
		t.Errorf("svc2, on no path, was probed: %q", s)
	}
}
