package resolver

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
)

func TestResolver(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("é", event.MaxExplanationLen)
	// evidence returns a fresh list each time: Handle keeps a subslice of
	// it, so no two cases may share one.
	evidence := func() []string {
		l := make([]string, event.MaxListLen+5)
		for i := range l {
			l[i] = "e" + strings.Repeat("x", i%3)
		}
		return l
	}
	// Each case builds its own report (with its own slices and map) and
	// gets its own resolver and recorders, so cases cannot see each other.
	tests := []struct {
		name     string
		in       func() event.Report
		wantErr  string
		sent     bool
		wantTime time.Time
	}{
		{"green is recorded, not sent, timed by the clock", func() event.Report { return event.Report{Host: "h", Score: 0.1, Severity: event.SeverityGreen} }, "", false, t0},
		{"red is sent, keeping the engine's time", func() event.Report {
			return event.Report{Host: "h", Score: 0.95, Severity: event.SeverityRed, Time: t0.Add(time.Second)}
		}, "", true, t0.Add(time.Second)},
		{"long explanation is cut", func() event.Report {
			return event.Report{Host: "h", Score: 0.6, Severity: event.SeverityYellow, Explanation: long}
		}, "", true, t0},
		{"too much evidence keeps the latest", func() event.Report {
			return event.Report{Host: "h", Score: 0.6, Severity: event.SeverityYellow, Evidence: evidence()}
		}, "", true, t0},
		{"score out of range", func() event.Report { return event.Report{Host: "h", Score: 2} }, "not in [0,1]", false, time.Time{}},
		{"reserved attribute", func() event.Report { return event.Report{Host: "h", Attrs: map[string]any{"score": 1.0}} }, "reserved", false, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var recorded, sent []event.Report
			r := New(Options{
				Monitor: "svc", Publish: true, MinSeverity: event.SeverityYellow,
				IDs: event.NewSeededIDs(3), Clock: clock.NewManual(t0),
				Record:      func(rep *event.Report) { recorded = append(recorded, *rep) },
				Disseminate: func(rep *event.Report) { sent = append(sent, *rep) },
			})
			in := tc.in()
			got, err := r.Handle("eng", in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if len(recorded) != 0 || len(sent) != 0 {
					t.Error("an invalid report was recorded or sent")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Monitor != "svc" || got.Engine != "eng" || len(got.ID) != event.IDLen || got.Time.IsZero() {
				t.Errorf("not completed: %+v", got)
			}
			if len(recorded) != 1 {
				t.Fatalf("recorded %d times, want once", len(recorded))
			}
			if (len(sent) == 1) != tc.sent {
				t.Errorf("sent = %v, want %v", len(sent) == 1, tc.sent)
			}
			if !recorded[0].Time.Equal(tc.wantTime) {
				t.Errorf("time %v, want %v (the engine's if it gave one, else the clock's)", recorded[0].Time, tc.wantTime)
			}
			if len(got.Explanation) > event.MaxExplanationLen {
				t.Errorf("explanation of %d bytes", len(got.Explanation))
			}
			if len(in.Evidence) > event.MaxListLen {
				if len(got.Evidence) != event.MaxListLen || got.Attrs["evidence_total"] != int64(len(in.Evidence)) || got.Evidence[0] != in.Evidence[5] {
					t.Errorf("evidence kept %d, total %v", len(got.Evidence), got.Attrs["evidence_total"])
				}
			}
		})
	}
}
