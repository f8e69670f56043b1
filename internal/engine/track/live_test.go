package track

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// signatureReport is a signature engine's report about a host, in the form
// an engine receives another's reports (reports_from).
func signatureReport(id, engineName, ip string, sev event.Severity, at time.Time) event.Event {
	r := event.Report{ID: id, Time: at, Monitor: "local", Engine: engineName, Model: "web-server-spawns-shell", Host: "web-3", IP: ip,
		Score: 1, Severity: sev, State: "Matched", Explanation: "httpd started sh"}
	return r.Event()
}

// TestLiveTracksOnOneMachine is M3 as the built-in resource object runs it
// on one machine (configs/default.yaml): the host's own observations give
// it a track at once, listed live though never reported (it is green in
// the initial state); the signature engine's report about the host makes
// it Questionable (yellow), and its own spawns then make it red; a report
// of another engine is not M3's business.
func TestLiveTracksOnOneMachine(t *testing.T) {
	e := New(mustLoad(t, "m3.yaml"), Options{})
	var reports []Report
	emit := func(r Report) { reports = append(reports, r) }
	at := t0
	obs := func(ip, typ string) {
		at = at.Add(4 * time.Second)
		ev := event.Event{ID: fmt.Sprintf("o%d", at.Unix()%100000), Time: at, Type: typ, Host: "web-3", IP: ip, Attrs: map[string]any{"name": "sleep"}}
		e.Handle(&ev, emit)
	}
	if got := e.Top(engine.TrackQuery{}); len(got) != 0 {
		t.Fatalf("tracks before any observation: %+v", got)
	}
	for _, typ := range []string{event.TypeProcSpawn, event.TypeProcTerm, event.TypeProcSpawn, event.TypeSysCPU, event.TypeProcMem} {
		obs("10.0.0.3", typ)
	}
	if len(reports) != 0 {
		t.Errorf("host activity alone was reported: %+v", reports)
	}
	top := e.Top(engine.TrackQuery{})
	if len(top) != 1 {
		t.Fatalf("live tracks %+v, want the host's", top)
	}
	tr := top[0]
	// PROC.TERM is no observation of M3's: four of the five.
	if tr.Key != "10.0.0.3" || tr.Model.ID != "m3" || tr.State != "Nominal" || tr.Severity != event.SeverityGreen || tr.Observations != 4 ||
		len(tr.Evidence) != 4 || !tr.LastModified.Equal(at) || !tr.Time.Equal(at) {
		t.Errorf("the host's live track: %+v", tr)
	}
	if ev := tr.Event(); ev.IP != "10.0.0.3" || ev.State != "Nominal" || ev.Attrs["observations"] != int64(4) {
		t.Errorf("as a report: %+v", ev)
	}

	// Another engine's report is not an alert.
	at = at.Add(time.Second)
	other := signatureReport("r0", "host-profiles", "10.0.0.3", event.SeverityRed, at)
	e.Handle(&other, emit)
	if got := e.Top(engine.TrackQuery{})[0]; got.State != "Nominal" || got.Observations != 4 {
		t.Errorf("a profiler's report moved the track: %+v", got)
	}
	// The signature engine's report about the host puts it under
	// suspicion; its own spawns then make it red.
	at = at.Add(time.Second)
	alert := signatureReport("r1", "signatures", "10.0.0.3", event.SeverityRed, at)
	e.Handle(&alert, emit)
	if got := e.Top(engine.TrackQuery{})[0]; got.State != "Questionable" || got.Severity != event.SeverityYellow {
		t.Errorf("after the signature report: %s %.3f %s", got.State, got.Score, got.Severity)
	}
	if len(reports) == 0 || reports[len(reports)-1].State != "Questionable" {
		t.Errorf("the change to Questionable was not reported: %+v", reports)
	}
	for range 4 {
		obs("10.0.0.3", event.TypeProcSpawn)
	}
	if got := e.Top(engine.TrackQuery{})[0]; got.Severity != event.SeverityRed || got.State != "Compromised" {
		t.Errorf("after spawns following the report: %s %.3f %s", got.State, got.Score, got.Severity)
	}

	// A second host; the most recently observed comes first, and the
	// query selects by key and model and bounds the list.
	obs("10.0.0.4", event.TypeProcSpawn)
	all := e.Top(engine.TrackQuery{})
	if len(all) != 2 || all[0].Key != "10.0.0.4" || all[1].Key != "10.0.0.3" {
		t.Errorf("order: %+v", all)
	}
	if got := e.Top(engine.TrackQuery{Key: "10.0.0.3"}); len(got) != 1 || got[0].Key != "10.0.0.3" {
		t.Errorf("by key: %+v", got)
	}
	if got := e.Top(engine.TrackQuery{Model: "m4"}); len(got) != 0 {
		t.Errorf("by a model not run: %+v", got)
	}
	if got := e.Top(engine.TrackQuery{Limit: 1}); len(got) != 1 || got[0].Key != "10.0.0.4" {
		t.Errorf("limited: %+v", got)
	}
	// The engine adapter answers the same, as reports.
	a := &adapter{e: e}
	if got := a.Tracks(engine.TrackQuery{Key: "10.0.0.3"}); len(got) != 1 || got[0].IP != "10.0.0.3" || got[0].Model != "m3" || got[0].State != "Compromised" || got[0].ID != "" {
		t.Errorf("adapter: %+v", got)
	}
}

