package web

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
)

// chromium finds the browser the tests drive, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VIGIL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on this machine (install Debian's chromium, or set VIGIL_CHROMIUM)")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	return ctx
}

// TestLivePageEscapes loads the live page in a real browser with hostile
// strings in stored events, in streamed events and in a report, and checks
// that they show as text and never become markup or script.
func TestLivePageEscapes(t *testing.T) {
	ctx := browser(t)
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hub := NewHub()
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: st, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Serve(sctx)

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
	deadline := time.Now().Add(20 * time.Second)
	for hub.Clients() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the page never opened its event stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	live := event.Event{ID: "live-1", Time: t0, Type: "SYS.CPU", Host: hostile[1], IP: "10.0.0.7", Source: hostile[2], Attrs: map[string]any{"x": []string{hostile[0]}}}
	hub.ObserveEvent(&live)
	hub.ObserveReport(&event.Report{ID: "r-1", Time: t0, Monitor: "m", Engine: "e", Model: hostile[2], Host: hostile[0], Score: 0.97, Severity: event.SeverityRed, State: hostile[1], Explanation: hostile[2]})
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#events tbody tr").length >= 2 && document.querySelectorAll("#reports tbody tr").length >= 1`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("streamed event or report never shown: %v", err)
	}

	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__pwned)`))
	if err != nil {
		t.Fatal(err)
	}
	if pwned != "undefined" {
		t.Fatalf("hostile markup ran: window.__pwned = %s", pwned)
	}
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main img, main script, main svg").length`))
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
