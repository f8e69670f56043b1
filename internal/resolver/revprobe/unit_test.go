package revprobe

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// TestScannerIsProbedBackThroughTheDecisionUnit: a policy in enforce mode
// probes back the verified source of a gateway's scan report (a real
// listener on 127.0.0.2); the probe's result is the decision's outcome
// and its response event's detail. A report whose source is not verified
// is refused by the decision unit's spoof rule, and a source outside the
// allow ranges by the method: neither is contacted.
func TestScannerIsProbedBackThroughTheDecisionUnit(t *testing.T) {
	ssh := listen(t, "127.0.0.2", "SSH-2.0-Scanner\r\n")
	elsewhere := listen(t, "127.0.0.3", "")
	reg := registry(t)
	doc := "monitor: {name: gw}\nresponses:\n  - {kind: reverse-probe, name: probe-back, allow: [127.0.0.2/32], ports: " + ports(ssh.port, elsewhere.port) +
		", banner_bytes: 32, banner_wait: 300ms}\n" +
		"resolver:\n  mode: enforce\n  policies:\n    - name: probe-scanners\n      where: {engine: gateway-signatures, tags: attack.discovery}\n      subject: addr:src\n      methods: [probe-back]\n"
	ro, err := config.Load([]byte(doc), filepath.Join(t.TempDir(), "gw.yaml"), config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "vigil.db"), Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	methods, err := resolver.BuildMethods(t.Context(), reg, ro.Responses, action.Deps{Monitor: "gw", Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []event.Event
	unit, err := resolver.NewUnit(resolver.UnitOptions{Monitor: "gw", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk,
		IDs: event.NewSeededIDs(3), Logger: testutil.Quiet(), Emit: func(e event.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unit.Close() })
	scan := func(id, src string, verified bool) event.Report {
		return event.Report{ID: id, Time: clk.Now(), Monitor: "gw", Engine: "gateway-signatures", Model: "port-scan", Host: "gw-1",
			Severity: event.SeverityYellow, Score: 0.7, State: "alert", Explanation: src + " scanned 40 ports",
			Attrs: map[string]any{"src": src, "dst": "10.0.0.3", "tags": []string{"attack.discovery"}, resolver.AttrSrcVerified: verified}}
	}

	ds := unit.Decide(t.Context(), scan("rep-1", "127.0.0.2", true))
	want := "probed 127.0.0.2: " + strconv.Itoa(ssh.port) + `/tcp open "SSH-2.0-Scanner\r\n", ` + strconv.Itoa(elsewhere.port) + "/tcp closed"
	if len(ds) != 1 || ds[0].Status != store.StatusDone || !strings.HasPrefix(ds[0].Reason, want) {
		t.Fatalf("decision %+v, want done with %q", ds, want)
	}
	unit.Flush(t.Context())
	row, err := st.GetResponse(t.Context(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var out action.Outcome
	if err := json.Unmarshal(row.Outcome, &out); err != nil || out.Detail != want {
		t.Errorf("stored outcome %s (%v), want the detail %q", row.Outcome, err, want)
	}
	mu.Lock()
	if len(events) != 1 || events[0].Type != event.TypeResponseAction || events[0].Attrs["detail"] != want {
		t.Errorf("events %+v, want one response event carrying the probe's result", events)
	}
	mu.Unlock()

	clk.Advance(time.Minute)
	if ds := unit.Decide(t.Context(), scan("rep-2", "127.0.0.2", false)); len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, "could not have been forged") {
		t.Errorf("an unverified source: %+v, want refused by the spoof rule", ds)
	}
	if ds := unit.Decide(t.Context(), scan("rep-3", "127.0.0.3", true)); len(ds) != 1 || ds[0].Status != store.StatusRefused || !strings.Contains(ds[0].Reason, "outside the ranges that may be probed") {
		t.Errorf("a source outside the allow ranges: %+v, want refused by the method", ds)
	}
	testutil.WaitFor(t, 5*time.Second, "the one probe's connection accepted", func() bool { return ssh.accepted.Load() == 1 })
	if n := ssh.accepted.Load() + elsewhere.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want only the first decision's", n)
	}
}
