package profile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
)

const sourcesConfig = `monitor: {name: gw}
engines:
  - kind: profile
    name: profiles
    suppress: 1h
    classes:
      - name: source
        match: {type: NET.CONN}
        subject: src
        session: session
        short_half_life: 10
        long_half_life: 168h
        update_at: 3h
        measures:
          - {categorical: service}
          - {continuous: bytes, bins: [100, 1000, 10000, 100000]}
          - {name: rate, intensity: [1m]}
          - {name: touched, distribution: true}
`

func load(t *testing.T, doc string) (*config.ResourceObject, *engine.Registry) {
	t.Helper()
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(doc), filepath.Join(t.TempDir(), "gw.yaml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, reg
}

// TestSettingsMistakes checks that a class's mistakes are each reported
// with where they are.
func TestSettingsMistakes(t *testing.T) {
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	doc := `monitor: {name: gw}
engines:
  - kind: profile
    classes:
      - name: source
        match: {type: NET.CONN, where: {bytes|gtx: 3}}
        alert: 1.5
        business_hours: "18:00-08:00"
        measures:
          - {categorical: service, continuous: bytes}
          - {continuous: bytes, bins: [10, 5]}
          - {intensity: [0s]}
`
	_, err := config.Load([]byte(doc), "gw.yaml", config.Registries{Engines: reg})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want the problems, got %v", err)
	}
	got := err.Error()
	for _, want := range []string{"subject", "alert", "business hours", "one of categorical", "increasing", "positive duration", "gtx"} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem about %q in:\n%s", want, got)
		}
	}
	for _, p := range ce.Problems {
		if p.Line == 0 {
			t.Errorf("a problem without its line: %v", p)
		}
	}
}

