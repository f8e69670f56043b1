package signature

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func mustParse(t testing.TB, text string) *RuleSet {
	t.Helper()
	rs, err := Parse("test.yaml", []byte(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestIndexAgreesWithScan checks that the index hands an event every
// matcher that would match it, by comparing with evaluating all of them.
func TestIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"NET.CONN", "NET.HTTP", "NET.ICMP", "PROC.SPAWN"}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range 300 {
		typ := types[rng.IntN(len(types))]
		switch rng.IntN(5) {
		case 0:
			typ = "NET.*"
		case 1:
			typ = "*"
		}
		fmt.Fprintf(&b, "  - id: r%d\n    match:\n      type: %q\n      where:\n", i, typ)
		words := []string{"admin", "etc/passwd", "Select", "../", "%2e%2e/", "kelvin", "ſecret", "tmp", "x"}
		word := func() string { return words[rng.IntN(len(words))] }
		switch rng.IntN(9) {
		case 4:
			fmt.Fprintf(&b, "        path|contains: [%q, %q]\n", word(), word())
		case 5:
			fmt.Fprintf(&b, "        path|urldecode|contains|all: [%q, %q]\n        dport|lt: %d\n", word(), word(), rng.IntN(30))
		case 6:
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, "        path|re: '(?i)(%s|%s)[a-z]*'\n", regexp.QuoteMeta(word()), regexp.QuoteMeta(word()))
			} else { // an optional literal is not required
				fmt.Fprintf(&b, "        path|re: '(?i)(?:%s)*%s(%s)?'\n", regexp.QuoteMeta(word()), regexp.QuoteMeta(word()), regexp.QuoteMeta(word()))
			}
		case 7:
			fmt.Fprintf(&b, "        path: %q\n", "*"+word()+"*")
		case 8:
			fmt.Fprintf(&b, "        streams|startswith: %q\n        path|endswith|cased: %q\n", "s"+fmt.Sprint(rng.IntN(5)), word())
		case 0:
			fmt.Fprintf(&b, "        dport: [%d, %d]\n", rng.IntN(30), rng.IntN(30))
		case 1:
			fmt.Fprintf(&b, "        outcome: %s\n        dport|lt: %d\n", []string{"Refused", "established"}[rng.IntN(2)], rng.IntN(30))
		case 2:
			fmt.Fprintf(&b, "        streams: s%d\n", rng.IntN(5))
		default:
			fmt.Fprintf(&b, "        src|cidr: 10.%d.0.0/16\n", rng.IntN(4))
		}
	}
	rs := mustParse(t, b.String())
	var all []*matcher
	for _, r := range rs.Rules {
		all = append(all, r.match)
	}
	typeOK := func(m *matcher, typ string) bool {
		for _, x := range m.types {
			if x == "*" || x == typ || strings.HasSuffix(x, "*") && strings.HasPrefix(typ, strings.TrimSuffix(x, "*")) {
				return true
			}
		}
		return false
	}
	for i := range 5000 {
		ev := event.Event{ID: fmt.Sprint(i), Time: t0, Type: types[rng.IntN(len(types))], IP: "10.0.0.1", Attrs: map[string]any{
			"dport": int64(rng.IntN(30)), "outcome": []string{"refused", "REFUSED", "established"}[rng.IntN(3)],
			"src":     fmt.Sprintf("10.%d.%d.1", rng.IntN(4), rng.IntN(4)),
			"streams": []string{fmt.Sprintf("s%d", rng.IntN(5)), fmt.Sprintf("s%d", rng.IntN(5))},
		}}
		if rng.IntN(3) > 0 {
			// Paths with the words in any case, encoded or not, and the
			// letters whose case folding leaves ASCII.
			parts := []string{"/", "ADMIN", "etc/passwd", "%65tc%2Fpasswd", "sElEcT", "..%2F", "%252e%252e/", "\u212aelvin", "\u017fecret", "Tmp", "X", "q=1"}
			var p strings.Builder
			for range 1 + rng.IntN(4) {
				p.WriteString(parts[rng.IntN(len(parts))])
			}
			path, _ := strconv.Unquote(`"` + p.String() + `"`)
			ev.Attrs["path"] = path
		}
		if rng.IntN(4) == 0 {
			ev.Attrs["dport"] = fmt.Sprint(ev.Attrs["dport"]) // as text
		}
		// The index with an evaluation that caches, against a scan of
		// every matcher with one that does not.
		c := rs.slots.NewCtx()
		c.Reset(&ev)
		var plain match.Ctx
		plain.Reset(&ev)
		var got, want []string
		for _, o := range rs.index.candidates(&c) {
			if m := rs.index.byOrd[o]; m.cond.Eval(&c) {
				got = append(got, m.rule.ID)
			}
		}
		for _, m := range all {
			if typeOK(m, ev.Type) && m.cond.Eval(&plain) {
				want = append(want, m.rule.ID)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("event %+v: index found %v, a scan %v", ev.Attrs, got, want)
		}
	}
}

