package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/health"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

type fixture struct {
	srv      *httptest.Server
	st       *store.Store
	hub      *Hub
	board    *health.Board
	mu       sync.Mutex
	failNext bool
}

// newFixture serves the handler over a real store. Submitted events are
// written straight to the store, as the monitor would after the bus.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, hub: NewHub(), board: health.New(clock.NewManual(t0), slog.New(slog.DiscardHandler))}
	s, err := New(Options{
		Listen: "127.0.0.1:0", Store: st, Hub: f.hub, Gatherer: prometheus.NewRegistry(),
		Clock: clock.NewManual(t0), IDs: event.NewSeededIDs(1), Logger: slog.New(slog.DiscardHandler), MaxBody: 1 << 20,
		Publish: func(ctx context.Context, evs []event.Event) (int, error) {
			f.mu.Lock()
			fail := f.failNext
			f.failNext = false
			f.mu.Unlock()
			if fail {
				if _, err := st.WriteEvents(ctx, evs[:1]); err != nil {
					return 0, err
				}
				return 1, errors.New("bus went away")
			}
			_, err := st.WriteEvents(ctx, evs)
			return len(evs), err
		},
		Health: func() error { return nil },
		Board:  f.board,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("%s %s: no %s header", method, path, h)
		}
	}
	return resp.StatusCode, string(b)
}

func TestSubmitAndQuery(t *testing.T) {
	f := newFixture(t)
	body := strings.Join([]string{
		`{"type":"PROC.CPU","host":"web-1","ip":"10.0.0.1","attrs":{"name":"<img src=x onerror=alert(1)>"}}`,
		`{"type":"SYS.MEM","host":"web-1","time":"2026-11-22T09:00:00Z"}`,
		`{"type":"SYS.MEM","host":"web-2","colour":"red"}`,
		`{"type":"SYS.CPU","host":"web-2","time":"2026-11-22T09:30:00Z"}`,
		`not json at all`,
	}, "\n")
	code, out := f.do(t, "POST", "/api/events", body)
	if code != http.StatusBadRequest {
		t.Fatalf("status %d: %s", code, out)
	}
	var ans submitAnswer
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Accepted != 3 || ans.Rejected != 2 || ans.Errors[0].Line != 3 || !strings.Contains(ans.Errors[0].Error, `"colour"`) || ans.Errors[1].Line != 5 {
		t.Fatalf("answer %+v", ans)
	}
	if code, _ := f.do(t, "POST", "/api/events", `{"type":"T","host":"h"}`); code != http.StatusOK {
		t.Errorf("all-good submission: %d", code)
	}

	tests := []struct {
		query string
		code  int
		hosts []string
	}{
		{"?host=web-1", 200, []string{"web-1", "web-1"}},
		{"?host=web-2", 200, []string{"web-2"}},
		{"?type=SYS.MEM", 200, []string{"web-1"}},
		{"?ip=10.0.0.1", 200, []string{"web-1"}},
		{"?since=2026-11-22T09:15:00Z&until=2026-11-22T09:45:00Z", 200, []string{"web-2"}},
		{"?since=45m", 200, []string{"h", "web-1", "web-2"}}, // clock at 10:00; ties newest stored first
		{"?limit=1&host=web-1", 200, []string{"web-1"}},
		{"?hostt=web-1", 400, nil},
		{"?since=last+week", 400, nil},
		{"?limit=0", 400, nil},
	}
	for _, tc := range tests {
		code, out := f.do(t, "GET", "/api/events"+tc.query, "")
		if code != tc.code {
			t.Errorf("%s: status %d: %s", tc.query, code, out)
			continue
		}
		if code != 200 {
			if !strings.Contains(out, `"error"`) {
				t.Errorf("%s: no error message: %s", tc.query, out)
			}
			continue
		}
		var evs []json.RawMessage
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatal(err)
		}
		var hosts []string
		for _, raw := range evs {
			ev, err := event.DecodeJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			hosts = append(hosts, ev.Host)
		}
		if strings.Join(hosts, ",") != strings.Join(tc.hosts, ",") {
			t.Errorf("%s: hosts %v, want %v", tc.query, hosts, tc.hosts)
		}
	}
	// Strings from the network come back escaped.
	_, out = f.do(t, "GET", "/api/events?type=PROC.CPU", "")
	if strings.Contains(out, "<img") || !strings.Contains(out, `\u003cimg`) {
		t.Errorf("markup not escaped: %s", out)
	}
}

