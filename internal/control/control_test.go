package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const rules = `
rules:
  - id: outbound-ssh
    group: exfiltration
    enabled: false
    match: {type: NET.CONN, where: {dport: 22}}
`

const resource = `monitor: {name: svc}
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

// engines builds the real engines of resource, as a monitor does, and one
// engine that takes no configuration requests.
func engines(t *testing.T) map[string]engine.Engine {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), profile.Factory()} {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load([]byte(resource), filepath.Join(dir, "m.yml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]engine.Engine{}
	for _, spec := range cfg.Engines {
		e, err := reg.Build(context.Background(), spec, engine.Deps{Monitor: "svc", Logger: testutil.Quiet(), Resolve: cfg.Resolve})
		if err != nil {
			t.Fatal(err)
		}
		out[spec.Name] = e
	}
	out["plain"] = plainEngine{}
	// The profile learns one source.
	ev := &event.Event{ID: "e1", Time: t0, Type: "NET.CONN", IP: "198.51.100.7", Attrs: map[string]any{"src": "198.51.100.7", "service": "http"}}
	if err := out["sources"].Handle(context.Background(), ev, func(event.Report) {}); err != nil {
		t.Fatal(err)
	}
	return out
}

// plainEngine is an engine without engine.Sensitiser.
type plainEngine struct{}

func (plainEngine) Handle(context.Context, *event.Event, engine.Emit) error { return nil }
func (plainEngine) Tick(context.Context, time.Time, engine.Emit) error      { return nil }
func (plainEngine) Close(context.Context) error                             { return nil }

func receiver(t *testing.T, engs map[string]engine.Engine, clk clock.Clock, authorise func(string, controlmsg.Request) error, audit func(Audit)) *Receiver {
	with := func(name string, fn func(engine.Engine)) bool {
		e, ok := engs[name]
		if ok {
			fn(e)
		}
		return ok
	}
	return New(Options{
		Name: "svc", Subject: bus.CtlListenSubject("svc"), SenderPrefix: bus.PrefixCtl,
		Apply:     Engines("svc", []string{"signatures", "sources", "plain"}, with),
		Authorise: authorise, Audit: audit, Clock: clk, Logger: testutil.Quiet(),
	})
}

func request(id, target, action string, params map[string]string, d time.Duration) []byte {
	return requestAs("domain", id, target, action, params, d)
}

func requestAs(monitor, id, target, action string, params map[string]string, d time.Duration) []byte {
	return controlmsg.Encode(controlmsg.Request{Version: controlmsg.Version, ID: id, Monitor: monitor, Target: target, Action: action, Parameters: params, Duration: controlmsg.Duration(d)})
}

func decode(t *testing.T, b []byte) controlmsg.Reply {
	t.Helper()
	r, err := controlmsg.DecodeReply(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReceiverAppliesAcknowledgesAndRefuses answers requests over a real
// bus: as the monitors' identity a request is applied, and its reply says
// what and until when; what cannot be done is refused with the reason; a
// repeated id gets the first reply again and acts once; the sensors'
// identity cannot ask at all.
func TestReceiverAppliesAcknowledgesAndRefuses(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	clk := clock.NewManual(t0)
	engs := engines(t)
	rc := receiver(t, engs, clk, func(m string, _ controlmsg.Request) error {
		if m == "rogue" {
			return errors.New("not a parent of svc")
		}
		return nil
	}, nil)
	served := bustest.ConnectAs(t, s, mon, "svc")
	stop, err := rc.Subscribe(served.NC)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	asker := bustest.ConnectAs(t, s, mon, "domain")
	ask := func(data []byte) controlmsg.Reply {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, err := asker.Request(ctx, bus.CtlSubject("svc", "domain"), data)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, b)
	}

	first := request("d1", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "exfiltration"}, 10*time.Minute)
	rep := ask(first)
	if rep.Status != controlmsg.StatusDone || rep.ID != "d1" || rep.Monitor != "svc" || !rep.Expires.Equal(t0.Add(10*time.Minute)) ||
		!strings.Contains(rep.Detail, "engine signatures: enabled the 1 standby rule(s) of group exfiltration (outbound-ssh)") {
		t.Errorf("reply %+v", rep)
	}
	// The same id again: the first reply, nothing applied twice.
	clk.Advance(time.Minute)
	if again := ask(first); again != rep {
		t.Errorf("a repeated id got %+v, want the first reply %+v", again, rep)
	}
	if rc.Count("repeat") != 1 || rc.Count(controlmsg.StatusDone) != 1 {
		t.Errorf("counts: done %d, repeat %d", rc.Count(controlmsg.StatusDone), rc.Count("repeat"))
	}

	lowered := ask(request("d2", "sources", controlmsg.ActionLowerThreshold, map[string]string{"subject": "198.51.100.7", "factor": "0.5"}, time.Hour))
	if lowered.Status != controlmsg.StatusDone || !strings.Contains(lowered.Detail, `subject "198.51.100.7" to 0.5`) {
		t.Errorf("lowered: %+v", lowered)
	}

	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"unknown engine":  {request("r1", "tracks", controlmsg.ActionEnableGroup, map[string]string{"group": "g"}, time.Minute), `no engine "tracks" in monitor svc (engines: signatures, sources, plain)`},
		"unknown group":   {request("r2", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "nope"}, time.Minute), `engine signatures: no rule group "nope" with standby rules (groups: exfiltration)`},
		"unknown subject": {request("r3", "sources", controlmsg.ActionLowerThreshold, map[string]string{"subject": "203.0.113.1", "factor": "0.5"}, time.Minute), `no class has a profile of subject "203.0.113.1"`},
		"wrong engine":    {request("r4", "sources", controlmsg.ActionEnableGroup, map[string]string{"group": "exfiltration"}, time.Minute), `takes "lower-threshold", not "enable-group"`},
		"no sensitiser":   {request("r5", "plain", controlmsg.ActionEnableGroup, map[string]string{"group": "g"}, time.Minute), "engine plain takes no configuration requests"},
		"zero duration":   {request("r6", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "exfiltration"}, 0), "must last a positive time"},
		"negative":        {request("r7", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "exfiltration"}, -time.Minute), "must last a positive time"},
		"too long":        {request("r8", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "exfiltration"}, 48*time.Hour), "longer than the 24h0m0s"},
		"another sender":  {requestAs("rogue", "r9", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "exfiltration"}, time.Minute), `vigil.ctl: the request names monitor "rogue" but was sent by domain`},
		"malformed":       {[]byte(`{"version":1,"id":"r10","monitor":"m","target":"signatures","action":"enable-group","parameters":{"group":"g"},"duration":"1m","sudo":true}`), `unknown field "sudo"`},
		"not json":        {[]byte(`enable everything`), "not JSON"},
	} {
		rep := ask(c.data)
		if rep.Status != controlmsg.StatusRefused || !strings.Contains(rep.Detail, c.want) {
			t.Errorf("%s: %+v, want refused saying %q", name, rep, c.want)
		}
	}

	// A revert ends the change; a second revert finds nothing in force.
	rev := ask(request("u1", "signatures", controlmsg.ActionRevert, map[string]string{"request": "d1"}, 0))
	if rev.Status != controlmsg.StatusDone || !strings.Contains(rev.Detail, "ended request d1: group exfiltration back in standby") {
		t.Errorf("revert: %+v", rev)
	}
	rev = ask(request("u2", "signatures", controlmsg.ActionRevert, map[string]string{"request": "d1"}, 0))
	if rev.Status != controlmsg.StatusDone || !strings.Contains(rev.Detail, "request d1 is not in force") {
		t.Errorf("second revert: %+v", rev)
	}

	// The sensors' identity may not ask: its request reaches no receiver.
	sensor := bustest.ConnectAs(t, s, sen, "agent")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := sensor.Request(ctx, bus.CtlSubject("svc", "domain"), first); err == nil {
		t.Error("a request sent with the sensors' identity was answered")
	}
}

// TestReceiverSaysWhenAnEngineHasStopped: a request for an engine whose
// loop has ended fails, saying so.
func TestReceiverSaysWhenAnEngineHasStopped(t *testing.T) {
	rc := New(Options{Name: "svc", Subject: bus.CtlListenSubject("svc"), SenderPrefix: bus.PrefixCtl, Apply: Engines("svc", []string{"signatures"}, func(string, func(engine.Engine)) bool { return false }), Logger: testutil.Quiet()})
	rep := decode(t, rc.Handle(bus.CtlSubject("svc", "domain"), request("d1", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "g"}, time.Minute)))
	if rep.Status != controlmsg.StatusFailed || !strings.Contains(rep.Detail, "engine signatures has stopped") {
		t.Errorf("reply %+v", rep)
	}
}

// TestSensorIdentityMayNotTakeControlRequests: an identity that may not
// subscribe to the control subject is an error at Subscribe.
func TestSensorIdentityMayNotTakeControlRequests(t *testing.T) {
	s, _, sen := bustest.StartLocal(t)
	c := bustest.ConnectAs(t, s, sen, "agent")
	rc := New(Options{Name: "svc", Subject: bus.CtlListenSubject("svc"), SenderPrefix: bus.PrefixCtl, Logger: testutil.Quiet()})
	if _, err := rc.Subscribe(c.NC); err == nil || !strings.Contains(err.Error(), "may not subscribe to vigil.ctl.svc.*") {
		t.Errorf("Subscribe as the sensors' identity: %v", err)
	}
}

// TestReceiverTakesOnlyItsParentAndPeers: a monitor declaring a parent and
// peers, asked over a real bus, applies its parent's requests and its
// peers' sensitising ones, refuses every other monitor's saying who may
// ask, takes the sender from the subject (a request naming another
// monitor than its sender is refused), and audits every answer; the
// change it applied ends by itself at its time.
func TestReceiverTakesOnlyItsParentAndPeers(t *testing.T) {
	s, mon, _ := bustest.StartLocal(t)
	clk := clock.NewManual(t0)
	engs := engines(t)
	var audits []Audit
	rc := receiver(t, engs, clk, func(sender string, req controlmsg.Request) error {
		return Authorised(sender, "dom1", []string{"svc2"}, controlmsg.Sensitising(req.Action))
	}, func(a Audit) { audits = append(audits, a) })
	served := bustest.ConnectAs(t, s, mon, "svc")
	stop, err := rc.Subscribe(served.NC)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	asker := bustest.ConnectAs(t, s, mon, "any")
	ask := func(sender string, data []byte) controlmsg.Reply {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, err := asker.Request(ctx, bus.CtlSubject("svc", sender), data)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, b)
	}
	group := map[string]string{"group": "exfiltration"}

	if rep := ask("dom9", requestAs("dom9", "x1", "signatures", controlmsg.ActionEnableGroup, group, time.Minute)); rep.Status != controlmsg.StatusRefused ||
		rep.Detail != "vigil.ctl: monitor dom9 is neither the parent (dom1) nor a peer of svc" {
		t.Errorf("a stranger's request: %+v", rep)
	}
	// The parent's name in the body does not make a stranger the parent.
	if rep := ask("dom9", requestAs("dom1", "x2", "signatures", controlmsg.ActionEnableGroup, group, time.Minute)); rep.Status != controlmsg.StatusRefused ||
		!strings.Contains(rep.Detail, `the request names monitor "dom1" but was sent by dom9`) {
		t.Errorf("a stranger naming the parent: %+v", rep)
	}
	peer := ask("svc2", requestAs("svc2", "p1", "signatures", controlmsg.ActionEnableGroup, group, 10*time.Minute))
	if peer.Status != controlmsg.StatusDone || !peer.Expires.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("a peer's sensitise request: %+v", peer)
	}
	parent := ask("dom1", requestAs("dom1", "d1", "sources", controlmsg.ActionLowerThreshold, map[string]string{"subject": "198.51.100.7", "factor": "0.5"}, time.Hour))
	if parent.Status != controlmsg.StatusDone {
		t.Errorf("the parent's request: %+v", parent)
	}
	if rc.Count(Unauthorised) != 2 || rc.Count(controlmsg.StatusRefused) != 2 || rc.Count(controlmsg.StatusDone) != 2 {
		t.Errorf("counts: unauthorised %d, refused %d, done %d", rc.Count(Unauthorised), rc.Count(controlmsg.StatusRefused), rc.Count(controlmsg.StatusDone))
	}

	// Each answer audited, in order, with its sender and outcome.
	want := []struct {
		sender, id, status string
		unauthorised       bool
	}{{"dom9", "x1", "refused", true}, {"dom9", "x2", "refused", true}, {"svc2", "p1", "done", false}, {"dom1", "d1", "done", false}}
	if len(audits) != len(want) {
		t.Fatalf("%d audits, want %d: %+v", len(audits), len(want), audits)
	}
	for i, w := range want {
		a := audits[i]
		if a.Sender != w.sender || a.Request.ID != w.id || a.Reply.Status != w.status || a.Unauthorised != w.unauthorised || !a.At.Equal(t0) {
			t.Errorf("audit %d: %+v, want %+v", i, a, w)
		}
	}

	// The peer's change ends by itself at its time (the engine's first
	// tick at or after it): then a revert finds nothing in force.
	clk.Advance(10*time.Minute + time.Second)
	if err := engs["signatures"].Tick(context.Background(), clk.Now(), func(event.Report) {}); err != nil {
		t.Fatal(err)
	}
	if rep := ask("svc2", requestAs("svc2", "p2", "signatures", controlmsg.ActionRevert, map[string]string{"request": "p1"}, 0)); rep.Status != controlmsg.StatusDone ||
		!strings.Contains(rep.Detail, "request p1 is not in force") {
		t.Errorf("reverting an expired change: %+v", rep)
	}
}

// TestReceiverNeedsTheSenderInTheSubject: on a monitor's control subject
// a request whose subject names no sender is refused and audited.
func TestReceiverNeedsTheSenderInTheSubject(t *testing.T) {
	var audits []Audit
	rc := New(Options{Name: "svc", Subject: bus.CtlListenSubject("svc"), SenderPrefix: bus.PrefixCtl, Audit: func(a Audit) { audits = append(audits, a) }, Logger: testutil.Quiet()})
	rep := decode(t, rc.Handle("vigil.ctl.svc", request("d1", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "g"}, time.Minute)))
	if rep.Status != controlmsg.StatusRefused || !strings.Contains(rep.Detail, "the subject names no sender") {
		t.Errorf("reply %+v", rep)
	}
	if len(audits) != 1 || audits[0].Reply.Status != controlmsg.StatusRefused {
		t.Errorf("audits %+v", audits)
	}
}

// FuzzReceiverHandle: whatever the subject and the bytes, a monitor's
// receiver answers with a reply that decodes, refuses what names no
// sender or a sender that is neither its parent nor a peer, and audits
// every answer once.
func FuzzReceiverHandle(f *testing.F) {
	f.Add("vigil.ctl.svc.dom1", string(requestAs("dom1", "d1", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "g"}, time.Minute)))
	f.Add("vigil.ctl.svc.dom9", string(requestAs("dom9", "d2", "signatures", controlmsg.ActionEnableGroup, map[string]string{"group": "g"}, time.Minute)))
	f.Add("vigil.ctl.svc", `{"version":1}`)
	f.Add("vigil.ctl.svc.a.b", "not json")
	f.Fuzz(func(t *testing.T, subject, data string) {
		audits := 0
		rc := New(Options{
			Name: "svc", Subject: bus.CtlListenSubject("svc"), SenderPrefix: bus.PrefixCtl,
			Apply: func(controlmsg.Request, time.Time) controlmsg.Reply {
				return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: "applied"}
			},
			Authorise: func(sender string, req controlmsg.Request) error {
				return Authorised(sender, "dom1", []string{"svc2"}, controlmsg.Sensitising(req.Action))
			},
			Audit:  func(Audit) { audits++ },
			Clock:  clock.NewManual(t0),
			Logger: testutil.Quiet(),
		})
		rep, err := controlmsg.DecodeReply(rc.Handle(subject, []byte(data)))
		if err != nil {
			t.Fatalf("the reply does not decode: %v", err)
		}
		sender, ok := bus.SubjectSender(subject, bus.PrefixCtl)
		if rep.Status == controlmsg.StatusDone && (!ok || sender != "dom1" && sender != "svc2") {
			t.Fatalf("applied a request on %q from %q", subject, sender)
		}
		if audits != 1 {
			t.Fatalf("%d audits of one answer", audits)
		}
	})
}
