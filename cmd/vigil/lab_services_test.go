package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/eval"
	"github.com/vigil-ids/vigil/internal/lab"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// TestLabServices runs `vigil lab services --fast --json --out DIR` (as
// root, with the Debian packages .ci/run installs) and checks the
// recordings the process classifier trains on: three hosts, each with a
// recording of its own processes only (each host's own daemons, none of
// another host's, none of the machine's outside the lab); at least 28
// classes (process names) with at least 3 whole sequences of ten vectors
// each across the hosts; every known-bad tool's and masquerading
// program's recording present, holding only the tool's own process
// names, the masquerading nginx run from /usr/local/bin/nginx; the
// masquerade README; no namespace left behind; and a small model trained
// on the recording with which the classify engine names the reverse
// shells and a masquerading program, over the recordings and live: with
// --attack the lab trains the model itself, runs the engine on the hosts'
// agents and starts each attack on the hosts, and each reverse shell and
// a masquerade are reported within seconds of their start.
// It takes about five minutes.
func TestLabServices(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 2-3 minutes")
	}
	if err := lab.CheckServices(); err != nil {
		t.Skipf("cannot run the services lab here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "rec")
	before := labNames("vs")
	cmd := exec.Command(vigilBin, "lab", "services", "--fast", "--attack", "--json", "--out", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	runErr := cmd.Run()
	took := time.Since(began)
	t.Logf("the lab took %v", took.Round(time.Second))
	var res lab.ServicesResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("vigil lab services: %v; its output is no outcome (%v)\nprogress:\n%s\noutput:\n%s", runErr, err, stderr.String(), stdout.String())
	}
	// Exit status 1 says an attack was late or missed, which the live
	// checks below name; anything else is a failure of the lab.
	if ee, ok := runErr.(*exec.ExitError); runErr != nil && (!ok || ee.ExitCode() != 1 || res.Live == nil || res.Live.Passed()) {
		t.Fatalf("vigil lab services: %v\nprogress:\n%s", runErr, stderr.String())
	}
	checkLive(t, res.Live)

	// Three hosts, each recorded.
	if len(res.Hosts) < 3 {
		t.Fatalf("%d hosts recorded; want at least 3", len(res.Hosts))
	}
	// What each host runs, and what only other hosts run.
	own := map[string][]string{
		"mail":   {"master", "smtpd", "local", "procmail", "dovecot", "rsyslogd"},
		"client": {"fetchmail", "procmail", "sendmail", "git", "ssh"},
		"web":    {"postgres", "nginx", "python3", "apache2", "redis-server", "sshd"},
	}
	foreign := map[string][]string{
		"mail":   {"postgres", "nginx", "fetchmail", "redis-server"},
		"client": {"dovecot", "postgres", "nginx", "redis-server"},
		"web":    {"dovecot", "fetchmail", "smtpd"},
	}
	// Processes of the machine outside the lab: this test, the go tool,
	// the lab itself and its recorders.
	self := filepath.Base(os.Args[0])
	if len(self) > 15 {
		self = self[:15]
	}
	outside := []string{self, "go", "vigil"}
	for _, h := range res.Hosts {
		f, err := os.Open(h.File)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := syscalls.ReadVectors(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) == 0 {
			t.Errorf("host %s: no vectors in %s", h.Name, h.File)
			continue
		}
		names := map[string]bool{}
		for _, v := range vs {
			names[v.Process] = true
			if v.Host != h.Name {
				t.Errorf("host %s's recording holds a vector of host %q", h.Name, v.Host)
				break
			}
		}
		for _, n := range own[h.Name] {
			if !names[n] {
				t.Errorf("host %s's recording has no %s (names: %s)", h.Name, n, strings.Join(h.Names, " "))
			}
		}
		for _, n := range append(foreign[h.Name], outside...) {
			if names[n] {
				t.Errorf("host %s's recording holds %s, a process from outside the host", h.Name, n)
			}
		}
	}

	const minSeqs, minClasses = 3, 28
	if n := res.ClassesWith(minSeqs); n < minClasses {
		var b strings.Builder
		for _, c := range res.Classes {
			b.WriteString(c.Class + " ")
		}
		t.Errorf("%d classes with at least %d sequences of %d vectors; want at least %d (classes, most first: %s)", n, minSeqs, lab.SeqLen, minClasses, b.String())
	}

	// Every known-bad tool and masquerading program, recorded alone.
	wantBad := map[string][]string{
		"reverse-shell": {"bash", "socat", "ncat", "sh"},
		"miner":         {"stress-ng", "stress-ng-cpu", "openssl"},
		"scanner":       {"nmap"},
		"bruteforce":    {"hydra"},
	}
	check := func(kind string, recs []lab.Recorded, want map[string][]string) {
		got := map[string]lab.Recorded{}
		for _, r := range recs {
			got[r.Name] = r
		}
		for name, procs := range want {
			r, ok := got[name]
			if !ok {
				t.Errorf("no %s recording of %s", kind, name)
				continue
			}
			if r.Vectors < 10 {
				t.Errorf("%s %s: %d vectors in %s; want at least 10", kind, name, r.Vectors, r.File)
			}
			for p := range r.Processes {
				if !slices.Contains(procs, p) {
					t.Errorf("%s %s's recording holds %q, not one of its processes %v", kind, name, p, procs)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, kind, name+".jsonl")); err != nil {
				t.Error(err)
			}
		}
	}
	check("nongrata", res.Nongrata, wantBad)
	check("masquerade", res.Masquerade, map[string][]string{"nginx": {"nginx"}, "sshd": {"sshd"}})
	// The masquerading nginx presents nginx's name from another program's
	// file: /usr/local/bin/nginx, not Debian's /usr/sbin/nginx.
	if f, err := os.Open(filepath.Join(dir, "masquerade", "nginx.jsonl")); err == nil {
		vs, err := syscalls.ReadVectors(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		exes := map[string]bool{}
		for _, v := range vs {
			exes[v.Exe] = true
		}
		_, lerr := os.Stat("/usr/local/bin") // else the lab's own directory holds it
		if exes["/usr/sbin/nginx"] || (lerr == nil && !exes["/usr/local/bin/nginx"]) {
			t.Errorf("the masquerading nginx's executables are %v; want /usr/local/bin/nginx", exes)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "masquerade", "README")); err != nil || !strings.Contains(string(b), "nginx") || !strings.Contains(string(b), "sshd") {
		t.Errorf("masquerade/README missing or not naming both programs: %v %q", err, b)
	}

	// Nothing left behind.
	assertNothingLeft(t, "vs", before)
	if took > 8*time.Minute {
		t.Errorf("the lab took %v; want well under 8 minutes with --fast --attack", took)
	}

	// The recording trains a small model, and the classify engine, run
	// over the recordings with it, names the reverse shells and the two
	// masquerading programs (which the model never saw).
	model := filepath.Join(t.TempDir(), "lab.vgm")
	if b, err := exec.Command(vigilBin, "train", "classifier", "--data", dir, "--kind", "logreg", "--min-samples", "3", "--max-classes", "40", "--model", model).CombinedOutput(); err != nil {
		t.Fatalf("vigil train classifier: %v\n%s", err, b)
	}
	stdout.Reset()
	stderr.Reset()
	ev := exec.Command(vigilBin, "eval", "countvec", "--data", dir, "--model", model, "--json")
	ev.Stdout, ev.Stderr = &stdout, &stderr
	if err := ev.Run(); err != nil {
		t.Fatalf("vigil eval countvec --model: %v\n%s", err, stderr.String())
	}
	var concluded []eval.ScenarioRecording
	if err := json.Unmarshal(stdout.Bytes(), &concluded); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	found := map[string]eval.ScenarioRecording{}
	for _, r := range concluded {
		found[r.Kind+"/"+r.Name] = r
	}
	masquerades := 0
	for _, name := range []string{"nongrata/reverse-shell", "masquerade/nginx", "masquerade/sshd"} {
		r, ok := found[name]
		switch {
		case ok && r.Expected > 0:
			t.Logf("%s: reported as expected in %d of %d sequences", name, r.Expected, r.Sequences)
			if strings.HasPrefix(name, "masquerade/") {
				masquerades++
			}
		case name == "nongrata/reverse-shell":
			t.Errorf("%s: the classify engine reported it in none of its sequences (%+v)", name, r)
		default:
			// A model of a minute and a half's recording does not always
			// tell both programs apart (docs/LAB-SERVICES.md).
			t.Logf("%s: reported in none of its sequences (%+v)", name, r)
		}
	}
	if masquerades == 0 {
		t.Error("neither masquerading program was reported in any of its sequences")
	}
}

// checkLive checks the live phase of vigil lab services --fast --attack:
// a model trained on the run's recording, each reverse shell and at least
// one of the two masquerades reported live on its host, naming it. The
// healthy run's reports (false alarms of a model trained on a minute and
// a half), the times against the target and the other attacks are
// logged.
func checkLive(t *testing.T, lv *lab.ServicesLive) {
	t.Helper()
	if lv == nil {
		t.Fatal("no live phase in the outcome")
	}
	var summary bytes.Buffer
	if err := lv.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	t.Logf("live phase:\n%s", summary.String())
	if !lv.Trained || lv.Kind != "logreg" {
		t.Errorf("model %s (%s, trained %v): want a logreg trained on the recording", lv.Model, lv.Kind, lv.Trained)
	}
	must := []string{"reverse-shell-bash", "reverse-shell-socat", "reverse-shell-ncat", "masquerade-nginx", "masquerade-sshd"}
	seen := map[string]bool{}
	masquerades := 0
	for _, a := range lv.Attacks {
		seen[a.ID] = true
		if !slices.Contains(must, a.ID) {
			continue
		}
		switch {
		case !a.Caught && strings.HasPrefix(a.ID, "masquerade-"):
			t.Logf("%s on %s: not reported (%s)", a.ID, a.Host, a.Error)
		case !a.Caught:
			t.Errorf("%s on %s: not reported (%s)", a.ID, a.Host, a.Error)
		case !strings.Contains(a.Report, `"`+a.Host+`"`):
			t.Errorf("%s: the report does not name its host %s: %s", a.ID, a.Host, a.Report)
		case a.Seconds > lab.LiveTarget:
			// The lab's own target, measured on an idle machine
			// (docs/LAB-SERVICES.md); CI's loaded cores and race-built
			// binaries can delay a report a little past it.
			t.Logf("%s on %s: reported after %.1f s, over the %d s target", a.ID, a.Host, a.Seconds, lab.LiveTarget)
		}
		if strings.Contains(a.Error, "left running") {
			t.Errorf("%s: %s", a.ID, a.Error)
		}
		if a.Caught && strings.HasPrefix(a.ID, "masquerade-") {
			masquerades++
		}
	}
	if masquerades == 0 {
		t.Error("neither masquerading program was reported live")
	}
	for _, id := range must {
		if !seen[id] {
			t.Errorf("%s: not run", id)
		}
	}
}
