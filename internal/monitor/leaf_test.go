package monitor

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// A subscription with a domain consumes the child's reports from the
// child's own bus, joined by a leaf node: the enterprise monitor stores
// the service monitor's report; stopped, it misses nothing the service
// monitor reports meanwhile, and started again it stores that report
// once, without the first again.
func TestSubscriptionInAnotherDomain(t *testing.T) {
	pair := bustest.StartLeafPair(t, "dom1")
	reg := testRegistry(t)
	svcCfg := loadConfig(t, `
monitor: {name: svc-web}
sources:
  - {name: obs, subjects: ["vigil.obs.>"]}
engines:
  - {kind: count, threshold: 3}
`, reg)
	entCfg := loadConfig(t, `
monitor: {name: ent, layer: enterprise}
subscriptions:
  - {monitor: svc-web, domain: dom1}
`, reg)
	run(t, Options{Config: svcCfg, Engines: reg, Conn: pair.Connect(t, pair.Site, "svc")})
	entData := t.TempDir()
	ent := run(t, Options{Config: entCfg, Engines: reg, Conn: pair.Connect(t, pair.Hub, "ent"), DataDir: entData})

	pub := pair.Connect(t, pair.Site, "publisher")
	ids := event.NewRandomIDs()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if _, err := pub.PublishEvents(ctx, hostEvents(ids, t0, "web-3", event.TypeProcSpawn, 3)); err != nil {
		t.Fatal(err)
	}
	reports := func(m *Monitor) []event.Event {
		got, err := m.Store().Events(ctx, store.Filter{Type: event.TypeReport})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	testutil.WaitFor(t, 20*time.Second, "the enterprise to store the service monitor's report", func() bool { return len(reports(ent.m)) == 1 })
	first := reports(ent.m)[0]
	if r, err := event.ReportFromEvent(&first); err != nil || r.Monitor != "svc-web" {
		t.Fatalf("the report at the enterprise: %+v, %v", r, err)
	}
	ent.stop()

	if _, err := pub.PublishEvents(ctx, hostEvents(ids, t0.Add(time.Minute), "web-4", event.TypeProcSpawn, 3)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ent = run(t, Options{Config: entCfg, Engines: reg, Conn: pair.Connect(t, pair.Hub, "ent-again"), DataDir: entData})
	testutil.WaitFor(t, 20*time.Second, "the enterprise to store the report made while it was stopped", func() bool { return len(reports(ent.m)) >= 2 })
	time.Sleep(500 * time.Millisecond)
	got := reports(ent.m)
	hosts := map[string]int{}
	for i := range got {
		r, err := event.ReportFromEvent(&got[i])
		if err != nil {
			t.Fatal(err)
		}
		hosts[r.Host]++
	}
	if len(got) != 2 || hosts["web-3"] != 1 || hosts["web-4"] != 1 {
		t.Errorf("the enterprise holds %d reports by host %v, want web-3's and web-4's once each", len(got), hosts)
	}
}
