package configs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// seen keeps the reports a monitor makes.
type seen struct {
	mu   sync.Mutex
	list []event.Report
}

func (s *seen) ObserveEvent(*event.Event) {}
func (s *seen) ObserveReport(r *event.Report) {
	s.mu.Lock()
	s.list = append(s.list, *r)
	s.mu.Unlock()
}

func (s *seen) of(model string) []event.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event.Report
	for _, r := range s.list {
		if r.Model == model {
			out = append(out, r)
		}
	}
	return out
}

// TestEnterpriseOverTheBus runs the hierarchy as deployed: three domain
// monitors (configs/domain.yaml, each over its own gateway's records)
// and the enterprise monitor (configs/enterprise.yaml) subscribed to
// their reports, on a real bus. A web attack on domain 1 and then domain
// 2 makes the enterprise report it spreading, and its resolver sensitise
// domain 3 (and only it), which then reports the first attack request it
// sees; probes spread over the three domains, reported by none above
// green, are reported by the enterprise.
func TestEnterpriseOverTheBus(t *testing.T) {
	s, mon, sen := bustest.StartLocal(t)
	reg := registries(t)
	stores := map[string]*store.Store{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	startMonitor := func(file, name string, edit func(*monitor.Options)) *seen {
		cfg, err := config.LoadFile(file, reg.config())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Monitor.Name = name
		obs := &seen{}
		o := monitor.Options{Config: cfg, Engines: reg.engines, Responses: reg.responses, Conn: bustest.ConnectAs(t, s, mon, name),
			DataDir: t.TempDir(), Clock: clock.NewManual(t0), Logger: testutil.Quiet(), Observers: []monitor.Observer{obs}}
		if edit != nil {
			edit(&o)
		}
		m, err := monitor.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Run(ctx); err != nil {
				t.Errorf("monitor %s: %v", name, err)
			}
		}()
		select {
		case <-m.Ready():
		case <-time.After(30 * time.Second):
			t.Fatalf("monitor %s did not come up", name)
		}
		stores[name] = m.Store()
		return obs
	}
	doms := map[string]*seen{}
	for n := 1; n <= 3; n++ {
		name := fmt.Sprintf("dom%d", n)
		// Each domain's gateway sensor publishes the records about its
		// own server.
		doms[name] = startMonitor("domain.yaml", name, func(o *monitor.Options) {
			o.Config.Sources[0].Subjects = []string{bus.ObsSubject(server(n))}
		})
	}
	ent := startMonitor("enterprise.yaml", "ent", nil)

	gw := bustest.ConnectAs(t, s, sen, "gw")
	publish := func(evs ...event.Event) {
		t.Helper()
		if _, err := gw.PublishEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	const attacker = "192.0.2.77"
	sqli := func(at time.Duration, n int) event.Event {
		ev := netEvent("NET.HTTP", at, attacker, server(n), map[string]any{"dport": int64(80), "app": "http", "method": "GET", "path": "/item.php?id=1%27%20or%20%271%27=%271", "status": int64(200)})
		return ev
	}
	// Domain 1, then domain 2: three requests each.
	for k := range 3 {
		publish(sqli(time.Duration(k)*20*time.Second, 1))
	}
	testutil.WaitFor(t, 30*time.Second, "dom1's web-attack", func() bool { return len(doms["dom1"].of("web-attack")) == 1 })
	for k := range 3 {
		publish(sqli(5*time.Minute+time.Duration(k)*20*time.Second, 2))
	}
	testutil.WaitFor(t, 30*time.Second, "the enterprise's spreading-web-attack", func() bool { return len(ent.of("spreading-web-attack")) == 1 })
	var rows []store.Response
	testutil.WaitFor(t, 30*time.Second, "the enterprise's decision to sensitise", func() bool {
		rows, _ = stores["ent"].Responses(context.Background(), store.ResponseFilter{Policy: "spreading-web-attack"})
		return len(rows) == 1 && rows[0].Status == store.StatusDone
	})
	if d := string(rows[0].Outcome); !strings.Contains(d, "monitor dom3: engine domain-correlation: enabled the 1 standby rule(s) of group web-attacks-spreading") || strings.Contains(d, "dom1") || strings.Contains(d, "dom2") {
		t.Errorf("decision detail %q", d)
	}
	// Domain 3: one request, reported at once.
	publish(sqli(10*time.Minute, 3))
	testutil.WaitFor(t, 30*time.Second, "dom3's first-attempt report", func() bool { return len(doms["dom3"].of("web-attack-first")) == 1 })
	if r := doms["dom3"].of("web-attack-first")[0]; r.Severity != event.SeverityRed || r.IP != server(3) {
		t.Errorf("dom3's report %+v", r)
	}

	// Round-robin probing: a finger request, a VRFY and a closed port to
	// each domain; a later record ends each domain's minute.
	const prober = "203.0.113.66"
	for n := 1; n <= 3; n++ {
		at := 20*time.Minute + time.Duration(n)*2*time.Minute
		publish(finger(at, prober, server(n)), vrfy(at+10*time.Second, prober, server(n)), closedPort(at+20*time.Second, prober, server(n), 23))
		publish(retriedNot(at+3*time.Minute, server(n)))
	}
	testutil.WaitFor(t, 30*time.Second, "the enterprise's round-robin-probing", func() bool { return len(ent.of("round-robin-probing")) == 1 })
	if r := ent.of("round-robin-probing")[0]; r.IP != prober || r.Attrs["count"] != int64(9) {
		t.Errorf("round-robin report %+v", r)
	}
	for name, d := range doms {
		if n := len(d.of("doorknob-rattling")) + len(d.of("finger-probes")) + len(d.of("smtp-recon")); n != 0 {
			t.Errorf("%s alarmed on its three probes", name)
		}
	}
}

func server(n int) string { return fmt.Sprintf("10.%d.0.80", n) }

// retriedNot is an ordinary answered connection: it moves a domain's
// time on.
func retriedNot(at time.Duration, dst string) event.Event {
	return netEvent("NET.CONN", at, "198.51.100.8", dst, map[string]any{"dport": int64(443), "outcome": "established", "tries": int64(1)})
}
