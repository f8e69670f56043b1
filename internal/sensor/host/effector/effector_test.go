package effector

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/effectmsg"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// newEffector makes an effector for host "h1" with the default section,
// turned on, changed by edit.
func newEffector(t *testing.T, edit func(*config.AgentEffector)) (*Effector, *clock.Manual) {
	t.Helper()
	c := config.DefaultAgentEffector()
	c.Enabled = true
	if edit != nil {
		edit(&c)
	}
	clk := clock.NewManual(t0)
	e, err := New(Options{Host: "h1", Config: c, Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return e, clk
}

var nextID int

func signalReq(sig string, p effectmsg.Process) effectmsg.Request {
	nextID++
	return effectmsg.Request{Version: effectmsg.Version, ID: fmt.Sprintf("d%d", nextID), Host: "h1", Monitor: "m", Action: effectmsg.ActionSignal, Signal: sig, Process: &p}
}

func restartReq(service string) effectmsg.Request {
	nextID++
	return effectmsg.Request{Version: effectmsg.Version, ID: fmt.Sprintf("r%d", nextID), Host: "h1", Monitor: "m", Action: effectmsg.ActionRestart, Service: service}
}

func named(c *testutil.Child) effectmsg.Process {
	return effectmsg.Process{PID: c.PID, Start: c.Start, Exe: c.Exe}
}

func handle(t *testing.T, e *Effector, req effectmsg.Request) effectmsg.Reply {
	t.Helper()
	rep, err := effectmsg.DecodeReply(e.Handle(context.Background(), effectmsg.Encode(req)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.ID != req.ID || rep.Host != "h1" {
		t.Errorf("reply names %q on %q, want %q on h1", rep.ID, rep.Host, req.ID)
	}
	return rep
}

func wantStatus(t *testing.T, rep effectmsg.Reply, status, says string) {
	t.Helper()
	if rep.Status != status || !strings.Contains(rep.Reason+rep.Detail, says) {
		t.Errorf("reply %+v, want %s saying %q", rep, status, says)
	}
}

// procOf names a running process as /proc shows it.
func procOf(t *testing.T, pid int) effectmsg.Process {
	t.Helper()
	st, err := readStat("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if exe == "" {
		exe = "/sbin/init"
	}
	return effectmsg.Process{PID: pid, Start: st.Start, Exe: exe}
}

// TestSignalOverTheBus: a monitor's request on the host's effect subject
// reaches the effector through a real server, as the sensors' identity,
// and the named process ends with the signal asked.
func TestSignalOverTheBus(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	agent := bustest.ConnectAs(t, s, sen, "agent")
	monitor := bustest.ConnectAs(t, s, mon, "monitor")
	e, _ := newEffector(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, agent.NC) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	child := testutil.StartChild(t, "sleep", "300")
	req := signalReq("TERM", named(child))
	var m []byte
	testutil.WaitFor(t, 5*time.Second, "the effector's reply", func() bool {
		msg, err := monitor.NC.Request(bus.EffectSubject("h1"), effectmsg.Encode(req), time.Second)
		if err == nil {
			m = msg.Data
		}
		return err == nil
	})
	rep, err := effectmsg.DecodeReply(m)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, effectmsg.StatusDone, fmt.Sprintf("sent TERM to pid %d", child.PID))
	if sig, ended := child.Ended(5 * time.Second); !ended || sig != syscall.SIGTERM {
		t.Errorf("child ended %v by %v, want ended by SIGTERM", ended, sig)
	}
	if n := e.Count("signal", "done"); n != 1 {
		t.Errorf("%d signals counted done, want 1", n)
	}
}

// TestSensorIdentityCannotAsk: a request sent with the sensors' identity
// (an agent, or whoever stole its identity file, impersonating a monitor)
// is dropped by the server: the effector never hears it and the process
// lives.
func TestSensorIdentityCannotAsk(t *testing.T) {
	s, _, sen := bustest.StartLocal(t)
	agent := bustest.ConnectAs(t, s, sen, "agent")
	impostor := bustest.ConnectAs(t, s, sen, "impostor")
	e, _ := newEffector(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx, agent.NC) }()
	defer func() { cancel(); <-served }()
	testutil.WaitFor(t, 5*time.Second, "the effector's subscription", func() bool { return s.NumClients() == 2 })
	time.Sleep(100 * time.Millisecond)

	child := testutil.StartChild(t, "sleep", "300")
	if _, err := impostor.NC.Request(bus.EffectSubject("h1"), effectmsg.Encode(signalReq("KILL", named(child))), time.Second); err == nil {
		t.Fatal("a request from the sensors' identity was answered")
	}
	if !child.Alive() {
		t.Error("the process was killed at the sensors' identity's request")
	}
	for _, o := range []string{"done", "refused", "failed", "malformed"} {
		if n := e.Count("signal", o); n != 0 {
			t.Errorf("the effector heard the request: %d %s", n, o)
		}
	}
}

// TestReusedPidIsNeverHit: a request whose start time or executable is
// not the process's now is refused, and the process lives.
func TestReusedPidIsNeverHit(t *testing.T) {
	e, _ := newEffector(t, nil)
	child := testutil.StartChild(t, "sleep", "300")
	p := named(child)
	p.Start--
	rep := handle(t, e, signalReq("KILL", p))
	wantStatus(t, rep, effectmsg.StatusRefused, "another process holds the pid")
	if !rep.Gone {
		t.Errorf("reply %+v: the process asked for is gone (its pid is another's), and the reply should say so", rep)
	}
	p = named(child)
	p.Exe = "/usr/sbin/apache2"
	rep = handle(t, e, signalReq("KILL", p))
	wantStatus(t, rep, effectmsg.StatusRefused, `not "/usr/sbin/apache2"`)
	if rep.Gone {
		t.Errorf("reply %+v says gone for a process that runs", rep)
	}
	if !child.Alive() {
		t.Fatal("the process was killed")
	}
	if n := e.Count("signal", "refused"); n != 2 {
		t.Errorf("%d refusals counted, want 2", n)
	}
	// A process that ended: nothing to do, said so.
	gone := testutil.StartChild(t, "sleep", "300")
	syscall.Kill(gone.PID, syscall.SIGKILL)
	gone.Ended(5 * time.Second)
	rep = handle(t, e, signalReq("KILL", named(gone)))
	wantStatus(t, rep, effectmsg.StatusFailed, "it has ended")
	if !rep.Gone {
		t.Errorf("reply %+v: the process has ended, and the reply should say so", rep)
	}
}

// TestProtectedProcessesAreRefused: pid 1, the agent's own process, its
// parent, kernel threads and configured names and executables are refused
// whatever the request says, even when it names them exactly.
func TestProtectedProcessesAreRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: reading pid 1's executable, and a refusal that means something (root could signal it)")
	}
	e, _ := newEffector(t, func(c *config.AgentEffector) {
		c.ProtectedNames = append(c.ProtectedNames, "sleep")
		c.ProtectedExes = []string{"/usr/bin/tail"}
	})
	for _, sig := range []string{"KILL", "TERM", "STOP"} {
		wantStatus(t, handle(t, e, signalReq(sig, procOf(t, 1))), effectmsg.StatusRefused, "pid 1 is protected")
		wantStatus(t, handle(t, e, signalReq(sig, procOf(t, os.Getpid()))), effectmsg.StatusRefused, "the agent's own process")
		wantStatus(t, handle(t, e, signalReq(sig, procOf(t, os.Getppid()))), effectmsg.StatusRefused, "protected")
	}
	sleeper := testutil.StartChild(t, "sleep", "300")
	wantStatus(t, handle(t, e, signalReq("KILL", named(sleeper))), effectmsg.StatusRefused, "whose name is protected")
	tail := testutil.StartChild(t, "/usr/bin/tail", "-f", "/dev/null")
	wantStatus(t, handle(t, e, signalReq("KILL", named(tail))), effectmsg.StatusRefused, "protected executable")
	if !sleeper.Alive() || !tail.Alive() {
		t.Error("a protected process was killed")
	}
	if k := kernelThread(); k > 0 {
		p := procOf(t, k)
		p.Exe = "/kthread"
		wantStatus(t, handle(t, e, signalReq("KILL", p)), effectmsg.StatusRefused, "kernel thread")
	} else {
		t.Log("no kernel thread visible in this pid namespace; that case is not checked")
	}
}

