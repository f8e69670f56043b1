package signature

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// probeReport is a domain monitor's report of probes from src, at min
// minutes after t0.
func probeReport(id, monitor string, min int, src string, count int64) *event.Event {
	r := event.Report{ID: id, Time: t0.Add(time.Duration(min) * time.Minute), Monitor: monitor, Engine: "domain-signatures",
		Model: "probes", IP: src, Score: 0.2, Severity: event.SeverityGreen,
		Attrs: map[string]any{"src": src, "count": count}}
	ev := r.Event()
	return &ev
}

const spreadRule = `
id: spread-probes
severity: yellow
subject: src
match: {type: REPORT, where: {model: probes}}
threshold: {group_by: [src], sum: count, count: 10, window: 30m, spread: {field: monitor, count: 2}}
report: "{count} probes from {src} across {values} within {window}"
`

// TestSumWithSpreadNeedsSeveralSources: a sum fires when the values of a
// field add up to the count within the window, and with a spread only
// when they came from enough distinct monitors; the report names them
// and says the total.
func TestSumWithSpreadNeedsSeveralSources(t *testing.T) {
	e := New(mustParse(t, spreadRule), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	// Eleven probes, all seen by one domain: no spread.
	e.Handle(probeReport("a1", "dom1", 0, "203.0.113.9", 6), rec.emit)
	e.Handle(probeReport("a2", "dom1", 5, "203.0.113.9", 5), rec.emit)
	if len(rec.reps) != 0 {
		t.Fatalf("one monitor's reports fired: %v", rec.explanations())
	}
	// One more from a second domain: 12 from two.
	e.Handle(probeReport("a3", "dom2", 6, "203.0.113.9", 1), rec.emit)
	if len(rec.reps) != 1 {
		t.Fatalf("want one report once a second monitor adds to the sum, got %v", rec.explanations())
	}
	rep := rec.reps[0]
	if want := "12 probes from 203.0.113.9 across dom1,dom2 within 30m"; rep.Explanation != want {
		t.Errorf("explanation %q, want %q", rep.Explanation, want)
	}
	if rep.Attrs["count"] != int64(12) || rep.Attrs["spread"] != "monitor" || !slices.Equal(rep.Attrs["values"].([]string), []string{"dom1", "dom2"}) {
		t.Errorf("attrs %v", rep.Attrs)
	}
	if rep.IP != "203.0.113.9" || !slices.Equal(rep.Evidence, []string{"a1", "a2", "a3"}) {
		t.Errorf("subject %q, evidence %v", rep.IP, rep.Evidence)
	}

	// Two domains, but 40 minutes apart: each alone in the window.
	e = New(mustParse(t, spreadRule), Limits{}, slog.New(slog.DiscardHandler))
	rec = recorder{}
	e.Handle(probeReport("b1", "dom1", 0, "198.51.100.4", 6), rec.emit)
	e.Handle(probeReport("b2", "dom2", 40, "198.51.100.4", 6), rec.emit)
	// A report without the summed field, or with a zero, adds nothing.
	noCount := probeReport("b3", "dom3", 41, "198.51.100.4", 0)
	delete(noCount.Attrs, "count")
	e.Handle(noCount, rec.emit)
	e.Handle(probeReport("b4", "dom3", 41, "198.51.100.4", 0), rec.emit)
	if len(rec.reps) != 0 {
		t.Fatalf("fired for monitors outside one window: %v", rec.explanations())
	}
	e.Handle(probeReport("b5", "dom3", 42, "198.51.100.4", 4), rec.emit)
	if len(rec.reps) != 1 || !slices.Equal(rec.reps[0].Attrs["values"].([]string), []string{"dom2", "dom3"}) {
		t.Fatalf("want dom2 and dom3 within the window, got %v", rec.explanations())
	}
}

const spreadCountRule = `
id: many-monitors
severity: yellow
match: {type: REPORT, where: {model: probes}}
threshold: {count: 3, window: 10m, spread: {field: monitor, count: 2}}
report: "{count} reports from {values}"
`

// TestCountWithSpread: a plain count with a spread fires on the count of
// events within the window once they came from enough monitors.
func TestCountWithSpread(t *testing.T) {
	e := New(mustParse(t, spreadCountRule), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	for i, m := range []string{"dom1", "dom1", "dom1", "dom1"} {
		e.Handle(probeReport("c"+string(rune('0'+i)), m, i, "203.0.113.9", 1), rec.emit)
	}
	if len(rec.reps) != 0 {
		t.Fatalf("fired from one monitor: %v", rec.explanations())
	}
	e.Handle(probeReport("c9", "dom2", 5, "203.0.113.9", 1), rec.emit)
	if got := rec.explanations(); len(got) != 1 || got[0] != "3 reports from dom1,dom2" {
		t.Fatalf("got %q", got)
	}
}

const tallyRule = `
id: probes
severity: green
score: 0.2
subject: src
match: {type: NET.CONN, where: {dport: [7, 79]}}
threshold: {group_by: [src], count: 2, window: 1m, tally: true}
report: "{count} probes from {src} within {window}"
`

func conn(id string, sec int, src string, dport int64) *event.Event {
	return &event.Event{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Type: "NET.CONN", IP: "10.1.0.5",
		Attrs: map[string]any{"proto": "tcp", "src": src, "dst": "10.1.0.5", "dport": dport, "outcome": "refused"}}
}

// TestTallyReportsEachWindowsCount: a tally says, at the end of each
// window a group's first event opened, how many it counted, when that
// reached the rule's count; a group below it says nothing, and the next
// event opens a new window.
func TestTallyReportsEachWindowsCount(t *testing.T) {
	e := New(mustParse(t, tallyRule), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	e.Handle(conn("p1", 0, "203.0.113.9", 79), rec.emit)
	e.Handle(conn("p2", 10, "203.0.113.9", 7), rec.emit)
	e.Handle(conn("p3", 20, "203.0.113.9", 79), rec.emit)
	e.Handle(conn("q1", 30, "198.51.100.4", 79), rec.emit) // one alone: below the count
	e.Tick(t0.Add(59*time.Second), rec.emit)
	if len(rec.reps) != 0 {
		t.Fatalf("reported before the window ended: %v", rec.explanations())
	}
	e.Tick(t0.Add(61*time.Second), rec.emit)
	if got := rec.explanations(); len(got) != 1 || got[0] != "3 probes from 203.0.113.9 within 1m" {
		t.Fatalf("at the window's end: %q", got)
	}
	rep := rec.reps[0]
	if rep.IP != "203.0.113.9" || rep.Attrs["count"] != int64(3) || rep.Attrs["src"] != "203.0.113.9" || !rep.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("report %+v", rep)
	}
	if !slices.Equal(rep.Evidence, []string{"p1", "p2", "p3"}) {
		t.Errorf("evidence %v", rep.Evidence)
	}
	e.Tick(t0.Add(2*time.Minute), rec.emit)
	if len(rec.reps) != 1 {
		t.Fatalf("a group below the count reported: %v", rec.explanations())
	}
	// The next window starts with the next event (suppression is the
	// rule's own: none here within a minute of the last report's group).
	e.Handle(conn("p4", 200, "203.0.113.9", 79), rec.emit)
	e.Handle(conn("p5", 201, "203.0.113.9", 79), rec.emit)
	e.Tick(t0.Add(261*time.Second), rec.emit)
	if got := rec.explanations(); len(got) != 2 || !strings.HasPrefix(got[1], "2 probes from 203.0.113.9") {
		t.Fatalf("second window: %q", got)
	}
}

// TestThresholdKindsExclusive: distinct counts values; a sum, a spread
// or a tally goes with a count of events, and each mistake is named with
// its line.
func TestThresholdKindsExclusive(t *testing.T) {
	_, err := Parse("bad.yaml", []byte(`
- id: a
  match: {type: REPORT}
  threshold: {distinct: monitor, sum: count, count: 2, window: 1m}
- id: b
  match: {type: REPORT}
  threshold: {count: 2, window: 1m, spread: {field: monitor}}
- id: c
  match: {type: REPORT}
  threshold: {count: 2, window: 1m, spread: {field: monitor, count: 0}, tally: maybe}
`), Options{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"bad.yaml:4:39: [0].threshold.sum: sum goes with a count of events, not with distinct",
		`bad.yaml:7:45: [1].threshold.spread: missing "count"`,
		"[2].threshold.spread.count: a count from 1 to 1,000",
		"[2].threshold.tally: want true or false",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
