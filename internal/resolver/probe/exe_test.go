package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func exeProbe(t *testing.T, set func(*ExeSettings)) action.Method {
	t.Helper()
	return build(t, KindExe, func(cs config.Settings) { set(cs.(*ExeSettings)) })
}

// sleepBinary is this host's sleep(1), the real program the tests run.
func sleepBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep(1) to run: %v", err)
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var copies atomic.Int64

// sleepCopy copies sleep(1) into a temporary directory under a name no
// other process on the host has, and returns its path and SHA-256.
func sleepCopy(t *testing.T) (path, sum string) {
	t.Helper()
	b, err := os.ReadFile(sleepBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), fmt.Sprintf("vigil-exe-%d-%d", os.Getpid(), copies.Add(1)))
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:])
}

// processRequest is a decision about the child's process on this host.
func processRequest(c *testutil.Child) action.Request {
	r := request()
	host, _ := os.Hostname()
	r.Subject = action.Subject{Host: host, Process: &action.Process{PID: c.PID, Start: c.Start, Exe: c.Exe}}
	return r
}

func TestExeProbePassesOnTheBaselineOfARunningCopy(t *testing.T) {
	exe, sum := sleepCopy(t)
	c1 := testutil.StartChild(t, exe, "300")
	c2 := testutil.StartChild(t, exe, "300")
	name := filepath.Base(exe)
	m := exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{name}
		s.Baseline = map[string]string{exe: strings.ToUpper(sum)}
	})
	out, err := m.Execute(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pass: %q of pids %d (start %d), %d (start %d) matches the baseline's SHA-256 (SHA256 %s)", exe, c1.PID, c1.Start, c2.PID, c2.Start, sum)
	if c2.PID < c1.PID {
		want = fmt.Sprintf("pass: %q of pids %d (start %d), %d (start %d) matches the baseline's SHA-256 (SHA256 %s)", exe, c2.PID, c2.Start, c1.PID, c1.Start, sum)
	}
	if out.Detail != want {
		t.Errorf("detail %q\nwant   %q", out.Detail, want)
	}

	// The decision's own process, without names.
	m = exeProbe(t, func(s *ExeSettings) { s.Baseline = map[string]string{exe: sum} })
	out, err = m.Execute(context.Background(), processRequest(c1))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("pass: %q of pid %d (start %d) matches", exe, c1.PID, c1.Start); !strings.HasPrefix(out.Detail, want) {
		t.Errorf("detail %q, want it to start with %q", out.Detail, want)
	}
}

// TestExeProbeReportsADeletedOrReplacedExecutableAndHashesWhatRuns: once
// the file is unlinked, and then replaced by another, the process still
// runs the original image: the probe says the executable is no longer the
// file on disk, and hashes the image that runs, not the new file.
func TestExeProbeReportsADeletedOrReplacedExecutableAndHashesWhatRuns(t *testing.T) {
	exe, sum := sleepCopy(t)
	c := testutil.StartChild(t, exe, "300")
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	m := exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{filepath.Base(exe)}
		s.Baseline = map[string]string{exe: sum}
	})
	_, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "executable" || ms[0].PID != c.PID || ms[0].Start != c.Start || ms[0].Target != exe ||
		ms[0].Got != "deleted or replaced since the process started" {
		t.Fatalf("error %v, want only the deletion (the image still matches)", err)
	}
	want := fmt.Sprintf(`pid %d (start %d) %q: executable differs`, c.PID, c.Start, exe)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}

	// A new file in its place, whose sum the baseline now holds.
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho replaced\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m = exeProbe(t, func(s *ExeSettings) { s.Baseline = map[string]string{exe: sum256("#!/bin/sh\necho replaced\n")} })
	out, err := m.Execute(context.Background(), processRequest(c))
	ms = mismatches(err)
	if len(ms) != 2 || ms[0].What != "executable" || ms[1].What != "sha256" || ms[1].Got != sum || ms[1].PID != c.PID {
		t.Fatalf("error %v, want the replacement and the running image's own sum", err)
	}
	if !strings.HasPrefix(out.Detail, "fail: ") {
		t.Errorf("detail %q", out.Detail)
	}
}

