package effect

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/sensor/host/effector"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// build makes a process method from a resource object's section.
func build(t testing.TB, yaml string, deps action.Deps) action.Method {
	t.Helper()
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load([]byte("monitor: {name: m}\nresponses:\n"+yaml), "m.yml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	deps.Monitor, deps.Clock, deps.Logger = "m", clock.Real{}, testutil.Quiet()
	m, err := reg.Build(context.Background(), ro.Responses[0], deps)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// onBus runs a real effector for host "web-1" on a real server, as the
// sensors' identity, and returns what a monitor's Deps.Request is.
func onBus(t testing.TB, edit func(*config.AgentEffector)) func(context.Context, string, []byte) ([]byte, error) {
	t.Helper()
	s, mon, sen := bustest.StartLocal(t)
	agent := bustest.ConnectAs(t, s, sen, "agent")
	monitor := bustest.ConnectAs(t, s, mon, "monitor")
	c := config.DefaultAgentEffector()
	c.Enabled = true
	if edit != nil {
		edit(&c)
	}
	e, err := effector.New(effector.Options{Host: "web-1", Config: c, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Serve(ctx, agent.NC); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testutil.WaitFor(t, 5*time.Second, "the effector's subscription", func() bool {
		_, err := monitor.NC.Request(bus.EffectSubject("web-1"), []byte("{}"), time.Second)
		return err == nil
	})
	return monitor.Request
}

func procReq(id string, c *testutil.Child) action.Request {
	return action.Request{ID: id, Key: "process:web-1:" + id, Method: "kill", Kind: Kind, Reason: "track red",
		Subject: action.Subject{Host: "web-1", Process: &action.Process{PID: c.PID, Start: c.Start, Exe: c.Exe}}}
}

func TestPlanSaysWhatWouldBeAskedOfWhichHost(t *testing.T) {
	m := build(t, "  - {kind: process, name: kill, action: KILL}\n", action.Deps{})
	got, err := m.Plan(action.Request{ID: "d1", Subject: action.Subject{Host: "10.0.0.3", Process: &action.Process{PID: 4242, Start: 99, Exe: "/usr/sbin/apache2"}}})
	want := "ask the effector of host 10.0.0.3 (vigil.effect.10_0_0_3) to send KILL to pid 4242 (apache2, /usr/sbin/apache2, started at tick 99)"
	if err != nil || got != want {
		t.Errorf("Plan = %q, %v\nwant %q", got, err, want)
	}
	r := build(t, "  - {kind: process, name: heal, action: restart}\n", action.Deps{})
	if got, err := r.Plan(action.Request{ID: "d2", Subject: action.Subject{Host: "web-1", Unit: "apache2"}}); err != nil || got != "ask the effector of host web-1 (vigil.effect.web-1) to restart apache2" {
		t.Errorf("Plan = %q, %v", got, err)
	}
	for name, c := range map[string]struct {
		m    action.Method
		sub  action.Subject
		says string
	}{
		"no host":       {m, action.Subject{Process: &action.Process{PID: 1, Start: 1, Exe: "/x"}}, "no host"},
		"no process":    {m, action.Subject{Host: "h", Unit: "apache2"}, "no process"},
		"no start time": {m, action.Subject{Host: "h", Process: &action.Process{PID: 7, Exe: "/x"}}, "no start time"},
		"no exe":        {m, action.Subject{Host: "h", Process: &action.Process{PID: 7, Start: 3}}, "not an absolute path"},
		"no unit":       {r, action.Subject{Host: "h", Process: &action.Process{PID: 7, Start: 3, Exe: "/x"}}, "no unit"},
	} {
		if _, err := c.m.Plan(action.Request{ID: "d", Subject: c.sub}); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
	}
}

func TestSettingsAreValidatedWithTheirPlace(t *testing.T) {
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load([]byte("monitor: {name: m}\nresponses:\n  - {kind: process, name: k, action: HUP, timeout: 1h}\n"), "m.yml", config.Registries{Responses: reg})
	if err == nil || !strings.Contains(err.Error(), `"HUP": want a signal`) || !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), "m.yml:3") {
		t.Errorf("error %v", err)
	}
}

// TestPolicySubjectFitsTheAction: a signal needs a policy whose subject
// names a process (and no unit); a restart needs a unit. A policy whose
// subject cannot give what its method's action needs is an error with
// its place.
func TestPolicySubjectFitsTheAction(t *testing.T) {
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	load := func(policy string) error {
		_, err := config.Load([]byte("monitor: {name: m}\nresponses:\n  - {kind: process, name: kill, action: KILL}\n  - {kind: process, name: heal, action: restart}\n"+
			"resolver:\n  policies:\n"+policy), "m.yml", config.Registries{Responses: reg})
		return err
	}
	for _, ok := range []string{
		"    - {name: p, where: {severity: red}, subject: process, methods: [kill]}\n",
		"    - {name: p, where: {severity: red}, subject: host, unit: apache2, methods: [heal]}\n",
	} {
		if err := load(ok); err != nil {
			t.Errorf("%s: %v", strings.TrimSpace(ok), err)
		}
	}
	for policy, says := range map[string]string{
		"    - {name: p, where: {severity: red}, subject: host, methods: [kill]}\n":    `method "kill" (process) acts on a process`,
		"    - {name: p, where: {severity: red}, subject: process, methods: [heal]}\n": `method "heal" (process) acts on a unit`,
	} {
		if err := load(policy); err == nil || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), "m.yml:7") {
			t.Errorf("%s: %v, want an error at m.yml:7 saying %s", strings.TrimSpace(policy), err, says)
		}
	}
}