// TestRecoveryAfterRestart follows m3r: a server made red by an alert and
// its own spawns is restarted by a response method (a RESPONSE.ACTION
// event naming a unit), turns Recovering and leaves red; when the spawns
// resume it is Compromised and red again; left quiet after another
// restart, its timeout returns it to Nominal.
func TestRecoveryAfterRestart(t *testing.T) {
	e := New(mustLoad(t, "m3r.yaml"), Options{})
	emit := func(Report) {}
	at := t0
	n := 0
	handle := func(ev event.Event) {
		n++
		at = at.Add(4 * time.Second)
		ev.ID, ev.Time, ev.Host, ev.IP = fmt.Sprintf("e%d", n), at, "web-3", "10.0.0.3"
		e.Handle(&ev, emit)
	}
	obs := func(typ string) { handle(event.Event{Type: typ, Attrs: map[string]any{"name": "sh"}}) }
	restart := func() {
		handle(event.Event{Type: event.TypeResponseAction, Source: "local", Attrs: map[string]any{
			"status": "done", "unit": "apache2", "policy": "restart-web", "method": "restart", "decision": "d1"}})
	}
	track := func() Report {
		t.Helper()
		got := e.Top(engine.TrackQuery{Key: "10.0.0.3"})
		if len(got) != 1 {
			t.Fatalf("tracks %+v", got)
		}
		return got[0]
	}
	alert := signatureReport("r1", "signatures", "10.0.0.3", event.SeverityRed, at)
	e.Handle(&alert, emit)
	for range 5 {
		obs(event.TypeProcSpawn)
	}
	if tr := track(); tr.State != "Compromised" || tr.Severity != event.SeverityRed {
		t.Fatalf("before the restart: %s %.3f %s", tr.State, tr.Score, tr.Severity)
	}
	restart()
	if tr := track(); tr.State != "Recovering" || tr.Severity == event.SeverityRed {
		t.Fatalf("after the restart: %s %.3f %s", tr.State, tr.Score, tr.Severity)
	}
	for range 3 {
		obs(event.TypeSysCPU)
	}
	if tr := track(); tr.State != "Recovering" || tr.Severity == event.SeverityRed {
		t.Errorf("quiet after the restart: %s %.3f %s", tr.State, tr.Score, tr.Severity)
	}
	for range 6 {
		obs(event.TypeProcSpawn)
	}
	if tr := track(); tr.State != "Compromised" || tr.Severity != event.SeverityRed {
		t.Errorf("the evidence resumed: %s %.3f %s", tr.State, tr.Score, tr.Severity)
	}
	restart()
	at = at.Add(11 * time.Minute)
	obs(event.TypeSysCPU)
	if tr := track(); tr.State != "Nominal" || tr.Severity != event.SeverityGreen {
		t.Errorf("after the recovery's timeout: %s %.3f %s", tr.State, tr.Score, tr.Severity)
	}
}