// TestBusServerIsProtected: the process listening on the bus server's
// port is never signalled, even when it started after the effector and
// the request names it exactly.
func TestBusServerIsProtected(t *testing.T) {
	if os.Getenv("VIGIL_TEST_LISTENER") != "" {
		return // the listener's own run: see listenerMain
	}
	port := testutil.FreePort(t)
	e, err := New(Options{Host: "h1", Config: config.DefaultAgentEffector(), BusPort: port, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.StartChildEnv(t, []string{"VIGIL_TEST_LISTENER=" + strconv.Itoa(port)}, os.Args[0], "-test.run=^TestBusServerIsProtected$")
	testutil.WaitFor(t, 5*time.Second, "the listener", func() bool {
		pid, err := ListenerPID("/proc", port)
		return err == nil && pid == srv.PID
	})
	wantStatus(t, handle(t, e, signalReq("KILL", named(srv))), effectmsg.StatusRefused, "the bus server's process (listening on port")
	if !srv.Alive() {
		t.Fatal("the bus server's process was killed")
	}
	e2, _ := New(Options{Host: "h1", Config: config.DefaultAgentEffector(), ProtectPIDs: []int{srv.PID}, Logger: testutil.Quiet()})
	wantStatus(t, handle(t, e2, signalReq("KILL", named(srv))), effectmsg.StatusRefused, "the bus server's process")
}

// TestMain lets the test binary stand in for a bus server: with
// VIGIL_TEST_LISTENER=PORT it listens there until killed.
func TestMain(m *testing.M) {
	if p := os.Getenv("VIGIL_TEST_LISTENER"); p != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			os.Exit(2)
		}
		defer ln.Close()
		time.Sleep(5 * time.Minute)
		return
	}
	os.Exit(m.Run())
}