// TestStateBounds fills every kind of state past its bound: it stays at
// the bound and counts what it dropped.
func TestStateBounds(t *testing.T) {
	rs := mustParse(t, `
rules:
  - id: per-source
    match: {type: NET.CONN}
    threshold: {group_by: [src], count: 5, window: 1m}
  - id: per-source-ports
    match: {type: NET.CONN}
    threshold: {group_by: [src], distinct: dport, count: 50, window: 1m}
  - id: sessions
    sequence:
      by: [src]
      steps:
        - match: {type: NET.CONN}
        - match: {type: NET.HTTP}
  - id: facts
    silent: true
    match: {type: NET.CONN}
    asserts: {fact: seen, key: [src]}
  - id: reported
    match: {type: NET.CONN}
    report: "connection from {src}"
`)
	e := New(rs, Limits{MaxGroups: 100, MaxInstances: 50, MaxFacts: 70, MaxSuppress: 30}, nil)
	reports := 0
	for i := range 1000 {
		ev := event.Event{ID: fmt.Sprint(i), Time: t0.Add(time.Duration(i) * time.Millisecond), Type: "NET.CONN", IP: "10.0.0.1",
			Attrs: map[string]any{"src": fmt.Sprintf("192.0.2.%d.%d", i/250, i%250), "dport": int64(i % 40)}}
		e.Handle(&ev, func(event.Report) { reports++ })
	}
	st := e.Stats()
	if st.Groups != 200 || st.GroupsEvicted != 1800 {
		t.Errorf("groups %d evicted %d, want 2x100 kept and 2x900 evicted", st.Groups, st.GroupsEvicted)
	}
	if st.Instances != 50 || st.InstancesEvicted != 950 {
		t.Errorf("instances %d evicted %d", st.Instances, st.InstancesEvicted)
	}
	if st.Facts != 70 || st.FactsEvicted != 930 {
		t.Errorf("facts %d evicted %d", st.Facts, st.FactsEvicted)
	}
	if st.SuppressKeys != 30 || st.SuppressEvicted != 970 || reports != 1000 {
		t.Errorf("suppression keys %d evicted %d, reports %d", st.SuppressKeys, st.SuppressEvicted, reports)
	}
}

