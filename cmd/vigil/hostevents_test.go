package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// TestAgentEvents runs `vigil agent --events --stdout` and a program living
// 1.5 s: its PROC.SPAWN comes from its exec, once (the /proc sampler, which
// sees it too, reports none), with the attributes PROC.SPAWN always had,
// beside its PROC.EXEC and PROC.EXIT.
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
	for _, k := range []string{"name", "pid", "ppid", "parent_name", "exe", "uid"} {
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