func kernelThread() int {
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if st, err := readStat("/proc", pid); err == nil && st.Flags&pfKthread != 0 {
			return pid
		}
	}
	return 0
}

// TestStopAndContinue: STOP stops the process, CONT lets it run again.
func TestStopAndContinue(t *testing.T) {
	e, _ := newEffector(t, nil)
	child := testutil.StartChild(t, "sleep", "300")
	wantStatus(t, handle(t, e, signalReq("STOP", named(child))), effectmsg.StatusDone, "sent STOP")
	testutil.WaitFor(t, 5*time.Second, "the child stopped", func() bool { return child.State() == "T" })
	wantStatus(t, handle(t, e, signalReq("CONT", named(child))), effectmsg.StatusDone, "sent CONT")
	testutil.WaitFor(t, 5*time.Second, "the child running again", func() bool { return child.State() == "S" || child.State() == "R" })
}

// TestBudget: beyond its budget a kind of action is refused, saying so,
// until the window has passed.
func TestBudget(t *testing.T) {
	e, clk := newEffector(t, func(c *config.AgentEffector) {
		c.Budgets = map[string]config.Budget{"signal": {Count: 2, Per: time.Minute}}
	})
	var kids []*testutil.Child
	for range 4 {
		kids = append(kids, testutil.StartChild(t, "sleep", "300"))
	}
	wantStatus(t, handle(t, e, signalReq("KILL", named(kids[0]))), effectmsg.StatusDone, "sent KILL")
	clk.Advance(30 * time.Second)
	wantStatus(t, handle(t, e, signalReq("KILL", named(kids[1]))), effectmsg.StatusDone, "sent KILL")
	wantStatus(t, handle(t, e, signalReq("KILL", named(kids[2]))), effectmsg.StatusRefused, "budget of 2 signal actions per 1m0s spent (the next is allowed in 30s)")
	if !kids[2].Alive() {
		t.Error("a process beyond the budget was killed")
	}
	clk.Advance(31 * time.Second)
	wantStatus(t, handle(t, e, signalReq("KILL", named(kids[2]))), effectmsg.StatusDone, "sent KILL")
	// A refusal for another reason spends nothing.
	p := named(kids[3])
	p.Start++
	wantStatus(t, handle(t, e, signalReq("KILL", p)), effectmsg.StatusRefused, "another process")
	clk.Advance(31 * time.Second)
	wantStatus(t, handle(t, e, signalReq("KILL", named(kids[3]))), effectmsg.StatusDone, "sent KILL")
}

