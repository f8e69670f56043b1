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
	var recorded, sent []event.Report
	r := New(Options{
		Monitor: "svc", Publish: true, MinSeverity: event.SeverityYellow,
		IDs: event.NewSeededIDs(3), Clock: clock.NewManual(t0),
		Record:      func(rep *event.Report) { recorded = append(recorded, *rep) },
		Disseminate: func(rep *event.Report) { sent = append(sent, *rep) },
	})
	long := strings.Repeat("é", event.MaxExplanationLen)
	evidence := make([]string, event.MaxListLen+5)
	for i := range evidence {
		evidence[i] = "e" + strings.Repeat("x", i%3)
	}
	tests := []struct {
		name    string
		in      event.Report
		wantErr string
		sent    bool
	}{
		{"green is recorded, not sent", event.Report{Host: "h", Score: 0.1, Severity: event.SeverityGreen}, "", false},
		{"red is sent", event.Report{Host: "h", Score: 0.95, Severity: event.SeverityRed, Time: t0.Add(time.Second)}, "", true},
		{"long explanation is cut", event.Report{Host: "h", Score: 0.6, Severity: event.SeverityYellow, Explanation: long}, "", true},
		{"too much evidence keeps the latest", event.Report{Host: "h", Score: 0.6, Severity: event.SeverityYellow, Evidence: evidence}, "", true},
		{"score out of range", event.Report{Host: "h", Score: 2}, "not in [0,1]", false},
		{"reserved attribute", event.Report{Host: "h", Attrs: map[string]any{"score": 1.0}}, "reserved", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nr, ns := len(recorded), len(sent)
			got, err := r.Handle("eng", tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if len(recorded) != nr || len(sent) != ns {
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
			if len(recorded) != nr+1 {
				t.Error("not recorded")
			}
			if (len(sent) == ns+1) != tc.sent {
				t.Errorf("sent = %v, want %v", len(sent) == ns+1, tc.sent)
			}
			if len(got.Explanation) > event.MaxExplanationLen {
				t.Errorf("explanation of %d bytes", len(got.Explanation))
			}
			if len(tc.in.Evidence) > event.MaxListLen {
				if len(got.Evidence) != event.MaxListLen || got.Attrs["evidence_total"] != int64(len(tc.in.Evidence)) || got.Evidence[0] != tc.in.Evidence[5] {
					t.Errorf("evidence kept %d, total %v", len(got.Evidence), got.Attrs["evidence_total"])
				}
			}
		})
	}
	if !recorded[1].Time.Equal(t0.Add(time.Second)) || !recorded[0].Time.Equal(t0) {
		t.Errorf("times: engine's kept, missing from clock: %v %v", recorded[0].Time, recorded[1].Time)
	}
}
