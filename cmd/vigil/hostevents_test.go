package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestAgentEvents runs `vigil agent --events --stdout` and a program living
// 1.5 s: its PROC.SPAWN comes from its exec, once (the /proc sampler, which
// sees it too, reports none), with the attributes PROC.SPAWN always had
// and its start time, beside its PROC.EXEC and PROC.EXIT.
func TestAgentEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: eBPF host events need root (or CAP_BPF and CAP_PERFMON)")
	}
	agent := start(t, "agent", "--events", "--stdout", "--interval", "200ms")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(agent.Out.String(), "host events running") {
		if strings.Contains(agent.Out.String(), "host events are off") {
			t.Skipf("skipped: %s", agent.Out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host events did not start within 10 s:\n%s", agent.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The agent's threads sleep with agent.timer_slack's default of 1 ms.
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(agent.Cmd.Process.Pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if b, err := os.ReadFile("/proc/" + tk.Name() + "/timerslack_ns"); err == nil && strings.TrimSpace(string(b)) != "1000000" {
			t.Errorf("agent thread %s: timer slack %s ns, want 1000000", tk.Name(), strings.TrimSpace(string(b)))
		}
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "vigil-nap")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog, "1.5")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int64(cmd.Process.Pid)
	byType := map[string][]event.Event{}
	deadline = time.Now().Add(5 * time.Second)
	for len(byType[event.TypeProcExit]) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		clear(byType)
		sc := bufio.NewScanner(strings.NewReader(agent.Out.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev event.Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Attrs["pid"] == nil {
				continue
			}
			if ev.Str("pid") == strconv.FormatInt(pid, 10) {
				byType[ev.Type] = append(byType[ev.Type], ev)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // a sample after the exit
	if n := len(byType[event.TypeProcSpawn]); n != 1 {
		t.Fatalf("%d PROC.SPAWN for the program, want 1:\n%s", n, agent.Out.String())
	}
	spawn := byType[event.TypeProcSpawn][0]
	for _, k := range []string{"name", "pid", "start", "ppid", "parent_name", "exe", "uid"} {
		if _, ok := spawn.Attrs[k]; !ok {
			t.Errorf("PROC.SPAWN lacks %s: %v", k, spawn.Attrs)
		}
	}
	if spawn.Attrs["name"] != "vigil-nap" || spawn.Attrs["exe"] != prog {
		t.Errorf("PROC.SPAWN %v", spawn.Attrs)
	}
	if len(byType[event.TypeProcExec]) != 1 || len(byType[event.TypeProcExit]) != 1 {
		t.Errorf("PROC.EXEC %d, PROC.EXIT %d for the program, want 1 each", len(byType[event.TypeProcExec]), len(byType[event.TypeProcExit]))
	}
}

// TestAgentEventsInPidNamespace runs `vigil agent --events` in a pid
// namespace of its own, as in a container: a program run inside is
// reported with the pids the namespace's /proc shows, and one run outside
// at the same time is not reported at all.
func TestAgentEventsInPidNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: eBPF host events and pid namespaces need root")
	}
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s not found (Debian package util-linux)", tool)
		}
	}
	agent := startCmd(t, exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount-proc", vigilBin, "agent", "--events", "--stdout", "--interval", "1s"))
	testutil.WaitFor(t, 15*time.Second, "the host events to start", func() bool {
		if strings.Contains(agent.Out.String(), "host events are off") {
			t.Skipf("skipped: %s", agent.Out.String())
		}
		return strings.Contains(agent.Out.String(), "host events running")
	})
	if !strings.Contains(agent.Out.String(), "host events of this pid namespace only") {
		t.Fatalf("the agent did not scope its events to its pid namespace:\n%s", agent.Out.String())
	}
	// The namespace's first process (unshare's child): the agent itself.
	inside, err := firstChildPid(agent.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "vigil-marker")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(inside), "-p", "-m", "--", "sh", "-c", prog+" inside").CombinedOutput(); err != nil {
		t.Fatalf("nsenter: %v %s", err, out)
	}
	if out, err := exec.Command(prog, "outside").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	var in, out []event.Event
	testutil.WaitFor(t, 5*time.Second, "the exec inside reported", func() bool {
		in, out = nil, nil
		sc := bufio.NewScanner(strings.NewReader(agent.Out.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev event.Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Type != event.TypeProcExec || ev.Str("exe") != prog {
				continue
			}
			if strings.Contains(ev.Str("args"), "inside") {
				in = append(in, ev)
			} else {
				out = append(out, ev)
			}
		}
		return len(in) > 0
	})
	time.Sleep(time.Second) // the outside exec's record would be there by now
	if len(out) > 0 {
		t.Errorf("an exec outside the agent's pid namespace was reported: %v", out[0].Attrs)
	}
	// The namespace's pids are small: the agent is 1, the shell nsenter
	// started and the program a few more.
	pid, _ := strconv.Atoi(in[0].Str("pid"))
	ppid, _ := strconv.Atoi(in[0].Str("ppid"))
	if pid <= 1 || pid > 1000 || ppid < 0 || ppid > 1000 {
		t.Errorf("pid %d, ppid %d: not the namespace's numbering (%v)", pid, ppid, in[0].Attrs)
	}
}

// firstChildPid is the first child of process pid.
func firstChildPid(pid int) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("process %d has no child", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