// TestRepeatedIDActsOnce: a request id seen before is answered with the
// first reply, whatever the repeat asks, and nothing is done again.
func TestRepeatedIDActsOnce(t *testing.T) {
	e, clk := newEffector(t, nil)
	a := testutil.StartChild(t, "sleep", "300")
	b := testutil.StartChild(t, "sleep", "300")
	first := signalReq("KILL", named(a))
	firstReply := e.Handle(context.Background(), effectmsg.Encode(first))
	again := first
	again.Process = &effectmsg.Process{PID: b.PID, Start: b.Start, Exe: b.Exe}
	clk.Advance(10 * time.Minute)
	if got := e.Handle(context.Background(), effectmsg.Encode(again)); string(got) != string(firstReply) {
		t.Errorf("repeat answered %s, want the first reply %s", got, firstReply)
	}
	if _, ended := a.Ended(5 * time.Second); !ended {
		t.Error("the first request did not act")
	}
	time.Sleep(100 * time.Millisecond)
	if !b.Alive() {
		t.Error("the repeated id acted again")
	}
	if e.Count("signal", "done") != 1 || e.Count("signal", "repeat") != 1 {
		t.Errorf("counts: done %d, repeat %d", e.Count("signal", "done"), e.Count("signal", "repeat"))
	}
	// Once forgotten (config.DefaultEffectorRemember), the id is new.
	clk.Advance(config.DefaultEffectorRemember)
	handle(t, e, restartReq("nothing")) // any request lets the memory age
	if got := e.Handle(context.Background(), effectmsg.Encode(again)); string(got) == string(firstReply) {
		t.Error("an id older than the memory was answered from it")
	}
	if _, ended := b.Ended(5 * time.Second); !ended {
		t.Error("a forgotten id did not act")
	}
}

// TestRestartCommand: a configured command really runs, without a shell,
// its output kept (bounded); a failing or hanging command fails, saying
// why; a protected unit or an unknown service is refused.
func TestRestartCommand(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "restarted")
	e, _ := newEffector(t, func(c *config.AgentEffector) {
		c.OutputBytes = 16
		c.Restart = map[string]config.RestartCommand{
			"web":   {Argv: []string{"/usr/bin/touch", mark}, Timeout: 5 * time.Second},
			"echo":  {Argv: []string{"/bin/echo", "a; rm -rf / $(id)", strings.Repeat("x", 64)}, Timeout: 5 * time.Second},
			"fails": {Argv: []string{"/bin/false"}, Timeout: 5 * time.Second},
			"hangs": {Argv: []string{"/bin/sleep", "30"}, Timeout: 200 * time.Millisecond},
			"ssh":   {Argv: []string{"/usr/bin/touch", mark + ".ssh"}, Timeout: 5 * time.Second},
			// A daemon's parent may signal its whole process group when
			// it restarts (Apache's does): the group is the command's.
			"group": {Argv: []string{"/bin/sh", "-c", "kill -TERM 0; sleep 5"}, Timeout: 5 * time.Second},
			"bg":    {Argv: []string{"/bin/sh", "-c", "/bin/sleep 30 & echo $! > " + mark + ".bg; wait"}, Timeout: 200 * time.Millisecond},
		}
		c.Budgets = nil
	})
	wantStatus(t, handle(t, e, restartReq("web")), effectmsg.StatusDone, "restarted web")
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the restart command did not run: %v", err)
	}
	rep := handle(t, e, restartReq("echo.service"))
	wantStatus(t, rep, effectmsg.StatusDone, "exited 0")
	if !strings.HasPrefix(rep.Output, "a; rm -rf / $(id") || !strings.Contains(rep.Output, "more bytes not kept") {
		t.Errorf("output %q: want the argument as text, bounded to 16 bytes", rep.Output)
	}
	wantStatus(t, handle(t, e, restartReq("fails")), effectmsg.StatusFailed, "exit status 1")
	start := time.Now()
	wantStatus(t, handle(t, e, restartReq("hangs")), effectmsg.StatusFailed, "did not end within 200ms")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a hanging command held the effector %v", d)
	}
	// The test process is alive to read this: the signal went to the
	// command's own group.
	wantStatus(t, handle(t, e, restartReq("group")), effectmsg.StatusFailed, "terminated")
	wantStatus(t, handle(t, e, restartReq("bg")), effectmsg.StatusFailed, "did not end within 200ms")
	if data, err := os.ReadFile(mark + ".bg"); err != nil {
		t.Errorf("the background command did not start: %v", err)
	} else if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
		deadline := time.Now().Add(3 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("the command's background child %d outlived its timeout", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	wantStatus(t, handle(t, e, restartReq("ssh")), effectmsg.StatusRefused, "unit ssh.service is protected")
	if _, err := os.Stat(mark + ".ssh"); err == nil {
		t.Error("a protected unit's command ran")
	}
	wantStatus(t, handle(t, e, restartReq("postgresql")), effectmsg.StatusRefused, "restarting systemd units is off")
}

// TestRestartBudget: restarts have their own budget.
func TestRestartBudget(t *testing.T) {
	e, _ := newEffector(t, func(c *config.AgentEffector) {
		c.Restart = map[string]config.RestartCommand{"web": {Argv: []string{"/bin/true"}, Timeout: 5 * time.Second}}
	})
	for range config.DefaultAgentEffector().Budgets["restart"].Count {
		wantStatus(t, handle(t, e, restartReq("web")), effectmsg.StatusDone, "restarted")
	}
	wantStatus(t, handle(t, e, restartReq("web")), effectmsg.StatusRefused, "budget of 3 restart actions per 10m0s spent")
}

// TestSystemdUnit restarts a unit through the system D-Bus.
func TestSystemdUnit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: restarting a unit")
	}
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err != nil {
		t.Skip("no system D-Bus on this machine (/run/dbus/system_bus_socket)")
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		t.Skip("systemd is not the init system here")
	}
	unit := os.Getenv("VIGIL_TEST_UNIT")
	if unit == "" {
		t.Skip("set VIGIL_TEST_UNIT to a unit this test may restart (for example cron.service)")
	}
	e, _ := newEffector(t, func(c *config.AgentEffector) { c.Units = true })
	wantStatus(t, handle(t, e, restartReq(unit)), effectmsg.StatusDone, "queued as systemd job")
}

