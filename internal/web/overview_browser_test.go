package web

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/browsertest"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/store"
)

// thisMachine samples this machine with the real host sensor twice, with a
// process started in between, and returns the observations (the second
// sample's: at least the new process's spawn) and the host's identity.
func thisMachine(t *testing.T) (evs []event.Event, hostID, ip string) {
	t.Helper()
	ex, err := host.NewExtractor("/proc", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Skipf("no proc filesystem: %v", err)
	}
	hostID, ip = host.Identity("/proc")
	a := host.NewAgent(host.AgentOptions{Extractor: ex, HostID: hostID, IP: ip, Logger: slog.New(slog.DiscardHandler)})
	if _, err := a.Step(time.Now()); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	evs, err = a.Step(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spawned := false
	for _, ev := range evs {
		if pid, _ := ev.Int("pid"); ev.Type == event.TypeProcSpawn && int(pid) == sleeper.Process.Pid {
			spawned = true
		}
	}
	if !spawned {
		t.Fatalf("the host sensor did not see sleep spawn: %d observations", len(evs))
	}
	return evs, hostID, ip
}

// TestHostsOverviewPage loads the live page over this machine's real
// observations (stored, and followed by a real track engine and profiler
// as a running monitor's) and another host's red report, and checks that
// the page opens on the hosts overview: the red host first with its
// reason, this machine's row with its address, its M3 track's state and
// its latest observation; a report streamed later turns this machine red.
func TestHostsOverviewPage(t *testing.T) {
	ctx := browser(t)
	evs, hostID, ip := thisMachine(t)
	live := newLiveEngines(t)
	live.handle(t, evs...)
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hub := NewHub()
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: st, Live: live, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	go srv.Serve(sctx)
	t.Cleanup(func() { stop(); st.Close() })

	now := time.Now().UTC()
	other := []event.Event{{ID: "w1", Time: now, Type: event.TypeProcSpawn, Host: "web-3", IP: "10.0.0.3", Source: "agent", Attrs: map[string]any{"name": "sh", "parent_name": "httpd"}}}
	if _, err := st.WriteEvents(context.Background(), append(other, evs...)); err != nil {
		t.Fatal(err)
	}
	hostile := `<img src=x onerror="window.__pwned='img'">`
	red := event.Report{ID: "r1", Time: now, Monitor: "local", Engine: "signatures", Model: "web-server-spawns-shell", Host: "web-3", IP: "10.0.0.3",
		Score: 1, Severity: event.SeverityRed, State: "Matched", Explanation: "httpd (pid 4000) on web-3 started sh " + hostile, Evidence: []string{"w1"}}
	if _, err := st.WriteReports(context.Background(), []event.Report{red}); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll("the hosts overview", `document.querySelectorAll("#hosts tbody tr").length === 2`)
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main section").id`))
	if err != nil || first != "overview" {
		t.Errorf("the page opens on %q (%v), want the hosts overview", first, err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#hosts tbody tr")).map(tr => Array.from(tr.cells).map(td => td.textContent))`))
	if err != nil {
		t.Fatal(err)
	}
	// host, ip, severity, score, top reason, last observation
	if r := rows[0]; r[0] != "web-3" || r[2] != "red" || r[3] != "1.000" || r[4] != red.Explanation {
		t.Errorf("first row %q, want web-3 red with its reason", r)
	}
	last := evs[len(evs)-1].Time
	if r := rows[1]; r[0] != hostID || r[1] != ip || r[2] != "green" || !strings.Contains(r[4], "m3 Nominal") || r[5] == "" {
		t.Errorf("this machine's row %q (host %s, ip %s, latest observation %s)", r, hostID, ip, last)
	} else if got, err := time.Parse(time.RFC3339Nano, r[5]); err != nil || !got.Equal(last) {
		t.Errorf("this machine's last observation %q, want %s", r[5], last)
	}
	if ip == "" {
		t.Logf("this machine has no address: its M3 track (keyed by address) is absent")
	}
	// Profiles are listed below.
	poll("the profiles", `!document.getElementById("profiles-section").hidden && Array.from(document.querySelectorAll("#profiles tbody tr")).some(tr => tr.textContent.includes(`+jsString(hostID+",sleep")+`))`)

	// A report about this machine arrives live: its row turns red.
	deadline := time.Now().Add(20 * time.Second)
	for hub.Clients() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the page never opened its event stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mine := event.Report{ID: "r2", Time: time.Now().UTC(), Monitor: "local", Engine: "signatures", Model: "spawn-burst", Host: hostID, IP: ip,
		Score: 1, Severity: event.SeverityRed, State: "Matched", Explanation: "a burst of spawns on " + hostID}
	if _, err := st.WriteReports(context.Background(), []event.Report{mine}); err != nil {
		t.Fatal(err)
	}
	hub.ObserveReport(&mine)
	poll("this machine turning red", `Array.from(document.querySelectorAll("#hosts tbody tr")).some(tr => tr.cells[0].textContent === `+jsString(hostID)+` && tr.cells[2].textContent === "red" && tr.cells[4].textContent.includes("burst"))`)
	if pwned, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__pwned)`)); pwned != "undefined" {
		t.Fatalf("hostile markup ran: %s", pwned)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := browsertest.Artifact(t, "hosts-overview.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(shot))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\x3c`)
	return `"` + r.Replace(s) + `"`
}
