package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/browsertest"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/lab"
)

// TestLabDMZ runs `vigil lab dmz --fast --json` (as root, with Debian's
// apache2, apache2-utils and nmap) and checks seed 000's experiment as
// the paper reports it: no server leaves green before the scan; all four
// reach yellow after it; the flooded host 3 reaches red within 30 s of
// the flood's start; hosts 1, 2 and 4 never do, and after the flood none
// rises to a higher band; Table 2 shows host 3's excess of PROC.MEM and
// PROC.SPAWN. Meanwhile a real browser watches the dashboard, sees host
// 3's bar turn red, opens its evidence and saves a screenshot. The lab
// leaves no namespace behind.
func TestLabDMZ(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 3 minutes")
	}
	if err := lab.Check(); err != nil {
		t.Skipf("cannot run the lab here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	before := labNames("vl")
	cmd := exec.Command(vigilBin, "lab", "dmz", "--fast", "--json", "--dir", dir)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The progress (on standard error with --json) names the dashboard.
	dashboard := make(chan string, 1)
	var progress strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		re := regexp.MustCompile(`dashboard (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			progress.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				dashboard <- m[1]
			}
		}
		close(dashboard)
	}()

	browserErr := watchDashboard(t, dashboard, dir)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vigil lab dmz: %v\nprogress:\n%s\noutput:\n%s", err, progress.String(), stdout.String())
	}
	if browserErr != "" {
		t.Error(browserErr)
	}
	var res lab.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	t.Logf("timeline:\n%s", strings.Join(res.Timeline, "\n"))
	t.Logf("Table 2: %v", res.Table2)
	for _, k := range []string{"flood_start", "host1", "host2", "host3", "host4"} {
		if !bytes.Contains(stdout.Bytes(), []byte(`"`+k+`"`)) {
			t.Errorf("the JSON outcome has no %q", k)
		}
	}
	scanAt := res.ScanStart.Sub(res.FloodStart).Seconds()
	for _, name := range []string{"host1", "host2", "host3", "host4"} {
		h := res.Hosts[name]
		if h == nil {
			t.Fatalf("no %s in the outcome", name)
		}
		if h.LeftGreenBeforeScan {
			t.Errorf("%s left green before the scan", name)
		}
		if h.YellowAfter == nil || *h.YellowAfter < scanAt {
			t.Errorf("%s did not reach yellow after the scan: %+v", name, h)
		}
		if band(h.MaxSeverityAfterFlood) > band(h.SeverityAtFloodEnd) {
			t.Errorf("%s rose from %s to %s after the flood", name, h.SeverityAtFloodEnd, h.MaxSeverityAfterFlood)
		}
		if res.Table2[name]["gateway-signatures"] == 0 {
			t.Errorf("no gateway report about %s: %v", name, res.Table2[name])
		}
		if name == "host3" {
			if h.RedAfter == nil || *h.RedAfter < 0 || *h.RedAfter > 30 || h.MaxScore < 0.9 {
				t.Errorf("host3 did not reach red within 30 s of the flood: %+v", h)
			}
			continue
		}
		if h.RedAfter != nil || h.MaxScore >= 0.9 {
			t.Errorf("%s reached red: %+v", name, h)
		}
		for _, typ := range []string{event.TypeProcMem, event.TypeProcSpawn} {
			if res.Table2["host3"][typ] <= res.Table2[name][typ] {
				t.Errorf("Table 2: host3's %s %d is not above %s's %d", typ, res.Table2["host3"][typ], name, res.Table2[name][typ])
			}
		}
	}
	for _, f := range []string{"figure5.csv", "table2.csv", "figure5.svg", "timeline.txt", "result.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(data) == 0 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(data))
		}
	}
	assertNothingLeft(t, "vl", before)
}

func band(s string) event.Severity {
	if s == "" {
		return event.SeverityGreen
	}
	sev, _ := event.ParseSeverity(s)
	return sev
}

// watchDashboard opens the lab's dashboard in a real browser as soon as
// it is up, waits for host 3's M3 bar to turn red, opens its evidence and
// saves a screenshot. It returns what went wrong ("" if nothing), and
// nothing when there is no browser here (said in the log).
//
// The dashboard listens off loopback, so the browser logs in first, with
// the account the lab made (dir/dashboard-login.txt).
func watchDashboard(t *testing.T, dashboard <-chan string, dir string) string {
	url, ok := <-dashboard
	if !ok {
		return "the lab never said where its dashboard is"
	}
	go func() { // the rest of the progress
		for range dashboard {
		}
	}()
	if _, err := browsertest.Find(); err != nil {
		t.Logf("the dashboard is not watched: %v", err)
		return ""
	}
	ctx := browsertest.Context(t, 5*time.Minute)
	login, err := os.ReadFile(filepath.Join(dir, "dashboard-login.txt"))
	var user, password string
	if _, serr := fmt.Sscanf(string(login), "user %s\npassword %s\n", &user, &password); err != nil || serr != nil {
		return fmt.Sprintf("the lab's dashboard login: %v %v", err, serr)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/login.html"),
		chromedp.SendKeys(chromedp.CSS("#user"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`))); err != nil {
		return "logging in to the dashboard: " + err.Error()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		at, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
		if err == nil && at == "/" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("the login never led to the dashboard (at %q, %v)", at, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	const host3Red = `Array.from(document.querySelectorAll("#tracks tbody tr")).find(tr => tr.textContent.includes("10.10.0.3") && tr.textContent.includes("m3") && tr.querySelector(".bar .sev-red"))`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](host3Red+` !== undefined`, chromedp.WithPollingTimeout(4*time.Minute))); err != nil {
		return "host 3's bar never turned red on the dashboard: " + err.Error()
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { `+host3Red+`.click(); return true; })()`)); err != nil {
		return "clicking host 3's track: " + err.Error()
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#evidence tbody tr").length > 0 && document.querySelector("#evidence").textContent.includes("PROC.")`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		return "host 3's evidence did not open: " + err.Error()
	}
	// The track table, and host 3's evidence, as an operator sees them.
	for _, shot := range []struct{ name, show string }{{"lab-dmz-tracks.png", "tracks"}, {"lab-dmz-evidence.png", "detail"}} {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById("`+shot.show+`").scrollIntoView(), true)`)); err != nil {
			return "scrolling to #" + shot.show + ": " + err.Error()
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			return "screenshot: " + err.Error()
		}
		path := browsertest.Artifact(t, shot.name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return err.Error()
		}
		t.Logf("dashboard screenshot %s (%d bytes)", path, len(png))
	}
	return ""
}

// TestLabDMZInterrupted interrupts the lab once it is up and checks that
// it removed every namespace, link and process it had made.
func TestLabDMZInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 20 s to come up")
	}
	if err := lab.Check(); err != nil {
		t.Skipf("cannot run the lab here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	before := labNames("vl")
	cmd := exec.Command(vigilBin, "lab", "dmz", "--fast", "--json", "--dir", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "lab up") {
				up <- true
				said = true
			}
		}
		if !said {
			up <- false
		}
	}()
	select {
	case ok := <-up:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("the lab ended before it was up")
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the lab did not come up within 2 minutes")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("an interrupted lab exited 0")
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the lab did not stop within a minute of the interrupt")
	}
	assertNothingLeft(t, "vl", before)
	if ps, _ := exec.Command("pgrep", "-af", dir).Output(); len(bytes.TrimSpace(ps)) > 0 {
		t.Errorf("processes left behind: %s", ps)
	}
}

// TestLabAttacks runs `vigil lab attacks --fast --json`: every behaviour
// of the catalogue whose tools are here is reported by one of its
// expected rules, from the real programs, and the baseline of ordinary
// administration raises nothing.
func TestLabAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 2 minutes")
	}
	if err := lab.CheckAttacks(); err != nil {
		t.Skipf("cannot run the lab here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	before := labNames("va")
	cmd := exec.Command(vigilBin, "lab", "attacks", "--fast", "--json", "--dir", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var res lab.AttacksResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("vigil lab attacks: %v; its output is no result (%v):\n%s\n%s", err, jerr, stdout.String(), stderr.String())
	}
	for _, b := range res.Results {
		switch {
		case b.Skipped != "":
			t.Logf("%-22s skipped: %s", b.ID, b.Skipped)
		case !b.Caught:
			t.Errorf("%-22s MISSED (expected %v; other reports %v; %s)", b.ID, b.Expect, b.Others, b.Error)
		default:
			t.Logf("%-22s %-26s %.1fs", b.ID, b.Rule, b.Seconds)
			// Within 2 s of the behaviour's start, but for what the
			// behaviour itself takes: the bind shell's client waits 1 s
			// before it leaves, the scan must have met 20 closed ports
			// (nmap's start and its first probes take up to a second on
			// a loaded machine), and the level observation waits the
			// lab's 5 s by design.
			limit := map[string]float64{"ncat-bind-shell": 3, "port-scan": 3, "cpu-burn": 20}[b.ID]
			if limit == 0 {
				limit = 2
			}
			if b.Seconds > limit {
				t.Errorf("%s reported after %.1fs, more than %.0fs", b.ID, b.Seconds, limit)
			}
		}
	}
	for _, r := range res.Baseline {
		t.Errorf("report during the baseline: %s", r)
	}
	if res.Tried < 20 {
		t.Errorf("only %d behaviours tried (the rest skipped): the lab proves little here", res.Tried)
	}
	if err != nil && res.Passed() {
		t.Errorf("vigil lab attacks exited with %v although it passed", err)
	}
	if err == nil && !res.Passed() {
		t.Error("vigil lab attacks exited 0 although it did not pass")
	}
	assertNothingLeft(t, "va", before)
	if t.Failed() {
		t.Logf("progress:\n%s", stderr.String())
	}
}

// TestLabDMZRespond runs `vigil lab dmz --respond --fast --json` (as root,
// with the lab's tools, hping3 and nftables): seed 000's experiment with
// the resolver enforcing. When host 3 turns red, the attacker's address is
// blocked at the gateway (taken from answered requests: it completed
// handshakes) and host 3's agent restarts its web server; the attacker no
// longer reaches host 3, host 1 still does, and host 3's track leaves red.
// Hosts 1, 2 and 4 are never acted on. The second phase's forged SYN
// flood and decoy scan get nothing blocked but the attacker's real
// address; the decisions about the decoy are refused and say why. The
// latencies are printed.
func TestLabDMZRespond(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 3 minutes")
	}
	if err := lab.CheckRespond(); err != nil {
		t.Skipf("cannot run the acting lab here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	before := labNames("vl")
	cmd := exec.Command(vigilBin, "lab", "dmz", "--respond", "--fast", "--json", "--dir", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil lab dmz --respond: %v\nprogress:\n%s\noutput:\n%s", err, stderr.String(), stdout.String())
	}
	var res lab.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	t.Logf("timeline:\n%s", strings.Join(res.Timeline, "\n"))
	rr := res.Respond
	if rr == nil {
		t.Fatalf("no respond section in the outcome:\n%s", stdout.String())
	}
	var summary bytes.Buffer
	if err := res.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", summary.String())

	// Host 3 red, and both actions after it, with their latencies.
	if rr.RedAt.IsZero() {
		t.Fatal("host 3 never turned red")
	}
	if rr.BlockAfter == nil || *rr.BlockAfter < 0 || *rr.BlockAfter > 30 {
		t.Errorf("red -> block: %v (want a block within 30 s of host 3's red report)", secsOf(rr.BlockAfter))
	}
	if rr.RestartAfter == nil || *rr.RestartAfter < 0 || *rr.RestartAfter > 60 {
		t.Errorf("red -> restart: %v (want host 3's web server restarted within 60 s)", secsOf(rr.RestartAfter))
	}
	if rr.LeftRedAfter == nil {
		t.Errorf("host 3's track did not leave red after the actions")
	}
	if rr.AttackerReachesHost3 {
		t.Error("the attacker still reaches host 3 after the block")
	}
	if !rr.Host1ReachesHost3 {
		t.Error("host 1 does not reach host 3: the restarted server does not serve, or the block hit the DMZ")
	}
	// Only the attacker's real address is blocked.
	if len(rr.Blocked) != 1 || rr.Blocked[0] != "10.20.0.1" {
		t.Errorf("blocked at the gateway at the end: %v, want only the attacker's 10.20.0.1", rr.Blocked)
	}
	// Hosts 1, 2 and 4 are never acted on; the decoy is refused, and
	// says why.
	decoyRefused := false
	for _, d := range rr.Decisions {
		acted := d.Status == "done" || d.Status == "expired" || d.Status == "undone"
		for _, other := range []string{"host1", "host2", "host4", "10.10.0.1", "10.10.0.2", "10.10.0.4"} {
			if acted && d.Method != "note" && strings.Contains(d.Subject, other) {
				t.Errorf("acted on %s: %+v", other, d)
			}
		}
		if strings.Contains(d.Subject, rr.Admin) {
			if acted {
				t.Errorf("acted on the admin address the decoy named: %+v", d)
			}
			if d.Status == "refused" && strings.Contains(d.Reason, "could not have been forged") {
				decoyRefused = true
			}
		}
	}
	if !decoyRefused {
		t.Errorf("no decision about the decoy address %s was refused as possibly forged", rr.Admin)
	}
	assertNothingLeft(t, "vl", before)
}

func secsOf(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.3f s", *v)
}

// labNames lists the network namespaces and links whose names start
// with prefix and a digit: those of the labs with that prefix.
func labNames(prefix string) map[string]bool {
	names := map[string]bool{}
	for _, dir := range []string{"/run/netns", "/sys/class/net"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), prefix)
			if ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
				names[filepath.Join(dir, e.Name())] = true
			}
		}
	}
	return names
}

// assertNothingLeft fails the test if a lab left network namespaces or
// links (named PREFIX<n>...) that were not there before it ran (before,
// from labNames). What an earlier run killed before it could clean up
// left is not this run's to answer for.
func assertNothingLeft(t *testing.T, prefix string, before map[string]bool) {
	t.Helper()
	for name := range labNames(prefix) {
		if !before[name] {
			t.Errorf("left behind: %s", name)
		}
	}
}
