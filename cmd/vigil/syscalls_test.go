package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bench"
	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// buildCaller compiles the system call counter's test program (it makes
// an exact number of write and getppid calls) into dir as name.
func buildCaller(t *testing.T, dir, name string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("skipped: no gcc to build the test's caller program")
	}
	out := filepath.Join(dir, name)
	if b, err := exec.Command(cc, "-O1", "-o", out, "../../internal/sensor/syscount/testdata/caller.c").CombinedOutput(); err != nil {
		t.Fatalf("building the caller: %v\n%s", err, b)
	}
	return out
}

// writesAndGetppids are a vector's write and getppid counts, what the
// caller program makes.
func writesAndGetppids(v *event.CountVector) (writes, getppids uint64) {
	nrWrite, _ := event.SyscallNr("write")
	nrGetppid, _ := event.SyscallNr("getppid")
	for _, c := range v.Counts {
		switch c.Nr {
		case nrWrite:
			writes += c.Count
		case nrGetppid:
			getppids += c.Count
		}
	}
	return writes, getppids
}

// TestAgentSyscalls runs `vigil agent --syscalls --stdout` while a program
// makes a known number of system calls over several seconds, and checks
// the vectors: one per active process per interval, named, exact.
func TestAgentSyscalls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: counting system calls with eBPF needs root (or CAP_BPF and CAP_PERFMON)")
	}
	caller := buildCaller(t, t.TempDir(), "vigil-exact")
	agent := start(t, "agent", "--syscalls", "--stdout", "--log-level", "warn")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(agent.Out.String(), `"counts"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no count vector within 5 s:\n%s", agent.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	const writes, getppids = 4321, 98765
	cmd := exec.Command(caller, fmt.Sprint(writes), fmt.Sprint(getppids), "700", "3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caller: %v %s", err, out)
	}
	time.Sleep(2200 * time.Millisecond) // the caller's last interval ends and is drained
	agent.Cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-agent.Done:
		agent.Done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop on SIGINT")
	}

	type key struct {
		pid   int32
		start time.Time
	}
	seen := map[key]bool{}
	intervals := map[time.Time]time.Time{} // start -> end
	var sumW, sumG uint64
	vectors, callerVectors := 0, 0
	for _, line := range strings.Split(agent.Out.String(), "\n") {
		if !strings.Contains(line, `"counts"`) {
			continue
		}
		v, err := event.DecodeCountVectorJSON([]byte(line))
		if err != nil {
			t.Fatalf("bad vector %q: %v", line, err)
		}
		vectors++
		k := key{v.PID, v.Start}
		if seen[k] {
			t.Errorf("two vectors for pid %d in the interval starting %v", v.PID, v.Start)
		}
		seen[k] = true
		// An interval lasts a second, a little more when the machine is so
		// busy that the drain starts late.
		if v.Interval > 1500*time.Millisecond {
			t.Errorf("interval of %v, want about 1 s", v.Interval)
		}
		intervals[v.Start] = v.Start.Add(v.Interval)
		if int(v.PID) != cmd.Process.Pid {
			continue
		}
		callerVectors++
		if v.Process != "vigil-exact" && callerVectors > 1 {
			t.Errorf("caller named %q", v.Process)
		}
		w, g := writesAndGetppids(&v)
		sumW += w
		sumG += g
	}
	// Intervals end on whole seconds (the drains aim at them), but the
	// last, cut short when the agent stops, and any the machine made late.
	onSecond, aligned := func(t time.Time) bool { ns := t.Nanosecond(); return ns < 100e6 || ns > 900e6 }, 0
	for _, end := range intervals {
		if onSecond(end) {
			aligned++
		}
	}
	if aligned < len(intervals)/2+1 {
		t.Errorf("%d of %d intervals end on a whole second, want most", aligned, len(intervals))
	}
	if sumW != writes || sumG != getppids {
		t.Errorf("caller counted write %d, getppid %d; made %d, %d", sumW, sumG, writes, getppids)
	}
	if callerVectors < 2 {
		t.Errorf("%d vectors for a caller living 2.1 s, want at least 2", callerVectors)
	}
	if vectors < 5 {
		t.Errorf("only %d vectors in all", vectors)
	}
}

// TestAgentSyscallsUnprivileged runs the agent as an unprivileged user: it
// must say what is missing and keep running its /proc sensor.
func TestAgentSyscallsUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to start the agent as another user")
	}
	dir, err := os.MkdirTemp("", "vigil-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "vigil")
	data, err := os.ReadFile(vigilBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--syscalls", "--events", "--stdout", "--interval", "200ms")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	agent := startCmd(t, cmd)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(agent.Out.String(), "host sensor running") {
		if time.Now().After(deadline) {
			t.Fatalf("the /proc sensor did not start:\n%s", agent.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	select {
	case err := <-agent.Done:
		agent.Done <- err // for the cleanup
		t.Fatalf("the agent stopped (%v):\n%s", err, agent.Out.String())
	default:
	}
	out := agent.Out.String()
	for _, want := range []string{"system call counting is off; the /proc sensor goes on without it", "missing CAP_BPF, CAP_PERFMON", "uid 65534",
		"host events are off; the /proc sensor goes on without them"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRecordSyscalls records while a program makes known system calls and
// reads the recording back as labelled sequences.
func TestRecordSyscalls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: counting system calls with eBPF needs root (or CAP_BPF and CAP_PERFMON)")
	}
	dir := t.TempDir()
	caller := buildCaller(t, dir, "vigil-labelled")
	out := filepath.Join(dir, "rec.jsonl")
	rec := start(t, "record", "--syscalls", "--duration", "4s", "--syscall-interval", "250ms", "--out", out)
	// It says so once the counter is attached (a loaded machine may take
	// a while to load the program).
	testutil.WaitFor(t, 10*time.Second, "vigil record to start recording", func() bool {
		return strings.Contains(rec.Out.String(), "recording system calls")
	})
	cmd := exec.Command(caller, "111", "2222", "300", "3")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caller: %v %s", err, b)
	}
	select {
	case err := <-rec.Done:
		rec.Done <- err
		if err != nil {
			t.Fatalf("vigil record: %v\n%s", err, rec.Out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("vigil record did not end after its duration")
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vs, err := syscalls.ReadVectors(f)
	if err != nil {
		t.Fatal(err)
	}
	// The summary lists the 20 labels with the most vectors; on a busy
	// machine the caller may be further down, and then the summary says
	// how many more there are.
	if summaryRank(vs, "vigil-labelled") < 20 {
		if !strings.Contains(rec.Out.String(), "vigil-labelled") {
			t.Errorf("summary does not list the caller's label:\n%s", rec.Out.String())
		}
	} else if !strings.Contains(rec.Out.String(), "more labels") {
		t.Errorf("summary neither lists the caller's label nor says more labels were left out:\n%s", rec.Out.String())
	}
	// The recorder records what runs beside it, not itself.
	for _, v := range vs {
		if int(v.PID) == rec.Cmd.Process.Pid {
			t.Fatalf("the recording holds the recorder's own vectors (pid %d, %s)", v.PID, v.Process)
		}
	}
	var found *syscalls.Sequence
	seqs := syscalls.Sequences(vs)
	for i := range seqs {
		if seqs[i].Label == "vigil-labelled" && int(seqs[i].PID) == cmd.Process.Pid {
			found = &seqs[i]
		}
	}
	if found == nil {
		t.Fatalf("no sequence labelled vigil-labelled for pid %d among %d", cmd.Process.Pid, len(seqs))
	}
	var w, g uint64
	for i, v := range found.Vectors {
		if i > 0 && !found.Vectors[i-1].Start.Before(v.Start) {
			t.Errorf("sequence out of time order at %d", i)
		}
		vw, vg := writesAndGetppids(&v)
		w += vw
		g += vg
	}
	if w != 111 || g != 2222 || len(found.Vectors) < 3 {
		t.Errorf("sequence of %d vectors counts write %d, getppid %d; want at least 3 vectors, 111, 2222", len(found.Vectors), w, g)
	}
}

// A bad --exits is refused before anything is measured, naming the setting.
func TestBenchSyscallsRefusesBadExits(t *testing.T) {
	out, code := run(t, "", "bench", "syscalls", "--exits", "some")
	if code == 0 || !strings.Contains(out, `agent.events.exits: must be all, signalled or none, not "some"`) {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// TestBenchSyscalls runs a short `vigil bench syscalls` and checks that
// what it measured holds together: the loop's calls all counted, strace
// slower than the counter, the drain seeing the active processes.
func TestBenchSyscalls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: counting system calls with eBPF needs root (or CAP_BPF and CAP_PERFMON)")
	}
	const calls = 100000
	args := []string{"bench", "syscalls", "--calls", fmt.Sprint(calls), "--reps", "1", "--active", "10", "--active-time", "2s",
		"--interval", "500ms", "--tree", "../../internal", "--web-time", "1s", "--execs", "200",
		"--build-files", "4", "--git-files", "500", "--git-loops", "2", "--opens", "20000", "--json"}
	strace, err := exec.LookPath("strace")
	if err != nil {
		strace = ""
	}
	args = append(args, "--strace", strace)
	out, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var res bench.SyscallBenchResult
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	v, ok := res.Measure(bench.WorkloadGetppid, "vigil")
	if !ok || v.Counted != calls {
		t.Errorf("the counter counted %d of the loop's %d getppid calls", v.Counted, calls)
	}
	for _, w := range []string{bench.WorkloadGetppid, bench.WorkloadCompress} {
		for _, mode := range []string{"bare", "vigil"} {
			if m, ok := res.Measure(w, mode); !ok || m.Best <= 0 || m.CPU <= 0 {
				t.Errorf("%s, %s: %+v", w, mode, m)
			}
		}
	}
	if strace != "" {
		s, ok := res.Measure(bench.WorkloadGetppid, "strace")
		if !ok || s.Best <= v.Best {
			t.Errorf("strace run %+v not slower than the counter's %+v", s, v)
		}
	}
	if res.WebMissing == "" {
		modes := map[string]bench.WebMeasure{}
		for _, w := range res.Web {
			modes[w.Mode] = w
		}
		if modes["bare"].Best <= 0 || modes["vigil"].Best <= 0 {
			t.Errorf("web workload %+v", res.Web)
		}
		if s, ok := modes["strace"]; ok && s.Best >= modes["vigil"].Best {
			t.Errorf("web server under strace (%.0f requests/s) not slower than with the counter (%.0f)", s.Best, modes["vigil"].Best)
		}
	} else {
		t.Logf("web workload not measured: %s", res.WebMissing)
	}
	for w, tools := range map[string][]string{bench.WorkloadBuild: {"make", "cc"}, bench.WorkloadGit: {"git"}} {
		if !haveAll(tools...) {
			continue
		}
		for _, mode := range []string{"bare", "vigil"} {
			if m, ok := res.Measure(w, mode); !ok || m.Best <= 0 {
				t.Errorf("%s, %s: %+v (build: %s; git: %s)", w, mode, m, res.BuildMissing, res.GitMissing)
			}
		}
	}
	if res.EventsMissing == "" {
		// Every watched open is an event, unless the ring buffer dropped
		// records, which are then counted.
		for _, f := range []*bench.FloodMeasure{res.Flood, res.PacedFlood} {
			if f == nil || f.Opens != 20000 || f.Events == 0 || f.Events > uint64(f.Opens) || (f.Dropped == 0 && f.Events != uint64(f.Opens)) {
				t.Errorf("event flood %+v: want every open an event, or the records dropped counted", f)
			} else if f.Events > 1 && (f.Span <= 0 || f.Span > f.Seconds || f.SpanEventsPerSec < f.EventsPerSec) {
				t.Errorf("event flood %+v: the span of the opens is within the workers' run, its rate at least the run's", f)
			}
		}
		// Paced at 100,000 a second, 20,000 opens take at least 0.2 s.
		if p := res.PacedFlood; p != nil && (p.Rate != 100_000 || p.Seconds < 0.2) {
			t.Errorf("paced flood %+v: want 100,000 opens a second offered, taking at least 0.2 s", p)
		}
		if res.ExecCostUS <= 0 {
			t.Errorf("no cost of an exec measured: %+v", res)
		}
		// The paced storm: 200 execs at 1,000 a second take at least the
		// 192 ms of their schedule, and the agent delivered them all.
		if p := res.PacedExecs; p == nil {
			if runtime.GOARCH == "amd64" {
				t.Errorf("no paced exec storm: %s", res.PacedExecsMissing)
			}
		} else if p.Rate != 1000 || p.Execs != 200 || len(p.Runs) != 1 {
			t.Errorf("paced exec storm %+v: want one run of 200 execs at 1,000 a second", p)
		} else if r := p.Runs[0]; r.Seconds < 0.192 || r.ExecEvents < 200 || r.Written < r.ExecEvents || r.Delivered != r.Written || r.CoreShare <= 0 || p.MedianCoreShare != r.CoreShare {
			t.Errorf("paced exec storm run %+v: want it paced, its 200 PROC.EXEC among the observations written, all delivered, the agent's CPU measured", r)
		}
		// The agent's way: every observation spooled reached the bus,
		// the 200 execs' PROC.EXEC among them.
		if e, ok := res.Measure(bench.WorkloadExec, "events"); !ok || e.Execs < 200 || e.Written < e.Execs || e.Delivered != e.Written {
			t.Errorf("exec storm with the agent %+v: want its 200 PROC.EXEC events among the observations written, and all of them delivered", e)
		}
	}
	if res.Drain.Intervals < 2 || res.Drain.MeanSeen < 10 || res.Drain.CPUPctOfCore <= 0 {
		t.Errorf("drain measure %+v: want at least 2 intervals seeing the 10 active processes", res.Drain)
	}
}

// TestUpStoresCountVectors runs `vigil up --agent-syscalls` and reads the
// count vectors its agent stored on the embedded bus.
func TestUpStoresCountVectors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: counting system calls with eBPF needs root (or CAP_BPF and CAP_PERFMON)")
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	data := t.TempDir()
	start(t, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort),
		"--data", data, "--agent-host-id", "cv-host", "--agent-syscalls")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort), 5*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Reading the stream takes the monitor's identity.
	id, err := bus.ReadIdentity(filepath.Join(data, "bus", bus.MonitorIdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	// The HTTP server may answer before the bus listens.
	c, err := bus.Connect(ctx, bus.ClientOptions{URL: fmt.Sprintf("nats://127.0.0.1:%d", busPort), User: id.User, Password: id.Password, Logger: slog.New(slog.DiscardHandler), RetryOnFailedConnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan event.CountVector, 64)
	var sub *bus.Subscription
	handle := func(m *bus.Msg) {
		v, err := event.DecodeCountVectorCompact(m.Data)
		if err != nil {
			t.Errorf("a stored count vector does not decode: %v", err)
			return
		}
		select {
		case got <- v:
		default:
		}
		_ = m.Ack()
	}
	// The monitor makes the streams as it starts, beside the HTTP server.
	for {
		sub, err = c.ConsumeDurable(ctx, bus.DurableOptions{Name: "cv-test", Subjects: []string{bus.CVSubject("cv-host")}}, handle)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no consumer on the count-vector stream: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer sub.Stop()
	// The stack's own process counts system calls every second.
	for {
		select {
		case v := <-got:
			if v.Host != "cv-host" || v.Total() == 0 || v.Interval <= 0 || v.Interval > 1500*time.Millisecond {
				t.Fatalf("stored vector %+v", v)
			}
			if v.Process == "vigil" && v.Exe != "" {
				return
			}
		case <-ctx.Done():
			t.Fatal("no count vector of the vigil process stored on vigil.cv.cv-host within 20 s")
		}
	}
}

// haveAll says whether every tool is on the PATH.
func haveAll(tools ...string) bool {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return false
		}
	}
	return true
}

// summaryRank is label's place among the recording's labels ordered as
// the summary orders them (most vectors first, then by name).
func summaryRank(vs []event.CountVector, label string) int {
	n := map[string]int{}
	for _, v := range vs {
		n[v.Process]++
	}
	rank := 0
	for l, c := range n {
		if c > n[label] || (c == n[label] && l < label) {
			rank++
		}
	}
	return rank
}
