package resolver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/resolver/notify"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestRedTrackAlertsAndGreenResolves: a red track report makes an
// until_green policy raise an alert in a real Prometheus Alertmanager;
// the same track's green report resolves it there.
func TestRedTrackAlertsAndGreenResolves(t *testing.T) {
	base := testutil.StartAlertmanager(t)
	reg := action.NewRegistry()
	if err := notify.Register(reg); err != nil {
		t.Fatal(err)
	}
	doc := "monitor: {name: svc-web}\nresponses:\n  - {kind: alertmanager, name: page, url: \"" + base + "\"}\n" +
		"resolver:\n  mode: enforce\n  policies:\n    - name: page-red-hosts\n      where: {engine: track, severity: red}\n      subject: host\n      methods: [page]\n      until_green: true\n"
	ro, err := config.Load([]byte(doc), filepath.Join(t.TempDir(), "svc.yaml"), config.Registries{Responses: reg})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second) // Alertmanager keeps its own time
	clk := clock.NewManual(now)
	st, err := store.Open(t.Context(), store.Options{Path: filepath.Join(t.TempDir(), "vigil.db"), Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	methods, err := BuildMethods(t.Context(), reg, ro.Responses, action.Deps{Monitor: "svc-web", Clock: clk, Logger: quiet, Resolve: ro.Resolve})
	if err != nil {
		t.Fatal(err)
	}
	unit, err := NewUnit(UnitOptions{Monitor: "svc-web", Config: ro.Resolver, Methods: methods, Audit: st, Clock: clk, IDs: event.NewSeededIDs(11), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unit.Close() })

	track := func(sev event.Severity, state string) event.Report {
		return event.Report{ID: "rep-" + state, Time: clk.Now(), Monitor: "svc-web", Engine: "track", Model: "m3",
			Host: "web-3", IP: "10.0.0.3", Score: map[event.Severity]float64{event.SeverityRed: 0.97, event.SeverityGreen: 0.1}[sev],
			Severity: sev, State: state, Explanation: "web-3 is " + state}
	}
	ds := unit.Decide(t.Context(), track(event.SeverityRed, "Compromised"))
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v", ds)
	}
	testutil.WaitFor(t, 10*time.Second, "the alert active in Alertmanager", func() bool {
		return alertState(t, base, ds[0].ID) == "active"
	})
	clk.Set(time.Now().UTC())
	unit.Decide(t.Context(), track(event.SeverityGreen, "Nominal"))
	testutil.WaitFor(t, 10*time.Second, "the alert resolved", func() bool {
		return alertState(t, base, ds[0].ID) != "active"
	})
	row, err := st.GetResponse(t.Context(), ds[0].ID)
	if err != nil || row.Status != store.StatusUndone {
		t.Errorf("decision %+v %v: want undone", row, err)
	}
}

// alertState is the state Alertmanager lists for the alert of decision
// id ("" when it lists none).
func alertState(t *testing.T, base, id string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Labels["decision"] == id {
			return a.Status.State
		}
	}
	return ""
}

// TestUntilGreenAddressTrack: a track keyed by address (M3's: its reports
// name an ip and no host) ends the actions it triggered when it turns
// green, as a host's track does, also once its reports name the host; a
// green report about another address, or of another model, ends nothing.
func TestUntilGreenAddressTrack(t *testing.T) {
	r := newRig(t, `  mode: enforce
  policies:
    - name: red-server
      where: {engine: tracks, severity: red}
      subject: ip
      methods: [block]
      until_green: true
`)
	track := func(ip, host string, sev event.Severity) event.Report {
		n := repSeq.Add(1)
		return event.Report{ID: fmt.Sprintf("rep-%06d", n), Monitor: "gw", Engine: "tracks", Model: "m3", IP: ip, Host: host,
			Severity: sev, State: map[event.Severity]string{event.SeverityRed: "Compromised", event.SeverityGreen: "Nominal"}[sev],
			Score: map[event.Severity]float64{event.SeverityRed: 0.97}[sev], Explanation: ip + ": m3"}
	}
	red := track("203.0.113.30", "", event.SeverityRed)
	red.Attrs = map[string]any{"src": "203.0.113.30", AttrSrcVerified: true} // so that the test's blocker may act
	ds := r.decide(red)
	if len(ds) != 1 || ds[0].Status != store.StatusDone {
		t.Fatalf("decisions %+v", ds)
	}
	r.decide(track("203.0.113.31", "", event.SeverityGreen))
	other := track("203.0.113.30", "", event.SeverityGreen)
	other.Model = "m4"
	r.decide(other)
	if _, _, undone := r.calls.counts(); undone != 0 {
		t.Fatalf("undone by a green report of another track: %d", undone)
	}
	r.clk.Advance(time.Minute)
	// Once its observations named the host, the address's track names it
	// too (docs/MODELS.md): still the same track.
	green := track("203.0.113.30", "web-30", event.SeverityGreen)
	r.decide(green)
	if _, _, undone := r.calls.counts(); undone != 1 {
		t.Fatalf("undone %d, want the action of the address's track", undone)
	}
	row, err := r.st.GetResponse(t.Context(), ds[0].ID)
	if err != nil || row.Status != store.StatusUndone || !strings.Contains(row.Reason, "the track turned green (report "+green.ID+": tracks m3 on 203.0.113.30)") {
		t.Errorf("row %+v %v", row, err)
	}
}
