package monitor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestDomainDecidesOnSubscribedReports: a domain monitor's decision unit
// weighs the reports of the service monitor it subscribes to (seed 002
// section 3.5) and records its decision, in monitor mode, once for a
// report however often it is delivered.
func TestDomainDecidesOnSubscribedReports(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	svcCfg := loadConfig(t, "monitor: {name: svc-web}\nengines:\n  - kind: count\n    threshold: 3\n", reg)
	responses := action.NewRegistry()
	if err := resolver.Register(responses); err != nil {
		t.Fatal(err)
	}
	domCfg, err := config.Load([]byte(`monitor: {name: dom, layer: domain}
subscriptions:
  - monitor: svc-web
responses:
  - {kind: log, name: log}
resolver:
  policies:
    - name: service-red
      where: {monitor: svc-web, severity: red}
      subject: host
      methods: [log]
`), filepath.Join(t.TempDir(), "dom.yml"), config.Registries{Engines: reg, Responses: responses})
	if err != nil {
		t.Fatal(err)
	}
	run(t, Options{Config: svcCfg, Engines: reg, Conn: conn("svc")})
	dom := run(t, Options{Config: domCfg, Engines: reg, Responses: responses, Conn: conn("dom")})
	ids := event.NewRandomIDs()
	t0 := time.Now().UTC()
	if _, err := conn("publisher").PublishEvents(context.Background(), hostEvents(ids, t0, "web-3", event.TypeProcSpawn, 3)); err != nil {
		t.Fatal(err)
	}
	var rows []store.Response
	testutil.WaitFor(t, 20*time.Second, "the domain monitor's decision", func() bool {
		rows, _ = dom.m.Store().Responses(context.Background(), store.ResponseFilter{Policy: "service-red"})
		return len(rows) > 0
	})
	if r := rows[0]; r.Status != store.StatusPlanned || r.Key != "log|host=web-3" || len(r.Reports) != 1 {
		t.Errorf("decision %+v", r)
	}
	if got := dom.m.Unit().Decisions(store.StatusPlanned); got != 1 {
		t.Errorf("%d planned decisions, want 1", got)
	}
}

// TestResponseIsAnObservation: an action taken in enforce mode is
// published as a RESPONSE.ACTION event, which comes back through the
// monitor's own source to its store and engines like any observation.
func TestResponseIsAnObservation(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	responses := action.NewRegistry()
	if err := resolver.Register(responses); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte(`monitor: {name: svc}
engines:
  - kind: count
    threshold: 3
responses:
  - {kind: log, name: log, level: info}
resolver:
  mode: enforce
  policies:
    - {name: red, where: {severity: red}, subject: host, methods: [log]}
`), filepath.Join(t.TempDir(), "svc.yml"), config.Registries{Engines: reg, Responses: responses})
	if err != nil {
		t.Fatal(err)
	}
	svc := run(t, Options{Config: cfg, Engines: reg, Responses: responses, Conn: conn("svc")})
	if _, err := conn("publisher").PublishEvents(context.Background(), hostEvents(event.NewRandomIDs(), time.Now().UTC(), "web-3", event.TypeProcSpawn, 3)); err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	testutil.WaitFor(t, 20*time.Second, "the response event in the store", func() bool {
		evs, _ = svc.m.Store().Events(context.Background(), store.Filter{Type: event.TypeResponseAction})
		return len(evs) > 0
	})
	ev := evs[0]
	if ev.Host != "web-3" || ev.Source != "svc" || ev.Str("status") != "done" || ev.Str("policy") != "red" || ev.Str("kind") != "log" {
		t.Errorf("response event %+v", ev)
	}
	rows, _ := svc.m.Store().Responses(context.Background(), store.ResponseFilter{})
	if len(rows) != 1 || rows[0].Status != store.StatusDone || rows[0].ID != ev.Str("decision") {
		t.Errorf("decisions %+v", rows)
	}
}