func TestSubmitLimitsAndFailures(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat(`{"type":"T","host":"h","attrs":{"pad":"`+strings.Repeat("x", 1000)+`"}}`+"\n", 1100)
	if code, out := f.do(t, "POST", "/api/events", big); code != http.StatusRequestEntityTooLarge || !strings.Contains(out, "nothing was delivered") {
		t.Errorf("oversized body: %d %s", code, out)
	}
	if n, _, _ := f.st.Count(context.Background()); n != 0 {
		t.Errorf("an oversized body delivered %d events", n)
	}
	f.mu.Lock()
	f.failNext = true
	f.mu.Unlock()
	code, out := f.do(t, "POST", "/api/events", "{\"type\":\"T\",\"host\":\"a\"}\n{\"type\":\"T\",\"host\":\"b\"}\n")
	if code != http.StatusServiceUnavailable || !strings.Contains(out, `"accepted":1`) {
		t.Errorf("bus failure: %d %s", code, out)
	}
	if code, out := f.do(t, "GET", "/healthz", ""); code != 200 || !strings.Contains(out, `"ok"`) {
		t.Errorf("healthz %d %s", code, out)
	}
	if code, _ := f.do(t, "GET", "/metrics", ""); code != 200 {
		t.Errorf("metrics %d", code)
	}
	if code, out := f.do(t, "GET", "/", ""); code != 200 || !strings.Contains(out, "<title>Vigil</title>") {
		t.Errorf("page %d", code)
	}
}

func TestReportsQuery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var rs []event.Report
	for i, sev := range []event.Severity{event.SeverityGreen, event.SeverityYellow, event.SeverityRed} {
		rs = append(rs, event.Report{ID: "r" + sev.String(), Time: t0.Add(time.Duration(i) * time.Second), Monitor: "m", Engine: "e", Model: "M3", Host: "web-3", Score: float64(i) / 2, Severity: sev})
	}
	if _, err := f.st.WriteReports(ctx, rs); err != nil {
		t.Fatal(err)
	}
	code, out := f.do(t, "GET", "/api/reports?severity=yellow&host=web-3", "")
	if code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	var got []json.RawMessage
	json.Unmarshal([]byte(out), &got)
	if len(got) != 2 {
		t.Fatalf("got %d reports: %s", len(got), out)
	}
	r, err := event.DecodeReportJSON(got[0])
	if err != nil || r.ID != "rred" {
		t.Errorf("newest first: %+v %v", r, err)
	}
	if code, _ := f.do(t, "GET", "/api/reports?severity=purple", ""); code != 400 {
		t.Errorf("bad severity: %d", code)
	}
}

// TestTracksAndTypeCounts serves the track table (newest report per
// subject and model) and the observation types by host.
func TestTracksAndTypeCounts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rs := []event.Report{
		{ID: "old", Time: t0, Monitor: "dmz", Engine: "tracks", Model: "m3", IP: "10.0.1.3", Score: 0.6, Severity: event.SeverityYellow, State: "Compromised"},
		{ID: "new", Time: t0.Add(time.Second), Monitor: "dmz", Engine: "tracks", Model: "m3", IP: "10.0.1.3", Score: 0.95, Severity: event.SeverityRed, State: "Compromised"},
		{ID: "other", Time: t0, Monitor: "dmz", Engine: "tracks", Model: "m3", IP: "10.0.1.1", Score: 0.6, Severity: event.SeverityYellow, State: "Compromised"},
	}
	if _, err := f.st.WriteReports(ctx, rs); err != nil {
		t.Fatal(err)
	}
	evs := []event.Event{
		{ID: "e1", Time: t0, Type: event.TypeProcSpawn, Host: "host3", IP: "10.0.1.3", Source: "agent"},
		{ID: "e2", Time: t0, Type: event.TypeProcSpawn, Host: "host3", IP: "10.0.1.3", Source: "agent"},
		{ID: "e3", Time: t0, Type: event.TypeProcMem, Host: "host3", IP: "10.0.1.3", Source: "agent"},
		{ID: "e4", Time: t0, Type: event.TypeSysCPU, Host: "host1", IP: "10.0.1.1", Source: "agent"},
	}
	if _, err := f.st.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	code, out := f.do(t, "GET", "/api/tracks?model=m3", "")
	var got []struct{ ID string }
	if code != 200 || json.Unmarshal([]byte(out), &got) != nil || len(got) != 2 || got[0].ID != "new" || got[1].ID != "other" {
		t.Errorf("tracks: %d %s", code, out)
	}
	code, out = f.do(t, "GET", "/api/observations/by-host", "")
	var rows []hostTypes
	if code != 200 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 ||
		rows[1].Host != "host3" || rows[1].Counts[event.TypeProcSpawn] != 2 || rows[1].Counts[event.TypeProcMem] != 1 || rows[1].Total != 3 {
		t.Errorf("by host: %d %s", code, out)
	}
	// A track's evidence, by id.
	code, out = f.do(t, "GET", "/api/events?id=e1&id=e3&id=nope", "")
	var byID []struct{ ID string }
	if code != 200 || json.Unmarshal([]byte(out), &byID) != nil || len(byID) != 2 {
		t.Errorf("events by id: %d %s", code, out)
	}
	if code, _ := f.do(t, "GET", "/api/observations/by-host?model=m3", ""); code != 400 {
		t.Errorf("a report parameter on the events table: %d", code)
	}
}