// TestBadRequests: malformed requests and requests for another host are
// refused with the reason, and counted.
func TestBadRequests(t *testing.T) {
	e, _ := newEffector(t, nil)
	child := testutil.StartChild(t, "sleep", "300")
	var rep effectmsg.Reply
	raw := `{"version":1,"id":"x1","host":"h1","action":"signal","signal":"KILL","force":true,"process":{"pid":` + strconv.Itoa(child.PID) + `,"start":1,"exe":"/x"}}`
	if err := json.Unmarshal(e.Handle(context.Background(), []byte(raw)), &rep); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, effectmsg.StatusRefused, `unknown field "force"`)
	if rep.ID != "x1" {
		t.Errorf("the refusal names %q, want the request's id", rep.ID)
	}
	other := signalReq("KILL", named(child))
	other.Host = "h2"
	wantStatus(t, handle(t, e, other), effectmsg.StatusRefused, `request for host "h2"`)
	if !child.Alive() {
		t.Error("a refused request killed the process")
	}
	if e.Count("signal", "malformed") != 1 {
		t.Errorf("malformed requests counted %d, want 1", e.Count("signal", "malformed"))
	}
	e.Handle(context.Background(), []byte(`{"version":1,"id":"x2","host":"h1","action":"`+strings.Repeat("z", 40)+`"}`))
	if e.Count("unknown", "malformed") != 1 {
		t.Errorf("a request with an unknown action counted %d under \"unknown\", want 1", e.Count("unknown", "malformed"))
	}
}

func TestParseStat(t *testing.T) {
	fields := make([]string, 50)
	for i := range fields {
		fields[i] = "0"
	}
	fields[4-3], fields[9-3], fields[22-3] = "77", "4194560", "123456"
	st, err := parseStat([]byte("42 (a) b (c) " + strings.Join(fields, " ")))
	if err != nil {
		t.Fatal(err)
	}
	if st.Comm != "a) b (c" || st.PPID != 77 || st.Start != 123456 || st.Flags != 4194560 {
		t.Errorf("parsed %+v", st)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) R 1 2"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 100 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0"))
	f.Add([]byte("7 (a) b (c) R 2 0 0 0 0 2097152 0 0 0 0 0 0 0 0 0 0 0 0 9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err != nil {
			return
		}
		if strings.Count(string(b), "(") == 0 || len(st.Comm) > len(b) {
			t.Fatalf("parsed %+v from %q", st, b)
		}
	})
}

