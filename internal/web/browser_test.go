package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/browsertest"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Context(t, 60*time.Second)
}

// liveServer serves the page over a real store, until the test ends.
func liveServer(t *testing.T) (*store.Store, *Hub, *Server) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hub := NewHub()
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: st, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	go srv.Serve(sctx)
	t.Cleanup(func() { stop(); st.Close() })
	return st, hub, srv
}

// TestLivePageEscapes loads the live page in a real browser with hostile
// strings in stored events, in streamed events and in a report, and checks
// that they show as text and never become markup or script.
func TestLivePageEscapes(t *testing.T) {
	ctx := browser(t)
	st, hub, srv := liveServer(t)

	hostile := []string{
		`<img src=x onerror="window.__pwned='img'">`,
		`</td></tr><script>window.__pwned='script'</script>`,
		`"><svg onload="window.__pwned='svg'">`,
	}
	stored := event.Event{ID: "stored-1", Time: t0, Type: "PROC.SPAWN", Host: hostile[0], Source: hostile[1], Attrs: map[string]any{"name": hostile[2]}}
	if _, err := st.WriteEvents(context.Background(), []event.Event{stored}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	// Wait for the page to load the stored event and open its stream.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#events tbody tr").length >= 1`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("stored event never shown: %v", err)
	}
	testutil.WaitFor(t, 20*time.Second, "the page to open its event stream", func() bool { return hub.Clients() > 0 })
	live := event.Event{ID: "live-1", Time: t0, Type: "SYS.CPU", Host: hostile[1], IP: "10.0.0.7", Source: hostile[2], Attrs: map[string]any{"x": []string{hostile[0]}}}
	hub.ObserveEvent(&live)
	hub.ObserveReport(&event.Report{ID: "r-1", Time: t0, Monitor: "m", Engine: "e", Model: hostile[2], Host: hostile[0], Score: 0.97, Severity: event.SeverityRed, State: hostile[1], Explanation: hostile[2]})
	// A summary of what a quiet time held back lists each text it would
	// have said, as text.
	hub.ObserveReport(&event.Report{ID: "r-2", Time: t0, Monitor: "m", Engine: "e", Model: "exec-from-writable-dir", Host: "web-2", Score: 0.95, Severity: event.SeverityRed, State: "Detected",
		Explanation: "2 more reports held back within 1m", Attrs: map[string]any{"suppressed": int64(2), "suppressed_texts": []string{hostile[0], "kdevtmpfsi (pid 9003) on web-2 runs from /dev/shm/kdevtmpfsi"}}})
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#events tbody tr").length >= 2 && document.querySelectorAll("#reports tbody tr").length >= 2`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("streamed event or report never shown: %v", err)
	}
	held, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#reports ul.held li")).map(li => li.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{hostile[0], "kdevtmpfsi (pid 9003) on web-2 runs from /dev/shm/kdevtmpfsi"}; !slices.Equal(held, want) {
		t.Errorf("held-back texts shown %q, want %q", held, want)
	}

	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__pwned)`))
	if err != nil {
		t.Fatal(err)
	}
	if pwned != "undefined" {
		t.Fatalf("hostile markup ran: window.__pwned = %s", pwned)
	}
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main img:not(#score-chart):not(#obs-chart), main script, main svg").length`))
	if err != nil {
		t.Fatal(err)
	}
	if injected != 0 {
		t.Errorf("%d elements were created from event strings", injected)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("main td")).map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append(hostile, "red", "0.970", "x=["+hostile[0]+"]") {
		if !containsSub(cells, want) {
			t.Errorf("the page does not show %q as text; cells: %q", want, cells)
		}
	}
}

func containsSub(cells []string, want string) bool {
	return slices.ContainsFunc(cells, func(c string) bool { return strings.Contains(c, want) })
}

