package effect

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// running says whether a process's state letter is that of one that runs
// (or sleeps, as sleep does), not stopped.
func running(state string) bool { return state == "S" || state == "R" }

// TestOnlyStopUndoes: a STOP method undoes (its kind says so for its
// settings, and it implements action.Undoer); KILL, TERM, CONT and restart
// do not.
func TestOnlyStopUndoes(t *testing.T) {
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"STOP", "KILL", "TERM", "CONT", Restart} {
		m := build(t, "  - {kind: process, name: p, action: "+a+"}\n", action.Deps{})
		_, undoes := m.(action.Undoer)
		says := reg.Undoable(Kind, &Settings{Action: a, Timeout: DefaultTimeout})
		if undoes != (a == "STOP") || says != undoes {
			t.Errorf("%s: implements Undoer %v, kind says undoable %v; want both %v", a, undoes, says, a == "STOP")
		}
	}
	if reg.Undoable(Kind, nil) {
		t.Error("the kind's default action (TERM) said undoable")
	}
}

// TestStopUndoneByCont: a STOP sent through a real effector over a real
// bus stops a real process (T in /proc); Undo sends CONT to the same
// process (S again). Undoing again changes nothing and is no error; a
// later decision about the same process (the same key) stops it again.
func TestStopUndoneByCont(t *testing.T) {
	m := build(t, "  - {kind: process, name: freeze, action: STOP}\n", action.Deps{Request: onBus(t, nil)})
	child := testutil.StartChild(t, "sleep", "300")
	req := procReq("d1", child)
	want := "ask the effector of host web-1 (vigil.effect.web-1) to send STOP to pid"
	if plan, err := m.Plan(req); err != nil || !strings.HasPrefix(plan, want) || !strings.HasSuffix(plan, "; undone by a CONT to the same process") {
		t.Errorf("Plan = %q, %v", plan, err)
	}
	out, err := m.Execute(context.Background(), req)
	if err != nil || !strings.Contains(out.Detail, "sent STOP to pid") {
		t.Fatalf("Execute = %q, %v", out.Detail, err)
	}
	testutil.WaitFor(t, 5*time.Second, "the process stopped (T)", func() bool { return child.State() == "T" })
	un := m.(action.Undoer)
	if err := un.Undo(context.Background(), req, out); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the process running again (S)", func() bool { return running(child.State()) })
	if err := un.Undo(context.Background(), req, out); err != nil {
		t.Errorf("a second undo: %v", err)
	}
	// A later decision about the same process: the effector acts on it,
	// not answering with the first decision's reply.
	later := procReq("d2", child)
	later.Key = req.Key
	if _, err := m.Execute(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the process stopped again by the later decision", func() bool { return child.State() == "T" })
	if err := un.Undo(context.Background(), later, action.Outcome{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the process running again", func() bool { return running(child.State()) })
}

// TestStopUndoChecksTheProcess: the CONT names the process by pid, start
// time and executable like any signal. A process that is gone (it ended,
// or its pid is another process's now) has nothing to continue: the undo
// is done, and the process now holding the pid is not touched.
func TestStopUndoChecksTheProcess(t *testing.T) {
	m := build(t, "  - {kind: process, name: freeze, action: STOP}\n", action.Deps{Request: onBus(t, nil)}).(action.Undoer)
	// Another process holds the pid: stopped by the test, it stays so.
	other := testutil.StartChild(t, "sleep", "300")
	if err := syscall.Kill(other.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the other process stopped", func() bool { return other.State() == "T" })
	reused := procReq("d3", other)
	reused.Subject.Process.Start--
	if err := m.Undo(context.Background(), reused, action.Outcome{}); err != nil {
		t.Errorf("undo when the pid is another process's: %v", err)
	}
	// A CONT wakes a stopped process as it is sent, before the effector
	// replies: had one been sent, the state would show it now.
	if s := other.State(); s != "T" {
		t.Errorf("the process holding the pid now is %q: it was continued", s)
	}
	_ = syscall.Kill(other.PID, syscall.SIGCONT)
	// The process ended.
	gone := testutil.StartChild(t, "sleep", "300")
	_ = syscall.Kill(gone.PID, syscall.SIGKILL)
	gone.Ended(5 * time.Second)
	if err := m.Undo(context.Background(), procReq("d4", gone), action.Outcome{}); err != nil {
		t.Errorf("undo of a process that ended: %v", err)
	}
}

// TestStopUndoRefusedIsRetried: a CONT the effector refuses (its signal
// budget spent) is an error wrapping ErrRefused, so the decision unit
// tries again; the next attempt is asked anew (not answered with the
// refusal remembered), and succeeds once the budget allows.
func TestStopUndoRefusedIsRetried(t *testing.T) {
	request := onBus(t, func(c *config.AgentEffector) {
		c.Budgets = map[string]config.Budget{"signal": {Count: 1, Per: 2 * time.Second}}
	})
	m := build(t, "  - {kind: process, name: freeze, action: STOP}\n", action.Deps{Request: request})
	child := testutil.StartChild(t, "sleep", "300")
	req := procReq("d5", child)
	if _, err := m.Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the process stopped", func() bool { return child.State() == "T" })
	un := m.(action.Undoer)
	err := un.Undo(context.Background(), req, action.Outcome{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("undo with the budget spent: %v, want a refusal naming the budget", err)
	}
	if child.State() != "T" {
		t.Fatal("continued despite the refusal")
	}
	testutil.WaitFor(t, 10*time.Second, "an undo accepted once the budget allows", func() bool {
		return un.Undo(context.Background(), req, action.Outcome{}) == nil
	})
	testutil.WaitFor(t, 5*time.Second, "the process running again", func() bool { return running(child.State()) })
}

// TestStopPolicyExpiresAndUndoes runs the decision unit over the STOP
// method, a real effector and real processes: a policy's STOP with a
// duration is undone by a CONT when the (injected) clock reaches its
// expiry, recorded expired; a STOP without duration stays in force (the
// same report again is suppressed) until an operator's undo sends CONT,
// recorded undone.
func TestStopPolicyExpiresAndUndoes(t *testing.T) {
	request := onBus(t, nil)
	reg := action.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	ro, err := config.Load([]byte(`monitor: {name: m}
responses:
  - {kind: process, name: freeze, action: STOP, timeout: 5s}
resolver:
  mode: enforce
  policies:
    - name: freeze-for-a-minute
      where: {model: runaway}
      subject: process
      methods: [freeze]
      duration: 1m
    - name: freeze-until-undone
      where: {model: hog}
      subject: process
      methods: [freeze]
`), "m.yml", config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clk := clock.NewManual(now)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "vigil.db"), Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	methods, err := resolver.BuildMethods(t.Context(), reg, ro.Responses, action.Deps{Monitor: "m", Clock: clk, Logger: testutil.Quiet(), Request: request})
	if err != nil {
		t.Fatal(err)
	}
	unit, err := resolver.NewUnit(resolver.UnitOptions{Monitor: "m", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk, IDs: event.NewSeededIDs(5), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unit.Close() })
	report := func(model string, c *testutil.Child) event.Report {
		return event.Report{ID: "rep-" + model, Time: clk.Now(), Monitor: "m", Engine: "signatures", Model: model, Host: "web-1",
			Severity: event.SeverityRed, Score: 1, State: "alert", Explanation: "sleep runs away",
			Attrs: map[string]any{"pid": int64(c.PID), "start": int64(c.Start), "exe": c.Exe, "name": "sleep"}}
	}
	row := func(id string) store.Response {
		t.Helper()
		unit.Flush(t.Context())
		r, err := st.GetResponse(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// With a duration: stopped, then continued at expiry.
	runaway := testutil.StartChild(t, "sleep", "300")
	ds := unit.Decide(t.Context(), report("runaway", runaway))
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v", ds)
	}
	testutil.WaitFor(t, 5*time.Second, "the runaway stopped", func() bool { return runaway.State() == "T" })
	clk.Advance(59 * time.Second)
	unit.ExpireDue(t.Context())
	if s := runaway.State(); s != "T" {
		t.Fatalf("continued before its minute was over (%s)", s)
	}
	clk.Advance(time.Second)
	unit.ExpireDue(t.Context())
	testutil.WaitFor(t, 5*time.Second, "the runaway running again at expiry", func() bool { return running(runaway.State()) })
	if r := row(ds[0].ID); r.Status != store.StatusExpired {
		t.Errorf("decision after expiry: %+v", r)
	}

	// Without duration: in force until an operator undoes it.
	hog := testutil.StartChild(t, "sleep", "300")
	ds = unit.Decide(t.Context(), report("hog", hog))
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v", ds)
	}
	testutil.WaitFor(t, 5*time.Second, "the hog stopped", func() bool { return hog.State() == "T" })
	clk.Advance(24 * time.Hour)
	unit.ExpireDue(t.Context())
	again := unit.Decide(t.Context(), report("hog", hog))
	if len(again) != 1 || again[0].Status != store.StatusSuppressed || hog.State() != "T" {
		t.Fatalf("the same report a day later: %+v (state %s), want suppressed while the STOP is in force", again, hog.State())
	}
	if err := unit.Undo(t.Context(), ds[0].ID, "ops"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the hog running again after the undo", func() bool { return running(hog.State()) })
	if r := row(ds[0].ID); r.Status != store.StatusUndone || !strings.Contains(r.Reason, "undone by ops") {
		t.Errorf("decision after the undo: %+v", r)
	}
}