// TestReplacedExecutableStaysProtected: a protected program whose file was
// deleted or replaced since it started (an upgrade) reads "PATH (deleted)"
// and is protected as the file it was.
func TestReplacedExecutableStaysProtected(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sshd")
	data, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep to copy")
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	child := testutil.StartChild(t, bin, "300")
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	e, _ := newEffector(t, func(c *config.AgentEffector) { c.ProtectedExes = []string{bin} })
	p := named(child)
	p.Exe = bin + " (deleted)"
	wantStatus(t, handle(t, e, signalReq("KILL", p)), effectmsg.StatusRefused, "whose name is protected")
	e, _ = newEffector(t, func(c *config.AgentEffector) { c.ProtectedNames, c.ProtectedExes = nil, []string{bin} })
	wantStatus(t, handle(t, e, signalReq("KILL", p)), effectmsg.StatusRefused, "protected executable")
	if !child.Alive() {
		t.Fatal("a protected process was killed")
	}
	e, _ = newEffector(t, func(c *config.AgentEffector) { c.ProtectedNames = nil })
	wantStatus(t, handle(t, e, signalReq("KILL", p)), effectmsg.StatusDone, "sent KILL")
}

// TestIdentityWithoutTheRightIsAnError: an agent whose bus identity may
// not take its host's requests fails at start, saying so, rather than
// never hearing any.
func TestIdentityWithoutTheRightIsAnError(t *testing.T) {
	s := bustest.Start(t, bus.ServerOptions{Users: []bus.User{{Name: "old-agent", Password: "p", Publish: []string{"vigil.obs.>"}, Subscribe: []string{"_INBOX.old-agent.>"}}}})
	c := bustest.ConnectAs(t, s, bus.Identity{User: "old-agent", Password: "p"}, "agent")
	e, _ := newEffector(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.Serve(ctx, c.NC)
	if err == nil || !strings.Contains(err.Error(), "may not subscribe to vigil.effect.h1") {
		t.Errorf("Serve = %v, want an error naming the subject", err)
	}
}

// TestConcurrentRequests: requests carried out at once keep the rules: one
// id acts once, and a budget is never overspent.
func TestConcurrentRequests(t *testing.T) {
	e, _ := newEffector(t, func(c *config.AgentEffector) {
		c.Budgets = map[string]config.Budget{"signal": {Count: 3, Per: time.Minute}}
	})
	child := testutil.StartChild(t, "sleep", "300")
	same := effectmsg.Encode(signalReq("KILL", named(child)))
	replies := make(chan string, 20)
	for range 20 {
		go func() { replies <- string(e.Handle(context.Background(), same)) }()
	}
	first := <-replies
	for range 19 {
		if r := <-replies; r != first {
			t.Errorf("replies differ: %s and %s", first, r)
		}
	}
	if e.Count("signal", "done") != 1 || e.Count("signal", "repeat") != 19 {
		t.Errorf("one id: done %d, repeat %d; want 1 and 19", e.Count("signal", "done"), e.Count("signal", "repeat"))
	}

	var kids []*testutil.Child
	for range 8 {
		kids = append(kids, testutil.StartChild(t, "sleep", "300"))
	}
	done := make(chan struct{})
	for _, k := range kids {
		req := effectmsg.Encode(signalReq("KILL", named(k)))
		go func() { e.Handle(context.Background(), req); done <- struct{}{} }()
	}
	for range kids {
		<-done
	}
	// One signal of the budget went to the first child.
	if n := e.Count("signal", "done"); n != 3 {
		t.Errorf("%d signals done, want the budget's 3", n)
	}
	alive := 0
	for _, k := range kids {
		k.Ended(200 * time.Millisecond)
		if k.Alive() {
			alive++
		}
	}
	if alive != 6 {
		t.Errorf("%d of 8 processes alive, want 6 (2 within the budget)", alive)
	}
}
