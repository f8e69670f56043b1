package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/health"
	"github.com/vigil-ids/vigil/internal/store"
)

// TestHealthConditions: /healthz is 503 "unhealthy" with the conditions
// while any holds and ok once they clear; a condition that blocks input
// makes POST /api/events answer 503 with the reason and Retry-After and
// deliver nothing; one that does not block input leaves POSTs alone.
func TestHealthConditions(t *testing.T) {
	f := newFixture(t)
	ev := "{\"type\":\"T\",\"host\":\"a\"}\n"

	f.board.Set(health.StoreStalled, "12 items wait for the store, the oldest for 31s", false)
	code, out := f.do(t, "GET", "/healthz", "")
	var h struct {
		Status     string
		Error      string
		Conditions []health.Condition
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("healthz %d %s: %v", code, out, err)
	}
	if code != http.StatusServiceUnavailable || h.Status != "unhealthy" || len(h.Conditions) != 1 ||
		h.Conditions[0].Name != health.StoreStalled || !strings.Contains(h.Error, "oldest for 31s") {
		t.Errorf("healthz while the store stalls: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/events", ev); code != http.StatusOK {
		t.Errorf("POST refused for a condition that does not block input: %d %s", code, out)
	}

	f.board.Set(health.JetStream, "JetStream storage failing: no space left on device", true)
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/events", strings.NewReader(ev))
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans submitAnswer
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(ans.Error, "no space left on device") || ans.Accepted != 0 {
		t.Errorf("POST while JetStream fails: %d Retry-After %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), ans)
	}
	if n, _, _ := f.st.Count(context.Background()); n != 1 {
		t.Errorf("store holds %d events; want the 1 accepted before the refusal", n)
	}

	f.board.Clear(health.JetStream)
	f.board.Clear(health.StoreStalled)
	if code, out := f.do(t, "GET", "/healthz", ""); code != http.StatusOK || !strings.Contains(out, `"status":"ok"`) || strings.Contains(out, "conditions") {
		t.Errorf("healthz once the conditions cleared: %d %s", code, out)
	}
	if code, out := f.do(t, "POST", "/api/events", ev); code != http.StatusOK {
		t.Errorf("POST after the conditions cleared: %d %s", code, out)
	}
}

// TestHealthBanner: the live page shows a banner with the reasons while a
// condition holds, as text, and hides it once they clear.
func TestHealthBanner(t *testing.T) {
	ctx := browser(t)
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	board := health.New(nil, slog.New(slog.DiscardHandler))
	srv, err := New(Options{Listen: "127.0.0.1:0", Store: st, Logger: slog.New(slog.DiscardHandler), Board: board})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	go srv.Serve(sctx)
	t.Cleanup(func() { stop(); st.Close() })

	board.Set(health.JetStream, `JetStream storage failing: <b id="x">no space left on device</b>`, true)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("health").hidden`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("no banner while unhealthy: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("health").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "new events are refused") || !strings.Contains(text, `jetstream: JetStream storage failing: <b id="x">no space left on device</b>`) {
		t.Errorf("banner says %q", text)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#health b").length`)); err != nil || n != 0 {
		t.Errorf("the reason became markup (%d elements, %v)", n, err)
	}
	board.Clear(health.JetStream)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("health").hidden`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("banner still shown once healthy: %v", err)
	}
}