// TestExeProbeIsNotFooledByAFileNamedDeleted: a file whose own name ends
// in " (deleted)" is on disk, and passes.
func TestExeProbeIsNotFooledByAFileNamedDeleted(t *testing.T) {
	src, sum := sleepCopy(t)
	exe := src + deletedSuffix
	if err := os.Rename(src, exe); err != nil {
		t.Fatal(err)
	}
	c := testutil.StartChild(t, exe, "300")
	m := exeProbe(t, func(s *ExeSettings) { s.Baseline = map[string]string{exe: sum} })
	out, err := m.Execute(context.Background(), processRequest(c))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Detail, strconv.Quote(exe)+" of pid") {
		t.Errorf("detail %q", out.Detail)
	}
}

// TestExeProbeChecksARunningDebianBinaryAgainstDpkg runs this host's
// sleep(1) and checks it against coreutils' md5sums in the real dpkg
// database.
func TestExeProbeChecksARunningDebianBinaryAgainstDpkg(t *testing.T) {
	if _, err := os.Stat(DefaultDpkgInfoDir); err != nil {
		t.Skipf("no Debian package database here: %v", err)
	}
	c := testutil.StartChild(t, sleepBinary(t), "300")
	m := exeProbe(t, func(s *ExeSettings) { s.Dpkg = true })
	out, err := m.Execute(context.Background(), processRequest(c))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("pass: %q of pid %d (start %d) matches package ", c.Exe, c.PID, c.Start); !strings.HasPrefix(out.Detail, want) || !strings.Contains(out.Detail, "(MD5 ") {
		t.Errorf("detail %q, want it to start with %q", out.Detail, want)
	}
	t.Log(out.Detail)
}

// TestExeProbeReportsExecutablesWithoutExpectation: a process whose
// executable neither the baseline nor (with dpkg) a package lists is
// reported, and the others are still checked.
func TestExeProbeReportsExecutablesWithoutExpectation(t *testing.T) {
	known, sum := sleepCopy(t)
	stray, _ := sleepCopy(t)
	ck := testutil.StartChild(t, known, "300")
	cs := testutil.StartChild(t, stray, "300")
	names := []string{filepath.Base(known), filepath.Base(stray)}
	m := exeProbe(t, func(s *ExeSettings) { s.Names = names; s.Baseline = map[string]string{known: sum} })
	out, err := m.Execute(context.Background(), request())
	ms := mismatches(err)
	if len(ms) != 1 || ms[0].What != "baseline" || ms[0].PID != cs.PID || ms[0].Target != stray {
		t.Fatalf("error %v, want the stray executable reported as not in the baseline", err)
	}
	if !strings.Contains(out.Detail, fmt.Sprintf("pass: %q of pid %d", known, ck.PID)) {
		t.Errorf("detail %q lacks the known process's pass", out.Detail)
	}

	info := t.TempDir()
	if err := os.WriteFile(filepath.Join(info, "coreutils.md5sums"), []byte(md5hex("x")+"  usr/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m = exeProbe(t, func(s *ExeSettings) { s.Names = names[1:]; s.Dpkg = true; s.DpkgInfoDir = info })
	_, err = m.Execute(context.Background(), request())
	ms = mismatches(err)
	if len(ms) != 1 || ms[0].What != "owner" || ms[0].PID != cs.PID || !strings.Contains(ms[0].Want, info) {
		t.Fatalf("error %v, want the executable reported as owned by no package", err)
	}
}

// TestExeProbeRefusesAReusedPid: a subject whose start time differs from
// the running pid's is refused, and nothing is hashed, not even the
// processes named (whose image would not match).
func TestExeProbeRefusesAReusedPid(t *testing.T) {
	exe, _ := sleepCopy(t)
	c := testutil.StartChild(t, exe, "300")
	m := exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{filepath.Base(exe)}
		s.Baseline = map[string]string{exe: sum256("something else")}
	})
	req := processRequest(c)
	req.Subject.Process.Start++
	out, err := m.Execute(context.Background(), req)
	if !errors.Is(err, action.ErrRefused) || !strings.Contains(err.Error(), "a reused pid is never probed; nothing probed") {
		t.Fatalf("error %v, want a refusal", err)
	}
	if len(mismatches(err)) != 0 || out.Detail != "" {
		t.Errorf("something was hashed: %v, detail %q", err, out.Detail)
	}

	req = processRequest(c)
	req.Subject.Process.Exe = "/usr/sbin/apache2"
	if _, err := m.Execute(context.Background(), req); !errors.Is(err, action.ErrRefused) || !strings.Contains(err.Error(), `not "/usr/sbin/apache2"`) {
		t.Errorf("another executable: %v, want a refusal", err)
	}
	req = processRequest(c)
	req.Subject.Host = "web-9"
	if _, err := m.Plan(req); !errors.Is(err, action.ErrRefused) || !strings.Contains(err.Error(), `runs on host "web-9"`) {
		t.Errorf("another host: %v, want a refusal", err)
	}
	if _, err := m.Execute(context.Background(), req); !errors.Is(err, action.ErrRefused) {
		t.Errorf("another host: %v, want a refusal", err)
	}
}

