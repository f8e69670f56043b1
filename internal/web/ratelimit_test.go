package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

// TestSubmissionRateLimitPerClient submits events faster than the limit
// from one address: past the burst it answers 429 with Retry-After, one
// token comes back after 1/rate, and another address is not affected.
// The clients are identified by their connection (Options.Peer, as a
// client certificate would), so logins are needed and the limit holds.
func TestSubmissionRateLimitPerClient(t *testing.T) {
	clk := clock.NewManual(t0)
	s, err := New(Options{Listen: "127.0.0.1:0", Clock: clk, Logger: slog.New(slog.DiscardHandler), EventsRate: 0.5, EventsBurst: 3,
		Publish: func(_ context.Context, evs []event.Event) (int, error) { return len(evs), nil },
		Peer:    func(*http.Request) (string, auth.Role, bool) { return "sensor-gw", auth.Operator, true }})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	h := s.Handler()
	submit := func(addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/api/events", strings.NewReader(`{"type":"T","host":"h"}`))
		r.RemoteAddr = addr + ":50000"
		r.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		if w := submit("10.0.0.1"); w.Code != http.StatusOK {
			t.Fatalf("submission %d within the burst: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := submit("10.0.0.1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" || !strings.Contains(w.Body.String(), "nothing was delivered") {
		t.Fatalf("past the burst: %d, Retry-After %q, %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := submit("10.0.0.2"); w.Code != http.StatusOK {
		t.Errorf("another address: %d", w.Code)
	}
	clk.Advance(1500 * time.Millisecond)
	if w := submit("10.0.0.1"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Errorf("after 1.5 s: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	clk.Advance(500 * time.Millisecond)
	if w := submit("10.0.0.1"); w.Code != http.StatusOK {
		t.Errorf("after 2 s: %d", w.Code)
	}
	if w := submit("10.0.0.1"); w.Code != http.StatusTooManyRequests {
		t.Errorf("right after: %d", w.Code)
	}
}

// TestSubmissionsWithoutLoginsAreNotLimited keeps loopback without
// accounts as it was: no rate limit on submissions.
func TestSubmissionsWithoutLoginsAreNotLimited(t *testing.T) {
	s, err := New(Options{Listen: "127.0.0.1:0", Clock: clock.NewManual(t0), Logger: slog.New(slog.DiscardHandler), EventsRate: 0.5, EventsBurst: 1,
		Publish: func(_ context.Context, evs []event.Event) (int, error) { return len(evs), nil }})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	h := s.Handler()
	for i := range 5 {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/api/events", strings.NewReader(`{"type":"T","host":"h"}`))
		r.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("submission %d: %d", i+1, w.Code)
		}
	}
}
