package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// TestTypeCounts counts events by subject and type, within the filter.
func TestTypeCounts(t *testing.T) {
	s := openTest(t, Options{})
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var evs []event.Event
	add := func(n int, typ, host string, at time.Time) {
		for range n {
			evs = append(evs, mkEvent(fmt.Sprint("e", len(evs)), at, typ, host, "10.0.0."+host[len(host)-1:]))
		}
	}
	add(3, event.TypeProcSpawn, "host3", t0)
	add(7, event.TypeProcMem, "host3", t0.Add(time.Minute))
	add(2, event.TypeSysCPU, "host1", t0)
	add(4, event.TypeSysCPU, "host1", t0.Add(time.Hour)) // outside the range below
	if _, err := s.WriteEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	got, err := s.TypeCounts(t.Context(), Filter{Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want := []TypeCount{{"host1", "10.0.0.1", event.TypeSysCPU, 2}, {"host3", "10.0.0.3", event.TypeProcMem, 7}, {"host3", "10.0.0.3", event.TypeProcSpawn, 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	if got, _ := s.TypeCounts(t.Context(), Filter{Host: "host1"}); len(got) != 1 || got[0].Count != 6 {
		t.Errorf("host1 over all time: %v", got)
	}
	if _, err := s.TypeCounts(t.Context(), Filter{Model: "m3"}); err == nil {
		t.Error("a report filter was accepted")
	}
}

// TestTracks returns the newest report per subject and model, leaves
// verdicts out, and applies the severity band to the newest only.
func TestTracks(t *testing.T) {
	s := openTest(t, Options{})
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rep := func(id string, sec int, model, ip string, score float64, sev event.Severity, state string) event.Report {
		return event.Report{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Monitor: "dmz", Engine: "tracks", Model: model,
			IP: ip, Score: score, Severity: sev, State: state, Explanation: id}
	}
	rs := []event.Report{
		rep("a1", 1, "m3", "10.0.0.1", 0.6, event.SeverityYellow, "Compromised"),
		rep("a2", 5, "m3", "10.0.0.1", 0.3, event.SeverityGreen, "Nominal"),
		rep("b1", 2, "m3", "10.0.0.3", 0.7, event.SeverityYellow, "Compromised"),
		// Once the host's agent was heard, the track's reports name the
		// host too: still the same track.
		func() event.Report {
			r := rep("b2", 6, "m3", "10.0.0.3", 0.95, event.SeverityRed, "Compromised")
			r.Host = "web-3"
			return r
		}(),
		rep("b3", 7, "m3", "10.0.0.3", 0.95, event.SeverityRed, "Verdict"),
		rep("c1", 3, "m4", "10.0.0.3", 0.2, event.SeverityGreen, "Nominal"),
	}
	if _, err := s.WriteReports(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	ids := func(f Filter) string {
		got, err := s.Tracks(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.ID)
		}
		return fmt.Sprint(out)
	}
	if got := ids(Filter{}); got != "[b2 a2 c1]" {
		t.Errorf("tracks %s, want the newest per subject and model, newest first, no verdict", got)
	}
	yellow := event.SeverityYellow
	if got := ids(Filter{MinSeverity: &yellow}); got != "[b2]" {
		t.Errorf("tracks at least yellow: %s (10.0.0.1's newest is green)", got)
	}
	if got := ids(Filter{Model: "m4"}); got != "[c1]" {
		t.Errorf("m4 tracks: %s", got)
	}
}