func TestExeProbeFailsWhenNoProcessHasTheName(t *testing.T) {
	exe, sum := sleepCopy(t)
	testutil.StartChild(t, exe, "300")
	m := exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{"vigil-no-such-exe", filepath.Base(exe)}
		s.Baseline = map[string]string{exe: sum}
	})
	out, err := m.Execute(context.Background(), request())
	if err == nil || !strings.Contains(err.Error(), `no running process named "vigil-no-such-exe"`) {
		t.Fatalf("error %v", err)
	}
	if len(mismatches(err)) != 0 || !strings.Contains(out.Detail, "; pass: "+strconv.Quote(exe)) {
		t.Errorf("error %v, detail %q: want the other name still checked", err, out.Detail)
	}
}

func TestExeProbeStaysWithinItsBounds(t *testing.T) {
	exe, sum := sleepCopy(t)
	testutil.StartChild(t, exe, "300")
	testutil.StartChild(t, exe, "300")
	m := exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{filepath.Base(exe)}
		s.Baseline = map[string]string{exe: sum}
		s.MaxProcesses = 1
	})
	_, err := m.Execute(context.Background(), request())
	if err == nil || !strings.Contains(err.Error(), "1 more running process named "+strconv.Quote(filepath.Base(exe))+" beyond max_processes 1; not checked") {
		t.Fatalf("error %v", err)
	}
	m = exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{filepath.Base(exe)}
		s.Baseline = map[string]string{exe: sum}
		s.MaxFileBytes = 100
	})
	_, err = m.Execute(context.Background(), request())
	if err == nil || strings.Count(err.Error(), "over max_file_bytes 100; not checked") != 2 || len(mismatches(err)) != 0 {
		t.Fatalf("error %v, want both processes not checked", err)
	}
}

func TestExeProbeStopsWhenItsContextIsCancelled(t *testing.T) {
	exe, sum := sleepCopy(t)
	testutil.StartChild(t, exe, "300")
	m := exeProbe(t, func(s *ExeSettings) { s.Names = []string{filepath.Base(exe)}; s.Baseline = map[string]string{exe: sum} })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Execute(ctx, request()); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}

func TestExeProbePlanSaysWhatWouldBeChecked(t *testing.T) {
	m := exeProbe(t, func(s *ExeSettings) {
		s.Names = []string{"apache2", "sshd"}
		s.Dpkg = true
		s.Baseline = map[string]string{"/usr/local/sbin/app": sum256("app")}
		s.Host = "web-1"
	})
	req := request()
	req.Subject.Process = &action.Process{PID: 4242, Start: 777, Exe: "/usr/sbin/apache2"}
	plan, err := m.Plan(req)
	if err != nil {
		t.Fatal(err)
	}
	want := `hash on this host the running executables (read through /proc/PID/exe) of process 4242 (started at tick 777, "/usr/sbin/apache2") if its pid and start time still match and every running process whose executable is named "apache2" or "sshd", at most 256 processes, at most 268435456 bytes each; expect the SHA-256 of the baseline for "/usr/local/sbin/app"; other executables: the MD5 of the package that lists them in /var/lib/dpkg/info`
	if plan != want {
		t.Errorf("plan %q\nwant %q", plan, want)
	}
	only := exeProbe(t, func(s *ExeSettings) { s.Dpkg = true })
	if _, err := only.Plan(request()); err == nil || !strings.Contains(err.Error(), "the subject names no process and no names are configured") {
		t.Errorf("plan without a process: %v", err)
	}
	r := registry(t)
	if n := r.Needs(KindExe, nil); len(n) != 1 || n[0] != "process" {
		t.Errorf("exe-probe without names needs %v, want a process", n)
	}
	if n := r.Needs(KindExe, &ExeSettings{Names: []string{"sshd"}}); len(n) != 0 {
		t.Errorf("exe-probe with names needs %v, want nothing", n)
	}
}

