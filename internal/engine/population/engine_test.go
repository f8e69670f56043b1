package population

import (
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
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
)

const domainConfig = `monitor: {name: dom1}
engines:
  - kind: population
    name: peers
    half_life: 5m
    evaluate: 1m
    threshold: 0.25
    min_peers: 3
    min_events: 50
    top: 3
    classes:
      - {name: web, hosts: ["web-*"]}
      - {name: db, attribute: role, values: [database]}
    measures:
      - {name: bytes_out, field: bytes, threshold: 6}
`

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func load(t *testing.T, doc string) (*config.ResourceObject, *engine.Registry) {
	t.Helper()
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(doc), filepath.Join(t.TempDir(), "dom1.yaml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, reg
}

func build(t *testing.T, doc string, st engine.StateStore) (engine.Engine, *clock.Manual) {
	t.Helper()
	cfg, reg := load(t, doc)
	clk := clock.NewManual(t0)
	e, err := reg.Build(context.Background(), cfg.Engines[0], engine.Deps{Logger: slog.New(slog.DiscardHandler), Clock: clk, State: st, Resolve: cfg.Resolve})
	if err != nil {
		t.Fatal(err)
	}
	return e, clk
}

// mix is a host's behaviour: observation types with their weights, and
// the bytes its network samples carry.
type mix struct {
	types   []string
	weights []float64
	bytes   float64
}

var webMix = mix{types: []string{"PROC.ACCEPT", "FILE.OPEN", "SYS.NET.TX", "PROC.EXEC"}, weights: []float64{50, 30, 15, 5}, bytes: 400}

// deviant is a web server that has started spawning shells and
// connecting out, and sends more.
var deviantMix = mix{types: []string{"PROC.ACCEPT", "FILE.OPEN", "SYS.NET.TX", "PROC.EXEC", "PROC.CONNECT"}, weights: []float64{30, 20, 10, 25, 15}, bytes: 400}

var dbMix = mix{types: []string{"FILE.OPEN", "FILE.MODIFY", "PROC.ACCEPT", "SYS.DISK.IO"}, weights: []float64{40, 30, 10, 20}, bytes: 200}

func (m mix) pick(r *rand.Rand) string {
	var sum float64
	for _, w := range m.weights {
		sum += w
	}
	x := r.Float64() * sum
	for i, w := range m.weights {
		if x < w {
			return m.types[i]
		}
		x -= w
	}
	return m.types[len(m.types)-1]
}

// sim drives an engine through simulated seconds: each second every host
// emits two events drawn from its mix, then the engine is ticked.
type sim struct {
	t    *testing.T
	e    engine.Engine
	clk  *clock.Manual
	rng  *rand.Rand
	now  time.Time
	seq  int
	reps []event.Report
}

func newSim(t *testing.T, e engine.Engine, clk *clock.Manual) *sim {
	return &sim{t: t, e: e, clk: clk, rng: rand.New(rand.NewPCG(1, 2)), now: t0}
}

func (s *sim) run(d time.Duration, hosts map[string]mix) {
	s.t.Helper()
	ctx := context.Background()
	emit := func(r event.Report) { s.reps = append(s.reps, r) }
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	// A fixed order, so that runs repeat.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	for end := s.now.Add(d); s.now.Before(end); s.now = s.now.Add(time.Second) {
		for _, h := range names {
			m := hosts[h]
			for range 2 {
				s.seq++
				typ := m.pick(s.rng)
				ev := &event.Event{ID: fmt.Sprintf("e%d", s.seq), Time: s.now, Type: typ, Host: h, Source: "agent", Attrs: map[string]any{}}
				if strings.HasPrefix(h, "db-") {
					ev.Attrs["role"] = "database"
				}
				if typ == "SYS.NET.TX" {
					ev.Attrs["bytes"] = m.bytes * (0.8 + 0.4*s.rng.Float64())
				}
				if err := s.e.Handle(ctx, ev, emit); err != nil {
					s.t.Fatal(err)
				}
			}
		}
		s.clk.Set(s.now)
		if err := s.e.Tick(ctx, s.now, emit); err != nil {
			s.t.Fatal(err)
		}
	}
}

