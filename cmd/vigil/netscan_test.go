package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// The gateway pack against real tools in network namespaces: nmap's ACK,
// window, IP protocol and FTP bounce scans, and hydra guessing an FTP
// password, each against real daemons, through the network sensor and
// `vigil replay --config configs/gateway.yaml`.

// startVsftpd runs vsftpd on the lab's server side with a configuration
// of its own (anonymous and local logins; PORT to any address allowed,
// as a bounce needs).
func startVsftpd(t *testing.T, l *netLab, dir string) {
	t.Helper()
	anon := filepath.Join(dir, "anon")
	if err := os.MkdirAll(anon, 0o755); err != nil {
		t.Fatal(err)
	}
	// vsftpd reads its root as the ftp user after dropping privileges.
	for _, d := range []string{dir, anon} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "vsftpd.conf")
	text := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=%s
background=NO
anonymous_enable=YES
anon_root=%s
no_anon_password=YES
local_enable=YES
write_enable=NO
port_enable=YES
port_promiscuous=YES
connect_from_port_20=NO
seccomp_sandbox=NO
xferlog_enable=NO
max_login_fails=3
pam_service_name=vsftpd
`, l.srvIP, anon)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	l.daemon(t, l.srv, "vsftpd", conf)
	testutil.WaitFor(t, 10*time.Second, "vsftpd", func() bool {
		return exec.Command("ip", "netns", "exec", l.cli, "bash", "-c", "exec 3<>/dev/tcp/"+l.srvIP+"/21").Run() == nil
	})
}

// gatewayRun is the sensor's records of what a test did on the lab, and
// the gateway pack's reports about them.
type gatewayRun struct {
	records []event.Event
	reports []struct {
		Model       string         `json:"model"`
		Severity    string         `json:"severity"`
		IP          string         `json:"ip"`
		Explanation string         `json:"explanation"`
		Attrs       map[string]any `json:"attrs"`
	}
}

// senseAndReplay captures on the server's veth while act runs, then
// replays the records through the shipped gateway configuration.
func senseAndReplay(t *testing.T, l *netLab, act func()) *gatewayRun {
	t.Helper()
	sensor := startIn(t, l.srv, "netsensor", "--iface", l.srvIf, "--stdout", "--id", "gw-live",
		"--summary-interval", "1s", "--attempt-timeout", "1s", "--services", l.srvIP+":21/tcp")
	testutil.WaitFor(t, 10*time.Second, "the sensor to capture", func() bool { return strings.Contains(sensor.Out.String(), "netsensor capturing") })
	act()
	time.Sleep(2500 * time.Millisecond) // past the attempt timeout and a summary interval
	sensor.Stop(t, 10*time.Second)
	run := &gatewayRun{}
	var lines bytes.Buffer
	for _, line := range strings.Split(sensor.Out.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		ev, err := event.DecodeJSON([]byte(line))
		if err != nil {
			t.Fatalf("a record that does not decode: %v\n%s", err, line)
		}
		run.records = append(run.records, ev)
		lines.WriteString(line + "\n")
	}
	replay := exec.Command(vigilBin, "replay", "--config", filepath.Join("..", "..", "configs", "gateway.yaml"), "--log-level", "error")
	replay.Stdin = &lines
	out, err := replay.Output()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var r struct {
			Model       string         `json:"model"`
			Severity    string         `json:"severity"`
			IP          string         `json:"ip"`
			Explanation string         `json:"explanation"`
			Attrs       map[string]any `json:"attrs"`
		}
		if json.Unmarshal([]byte(line), &r) == nil && r.Model != "" {
			run.reports = append(run.reports, r)
		}
	}
	return run
}

// byModel counts reports by rule, and logs each.
func (r *gatewayRun) byModel(t *testing.T) map[string]int {
	m := map[string]int{}
	for _, rep := range r.reports {
		m[rep.Model]++
		t.Logf("report %s (%s): %s", rep.Model, rep.Severity, rep.Explanation)
	}
	return m
}

// TestNetscanLive scans a real host with nmap's ACK, window and IP
// protocol scans and bounces a scan off a real vsftpd (nmap -b): the
// sensor records the probes as such and the gateway pack reports each
// scan by its name, with no tunnel reported for the protocol scan.
func TestNetscanLive(t *testing.T) {
	needTools(t, "ip", "nsenter", "nmap", "vsftpd", "bash")
	l := newNetLab(t)
	startVsftpd(t, l, t.TempDir())
	nmap := []string{"nmap", "-n", "-Pn", "-T4", "--max-retries", "1", "-oN", "-"}
	var outputs []string
	run := senseAndReplay(t, l, func() {
		outputs = append(outputs,
			l.in(t, l.cli, append(nmap, "-sA", "-p", "20-30,8000", l.srvIP)...),
			l.in(t, l.cli, append(nmap, "-sW", "-p", "31-42", l.srvIP)...),
			l.in(t, l.cli, append(nmap, "-sO", "-p", "1-60", l.srvIP)...),
			// Through the FTP server, at eleven of the server's own
			// ports (vsftpd ends the session rather than connect to a
			// port below 1024).
			l.in(t, l.cli, append(nmap, "-b", "anonymous:x@"+l.srvIP+":21", "-p", "2000-2010", l.srvIP)...))
	})
	if t.Failed() {
		t.Logf("nmap said:\n%s", strings.Join(outputs, "\n"))
	}
	probes, bounce := 0, 0
	for _, r := range run.records {
		if r.Type == "NET.PROBE" && r.Str("flags") == "A" && r.Str("src") == l.cliIP && r.Str("answer") == "rst" {
			probes++
		}
		if r.Type == "NET.FTP" && (r.Str("command") == "PORT" || r.Str("command") == "EPRT") && r.Str("data_addr") == l.srvIP {
			bounce++
		}
	}
	t.Logf("%d records: %d ACK probes answered by a reset, %d PORT/EPRT naming %s", len(run.records), probes, bounce, l.srvIP)
	if probes < 24 {
		t.Errorf("%d ACK probes answered by a reset, want the 24 of the ACK and window scans", probes)
	}
	if bounce < 11 {
		t.Errorf("%d PORT commands naming the third party, want one per bounced port (11)", bounce)
	}
	got := run.byModel(t)
	for _, m := range []string{"ack-scan", "ip-protocol-scan", "ftp-bounce", "ftp-bounce-scan"} {
		if got[m] == 0 {
			t.Errorf("no %s report; reports by rule: %v", m, got)
		}
	}
	if got["ip-tunnel"] != 0 {
		t.Errorf("the protocol scan reported as a tunnel: %v", got)
	}
	for _, rep := range run.reports {
		if src, _ := rep.Attrs["src"].(string); src != l.cliIP && rep.Model != "rogue-service" {
			t.Errorf("%s names %q as the source, want the scanner %s: %s", rep.Model, src, l.cliIP, rep.Explanation)
		}
	}
}

// TestBruteForceLive has hydra guess a local user's FTP password against
// a real vsftpd from a short word list with the password last: the pack
// reports the guessing and, in red, the login that followed it.
func TestBruteForceLive(t *testing.T) {
	needTools(t, "ip", "nsenter", "vsftpd", "hydra", "useradd", "userdel", "chpasswd", "bash")
	l := newNetLab(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	// The user must reach its home after logging in.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	user := fmt.Sprintf("vgl%d", os.Getpid()%100000)
	sh(t, "useradd", "-M", "-d", home, "-s", "/bin/sh", user)
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })
	const password = "Correct-Horse-9"
	chpw := exec.Command("chpasswd")
	chpw.Stdin = strings.NewReader(user + ":" + password + "\n")
	if out, err := chpw.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v\n%s", err, out)
	}
	startVsftpd(t, l, filepath.Join(dir, "ftp"))
	var words []string
	for i := range 30 {
		words = append(words, fmt.Sprintf("guess%02d", i))
	}
	words = append(words, password)
	list := filepath.Join(dir, "words.txt")
	if err := os.WriteFile(list, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var hydra string
	run := senseAndReplay(t, l, func() {
		// Four tasks, stop at the first password found; -I: no restore file.
		hydra = l.in(t, l.cli, "hydra", "-I", "-f", "-t", "4", "-l", user, "-P", list, "ftp://"+l.srvIP)
	})
	t.Logf("hydra said:\n%s", hydra)
	if !strings.Contains(hydra, password) {
		t.Fatalf("hydra did not find the password")
	}
	failed, succeeded := 0, 0
	for _, r := range run.records {
		if r.Type == "NET.FTP" && r.Str("command") == "PASS" && r.Str("user") == user {
			switch r.Str("login") {
			case "failed":
				failed++
			case "succeeded":
				succeeded++
			}
			if strings.Contains(string(r.AppendJSON(nil)), password) {
				t.Errorf("the password in a record: %s", r.AppendJSON(nil))
			}
		}
	}
	t.Logf("%d records: %d failed and %d successful FTP logins as %s", len(run.records), failed, succeeded, user)
	if failed < 20 || succeeded == 0 {
		t.Errorf("%d failed and %d successful logins recorded, want hydra's (at least 20 failures, then the success)", failed, succeeded)
	}
	got := run.byModel(t)
	for _, m := range []string{"password-guessing", "account-password-guessing", "password-guessed"} {
		if got[m] == 0 {
			t.Errorf("no %s report; reports by rule: %v", m, got)
		}
	}
	for _, rep := range run.reports {
		if rep.Model == "password-guessed" && (rep.Severity != "red" || !strings.Contains(rep.Explanation, user)) {
			t.Errorf("password-guessed: %s (%s), want red, naming %s", rep.Explanation, rep.Severity, user)
		}
	}
}
