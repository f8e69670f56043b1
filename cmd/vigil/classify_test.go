package main

import (
	"context"
	"fmt"
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
	var reps []struct {
		Model, Host, Severity, State string
		Attrs                        map[string]any
	}
	testutil.WaitFor(t, 40*time.Second, "a non-grata report about the spinning process", func() bool {
		reps = nil
		getJSON(t, base+"/api/reports?model=classify:non-grata", &reps)
		for _, r := range reps {
			if pid, _ := r.Attrs["pid"].(float64); int(pid) == cmd.Process.Pid {
				return true
			}
		}
		return false
	})
	for _, r := range reps {
		if pid, _ := r.Attrs["pid"].(float64); int(pid) != cmd.Process.Pid {
			continue
		}
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