func fleet(n int, deviant string) map[string]mix {
	hosts := map[string]mix{}
	for i := 1; i <= n; i++ {
		hosts[fmt.Sprintf("web-%d", i)] = webMix
	}
	for i := 1; i <= 4; i++ {
		hosts[fmt.Sprintf("db-%d", i)] = dbMix
	}
	if deviant != "" {
		hosts[deviant] = deviantMix
	}
	return hosts
}

// TestDeviantWebServerIsReported runs six web servers and four database
// servers alike for half an hour (nothing reported: each is like its
// peers, and the database servers, unlike the web servers, are compared
// only among themselves); then web-4 starts spawning shells and
// connecting out: it alone is reported, within a half-life and a half (5m),
// once (later departures held back), naming its class, the distance, the
// types whose shares differ (PROC.EXEC and PROC.CONNECT above its
// peers').
func TestDeviantWebServerIsReported(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	s.run(30*time.Minute, fleet(6, ""))
	if len(s.reps) != 0 {
		t.Fatalf("a fleet of like hosts gave reports: %+v", s.reps[0])
	}
	s.run(10*time.Minute, fleet(6, "web-4"))
	if len(s.reps) != 1 {
		for _, r := range s.reps {
			t.Log(r.Host, r.Explanation)
		}
		t.Fatalf("want one report of web-4, got %d", len(s.reps))
	}
	r := s.reps[0]
	if r.Host != "web-4" || r.Model != "population/web" || r.Attrs["class"] != "web" || r.State != "Outlier" {
		t.Fatalf("report of the wrong host or class: %+v", r)
	}
	if d := r.Attrs["distance"].(float64); d <= 0.25 || r.Score != d {
		t.Errorf("distance %v, score %v: want the distance above the threshold 0.25, as the score", d, r.Score)
	}
	if r.Attrs["peers"] != int64(5) {
		t.Errorf("peers %v, want 5", r.Attrs["peers"])
	}
	if at := r.Time.Sub(t0.Add(30 * time.Minute)); at > 8*time.Minute {
		t.Errorf("reported %s after the change, want within 8 minutes (a half-life and a half)", at)
	}
	values := strings.Join(r.Attrs["values"].([]string), "; ")
	for _, want := range []string{"PROC.EXEC", "PROC.CONNECT"} {
		if !strings.Contains(values, want) {
			t.Errorf("the most different values %q do not name %s", values, want)
		}
	}
	if top := r.Attrs["top_value"]; top != "PROC.EXEC" && top != "PROC.CONNECT" {
		t.Errorf("top value %v", top)
	}
	if hs, ps := r.Attrs["top_host_share"].(float64), r.Attrs["top_population_share"].(float64); hs <= ps {
		t.Errorf("top value's host share %v not above the population's %v", hs, ps)
	}
	if len(r.Evidence) == 0 {
		t.Error("no evidence events")
	}
	if !strings.Contains(r.Explanation, "web-4 (web) departs from its 5 peers") {
		t.Errorf("explanation %q", r.Explanation)
	}
	// Stamped as the resolver stamps it, the report is a valid one.
	stamped := r
	stamped.Monitor, stamped.Engine, stamped.ID = "dom1", "peers", event.NewRandomIDs().NewID(r.Time)
	if err := stamped.Validate(); err != nil {
		t.Errorf("the report is not valid: %v", err)
	}
	// Still departing 40 minutes on: held back, then said again once the
	// suppression (30m) is over, with how many were held.
	s.run(40*time.Minute, fleet(6, "web-4"))
	if len(s.reps) != 2 || s.reps[1].Host != "web-4" || s.reps[1].Attrs["held_back"] == nil {
		t.Fatalf("want web-4 again with held_back after the suppression, got %d reports", len(s.reps))
	}
}

// TestClassChangingTogetherIsNotReported switches every web server to
// the deviant mix at once (a new release, say): the population moves
// with them, and no host is reported.
func TestClassChangingTogetherIsNotReported(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	s.run(30*time.Minute, fleet(6, ""))
	changed := fleet(0, "")
	for i := 1; i <= 6; i++ {
		changed[fmt.Sprintf("web-%d", i)] = deviantMix
	}
	s.run(40*time.Minute, changed)
	for _, r := range s.reps {
		t.Errorf("reported %s: %s", r.Host, r.Explanation)
	}
}