// TestReload changes the rule file under a running engine: the unchanged
// rule keeps its count, the changed one starts again, the new one runs,
// and a broken file leaves the running rules in place.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// The file's time must change even on coarse file systems.
		later := time.Now().Add(time.Duration(rand.IntN(1000)+1) * time.Second)
		if err := os.Chtimes(file, later, later); err != nil {
			t.Fatal(err)
		}
	}
	const kept = "  - {id: kept, suppress: 0s, match: {type: X}, threshold: {count: 4, window: 1h}}\n"
	write("rules:\n" + kept + "  - {id: changed, suppress: 0s, match: {type: X}, threshold: {count: 4, window: 1h}}\n")
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte("monitor: {name: m}\nengines:\n  - kind: signature\n    reload: 1s\n    rules: [rules.yaml]\n"), filepath.Join(dir, "m.yaml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	metrics := prometheus.NewRegistry()
	eng, err := reg.Build(context.Background(), cfg.Engines[0], engine.Deps{Monitor: "m", Name: "sig", Clock: clk, Resolve: cfg.Resolve, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var fired []string
	emit := func(r event.Report) { fired = append(fired, r.Model) }
	n := 0
	feed := func(k int) {
		for range k {
			n++
			ev := event.Event{ID: fmt.Sprint(n), Time: t0.Add(time.Duration(n) * time.Second), Type: "X", Host: "h"}
			_ = eng.Tick(context.Background(), ev.Time, emit)
			_ = eng.Handle(context.Background(), &ev, emit)
		}
	}
	feed(3)
	write("rules:\n" + kept + "  - {id: changed, suppress: 0s, match: {type: X}, threshold: {count: 3, window: 1h}}\n  - {id: added, suppress: 0s, match: {type: X}}\n")
	feed(1) // the tick before this event reloads; then kept reaches 4
	if got := strings.Join(fired, ","); got != "kept,added" {
		t.Fatalf("after the reload: %s, want kept (its 4th event) and added", got)
	}
	fired = nil
	feed(2) // changed started again at the reload: its 3rd event is the 6th
	if got := strings.Join(fired, ","); got != "added,changed,added" {
		t.Fatalf("then: %s", got)
	}
	write("rules:\n  - {id: broken, match: {type: 1X}}\n")
	fired = nil
	feed(2)
	st := eng.(*adapter).e.Stats()
	if st.Reloads != 1 || st.ReloadErrors != 1 || st.Rules != 3 {
		t.Errorf("reloads %d, errors %d, rules %d", st.Reloads, st.ReloadErrors, st.Rules)
	}
	if !strings.Contains(strings.Join(fired, ","), "added") {
		t.Errorf("the running rules stopped after a broken file: %v", fired)
	}
	// The same figures reach the monitor's /metrics, as of the last tick.
	_ = eng.Tick(context.Background(), t0.Add(time.Hour), emit)
	st = eng.(*adapter).e.Stats()
	fams, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			name := f.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" {
					name += "/" + l.GetValue()
				}
			}
			got[name] = v
		}
	}
	for name, want := range map[string]float64{
		"vigil_signature_reloads_total": 1, "vigil_signature_reload_errors_total": 1, "vigil_signature_rules": 3,
		"vigil_signature_events_total": float64(st.Events), "vigil_signature_reports_total": float64(st.Reports),
		"vigil_signature_state_entries/groups": float64(st.Groups),
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if st.Events != 8 || st.Groups == 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestOneEventOneStep checks that an event matching two steps of a
// sequence starts an instance or advances one that waited before it, not
// both.
func TestOneEventOneStep(t *testing.T) {
	rs := mustParse(t, `
id: twice
suppress: 0s
sequence:
  by: [src]
  within: 1m
  steps:
    - match: {type: NET.CONN, where: {dport: [22, 23]}}
    - match: {type: NET.CONN, where: {dport: 22}}
`)
	e := New(rs, Limits{}, slog.New(slog.DiscardHandler))
	var fired []string
	emit := func(r event.Report) { fired = append(fired, strings.Join(r.Evidence, "+")) }
	for i, port := range []int64{22, 22, 23, 22} {
		ev := event.Event{ID: fmt.Sprint("e", i), Time: t0.Add(time.Duration(i) * time.Second), Type: "NET.CONN", Attrs: map[string]any{"src": "192.0.2.1", "dport": port}}
		e.Handle(&ev, emit)
	}
	// e0 starts an instance (and does not complete it); e1 completes it
	// and starts another; e2 refreshes that one; e3 completes it.
	if got := strings.Join(fired, " "); got != "e0+e1 e1+e2+e3" {
		t.Errorf("reports with evidence %q", got)
	}
}
