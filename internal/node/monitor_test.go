package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/configs"
	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// runUntilStopped runs a monitor until it is up, lets during run, cancels
// it and checks that it stops within 5 s.
func runUntilStopped(t *testing.T, o MonitorOptions, during func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	o.Ready = func(string, string, string) { close(ready) }
	done := make(chan error, 1)
	go func() { done <- RunMonitor(ctx, o) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the monitor stopped before it was up: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the monitor was not up within 30 s")
	}
	during()
	cancel()
	stopped := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunMonitor: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the monitor did not stop within 5 s of its context's end")
	}
	t.Logf("stopped in %v", time.Since(stopped))
}

// TestRunMonitorLosesNothing publishes events to a monitor and stops it at
// once: what it accepted is in its store, the rest stays on the bus, and a
// second run stores that; every event is stored once.
func TestRunMonitorLosesNothing(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	pub := bustest.Connect(t, srv, "publisher")
	regs, engines := Registries()
	cfg, err := config.Load([]byte("monitor:\n  name: nodetest\n"), "nodetest.yaml", regs)
	if err != nil {
		t.Fatal(err)
	}
	o := MonitorOptions{Config: cfg, Engines: engines, DataDir: t.TempDir(), Bus: config.BusClient{URL: srv.ClientURL()}, Logger: testutil.Quiet()}
	const n = 5000
	ids := event.NewSeededIDs(7)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []event.Event
	for i := range n {
		evs = append(evs, event.Event{ID: ids.NewID(at), Time: at, Type: "PROC.CPU", Host: fmt.Sprintf("h%d", i%7), Source: "test"})
	}
	runUntilStopped(t, o, func() {
		if got, err := pub.PublishEvents(context.Background(), evs); err != nil || got != n {
			t.Fatalf("published %d of %d: %v", got, n, err)
		}
	})
	first := stored(t, o.DataDir)
	runUntilStopped(t, o, func() {
		testutil.WaitFor(t, 20*time.Second, "the second run to take the rest", func() bool { return storedWhileRunning(o.DataDir) >= n })
	})
	if all := stored(t, o.DataDir); all != n {
		t.Fatalf("%d events stored after two runs (%d after the first), want %d", all, first, n)
	}
	t.Logf("the first run stored %d of %d before it stopped", first, n)
}

func stored(t *testing.T, dir string) int64 {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Path: store.PathIn(dir), Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, _, err := st.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// storedWhileRunning counts a running monitor's store from a second
// connection (SQLite in WAL mode allows readers beside the writer).
func storedWhileRunning(dir string) int64 {
	st, err := store.Open(context.Background(), store.Options{Path: store.PathIn(dir), Logger: testutil.Quiet()})
	if err != nil {
		return 0
	}
	defer st.Close()
	evs, _, _ := st.Count(context.Background())
	return evs
}

// syncBuffer collects log lines written from any goroutine.
type syncBuffer = testutil.LockedBuffer

// TestDefaultPoliciesActOnNothing runs the monitor of `vigil up` with the
// built-in resource object and its policies: a web server spawning a
// shell turns the host red, the red-host policy decides, and the decision
// is logged and stored as planned (monitor mode): nothing is executed.
func TestDefaultPoliciesActOnNothing(t *testing.T) {
	srv := bustest.Start(t, bus.ServerOptions{})
	pub := bustest.Connect(t, srv, "publisher")
	regs, engines := Registries()
	cfg, err := config.Load(configs.Default(), "default.yaml", regs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Resolver.Mode != config.ModeMonitor || len(cfg.Resolver.Policies) == 0 {
		t.Fatalf("the built-in resolver: %+v", cfg.Resolver)
	}
	var logs syncBuffer
	o := MonitorOptions{Config: cfg, Engines: engines, DataDir: t.TempDir(), Bus: config.BusClient{URL: srv.ClientURL()},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	at := time.Now().UTC()
	spawn := event.Event{ID: event.NewSeededIDs(3).NewID(at), Time: at, Type: event.TypeProcSpawn, Host: "web-3", IP: "10.0.0.3", Source: "test",
		Attrs: map[string]any{"name": "sh", "parent_name": "apache2", "pid": int64(4242), "ppid": int64(4000)}}
	var rows []store.Response
	runUntilStopped(t, o, func() {
		if _, err := pub.PublishEvents(context.Background(), []event.Event{spawn}); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 20*time.Second, "a decision of the red-host policy", func() bool {
			st, err := store.Open(context.Background(), store.Options{Path: store.PathIn(o.DataDir), Logger: testutil.Quiet()})
			if err != nil {
				return false
			}
			defer st.Close()
			rows, _ = st.Responses(context.Background(), store.ResponseFilter{Policy: "red-host"})
			return len(rows) > 0
		})
	})
	for _, r := range rows {
		if r.Status != store.StatusPlanned || r.Mode != config.ModeMonitor || r.Key != "log|host=web-3" || !strings.Contains(r.Reason, "monitor mode: would log") {
			t.Errorf("decision %+v", r)
		}
	}
	if l := logs.String(); !strings.Contains(l, "msg=decision") || !strings.Contains(l, "status=planned") || strings.Contains(l, "msg=response ") {
		t.Errorf("the log does not show the planned decision, or shows an executed one:\n%s", l)
	}
}
