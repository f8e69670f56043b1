package probe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestRedHostIsProbedThroughTheDecisionUnit: a policy in enforce mode
// probes a real web server whenever a host turns red; while it serves
// its page the decision is done and the response event carries the pass;
// once the page is defaced the decision is recorded as failed with the
// difference as its reason.
func TestRedHostIsProbedThroughTheDecisionUnit(t *testing.T) {
	var defaced atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if defaced.Load() {
			_, _ = w.Write([]byte("owned"))
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	reg := registry(t)
	doc := "monitor: {name: svc-web}\nresponses:\n  - {kind: http-probe, name: web-served, url: \"" + srv.URL + "/\", body_sha256: " + sum256(page) + "}\n" +
		"resolver:\n  mode: enforce\n  policies:\n    - name: probe-red-hosts\n      where: {engine: track, severity: red}\n      subject: host\n      methods: [web-served]\n"
	ro, err := config.Load([]byte(doc), filepath.Join(t.TempDir(), "svc.yaml"), config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "vigil.db"), Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	methods, err := resolver.BuildMethods(t.Context(), reg, ro.Responses, action.Deps{Monitor: "svc-web", Clock: clk, Logger: testutil.Quiet(), Resolve: ro.Resolve})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resolver.CloseMethods(methods) })
	var mu sync.Mutex
	var events []event.Event
	unit, err := resolver.NewUnit(resolver.UnitOptions{Monitor: "svc-web", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk,
		IDs: event.NewSeededIDs(5), Logger: testutil.Quiet(), Emit: func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unit.Close() })
	red := func(id string) event.Report {
		return event.Report{ID: id, Time: clk.Now(), Monitor: "svc-web", Engine: "track", Model: "m3", Host: "web-3", IP: "10.0.0.3",
			Score: 0.97, Severity: event.SeverityRed, State: "Compromised", Explanation: "web-3 is Compromised"}
	}

	ds := unit.Decide(t.Context(), red("rep-1"))
	if len(ds) != 1 || ds[0].Status != store.StatusDone || !strings.HasPrefix(ds[0].Reason, "pass: GET "+srv.URL+"/") {
		t.Fatalf("first decision %+v, want done with a pass", ds)
	}
	mu.Lock()
	if len(events) != 1 || events[0].Type != event.TypeResponseAction || !strings.HasPrefix(events[0].Attrs["detail"].(string), "pass: ") {
		t.Errorf("events %+v, want one response event carrying the pass", events)
	}
	mu.Unlock()

	defaced.Store(true)
	clk.Advance(time.Minute)
	ds = unit.Decide(t.Context(), red("rep-2"))
	if len(ds) != 1 || ds[0].Status != store.StatusFailed {
		t.Fatalf("second decision %+v, want failed", ds)
	}
	row, err := st.GetResponse(t.Context(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != store.StatusFailed || !strings.Contains(row.Reason, "body sha256 differs: want "+sum256(page)+", got "+sum256("owned")) {
		t.Errorf("recorded %s %q, want the body difference as the reason", row.Status, row.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[1].Attrs["status"] != store.StatusFailed || !strings.Contains(events[1].Attrs["detail"].(string), "body sha256 differs") {
		t.Errorf("events %+v, want the failed probe as a response event with the difference", events)
	}
}

// TestSuspiciousProcessIsProbedThroughTheDecisionUnit: a policy in
// enforce mode probes the executable of the process a red report names.
// While it runs its recorded image the decision is done with a pass; once
// its file is replaced on disk the decision fails with the difference;
// and a report naming the pid with another start time is refused.
func TestSuspiciousProcessIsProbedThroughTheDecisionUnit(t *testing.T) {
	exe, sum := sleepCopy(t)
	c := testutil.StartChild(t, exe, "300")
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skipf("no hostname: %v", err)
	}
	reg := registry(t)
	doc := "monitor: {name: svc-web}\nresponses:\n  - {kind: exe-probe, name: exe-intact, baseline: {\"" + exe + "\": " + sum + "}}\n" +
		"resolver:\n  mode: enforce\n  policies:\n    - name: probe-red-processes\n      where: {engine: host, severity: red}\n      subject: process\n      methods: [exe-intact]\n"
	ro, err := config.Load([]byte(doc), filepath.Join(t.TempDir(), "svc.yaml"), config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "vigil.db"), Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	methods, err := resolver.BuildMethods(t.Context(), reg, ro.Responses, action.Deps{Monitor: "svc-web", Clock: clk, Logger: testutil.Quiet(), Resolve: ro.Resolve})
	if err != nil {
		t.Fatal(err)
	}
	unit, err := resolver.NewUnit(resolver.UnitOptions{Monitor: "svc-web", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk,
		IDs: event.NewSeededIDs(6), Logger: testutil.Quiet(), Emit: func(event.Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unit.Close() })
	red := func(id string, start uint64) event.Report {
		return event.Report{ID: id, Time: clk.Now(), Monitor: "svc-web", Engine: "host", Model: "m1", Host: host,
			Score: 0.97, Severity: event.SeverityRed, State: "Compromised", Explanation: "odd process",
			Attrs: map[string]any{"pid": int64(c.PID), resolver.AttrProcessStart: int64(start), "exe": c.Exe}}
	}

	ds := unit.Decide(t.Context(), red("rep-1", c.Start))
	if len(ds) != 1 || ds[0].Status != store.StatusDone || !strings.HasPrefix(ds[0].Reason, "pass: "+strconv.Quote(exe)) {
		t.Fatalf("first decision %+v, want done with a pass", ds)
	}

	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	ds = unit.Decide(t.Context(), red("rep-2", c.Start))
	if len(ds) != 1 || ds[0].Status != store.StatusFailed {
		t.Fatalf("second decision %+v, want failed", ds)
	}
	row, err := st.GetResponse(t.Context(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("pid %d (start %d) %q: executable differs", c.PID, c.Start, exe); !strings.Contains(row.Reason, want) {
		t.Errorf("recorded %q, want %q", row.Reason, want)
	}

	clk.Advance(time.Minute)
	ds = unit.Decide(t.Context(), red("rep-3", c.Start+1))
	if len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, "a reused pid is never probed") {
		t.Fatalf("third decision %+v, want refused", ds)
	}
}
