package monitor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/hierarchy"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// childReport is a report as monitor would disseminate it.
func childReport(ids event.IDSource, t0 time.Time, monitor string, i int) *event.Report {
	tm := t0.Add(time.Duration(i) * time.Microsecond)
	return &event.Report{ID: ids.NewID(tm), Time: tm, Monitor: monitor, Engine: "count", Host: fmt.Sprintf("web-%d", i%7),
		Score: 0.8, Severity: event.SeverityRed, Explanation: "test"}
}

// storedReportsFrom counts the REPORT events of monitor in m's store.
func storedReportsFrom(t *testing.T, m *Monitor, monitor string) int {
	t.Helper()
	evs, err := m.Store().Events(context.Background(), store.Filter{Type: event.TypeReport, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Source == monitor {
			n++
		}
	}
	return n
}

// ackFloor is the last stream sequence the durable consumer has had
// acknowledged.
func ackFloor(t *testing.T, c *bus.Conn, durable string) uint64 {
	c2, err := c.JS.Consumer(context.Background(), bus.StreamReports, durable)
	if err != nil {
		return 0
	}
	info, err := c2.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.AckFloor.Stream
}

// TestFloodingChildBounded: a child floods 5,000 reports through a
// subscription of 100 reports a second with bursts of 50, on a real bus
// and the monitor's injected clock (which stands still, so the bucket
// holds the burst only). The burst is analysed; the rest is acknowledged,
// counted in vigil_reports_flooded_total and summarised, once the window
// is over, in one MONITOR.FLOOD event of the monitor's own store. Another
// child's report, published in the middle of the flood, arrives and is
// analysed promptly. Time on the clock refills the bucket.
func TestFloodingChildBounded(t *testing.T) {
	_, conn := startBus(t)
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	reg := testRegistry(t)
	cfg := loadConfig(t, `
monitor: {name: dom, layer: domain}
subscriptions:
  - {monitor: svc-flood, max_rate: 100, burst: 50}
  - monitor: svc-calm
engines:
  - kind: count
    threshold: 100000
`, reg)
	promReg := prometheus.NewRegistry()
	mon := run(t, Options{Config: cfg, Engines: reg, Conn: conn("dom"), Clock: clk, Registerer: promReg})
	<-mon.m.Ready()
	ids := event.NewRandomIDs()
	t0 := time.Now().UTC()
	const flood = 5000
	floodPub := conn("svc-flood")
	errs := make(chan error, 1)
	halfway := make(chan struct{})
	go func() {
		ctx := context.Background()
		for i := 0; i < flood; i++ {
			if i == flood/2 {
				close(halfway)
			}
			if err := floodPub.PublishReport(ctx, "svc-flood", childReport(ids, t0, "svc-flood", i)); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	<-halfway
	calm := conn("svc-calm")
	sent := time.Now()
	if err := calm.PublishReport(context.Background(), "svc-calm", childReport(ids, t0, "svc-calm", 0)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the calm child's report stored", func() bool { return storedReportsFrom(t, mon.m, "svc-calm") == 1 })
	if took := time.Since(sent); took > 5*time.Second {
		t.Errorf("the calm child's report took %v during the flood", took)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the whole flood acknowledged", func() bool { return ackFloor(t, floodPub, "dom_sub_svc-flood") == flood+1 })
	if got := counterValue(t, promReg, "vigil_reports_flooded_total", "subscription", "svc-flood"); got != flood-50 {
		t.Errorf("vigil_reports_flooded_total{svc-flood} %v, want %d", got, flood-50)
	}
	if got := counterValue(t, promReg, "vigil_reports_flooded_total", "subscription", "svc-calm"); got != 0 {
		t.Errorf("vigil_reports_flooded_total{svc-calm} %v, want 0", got)
	}
	testutil.WaitFor(t, 20*time.Second, "the burst stored", func() bool { return storedReportsFrom(t, mon.m, "svc-flood") == 50 })
	if n := mon.m.EventsAnalysed(); n != 51 {
		t.Errorf("%d events analysed, want the burst of 50 and the calm child's", n)
	}
	if evs, _ := mon.m.Store().Events(context.Background(), store.Filter{Type: event.TypeMonitorFlood}); len(evs) != 0 {
		t.Errorf("a MONITOR.FLOOD before the window is over: %+v", evs)
	}

	// The window ends: one summary, about the flooding child only.
	clk.Advance(floodWindow)
	var floods []event.Event
	testutil.WaitFor(t, 20*time.Second, "MONITOR.FLOOD stored", func() bool {
		floods, _ = mon.m.Store().Events(context.Background(), store.Filter{Type: event.TypeMonitorFlood})
		return len(floods) > 0
	})
	if len(floods) != 1 {
		t.Fatalf("%d MONITOR.FLOOD events, want 1: %+v", len(floods), floods)
	}
	a := floods[0].Attrs
	if a["monitor"] != "svc-flood" || a["dropped"] != int64(flood-50) || a["window"] != "10s" || floods[0].Source != "dom" || floods[0].Host != "svc-flood" {
		t.Errorf("MONITOR.FLOOD %+v", floods[0])
	}

	// Ten seconds on the clock refill the bucket to its burst: of 60 more
	// reports, 50 are analysed.
	for i := 0; i < 60; i++ {
		if err := floodPub.PublishReport(context.Background(), "svc-flood", childReport(ids, t0, "svc-flood", flood+i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 20*time.Second, "the second burst stored", func() bool { return storedReportsFrom(t, mon.m, "svc-flood") == 100 })
	testutil.WaitFor(t, 20*time.Second, "the rest acknowledged", func() bool { return ackFloor(t, floodPub, "dom_sub_svc-flood") == flood+61 })
	if got := counterValue(t, promReg, "vigil_reports_flooded_total", "subscription", "svc-flood"); got != flood-50+10 {
		t.Errorf("vigil_reports_flooded_total{svc-flood} %v, want %d", got, flood-40)
	}
}

// TestLostChildNeverBlocksParent: a domain monitor whose child never runs
// (so is lost within three heartbeats) keeps analysing its other child's
// reports, and stops promptly.
func TestLostChildNeverBlocksParent(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	cfg := loadConfig(t, `
monitor:
  name: dom
  layer: domain
  children: [svc-gone]
  heartbeat: {interval: 100ms, stale_after: 2, lost_after: 3}
subscriptions:
  - monitor: svc-gone
  - monitor: svc-live
`, reg)
	dom := run(t, Options{Config: cfg, Engines: reg, Conn: conn("dom")})
	testutil.WaitFor(t, 10*time.Second, "svc-gone lost", func() bool { return childState(dom.m, "svc-gone") == hierarchy.StateLost })
	live := conn("svc-live")
	ids := event.NewRandomIDs()
	sent := time.Now()
	for i := 0; i < 3; i++ {
		if err := live.PublishReport(context.Background(), "svc-live", childReport(ids, time.Now().UTC(), "svc-live", i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "svc-live's reports stored", func() bool { return storedReportsFrom(t, dom.m, "svc-live") == 3 })
	if took := time.Since(sent); took > 5*time.Second {
		t.Errorf("svc-live's reports took %v with a lost sibling", took)
	}
	start := time.Now()
	dom.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping with a lost child took %v", took)
	}
}
