package monitor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/hbmsg"
	"github.com/vigil-ids/vigil/internal/hierarchy"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func childState(m *Monitor, name string) hierarchy.State {
	for _, c := range m.Children() {
		if c.Name == name {
			return c.State
		}
	}
	return ""
}

// TestChildHealthEvents runs a domain monitor watching a service monitor
// (a declared child) and one it subscribes to that never runs: the
// service monitor's heartbeats, with its counters, make it alive; when it
// stops, the domain monitor stores MONITOR.STALE then MONITOR.LOST about
// it, and MONITOR.ALIVE when it runs again. The silent one is lost
// without ever having been seen; a heartbeat naming a monitor that is not
// a child is ignored and counted.
func TestChildHealthEvents(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	domCfg := loadConfig(t, `
monitor:
  name: dom
  layer: domain
  children: [svc1]
  heartbeat: {interval: 100ms, stale_after: 2, lost_after: 3}
subscriptions:
  - monitor: svc-never
`, reg)
	svcCfg := loadConfig(t, `
monitor:
  name: svc1
  parent: dom
  heartbeat: {interval: 100ms}
sources:
  - name: obs
    subjects: ["vigil.obs.>"]
engines:
  - kind: count
    threshold: 2
`, reg)
	domReg := prometheus.NewRegistry()
	dom := run(t, Options{Config: domCfg, Engines: reg, Conn: conn("dom"), Registerer: domReg})
	if got := dom.m.ChildNames(); !slices.Equal(got, []string{"svc-never", "svc1"}) {
		t.Fatalf("children %v", got)
	}
	svcDir := t.TempDir()
	svc := run(t, Options{Config: svcCfg, Engines: reg, Conn: conn("svc1"), DataDir: svcDir})
	testutil.WaitFor(t, 10*time.Second, "svc1 alive", func() bool { return childState(dom.m, "svc1") == hierarchy.StateAlive })

	pub := conn("pub")
	if _, err := pub.PublishEvents(context.Background(), hostEvents(event.NewRandomIDs(), time.Now().UTC(), "web-1", event.TypeProcSpawn, 2)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "svc1's counters in its heartbeats", func() bool {
		for _, c := range dom.m.Children() {
			if c.Name == "svc1" && c.Counters.EventsIn == 2 && c.Counters.ReportsOut == 1 {
				return true
			}
		}
		return false
	})
	if err := pub.NC.Publish(bus.HeartbeatSubject("svc1"), hbmsg.Encode(hbmsg.Heartbeat{Version: 1, Monitor: "svc-never", Seq: 1, Time: time.Now(), Interval: hbmsg.Duration(time.Second)})); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the impostor's heartbeat counted", func() bool { return dom.m.HeartbeatCounts().Foreign == 1 })
	if n := counterValue(t, domReg, "vigil_heartbeats_ignored_total", "reason", "foreign"); n != 1 {
		t.Errorf("vigil_heartbeats_ignored_total{reason=foreign} %v", n)
	}

	svc.stop()
	testutil.WaitFor(t, 10*time.Second, "svc1 lost", func() bool { return childState(dom.m, "svc1") == hierarchy.StateLost })
	svc = run(t, Options{Config: svcCfg, Engines: reg, Conn: conn("svc1-again"), DataDir: svcDir})
	testutil.WaitFor(t, 10*time.Second, "svc1 alive again", func() bool { return childState(dom.m, "svc1") == hierarchy.StateAlive })
	if childState(dom.m, "svc-never") != hierarchy.StateLost {
		t.Errorf("svc-never: %s", childState(dom.m, "svc-never"))
	}
	if n, err := promtest.GatherAndCount(domReg, "vigil_children"); err != nil || n != 4 {
		t.Errorf("vigil_children series: %d %v", n, err)
	}

	// The changes are events of the domain monitor's own pipeline: stored,
	// in order alive, stale, lost, alive (a slow start may add a lost
	// before the first alive, a late heartbeat a stale and alive between).
	want := []string{event.TypeMonitorAlive, event.TypeMonitorStale, event.TypeMonitorLost, event.TypeMonitorAlive}
	var got []string
	testutil.WaitFor(t, 10*time.Second, "the health events stored", func() bool {
		evs, err := dom.m.Store().Events(context.Background(), store.Filter{Host: "svc1"})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
		got = got[:0]
		for _, ev := range evs {
			got = append(got, ev.Type)
		}
		return isSubsequence(want, got)
	})
	lost, err := dom.m.Store().Events(context.Background(), store.Filter{Type: event.TypeMonitorLost})
	if err != nil {
		t.Fatal(err)
	}
	var svc1Lost *event.Event
	for i := range lost {
		if lost[i].Attrs["monitor"] == "svc1" && lost[i].Attrs["from"] == "stale" {
			svc1Lost = &lost[i]
		}
	}
	if svc1Lost == nil {
		t.Fatalf("no MONITOR.LOST about svc1 in %+v", lost)
	}
	a := svc1Lost.Attrs
	if a["layer"] != "service" || a["missed"].(int64) < 3 || a["last_seen"] == "" || svc1Lost.Source != "dom" {
		t.Errorf("MONITOR.LOST: %+v", svc1Lost)
	}
	svc.stop()
	dom.stop()
}

// isSubsequence says whether want appears in got in order, not
// necessarily together.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// counterValue reads the counter name{label=value} off reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}