// TestExecuteKillsThroughTheEffector: the method's request crosses a real
// bus to a real effector, which kills the real process named.
func TestExecuteKillsThroughTheEffector(t *testing.T) {
	m := build(t, "  - {kind: process, name: kill, action: KILL}\n", action.Deps{Request: onBus(t, nil)})
	child := testutil.StartChild(t, "sleep", "300")
	out, err := m.Execute(context.Background(), procReq("d1", child))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Detail, "host web-1: sent KILL to pid") {
		t.Errorf("outcome %q", out.Detail)
	}
	if sig, ended := child.Ended(5 * time.Second); !ended || sig != syscall.SIGKILL {
		t.Errorf("child ended %v by %v", ended, sig)
	}
	// The same action again changes nothing: the effector answers the
	// first reply.
	again, err := m.Execute(context.Background(), procReq("d1", child))
	if err != nil || again.Detail != out.Detail {
		t.Errorf("second Execute: %q %v, want %q", again.Detail, err, out.Detail)
	}
}

// TestExecuteNamesTheRefusal: a refusal is an error wrapping ErrRefused
// with the effector's reason, and the process lives.
func TestExecuteNamesTheRefusal(t *testing.T) {
	m := build(t, "  - {kind: process, name: kill, action: KILL}\n", action.Deps{Request: onBus(t, nil)})
	child := testutil.StartChild(t, "sleep", "300")
	req := procReq("d2", child)
	req.Subject.Process.Start++
	_, err := m.Execute(context.Background(), req)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "another process holds the pid") {
		t.Errorf("error %v, want a refusal naming the start time", err)
	}
	if !child.Alive() {
		t.Error("the process was killed")
	}
}

// TestExecuteRestartRunsTheConfiguredCommand: a restart reaches the
// agent's configured command for the unit.
func TestExecuteRestartRunsTheConfiguredCommand(t *testing.T) {
	mark := t.TempDir() + "/restarted"
	m := build(t, "  - {kind: process, name: heal, action: restart, timeout: 5s}\n", action.Deps{Request: onBus(t, func(c *config.AgentEffector) {
		c.Restart = map[string]config.RestartCommand{"apache2": {Argv: []string{"/usr/bin/touch", mark}, Timeout: 5 * time.Second}}
	})})
	out, err := m.Execute(context.Background(), action.Request{ID: "d3", Subject: action.Subject{Host: "web-1", Unit: "apache2.service"}})
	if err != nil || !strings.Contains(out.Detail, "restarted apache2.service") {
		t.Fatalf("Execute = %q, %v", out.Detail, err)
	}
	testutil.WaitFor(t, time.Second, "the command's file", func() bool { return fileExists(mark) })
	_, err = m.Execute(context.Background(), action.Request{ID: "d4", Subject: action.Subject{Host: "web-1", Unit: "sshd"}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "sshd.service is protected") {
		t.Errorf("restart of sshd: %v", err)
	}
}

// TestExecuteWithoutAnEffector: a host without an effector, and a monitor
// without a bus, are errors that say so.
func TestExecuteWithoutAnEffector(t *testing.T) {
	request := onBus(t, nil)
	m := build(t, "  - {kind: process, name: kill, action: TERM, timeout: 2s}\n", action.Deps{Request: request})
	child := testutil.StartChild(t, "sleep", "300")
	req := procReq("d5", child)
	req.Subject.Host = "db-9"
	if _, err := m.Execute(context.Background(), req); err == nil || !strings.Contains(err.Error(), "no effector answers on vigil.effect.db-9") {
		t.Errorf("error %v", err)
	}
	m = build(t, "  - {kind: process, name: kill, action: TERM}\n", action.Deps{})
	if _, err := m.Execute(context.Background(), procReq("d6", child)); err == nil || !strings.Contains(err.Error(), "no bus connection") {
		t.Errorf("error %v", err)
	}
	if !child.Alive() {
		t.Error("the process was signalled")
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
