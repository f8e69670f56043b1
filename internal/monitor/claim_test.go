package monitor

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestReportClaimingAnotherMonitorRefused publishes, on svc-a's report
// subject of a real bus, reports that name svc-b (as a child speaking for
// another child might): the domain subscribed to svc-a refuses them
// (counted, one log line, acknowledged, never stored nor analysed) and
// takes svc-a's own reports.
func TestReportClaimingAnotherMonitorRefused(t *testing.T) {
	_, conn := startBus(t)
	var logs lockedBuffer
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	reg := testRegistry(t)
	cfg := loadConfig(t, `
monitor: {name: dom, layer: domain}
subscriptions:
  - monitor: svc-a
engines:
  - kind: count
    threshold: 1000
`, reg)
	mon := run(t, Options{Config: cfg, Engines: reg, Conn: conn("dom"), Clock: clk, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	<-mon.m.Ready()
	pub := conn("pub")
	ctx := context.Background()
	ids := event.NewRandomIDs()
	t0 := time.Now().UTC()
	report := func(monitor string, i int) *event.Report {
		tm := t0.Add(time.Duration(i) * time.Millisecond)
		return &event.Report{ID: ids.NewID(tm), Time: tm, Monitor: monitor, Engine: "count", Host: "web-1", Score: 0.9, Severity: event.SeverityRed, Explanation: "test"}
	}
	for i := 0; i < 3; i++ {
		if err := pub.PublishReport(ctx, "svc-a", report("svc-b", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := pub.PublishReport(ctx, "svc-a", report("svc-a", 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "svc-a's own reports stored", func() bool { return mon.m.Store().Stats().EventsWritten == 2 })
	testutil.WaitFor(t, 20*time.Second, "every message acknowledged", func() bool {
		c, err := pub.JS.Consumer(ctx, bus.StreamReports, "dom_sub_svc-a")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == 5
	})
	if n := promtest.ToFloat64(mon.m.met.misrouted.WithLabelValues("report:svc-a")); n != 3 {
		t.Errorf("misrouted %v, want 3", n)
	}
	if n := mon.m.EventsAnalysed(); n != 2 {
		t.Errorf("%d events analysed, want svc-a's 2", n)
	}
	stored, err := mon.m.Store().Events(ctx, store.Filter{Type: event.TypeReport})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range stored {
		if ev.Source != "svc-a" {
			t.Errorf("stored report %s from %q, want svc-a's only", ev.ID, ev.Source)
		}
	}
	n := 0
	for _, ln := range strings.Split(logs.String(), "\n") {
		if strings.Contains(ln, "report naming another monitor than its publisher") {
			n++
			if !strings.Contains(ln, `svc-b`) || !strings.Contains(ln, bus.ReportSubject("svc-a")) {
				t.Errorf("log line does not say who claimed what: %s", ln)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d log lines for one subject within 10 s, want 1", n)
	}
}

func TestCheckReporter(t *testing.T) {
	for _, c := range []struct {
		subject, monitor string
		ok               bool
	}{
		{"vigil.report.svc-a", "svc-a", true},
		{"vigil.report.svc_a", "svc.a", true}, // the token of the name
		{"vigil.report.svc-a", "svc-b", false},
		{"vigil.report.dom1", "svc-a", false}, // a domain's reports name the domain
		{"vigil.obs.svc-a", "svc-a", false},
	} {
		err := checkReporter(c.subject, &event.Report{Monitor: c.monitor})
		if (err == nil) != c.ok {
			t.Errorf("checkReporter(%q, %q) = %v, want ok %v", c.subject, c.monitor, err, c.ok)
		}
	}
}
