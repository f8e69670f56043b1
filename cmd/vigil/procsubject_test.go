package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// decision is what the test reads of GET /api/responses.
type decision struct {
	ID      string `json:"id"`
	Policy  string `json:"policy"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Subject struct {
		Host    string `json:"host"`
		Process *struct {
			PID   int    `json:"pid"`
			Start uint64 `json:"start"`
			Exe   string `json:"exe"`
		} `json:"process"`
	} `json:"subject"`
}

// TestProcessSubjectKills runs `vigil up --agent-events --agent-effector`
// with a resource object whose resolver enforces a policy with `subject:
// process` over a rule of the test's own (a program name the test makes),
// and a `process` method that sends KILL through the host's effector:
//
//   - the test's own program, started by the test, is killed within a few
//     seconds of its exec (its PROC.EXEC names it by pid, start time and
//     executable; the rule's report carries them; the decision is `done`);
//   - an event naming another program of the test's by its pid and
//     executable but another start time (a pid as it would be after
//     reuse) makes a decision the effector refuses: the program lives;
//   - an event naming the monitor's own process is refused by the
//     decision unit: the monitor lives.
//
// Nothing but processes the test started is ever named.
func TestProcessSubjectKills(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: eBPF host events and the effector's signals need root")
	}
	dir := t.TempDir()
	// Unique names (at most 15 bytes, the kernel's comm), so the rule
	// matches nothing on this machine but the test's programs.
	name := fmt.Sprintf("vigil-k%06d", rand.IntN(1e6))
	other := fmt.Sprintf("vigil-o%06d", rand.IntN(1e6))
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	prog, otherProg := filepath.Join(dir, name), filepath.Join(dir, other)
	for _, p := range []string{prog, otherProg} {
		if err := os.WriteFile(p, sleep, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, fmt.Appendf(nil, `rules:
  - id: marked-program
    title: The test's marked program runs
    severity: red
    suppress: 0s
    match: {type: PROC.EXEC, where: {name: %q}}
    report: "{name} (pid {pid}, {exe}) on {host}"
`, name), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, []byte(`monitor: {name: local, layer: service}
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
    delivery: durable
engines:
  - kind: signature
    name: signatures
    rules: [rules.yaml]
responses:
  - {kind: process, name: kill-it, action: KILL, timeout: 5s}
resolver:
  mode: enforce
  policies:
    - name: kill-marked
      where: {engine: signatures, model: marked-program}
      subject: process
      methods: [kill-it]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	up := start(t, "up", "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort),
		"--data", filepath.Join(dir, "data"), "--agent-interval", "1s", "--agent-host-id", "this-machine", "--agent-events", "--agent-effector")
	waitHTTP(t, base+"/healthz", 10*time.Second)
	testutil.WaitFor(t, 15*time.Second, "the host events to start", func() bool {
		if strings.Contains(up.Out.String(), "host events are off") {
			t.Skipf("skipped: %s", up.Out.String())
		}
		return strings.Contains(up.Out.String(), "host events running")
	})

	// The marked program: killed by the effector.
	// It may be killed before the test looks at it: its start time is
	// read before it is reaped (a process keeps it through its exec and
	// as a zombie).
	begin := time.Now()
	cmd := exec.Command(prog, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	marked := struct {
		PID   int
		Start uint64
	}{cmd.Process.Pid, procStart(t, cmd.Process.Pid)}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	select {
	case err := <-waited:
		waited <- err
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the marked program (pid %d) ended by itself (%v), want killed by SIGKILL", marked.PID, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the marked program (pid %d) still runs 10 s after it started", marked.PID)
	}
	t.Logf("the marked program (pid %d) was killed %v after it started", marked.PID, time.Since(begin).Round(time.Millisecond))
	var done decision
	testutil.WaitFor(t, 5*time.Second, "the decision stored as done", func() bool {
		for _, d := range decisions(t, base, "done") {
			if p := d.Subject.Process; d.Policy == "kill-marked" && p != nil && p.PID == marked.PID {
				done = d
				return true
			}
		}
		return false
	})
	if p := done.Subject.Process; p.Start != marked.Start || p.Exe != prog || done.Subject.Host != "this-machine" {
		t.Errorf("decision %+v names pid %d started at %d running %s on %s; want start %d, %s on this-machine", done, p.PID, p.Start, p.Exe, done.Subject.Host, marked.Start, prog)
	}

	// Another program of the test's, named with a start time that is not
	// its own: the effector refuses, the program lives.
	survivor := testutil.StartChild(t, otherProg, "300")
	post(t, base, map[string]any{"name": name, "pid": survivor.PID, "start": survivor.Start + 1, "exe": otherProg})
	refused := waitRefused(t, base, survivor.PID)
	if !strings.Contains(refused.Reason, "another process holds the pid") {
		t.Errorf("refusal of a start time that differs: %q", refused.Reason)
	}
	t.Logf("refused: %s", refused.Reason)
	// The monitor's own process, named exactly: refused before any
	// request goes out.
	upPID := up.Cmd.Process.Pid
	upExe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", upPID))
	if err != nil {
		t.Fatal(err)
	}
	post(t, base, map[string]any{"name": name, "pid": upPID, "start": procStart(t, upPID), "exe": upExe})
	d := waitRefused(t, base, upPID)
	if !strings.Contains(d.Reason, "protected") {
		t.Errorf("refusal of the monitor's own process: %q", d.Reason)
	}
	t.Logf("refused: %s", d.Reason)
	t.Logf("done: %s", done.Reason)
	time.Sleep(500 * time.Millisecond)
	if !survivor.Alive() {
		t.Errorf("the program named with another start time (pid %d) was signalled", survivor.PID)
	}
	if err := up.Cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the monitor's process: %v", err)
	}
}

// post submits one PROC.EXEC of this machine with attrs through the API.
func post(t *testing.T, base string, attrs map[string]any) {
	t.Helper()
	line, err := json.Marshal(map[string]any{"type": "PROC.EXEC", "host": "this-machine", "attrs": attrs})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/events", "application/x-ndjson", bytes.NewReader(append(line, '\n')))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/events: %s %s", resp.Status, body)
	}
}

// decisions reads GET /api/responses?status=status.
func decisions(t *testing.T, base, status string) []decision {
	t.Helper()
	resp, err := http.Get(base + "/api/responses?status=" + status)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ds []decision
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil {
		t.Fatalf("GET /api/responses: %v", err)
	}
	return ds
}

// waitRefused waits for a refused decision of kill-marked about pid.
func waitRefused(t *testing.T, base string, pid int) decision {
	t.Helper()
	var found decision
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("a refused decision about pid %d", pid), func() bool {
		for _, d := range decisions(t, base, "refused") {
			if p := d.Subject.Process; d.Policy == "kill-marked" && p != nil && p.PID == pid {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

// procStart is field 22 of /proc/PID/stat: the start in clock ticks.
func procStart(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	var start uint64
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if _, err := fmt.Sscan(f[22-3], &start); err != nil {
		t.Fatal(err)
	}
	return start
}
