package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// amAlert is an alert as GET /api/v2/alerts returns it.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts returns the alerts Alertmanager lists as active.
func amAlerts(t *testing.T, base string) []amAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %s", resp.Status)
	}
	var out []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// find returns the alert of decision id, if listed and not ended.
func find(alerts []amAlert, id string) *amAlert {
	for i := range alerts {
		if alerts[i].Labels["decision"] == id {
			return &alerts[i]
		}
	}
	return nil
}

func TestAlertmanagerRaisesAnAlertAndUndoResolvesIt(t *testing.T) {
	base := testutil.StartAlertmanager(t)
	// Alertmanager keeps its own time: the decision is made now.
	now := time.Now().UTC().Truncate(time.Second)
	deps := testDeps(t)
	clk := clock.NewManual(now)
	deps.Clock = clk
	m := build(t, KindAlertmanager, deps, func(s config.Settings) {
		a := s.(*AlertmanagerSettings)
		a.URL = base
		a.Labels = map[string]string{"team": "ops"}
		a.GeneratorURL = "https://vigil.example/responses/{id}"
		a.Backoff, a.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	})
	req := sampleRequest()
	req.Time = now
	ctx := context.Background()
	out, err := m.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var got *amAlert
	testutil.WaitFor(t, 10*time.Second, "the alert listed by Alertmanager", func() bool {
		got = find(amAlerts(t, base), req.ID)
		return got != nil
	})
	if got.Status.State != "active" {
		t.Errorf("state %q, want active", got.Status.State)
	}
	want := map[string]string{
		"alertname": "contain-web", "decision": req.ID, "host": "web-3", "ip": "10.0.0.3", "severity": "critical",
		"monitor": "svc-web", "engine": "track", "policy": "contain-web", "team": "ops",
	}
	for k, v := range want {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if got.Annotations["explanation"] != "apache2 spawned a shell" || got.Annotations["reason"] != req.Reason {
		t.Errorf("annotations %v", got.Annotations)
	}
	if !got.StartsAt.Equal(now) {
		t.Errorf("startsAt %v, want the decision's time %v", got.StartsAt, now)
	}
	if got.GeneratorURL != "https://vigil.example/responses/"+req.ID {
		t.Errorf("generatorURL %q", got.GeneratorURL)
	}
	if !out.Expires.Equal(now.Add(DefaultActiveFor)) || len(out.Undo) == 0 {
		t.Errorf("outcome %+v: want it to expire after active_for and carry an undo record", out)
	}

	// The track turns green: the decision unit undoes, possibly after a
	// restart, with only the stored request and outcome.
	clk.Set(time.Now().UTC())
	stored, _ := json.Marshal(out)
	var restored action.Outcome
	if err := json.Unmarshal(stored, &restored); err != nil {
		t.Fatal(err)
	}
	if err := m.(action.Undoer).Undo(ctx, req, restored); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the alert resolved", func() bool {
		a := find(amAlerts(t, base), req.ID)
		return a == nil || a.Status.State != "active"
	})
}

// amStub stands in for Alertmanager where a test checks only what is sent.
func amStub(t *testing.T) (*httptest.Server, *receiver) {
	rc := &receiver{}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v2/alerts", rc)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, rc
}

func TestAlertmanagerAlertEndsWithTheDecisionAndUndoSendsEndsAtNow(t *testing.T) {
	srv, rc := amStub(t)
	deps := testDeps(t)
	clk := deps.Clock.(*clock.Manual)
	m := build(t, KindAlertmanager, deps, func(s config.Settings) { s.(*AlertmanagerSettings).URL = srv.URL })
	req := sampleRequest()
	req.Policy = ""
	req.Expires = t0.Add(10 * time.Minute)
	plan := mustPlan(t, m, req)
	if !strings.Contains(plan, `alertname="M3"`) || !strings.Contains(plan, srv.URL+"/api/v2/alerts") || len(rc.posts()) != 0 {
		t.Errorf("plan %q (and %d posts)", plan, len(rc.posts()))
	}
	out, err := m.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var sent []Alert
	if err := json.Unmarshal(rc.posts()[0].body, &sent); err != nil || len(sent) != 1 {
		t.Fatalf("body %s: %v", rc.posts()[0].body, err)
	}
	if sent[0].Labels["alertname"] != "M3" || !sent[0].EndsAt.Equal(req.Expires) {
		t.Errorf("alert %+v: want alertname from the model and endsAt at the decision's expiry", sent[0])
	}
	clk.Advance(time.Minute)
	if err := m.(action.Undoer).Undo(context.Background(), req, out); err != nil {
		t.Fatal(err)
	}
	var resolved []Alert
	if err := json.Unmarshal(rc.posts()[1].body, &resolved); err != nil {
		t.Fatal(err)
	}
	if !resolved[0].EndsAt.Equal(t0.Add(time.Minute)) || labelString(resolved[0].Labels) != labelString(sent[0].Labels) {
		t.Errorf("undo sent %+v, want the same labels with endsAt now", resolved[0])
	}
	// Past its end the alert has resolved by itself: nothing to send.
	clk.Advance(time.Hour)
	if err := m.(action.Undoer).Undo(context.Background(), req, out); err != nil || len(rc.posts()) != 2 {
		t.Errorf("undo of an ended alert: %v, %d posts", err, len(rc.posts()))
	}
}