func TestExeProbeSettingsMistakes(t *testing.T) {
	s := newExeSettings().(*ExeSettings)
	s.Names = []string{"", "/usr/sbin/apache2", "..", "a\nb", "sshd", "sshd", strings.Repeat("x", 256)}
	s.Baseline = map[string]string{"bin/x": sum256(""), "/usr//bin/y": sum256(""), "/usr/bin/z": "nothex"}
	s.Dpkg = true
	s.DpkgInfoDir = "/nonexistent/info"
	s.Host = "web 1"
	s.MaxFileBytes = 0
	s.MaxProcesses = 5000
	got := strings.Join(problems(s), "\n")
	for _, want := range []string{
		"r.names[0]: empty", `r.names[1]: "/usr/sbin/apache2" holds a slash`, `r.names[2]: ".." is no file name`,
		`r.names[3]: "a\nb" holds a control character`, `r.names[5]: "sshd" is named twice`, "r.names[6]: 256 bytes",
		`r.baseline.bin/x: "bin/x" is not an absolute path`, `r.baseline./usr//bin/y: "/usr//bin/y" is not a clean path: write "/usr/bin/y"`,
		"r.baseline./usr/bin/z: want 64 hex", `r.host: "web 1" is not a host id`, "r.max_file_bytes: must be between",
		"r.max_processes: must be between 1 and 4096", "r.dpkg_info_dir: stat /nonexistent/info",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if got := problems(newExeSettings()); len(got) != 1 || !strings.Contains(got[0], "r: missing: dpkg: true or a baseline") {
		t.Errorf("empty settings: %q", got)
	}
}

func TestParseStatStart(t *testing.T) {
	for _, c := range []struct {
		stat  string
		start uint64
		err   string
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 98765 8192 100 18446744073709551615", 98765, ""},
		{"1234 (a) b) (c) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 42, ""},
		{"1234 (x\ny z) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 0", 7, ""},
		{"1234 sleep S 1", 0, "no process name"},
		{"1234 (sleep) S 1 2 3", 0, "fields after the name"},
		{"1234 (sleep) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0", 0, "start time"},
		{")(", 0, "no process name"},
	} {
		got, err := ParseStatStart([]byte(c.stat))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.stat, err, c.err)
			}
			continue
		}
		if err != nil || got != c.start {
			t.Errorf("%q: %d %v, want %d", c.stat, got, err, c.start)
		}
	}
	// This process's own stat.
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("no proc filesystem: %v", err)
	}
	if start, err := ParseStatStart(b); err != nil || start == 0 {
		t.Errorf("own stat: %d %v", start, err)
	}
}

func FuzzParseStatStart(f *testing.F) {
	f.Add([]byte("1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 98765 8192 100"))
	f.Add([]byte("1 (a) b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, b []byte) {
		start, err := ParseStatStart(b)
		if err != nil {
			return
		}
		// Whatever the name holds, the start time is the 20th field
		// after its last ')'.
		end := strings.LastIndexByte(string(b), ')')
		fields := strings.Fields(string(b[end+1:]))
		if fields[19] != strconv.FormatUint(start, 10) && strings.TrimLeft(fields[19], "+0") != strings.TrimLeft(strconv.FormatUint(start, 10), "0") {
			t.Fatalf("%q: start %d, field %q", b, start, fields[19])
		}
	})
}
