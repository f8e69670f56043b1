package event

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleReport() Report {
	return Report{
		ID: "01AN4Z07BY79KA1307SR9X4MV4", Time: t0, Monitor: "svc-web", Engine: "track", Model: "M3",
		Host: "web-3", IP: "10.0.0.3", Score: 0.95, Severity: SeverityRed, State: "Compromised",
		Evidence:    []string{"e1", "e2"},
		Explanation: "NIDS scan then 22 PROC.MEM within 19 s",
		Attrs:       map[string]any{"observations": int64(42), "last_modified": "2005-01-06T18:33:04Z"},
	}
}

func TestReportRoundTrips(t *testing.T) {
	r := sampleReport()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	ev := r.Event()
	if ev.Type != TypeReport || ev.Source != "svc-web" || ev.Host != "web-3" {
		t.Errorf("event form %+v", ev)
	}
	// Through the bus codec and back.
	wire, err := DecodeCompact(ev.AppendCompact(nil))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReportFromEvent(&wire)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("via event:\nwant %+v\ngot  %+v", r, back)
	}
	js := r.AppendJSON(nil)
	fromJSON, err := DecodeReportJSON(js)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if !reflect.DeepEqual(fromJSON, r) {
		t.Errorf("via JSON:\nwant %+v\ngot  %+v", r, fromJSON)
	}
	// A report without a subject names its monitor in the event form only.
	bare := Report{ID: "r", Time: t0, Monitor: "m", Score: 0}
	bev := bare.Event()
	if bev.Host != "m" {
		t.Errorf("subjectless report event host %q", bev.Host)
	}
	bback, err := ReportFromEvent(&bev)
	if err != nil || bback.Host != "" {
		t.Errorf("subjectless report back: %+v %v", bback, err)
	}
}

func TestReportErrors(t *testing.T) {
	mut := func(f func(*Report)) Report { r := sampleReport(); f(&r); return r }
	tests := []struct {
		r    Report
		want string
	}{
		{mut(func(r *Report) { r.Score = 1.5 }), `field "score": 1.5 is not in [0,1]`},
		{mut(func(r *Report) { r.Monitor = "" }), `field "monitor": missing`},
		{mut(func(r *Report) { r.Attrs["score"] = 1.0 }), `field "attrs.score": name reserved`},
		{mut(func(r *Report) { r.Explanation = strings.Repeat("x", MaxExplanationLen+1) }), `field "explanation"`},
		{mut(func(r *Report) { r.Severity = 7 }), `unknown severity`},
	}
	for _, tc := range tests {
		if err := tc.r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	sr := sampleReport()
	ev := sr.Event()
	ev.Attrs["severity"] = "purple"
	if _, err := ReportFromEvent(&ev); err == nil || !strings.Contains(err.Error(), "purple") {
		t.Errorf("bad severity: %v", err)
	}
	notReport := Event{ID: "x", Time: time.Now(), Type: "T", Host: "h"}
	if _, err := ReportFromEvent(&notReport); err == nil {
		t.Error("non-report event accepted")
	}
	if _, err := DecodeReportJSON([]byte(`{"monitor":"m","score":"high"}`)); err == nil || !strings.Contains(err.Error(), `field "score": want a number, got a string`) {
		t.Errorf("score string: %v", err)
	}
}

func TestBands(t *testing.T) {
	b := DefaultBands()
	for _, tc := range []struct {
		score float64
		want  Severity
	}{{0, SeverityGreen}, {0.49, SeverityGreen}, {0.5, SeverityYellow}, {0.9, SeverityYellow}, {0.95, SeverityRed}, {1, SeverityRed}} {
		if got := b.Severity(tc.score); got != tc.want {
			t.Errorf("Severity(%v) = %v, want %v", tc.score, got, tc.want)
		}
	}
	if (Bands{Yellow: 0.9, Red: 0.5}).Validate() == nil {
		t.Error("inverted bands validated")
	}
	for _, s := range []Severity{SeverityGreen, SeverityYellow, SeverityRed} {
		if p, err := ParseSeverity(s.String()); err != nil || p != s {
			t.Errorf("parse %v: %v %v", s, p, err)
		}
	}
}