func newEngine(t *testing.T, cfg *config.ResourceObject, reg *engine.Registry, st engine.StateStore) engine.Engine {
	t.Helper()
	e, err := reg.Build(context.Background(), cfg.Engines[0], engine.Deps{Logger: slog.New(slog.DiscardHandler), State: st, Resolve: cfg.Resolve})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEngineReportsAndRestarts runs the engine over four days of a
// source's ordinary traffic and then a telnet burst: one report (the
// rest held back), explained by the service and bytes; then the engine
// is closed and made again over the same real store, and the restarted
// engine knows the source as well as before: it scores the same events
// the same way.
func TestEngineReportsAndRestarts(t *testing.T) {
	cfg, reg := load(t, sourcesConfig)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newEngine(t, cfg, reg, st)
	var reps []event.Report
	emit := func(r event.Report) { reps = append(reps, r) }
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	for d := range 4 {
		day := t0.Add(time.Duration(d) * 24 * time.Hour)
		for i := range 24 * 60 {
			svc := "http"
			if rng.IntN(4) == 0 {
				svc = "smtp"
			}
			ev := conn("198.51.100.7", svc, 2000+rng.Float64()*3000, day.Add(time.Duration(i)*time.Minute))
			if err := e.Handle(ctx, ev, emit); err != nil {
				t.Fatal(err)
			}
		}
	}
	ordinary := len(reps)
	at := t0.Add(4 * 24 * time.Hour)
	for i := range 20 {
		ev := conn("198.51.100.7", "telnet", 500000, at.Add(time.Duration(i)*time.Second))
		ev.ID = "burst-" + string(rune('a'+i))
		if err := e.Handle(ctx, ev, emit); err != nil {
			t.Fatal(err)
		}
	}
	burst := reps[ordinary:]
	if len(burst) != 1 {
		t.Fatalf("%d reports of the burst, want 1 (the rest held back): %+v", len(burst), burst)
	}
	r := burst[0]
	if r.IP != "198.51.100.7" || r.Model != "source" || r.Severity < event.SeverityYellow || !strings.Contains(r.Explanation, "telnet") || len(r.Evidence) != 1 {
		t.Errorf("report %+v", r)
	}
	t.Logf("%s (%d reports over four ordinary days)", r.Explanation, ordinary)
	if ordinary > 4*24*60/50 {
		t.Errorf("%d reports over four ordinary days", ordinary)
	}
	export := func(e engine.Engine) string {
		var b bytes.Buffer
		if err := e.(*adapter).p.Export(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	before := export(e)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, cfg, reg, st)
	defer e2.Close(context.Background())
	if got := e2.(*adapter).p.Stats().Subjects; got != 1 {
		t.Fatalf("after a restart: %d subjects", got)
	}
	if after := export(e2); after != before {
		t.Errorf("the restarted engine's profiles differ from those it was closed with")
	}
	// And it still judges the source by what it learnt.
	var odd Result
	for i := range 10 {
		for _, r := range e2.(*adapter).p.Observe(conn("198.51.100.7", "finger", 900000, at.Add(time.Hour+time.Duration(i+1)*time.Second)), false) {
			odd = r
		}
	}
	if !odd.Ready || odd.Rank < 0.99 {
		t.Errorf("after the restart, a finger burst: %+v", odd.Score)
	}
}

// TestExportImport checks that exported profiles imported elsewhere
// export the same again, and that a foreign class is refused by name.
func TestExportImport(t *testing.T) {
	p := New([]*Class{serviceClass()}, Options{})
	rng := rand.New(rand.NewPCG(7, 8))
	for d := range 2 {
		normalDay(p, rng, "a", t0.Add(time.Duration(d)*24*time.Hour))
		normalDay(p, rng, "b", t0.Add(time.Duration(d)*24*time.Hour))
	}
	var first bytes.Buffer
	if err := p.Export(&first); err != nil {
		t.Fatal(err)
	}
	q := New([]*Class{serviceClass()}, Options{})
	if n, err := q.Import(bytes.NewReader(first.Bytes())); err != nil || n != 2 {
		t.Fatalf("imported %d: %v", n, err)
	}
	var second bytes.Buffer
	if err := q.Export(&second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("the import does not export the same")
	}
	other := serviceClass()
	other.Measures = other.Measures[:2]
	r := New([]*Class{other}, Options{})
	if _, err := r.Import(bytes.NewReader(first.Bytes())); err == nil || !strings.Contains(err.Error(), "source") {
		t.Errorf("different measures: %v", err)
	}
	bad := strings.Replace(first.String(), `"class":"source"`, `"class":"source","measures":7`, 1)
	if _, err := q.Import(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a malformed line: %v", err)
	}
}

// FuzzImport feeds the profile importer arbitrary bytes (saved profiles
// come from files and other sites): it must never panic, and a profiler
// that imported something must still score events.
func FuzzImport(f *testing.F) {
	p := New([]*Class{serviceClass()}, Options{})
	for i := range 400 { // an update at 03:00 in the middle
		p.Observe(conn("a", []string{"http", "smtp"}[i%2], float64(100*i), t0.Add(time.Duration(i)*time.Minute)), true)
	}
	var b bytes.Buffer
	if err := p.Export(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"format":"vigil-profiles","version":1,"classes":{"source":["service","bytes","rate","touched"]}}` + "\n" +
		`{"class":"source","key":"x","measures":[{},{},{},{}],"short_n":[0,0,0,0],"short":[[],[],[],[]],"t2":{"w":[],"total":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			q := New([]*Class{serviceClass()}, Options{})
			_, _ = q.Import(bytes.NewReader(data))
			for i := range 3 {
				q.Observe(conn("a", "http", 3000, t0.Add(3*24*time.Hour+time.Duration(i)*time.Second)), true)
				q.Observe(conn("x", "ftp", 10, t0.Add(3*24*time.Hour+time.Duration(i)*time.Second)), false)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			panic(fmt.Sprintf("imported profiles made scoring hang: %q", data))
		}
	})
}

// TestIncrementalSavesMatchExport saves a profiler's changes to a real
// store as it learns (subjects coming, being evicted and expiring, daily
// updates), and checks after each save that what the store holds imports
// to exactly the profiles the profiler has, and that a save after little
// activity writes only what changed.
func TestIncrementalSavesMatchExport(t *testing.T) {
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	p := New([]*Class{serviceClass()}, Options{MaxSubjects: 40, Expire: 36 * time.Hour})
	rng := rand.New(rand.NewPCG(3, 4))
	now := t0
	services := []string{"http", "smtp", "dns", "ssh"}
	for round := range 12 {
		active := 60 // subjects a round; more than MaxSubjects, so some are evicted
		if round >= 8 {
			active = 5 // little activity: a save writes little
		}
		for range 400 {
			now = now.Add(time.Duration(rng.IntN(600)) * time.Second)
			key := fmt.Sprintf("10.0.0.%d", rng.IntN(active))
			p.Observe(conn(key, services[rng.IntN(len(services))], float64(rng.IntN(50000)), now), true)
		}
		if round == 6 {
			now = now.Add(48 * time.Hour)
			p.Expire(now) // all but the class profile expire
		}
		put, removed, full, err := p.Changes(round == 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SaveStateItems(ctx, "profile/t", put, removed, full, now); err != nil {
			t.Fatal(err)
		}
		if round >= 9 && len(put) > 8 {
			t.Errorf("round %d: %d items written after activity on 5 subjects", round, len(put))
		}
		if round == 6 && len(removed) == 0 {
			t.Errorf("round %d: expired subjects not deleted", round)
		}
		data, _, err := LoadStore(ctx, st, "profile/t")
		if err != nil {
			t.Fatal(err)
		}
		q := New([]*Class{serviceClass()}, Options{MaxSubjects: 40})
		if _, err := q.Import(bytes.NewReader(data)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var want, got bytes.Buffer
		if err := p.Export(&want); err != nil {
			t.Fatal(err)
		}
		if err := q.Export(&got); err != nil {
			t.Fatal(err)
		}
		if want.String() != got.String() {
			t.Fatalf("round %d: the store's profiles differ from the profiler's (%d and %d bytes)", round, got.Len(), want.Len())
		}
	}
}

// BenchmarkSaveStore compares saving every profile with saving the changes
// after 500 events, for 20,000 subjects in a real store.
func BenchmarkSaveStore(b *testing.B) {
	const subjects = 20_000
	st, err := store.Open(b.Context(), store.Options{Path: filepath.Join(b.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := New([]*Class{serviceClass()}, Options{MaxSubjects: 2 * subjects})
	now := t0
	for i := range subjects {
		now = now.Add(time.Millisecond)
		p.Observe(conn(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "http", float64(i%5000), now), true)
	}
	ctx := b.Context()
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			if err := p.SaveStore(ctx, st, "profile/b", now, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("changes-after-500-events", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			for i := range 500 {
				now = now.Add(time.Millisecond)
				p.Observe(conn(fmt.Sprintf("10.0.%d.%d", i>>8&255, i&255), "smtp", 300, now), true)
			}
			b.StartTimer()
			if err := p.SaveStore(ctx, st, "profile/b", now, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCloseUsesInjectedClock closes an engine that was never ticked: it
// saves its profiles at the time of the clock it was given, not the wall
// clock's.
func TestCloseUsesInjectedClock(t *testing.T) {
	cfg, reg := load(t, sourcesConfig)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	e, err := reg.Build(t.Context(), cfg.Engines[0], engine.Deps{Clock: clock.NewManual(at), Logger: slog.New(slog.DiscardHandler), State: st, Resolve: cfg.Resolve})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Handle(t.Context(), conn("198.51.100.7", "http", 1000, at), func(event.Report) {}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, saved, err := LoadStore(t.Context(), st, StateName(cfg.Engines[0].Name))
	if err != nil || data == nil {
		t.Fatalf("nothing saved: %v", err)
	}
	if !saved.Equal(at) {
		t.Errorf("saved at %v, want the injected clock's %v", saved, at)
	}
}
