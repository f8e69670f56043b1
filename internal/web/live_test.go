package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/track"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
)

// liveEngines are a track engine running M3 and a profiler of process
// observations, real engines answering as a running monitor does (stamped
// with the monitor's and engine's names).
type liveEngines struct {
	names []string
	engs  []engine.Engine
}

const liveConfig = `monitor: {name: local}
engines:
  - kind: track
    name: tracks
    models: ["builtin:m3.yaml"]
  - kind: profile
    name: host-profiles
    classes:
      - name: process
        match: {type: "PROC.*"}
        subject: host,name
        measures:
          - {name: activity, categorical: type}
`

func newLiveEngines(t *testing.T) *liveEngines {
	t.Helper()
	reg := engine.NewRegistry()
	for _, f := range []engine.Factory{track.Factory(), profile.Factory()} {
		if err := reg.Register(f); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load([]byte(liveConfig), filepath.Join(t.TempDir(), "local.yaml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	l := &liveEngines{}
	for _, spec := range cfg.Engines {
		e, err := reg.Build(context.Background(), spec, engine.Deps{Monitor: "local", Logger: slog.New(slog.DiscardHandler), Resolve: cfg.Resolve})
		if err != nil {
			t.Fatal(err)
		}
		l.names, l.engs = append(l.names, spec.Name), append(l.engs, e)
	}
	return l
}

func (l *liveEngines) handle(t *testing.T, evs ...event.Event) {
	t.Helper()
	for i := range evs {
		for _, e := range l.engs {
			if err := e.Handle(context.Background(), &evs[i], func(event.Report) {}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (l *liveEngines) LiveTracks(q engine.TrackQuery) []event.Report {
	var out []event.Report
	for i, e := range l.engs {
		if tl, ok := e.(engine.TrackLister); ok {
			for _, r := range tl.Tracks(q) {
				r.Monitor, r.Engine = "local", l.names[i]
				out = append(out, r)
			}
		}
	}
	return out
}

func (l *liveEngines) ProfileSubjects(name string, q engine.SubjectQuery) []engine.Subject {
	var out []engine.Subject
	for i, e := range l.engs {
		if sl, ok := e.(engine.SubjectLister); ok && (name == "" || name == l.names[i]) {
			for _, s := range sl.Subjects(q) {
				s.Monitor, s.Engine = "local", l.names[i]
				out = append(out, s)
			}
		}
	}
	return out
}

// newLiveFixture serves the handler over a real store and live engines,
// at t0 plus a minute.
func newLiveFixture(t *testing.T, live Live) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, hub: NewHub()}
	s, err := New(Options{Listen: "127.0.0.1:0", Store: st, Live: live, Hub: f.hub, Clock: clock.NewManual(t0.Add(time.Minute)), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// agentObs are a host agent's observations of a host, a second apart from
// at.
func agentObs(host, ip string, at time.Time, types ...string) []event.Event {
	var out []event.Event
	for i, typ := range types {
		tm := at.Add(time.Duration(i) * time.Second)
		out = append(out, event.Event{ID: fmt.Sprintf("%s-%d", host, i), Time: tm, Type: typ, Host: host, IP: ip, Source: "agent",
			Attrs: map[string]any{"name": "sleep", "parent_name": "bash", "pid": int64(100 + i)}})
	}
	return out
}

// TestLiveTracksAndProfiles checks that /api/tracks lists the running
// engines' tracks beside (and in place of) the stored reports, with the
// same filters, and that /api/profiles lists the profilers' subjects.
func TestLiveTracksAndProfiles(t *testing.T) {
	live := newLiveEngines(t)
	f := newLiveFixture(t, live)
	ctx := context.Background()
	stored := []event.Report{
		{ID: "r-local", Time: t0, Monitor: "local", Engine: "tracks", Model: "m3", IP: "10.0.0.3", Score: 0.6, Severity: event.SeverityYellow, State: "Questionable",
			Attrs: map[string]any{"observations": int64(1)}},
		{ID: "r-other", Time: t0, Monitor: "local", Engine: "tracks", Model: "m3", IP: "10.0.1.3", Score: 0.95, Severity: event.SeverityRed, State: "Compromised",
			Attrs: map[string]any{"observations": int64(9)}},
	}
	if _, err := f.st.WriteReports(ctx, stored); err != nil {
		t.Fatal(err)
	}
	// The local host's agent: M3 follows it from its first observations
	// (never reporting it: nothing happened), the profiler learns sleep.
	live.handle(t, agentObs("vm", "10.0.0.3", t0.Add(10*time.Second), event.TypeProcSpawn, event.TypeProcTerm, event.TypeProcSpawn, event.TypeSysCPU)...)

	type row struct {
		ID, Engine, Model, IP, State, Severity string
		Attrs                                  map[string]any
	}
	get := func(path string) []row {
		t.Helper()
		code, out := f.do(t, "GET", path, "")
		var rows []row
		if code != 200 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("%s: %d %s", path, code, out)
		}
		return rows
	}
	rows := get("/api/tracks")
	if len(rows) != 2 {
		t.Fatalf("tracks: %+v", rows)
	}
	// The live track replaces the local host's stored report, and is the
	// newest.
	if r := rows[0]; r.IP != "10.0.0.3" || r.ID != "" || r.State != "Nominal" || r.Severity != "green" || r.Attrs["observations"] != 3.0 {
		t.Errorf("the local host's track: %+v", r)
	}
	if r := rows[1]; r.ID != "r-other" || r.State != "Compromised" {
		t.Errorf("the stored track: %+v", r)
	}
	if rows := get("/api/tracks?ip=10.0.0.3"); len(rows) != 1 || rows[0].ID != "" {
		t.Errorf("by ip: %+v", rows)
	}
	if rows := get("/api/tracks?limit=1"); len(rows) != 1 || rows[0].IP != "10.0.0.3" {
		t.Errorf("limited: %+v", rows)
	}
	if rows := get("/api/tracks?severity=red"); len(rows) != 1 || rows[0].ID != "r-other" {
		t.Errorf("red ones: %+v", rows)
	}
	if rows := get("/api/tracks?engine=signatures"); len(rows) != 0 {
		t.Errorf("another engine's: %+v", rows)
	}
	if rows := get("/api/tracks?model=m4"); len(rows) != 0 {
		t.Errorf("another model's: %+v", rows)
	}

	code, out := f.do(t, "GET", "/api/profiles", "")
	var subs []engine.Subject
	if code != 200 || json.Unmarshal([]byte(out), &subs) != nil || len(subs) != 1 {
		t.Fatalf("profiles: %d %s", code, out)
	}
	if s := subs[0]; s.Engine != "host-profiles" || s.Class != "process" || s.Subject != "vm,sleep" || s.Events != 3 || len(s.Measures) != 1 || s.Measures[0].Top[0].Value != event.TypeProcSpawn {
		t.Errorf("subject %+v", s)
	}
	for path, want := range map[string]int{
		"/api/profiles?engine=host-profiles&class=process&subject=vm": 1,
		"/api/profiles?engine=tracks":                                 0,
		"/api/profiles?class=host":                                    0,
	} {
		code, out := f.do(t, "GET", path, "")
		var subs []engine.Subject
		if code != 200 || json.Unmarshal([]byte(out), &subs) != nil || len(subs) != want {
			t.Errorf("%s: %d %s, want %d subjects", path, code, out, want)
		}
	}
	for _, path := range []string{"/api/profiles?clas=process", "/api/profiles?limit=0", "/api/hosts?host=vm", "/api/hosts?since=yesterday"} {
		if code, out := f.do(t, "GET", path, ""); code != 400 {
			t.Errorf("%s: %d %s", path, code, out)
		}
	}
	// A server without a running monitor says so.
	if code, out := newFixture(t).do(t, "GET", "/api/profiles", ""); code != 503 {
		t.Errorf("no monitor: %d %s", code, out)
	}
}

// TestHostsOverview checks the hosts overview: one row per host, its worst
// current conclusion with the reason, its latest observation; reports
// older than the window left out unless asked for.
func TestHostsOverview(t *testing.T) {
	live := newLiveEngines(t)
	f := newLiveFixture(t, live)
	ctx := context.Background()
	var evs []event.Event
	evs = append(evs, agentObs("vm", "10.0.0.3", t0, event.TypeProcSpawn, event.TypeSysCPU)...)
	evs = append(evs, agentObs("host3", "10.0.1.3", t0, event.TypeProcSpawn)...)
	evs = append(evs, agentObs("db", "10.0.2.2", t0.Add(-3*time.Hour), event.TypeProcSpawn)...)
	if _, err := f.st.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	live.handle(t, evs[:2]...)
	reps := []event.Report{
		{ID: "sig", Time: t0.Add(2 * time.Second), Monitor: "local", Engine: "signatures", Model: "web-server-spawns-shell", Host: "host3", IP: "10.0.1.3",
			Score: 1, Severity: event.SeverityRed, State: "Matched", Explanation: "httpd (pid 4000) on host3 started sh (pid 4242)"},
		{ID: "m3", Time: t0.Add(3 * time.Second), Monitor: "local", Engine: "tracks", Model: "m3", IP: "10.0.1.3",
			Score: 0.6, Severity: event.SeverityYellow, State: "Questionable", Explanation: "10.0.1.3: m3 Questionable"},
		{ID: "scan", Time: t0, Monitor: "local", Engine: "signatures", Model: "tcp-port-scan", IP: "203.0.113.9",
			Score: 0.7, Severity: event.SeverityYellow, State: "Matched", Explanation: "203.0.113.9 scanned 40 ports"},
		{ID: "old", Time: t0.Add(-3 * time.Hour), Monitor: "local", Engine: "signatures", Model: "spawn-burst", Host: "db", IP: "10.0.2.2",
			Score: 1, Severity: event.SeverityRed, State: "Matched", Explanation: "old burst on db"},
	}
	if _, err := f.st.WriteReports(ctx, reps); err != nil {
		t.Fatal(err)
	}
	get := func(path string) []hostRow {
		t.Helper()
		code, out := f.do(t, "GET", path, "")
		var rows []hostRow
		if code != 200 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("%s: %d %s", path, code, out)
		}
		return rows
	}
	rows := get("/api/hosts")
	if len(rows) != 4 {
		t.Fatalf("rows: %+v", rows)
	}
	want := []struct {
		host, ip, sev, model string
		conclusions          int
		last                 time.Time
	}{
		{"host3", "10.0.1.3", "red", "web-server-spawns-shell", 2, t0},
		{"", "203.0.113.9", "yellow", "tcp-port-scan", 1, time.Time{}},
		{"db", "10.0.2.2", "green", "", 0, t0.Add(-3 * time.Hour)},
		{"vm", "10.0.0.3", "green", "m3", 1, t0.Add(time.Second)},
	}
	for i, w := range want {
		r := rows[i]
		if r.Host != w.host || r.IP != w.ip || r.Severity != w.sev || r.Model != w.model || r.Conclusions != w.conclusions {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
		if w.last.IsZero() != (r.LastObservation == nil) || r.LastObservation != nil && !r.LastObservation.Equal(w.last) {
			t.Errorf("row %d: last observation %v, want %v", i, r.LastObservation, w.last)
		}
	}
	if rows[0].Reason != reps[0].Explanation || rows[0].Score != 1 {
		t.Errorf("host3's reason: %+v", rows[0])
	}
	if rows[3].State != "Nominal" || rows[3].Engine != "tracks" {
		t.Errorf("the live track of vm: %+v", rows[3])
	}
	// Over four hours, db's old burst counts.
	rows = get("/api/hosts?since=4h")
	if len(rows) != 4 || rows[0].Host != "db" || rows[0].Severity != "red" || rows[0].Reason != "old burst on db" || rows[1].Host != "host3" {
		t.Errorf("over four hours: %+v", rows)
	}
}