func TestStream(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	testutil.WaitFor(t, 10*time.Second, "the stream to open", func() bool { return f.hub.Clients() > 0 })
	ev := event.Event{ID: "e1", Time: t0, Type: "PROC.SPAWN", Host: "web-3", Attrs: map[string]any{"name": "</script><b>"}}
	f.hub.ObserveEvent(&ev)
	f.hub.ObserveReport(&event.Report{ID: "r1", Time: t0, Monitor: "m", Score: 0.5, Severity: event.SeverityYellow})
	sc := bufio.NewScanner(resp.Body)
	var kinds, datas []string
	for sc.Scan() && len(datas) < 2 {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "event: "); ok {
			kinds = append(kinds, k)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			datas = append(datas, d)
		}
	}
	if strings.Join(kinds, ",") != "event,report" || len(datas) != 2 {
		t.Fatalf("stream kinds %v datas %v", kinds, datas)
	}
	got, err := event.DecodeJSON([]byte(datas[0]))
	if err != nil || got.Str("name") != "</script><b>" || strings.Contains(datas[0], "<") {
		t.Errorf("streamed event %q: %v", datas[0], err)
	}
}

func TestHubDropsForSlowClients(t *testing.T) {
	h := NewHub()
	c := h.subscribe()
	ev := event.Event{ID: "e", Time: t0, Type: "T", Host: "h"}
	for range cap(c.ch) + 10 {
		h.ObserveEvent(&ev)
	}
	if h.Dropped() != 10 {
		t.Errorf("dropped %d, want 10", h.Dropped())
	}
	h.unsubscribe(c)
	h.ObserveEvent(&ev) // no clients: nothing to do, nothing dropped
	if h.Dropped() != 10 || h.Clients() != 0 {
		t.Error("hub state after unsubscribe")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:80": false, ":80": false, "10.0.0.1:80": false, "bad": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) != %v", addr, want)
		}
	}
}

// TestShutdownEndsStreams checks that open event streams do not hold the
// server's shutdown up.
func TestShutdownEndsStreams(t *testing.T) {
	f := newFixture(t)
	s, err := New(Options{Listen: "127.0.0.1:0", Store: f.st, Hub: f.hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	resp, err := http.Get(s.URL() + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	testutil.WaitFor(t, 10*time.Second, "the stream to open", func() bool { return f.hub.Clients() > 0 })
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("Serve still running 1 s after its context ended, held by an open stream")
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Logf("stream ended with %v", err)
	}
}

// TestCharts checks the server-drawn charts: SVG of one subject, its
// score over time with the bands its model reports, and its observations
// by type, with types from outside escaped; a chart without a subject,
// or with an unknown parameter, is refused.
func TestCharts(t *testing.T) {
	f := newFixture(t)
	hostile := `X.<script>alert(1)</script>`
	if _, err := f.st.WriteEvents(context.Background(), []event.Event{
		{ID: "e1", Time: t0, Type: event.TypeProcSpawn, Host: "web-3", IP: "10.0.0.3", Source: "agent"},
		{ID: "e2", Time: t0.Add(time.Second), Type: hostile, Host: "web-3", IP: "10.0.0.3", Source: "agent"},
	}); err != nil {
		t.Fatal(err)
	}
	rep := func(id string, sec int, score float64, state string) event.Report {
		return event.Report{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Monitor: "dmz", Engine: "tracks", Model: "m3", IP: "10.0.0.3",
			Score: score, State: state, Explanation: id, Attrs: map[string]any{"band_yellow": 0.4, "band_red": 0.8, "observations": int64(1)}}
	}
	if _, err := f.st.WriteReports(context.Background(), []event.Report{rep("r1", 1, 0.55, "Questionable"), rep("r2", 2, 0.95, "Compromised"), rep("r3", 3, 0.95, "Verdict")}); err != nil {
		t.Fatal(err)
	}
	code, score := f.do(t, "GET", "/api/charts/score.svg?ip=10.0.0.3&model=m3&at=1", "")
	if code != http.StatusOK || !strings.Contains(score, `class="score-line"`) || strings.Count(score, "<circle") != 2 || !strings.Contains(score, ">0.40<") || !strings.Contains(score, ">0.80<") {
		t.Errorf("score chart %d:\n%s", code, score)
	}
	code, obs := f.do(t, "GET", "/api/charts/observations.svg?ip=10.0.0.3", "")
	if code != http.StatusOK || strings.Count(obs, `class="obs"`) != 2 || strings.Contains(obs, "<script") || !strings.Contains(obs, "&lt;script&gt;") {
		t.Errorf("observations chart %d:\n%s", code, obs)
	}
	for _, path := range []string{"/api/charts/score.svg?model=m3", "/api/charts/observations.svg?ip=10.0.0.3&colour=red"} {
		if code, out := f.do(t, "GET", path, ""); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", path, code, out)
		}
	}
}