// TestTooFewPeersNoReport: with three web servers, a deviant has two
// peers, fewer than min_peers (3): no report, however different.
func TestTooFewPeersNoReport(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	hosts := map[string]mix{"web-1": webMix, "web-2": webMix, "web-3": deviantMix}
	s.run(40*time.Minute, hosts)
	if len(s.reps) != 0 {
		t.Fatalf("reported with two peers: %s", s.reps[0].Explanation)
	}
	// A fourth web server makes three peers: web-3 is reported.
	hosts["web-4"] = webMix
	s.run(20*time.Minute, hosts)
	if len(s.reps) != 1 || s.reps[0].Host != "web-3" {
		t.Fatalf("want web-3 reported once it has three peers, got %+v", s.reps)
	}
}

// TestTooFewEventsNoReport: a host seen only a few times is neither
// judged nor a peer.
func TestTooFewEventsNoReport(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	s.run(30*time.Minute, fleet(6, ""))
	ctx := context.Background()
	emit := func(r event.Report) { s.reps = append(s.reps, r) }
	for i := range 10 {
		ev := &event.Event{ID: fmt.Sprintf("q%d", i), Time: s.now, Type: "PROC.CONNECT", Host: "web-9"}
		_ = e.Handle(ctx, ev, emit)
	}
	s.run(5*time.Minute, fleet(6, ""))
	if len(s.reps) != 0 {
		t.Fatalf("a host with 10 events was reported: %s", s.reps[0].Explanation)
	}
}

// TestSettingsMistakes: each mistake is reported with its line.
func TestSettingsMistakes(t *testing.T) {
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	doc := `monitor: {name: dom1}
engines:
  - kind: population
    distance: euclid
    threshold: 1.5
    min_peers: 0
    half_life: -1m
    top: 0
    match: {type: PROC.EXEC, where: {comm|gtx: sh}}
    classes:
      - {name: web, hosts: ["web-[*"]}
      - {name: web, attribute: role}
      - {hosts: [db-*]}
      - {name: empty}
    measures:
      - {name: b}
`
	_, err := config.Load([]byte(doc), "dom1.yaml", config.Registries{Engines: reg})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want the problems, got %v", err)
	}
	got := err.Error()
	for _, want := range []string{"euclid", "threshold", "min_peers", "half_life", "top", "gtx", "not a host name pattern",
		"defined twice", "attribute and values go together", "a class needs a name", "a class names its hosts", "numeric attribute"} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem about %q in:\n%s", want, got)
		}
	}
	for _, p := range ce.Problems {
		if p.Line == 0 {
			t.Errorf("a problem without its line: %v", p)
		}
	}
	if !strings.Contains(got, "dom1.yaml:4") {
		t.Errorf("the distance's problem does not say dom1.yaml:4:\n%s", got)
	}
	// An unknown key is refused too.
	_, err = config.Load([]byte("monitor: {name: d}\nengines:\n  - kind: population\n    classes: [{name: w, hosts: [w*]}]\n    treshold: 0.2\n"), "d.yaml", config.Registries{Engines: reg})
	if err == nil || !strings.Contains(err.Error(), "treshold") {
		t.Errorf("a misspelt key was accepted: %v", err)
	}
}