// TestDashboardTracks loads the dashboard with the tracks of 2,000 hosts
// and a live one turning red, sorts the table, opens the red track's
// evidence, and checks hostile strings stay text. A screenshot is saved
// (in $VIGIL_ARTIFACTS when set).
func TestDashboardTracks(t *testing.T) {
	ctx := browser(t)
	st, hub, srv := liveServer(t)

	hostile := `<img src=x onerror="window.__pwned='img'">`
	track := func(id, ip string, sec int, score float64, sev event.Severity, state string, evidence []string) event.Report {
		return event.Report{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Monitor: "dmz", Engine: "tracks", Model: "m3", IP: ip,
			Score: score, Severity: sev, State: state, Evidence: evidence, Explanation: id,
			Attrs: map[string]any{"observations": int64(len(evidence)), "last_modified": t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano), "band_yellow": 0.5, "band_red": 0.9}}
	}
	var rs []event.Report
	for i := range 2000 {
		rs = append(rs, track(fmt.Sprint("t", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250), 1, 0.1+float64(i%5)/10, event.SeverityGreen, "Nominal", nil))
	}
	rs = append(rs, track("h3-a", "10.0.1.3", 2, 0.6, event.SeverityYellow, "Compromised", []string{"ev1", "ev2"}))
	if _, err := st.WriteReports(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{
		{ID: "ev1", Time: t0.Add(time.Second), Type: event.TypeNIDSAlert, Host: "host3", IP: "10.0.1.3", Source: "suricata", Attrs: map[string]any{"msg": hostile}},
		{ID: "ev2", Time: t0.Add(2 * time.Second), Type: event.TypeProcSpawn, Host: "host3", IP: "10.0.1.3", Source: "agent", Attrs: map[string]any{"name": "sh"}},
		{ID: "ev3", Time: t0.Add(3 * time.Second), Type: event.TypeProcMem, Host: "host3", IP: "10.0.1.3", Source: "agent"},
	}
	if _, err := st.WriteEvents(context.Background(), evs); err != nil {
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
	poll("the 2,001 tracks", `document.querySelectorAll("#tracks tbody tr").length === 2001`)
	testutil.WaitFor(t, 20*time.Second, "the page to open its event stream", func() bool { return hub.Clients() > 0 })
	// Host 3 turns red, live.
	red := track("h3-b", "10.0.1.3", 4, 0.95, event.SeverityRed, "Compromised", []string{"ev1", "ev2", "ev3"})
	hub.ObserveReport(&red)
	poll("host 3's bar turning red", `Array.from(document.querySelectorAll("#tracks tbody tr")).some(tr => tr.textContent.includes("10.0.1.3") && tr.querySelector(".bar .sev-red"))`)
	// Sorted by score, highest first: host 3 on top.
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#tracks tbody tr").textContent`))
	if err != nil || !strings.Contains(first, "10.0.1.3") {
		t.Errorf("first row %q (%v), want host 3", first, err)
	}
	// Sort by host, then open host 3's evidence.
	if err := chromedp.Do(ctx, chromedp.Click(`#tracks th[data-key="subject"]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const tr = Array.from(document.querySelectorAll("#tracks tbody tr")).find(tr => tr.textContent.includes("10.0.1.3")); tr.click(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	poll("the evidence", `document.querySelectorAll("#evidence tbody tr").length === 3`)
	// The charts are the server's SVG images, drawn for this track.
	poll("the charts", `["score-chart", "obs-chart"].every(id => { const img = document.getElementById(id); return img.complete && img.naturalWidth > 0 && img.src.includes("10.0.1.3"); })`)
	for _, c := range []struct{ path, want string }{
		{"/api/charts/score.svg?ip=10.0.1.3&model=m3", `class="score-line"`},
		{"/api/charts/observations.svg?ip=10.0.1.3", `class="obs"`},
	} {
		resp, err := http.Get(srv.URL() + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(body), c.want) || strings.Contains(string(body), "<img") {
			t.Errorf("%s: %s %q", c.path, resp.Header.Get("Content-Type"), body)
		}
	}
	obs, err := http.Get(srv.URL() + "/api/charts/observations.svg?ip=10.0.1.3")
	if err != nil {
		t.Fatal(err)
	}
	obsBody, _ := io.ReadAll(obs.Body)
	obs.Body.Close()
	if n := strings.Count(string(obsBody), `class="obs"`); n != 3 {
		t.Errorf("the observations chart draws %d observations, want 3", n)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#evidence td")).map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !containsSub(cells, "msg="+hostile) || !containsSub(cells, event.TypeProcMem) {
		t.Errorf("evidence cells %q", cells)
	}
	if pwned, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__pwned)`)); pwned != "undefined" {
		t.Fatalf("hostile markup ran: %s", pwned)
	}
	poll("the observation types by host", `document.querySelectorAll("#bytype tbody tr").length === 1 && document.querySelector("#bytype thead").textContent.includes("PROC.SPAWN")`)

	// The detail panel and the top of the table, as an operator sees them.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById("detail").scrollIntoView(), true)`)); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := browsertest.Artifact(t, "dashboard-tracks.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(shot))
}