// TestRestartKeepsPopulation closes the engine over a real store and
// builds it again: the restarted engine knows the hosts' mixes and
// reports the deviant at its first evaluation, without relearning.
func TestRestartKeepsPopulation(t *testing.T) {
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "v.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, clk := build(t, domainConfig, st)
	s := newSim(t, e, clk)
	s.run(30*time.Minute, fleet(6, "web-4"))
	if len(s.reps) != 1 {
		t.Fatalf("want web-4 reported before the restart, got %d reports", len(s.reps))
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	subj := e.(engine.SubjectLister).Subjects(engine.SubjectQuery{Subject: "web-4"})
	e2, clk2 := build(t, domainConfig, st)
	clk2.Set(s.now)
	subj2 := e2.(engine.SubjectLister).Subjects(engine.SubjectQuery{Subject: "web-4"})
	if len(subj) != 1 || len(subj2) != 1 || subj[0].Events != subj2[0].Events || fmt.Sprint(subj[0].Measures) != fmt.Sprint(subj2[0].Measures) {
		t.Fatalf("the restarted engine does not know web-4 as before:\n%+v\n%+v", subj, subj2)
	}
	var reps []event.Report
	emit := func(r event.Report) { reps = append(reps, r) }
	ctx := context.Background()
	_ = e2.Tick(ctx, s.now, emit)
	_ = e2.Tick(ctx, s.now.Add(time.Minute), emit)
	if len(reps) != 1 || reps[0].Host != "web-4" {
		t.Fatalf("the restarted engine does not report web-4 from what it kept: %+v", reps)
	}
}

// TestLiveView lists hosts with their classes and mixes.
func TestLiveView(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	s.run(10*time.Minute, fleet(4, ""))
	l := e.(engine.SubjectLister)
	dbs := l.Subjects(engine.SubjectQuery{Class: "db"})
	if len(dbs) != 4 || dbs[0].Class != "db" || !dbs[0].Scoring {
		t.Fatalf("db hosts: %+v", dbs)
	}
	one := l.Subjects(engine.SubjectQuery{Subject: "web-2"})
	if len(one) != 1 || one[0].Measures[0].Name != "mix" || one[0].Measures[0].Top[0].Value != "PROC.ACCEPT" {
		t.Fatalf("web-2: %+v", one)
	}
	if one[0].Measures[1].Name != "bytes_out" || one[0].Measures[1].Level < 300 || one[0].Measures[1].Level > 500 {
		t.Errorf("web-2's bytes_out mean: %+v", one[0].Measures[1])
	}
}

// TestLoweredThresholdReportsMildDeviant: a host departing a little (a
// few shells) is not reported; after a parent's lower-threshold request
// for it, it is, the report saying the factor; an unknown host is
// refused.
func TestLoweredThresholdReportsMildDeviant(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	mild := mix{types: []string{"PROC.ACCEPT", "FILE.OPEN", "SYS.NET.TX", "PROC.EXEC"}, weights: []float64{42, 28, 15, 15}, bytes: 400}
	hosts := fleet(6, "")
	hosts["web-2"] = mild
	s.run(30*time.Minute, hosts)
	if len(s.reps) != 0 {
		t.Fatalf("a mild departure was reported: %s", s.reps[0].Explanation)
	}
	sens := e.(engine.Sensitiser)
	if _, err := sens.Sensitise(engine.Change{ID: "r1", Action: controlmsg.ActionLowerThreshold, Params: map[string]string{"subject": "web-77", "factor": "0.3"}, Until: s.now.Add(time.Hour)}, s.now); err == nil {
		t.Fatal("an unknown host was accepted")
	}
	detail, err := sens.Sensitise(engine.Change{ID: "r2", By: "ent", Action: controlmsg.ActionLowerThreshold, Params: map[string]string{"subject": "web-2", "factor": "0.3"}, Until: s.now.Add(10 * time.Minute)}, s.now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "web-2") {
		t.Errorf("detail %q", detail)
	}
	s.run(2*time.Minute, hosts)
	if len(s.reps) != 1 || s.reps[0].Host != "web-2" || s.reps[0].Attrs["threshold_factor"] != 0.3 {
		t.Fatalf("want web-2 reported under the lowered threshold, got %+v", s.reps)
	}
}

// TestMeasureOutOfLine: a web server whose mix is like its peers' but
// which sends twenty times as many bytes per sample is reported for that
// measure, the report naming it with the peers' median.
func TestMeasureOutOfLine(t *testing.T) {
	e, clk := build(t, domainConfig, nil)
	s := newSim(t, e, clk)
	s.run(20*time.Minute, fleet(6, ""))
	hosts := fleet(6, "")
	heavy := webMix
	heavy.bytes = 8000
	hosts["web-5"] = heavy
	s.run(10*time.Minute, hosts)
	if len(s.reps) != 1 || s.reps[0].Host != "web-5" {
		t.Fatalf("want web-5 reported, got %+v", s.reps)
	}
	r := s.reps[0]
	ms, _ := r.Attrs["measures"].([]string)
	if len(ms) != 1 || !strings.HasPrefix(ms[0], "bytes_out ") || !strings.Contains(ms[0], "peers' median") {
		t.Errorf("measures out of line: %q, want bytes_out", ms)
	}
	if d := r.Attrs["distance"].(float64); d >= 0.25 {
		t.Errorf("distance %v: the mix did not change", d)
	}
}
