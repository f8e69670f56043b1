package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestAlertmanagerFollowsTrack runs a real Prometheus Alertmanager and
// `vigil up` with a track engine over a model of the test's own
// (testdata/red-for-seconds.yaml: a NIDS alert about a server makes its
// track red, five seconds without one make it green again) and an
// enforcing `until_green` policy that pages through the `alertmanager`
// method:
//
//   - a NIDS alert about 198.51.100.23, posted to /api/events, turns the
//     server's track red; the decision is `done` and Alertmanager lists an
//     active alert with the labels of docs/RESPONSES.md (the policy as
//     alertname, the decision, severity critical, the monitor, the
//     engine, the address, the policy, the method's own label);
//   - when the track's timeout passes it turns green by itself, and the
//     decision unit resolves the alert: Alertmanager no longer lists it as
//     active, and the decision is `undone` because the track turned green,
//     not before the timeout.
func TestAlertmanagerFollowsTrack(t *testing.T) {
	am := testutil.StartAlertmanager(t) // skips, with the reason, without a binary
	dir := t.TempDir()
	model, err := filepath.Abs(filepath.Join("testdata", "red-for-seconds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const server, timeout = "198.51.100.23", 5 * time.Second
	cfg := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `monitor: {name: local, layer: service}
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
    delivery: durable
engines:
  - kind: track
    name: tracks
    models: [%q]
responses:
  - kind: alertmanager
    name: page
    url: %q
    labels: {team: web}
resolver:
  mode: enforce
  policies:
    - name: page-red-servers
      where: {engine: tracks, severity: red}
      subject: ip
      methods: [page]
      until_green: true
`, model, am), 0o644); err != nil {
		t.Fatal(err)
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	start(t, "up", "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort),
		"--data", filepath.Join(dir, "data"), "--agent-interval", "1s", "--agent-host-id", "this-machine")
	waitHTTP(t, base+"/healthz", 20*time.Second)

	// A Suricata alert about the server, as `vigil ingest suricata`
	// makes it.
	line, err := json.Marshal(map[string]any{"type": "NIDS.ALERT", "host": "sensor-1", "ip": server, "source": "suricata",
		"attrs": map[string]any{"src": "203.0.113.5", "dst": server, "sport": 40000, "dport": 80, "proto": "tcp",
			"sid": 2024217, "msg": "ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT", "priority": 1}})
	if err != nil {
		t.Fatal(err)
	}
	posted := time.Now()
	resp, err := http.Post(base+"/api/events", "application/x-ndjson", bytes.NewReader(append(line, '\n')))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/events: %s %s", resp.Status, body)
	}

	// Red: the decision is done and the alert active in Alertmanager.
	var red decision
	testutil.WaitFor(t, 15*time.Second, "the red track's decision done", func() bool {
		for _, d := range decisions(t, base, "done,undone") {
			if d.Policy == "page-red-servers" {
				red = d
				return true
			}
		}
		return false
	})
	var alert amAlert
	testutil.WaitFor(t, 10*time.Second, "the alert active in Alertmanager", func() bool {
		a, ok := findAlert(t, am, red.ID)
		alert = a
		return ok && a.Status.State == "active"
	})
	activeAfter := time.Since(posted)
	want := map[string]string{"alertname": "page-red-servers", "decision": red.ID, "severity": "critical", "monitor": "local",
		"engine": "tracks", "ip": server, "policy": "page-red-servers", "team": "web"}
	if !maps.Equal(alert.Labels, want) {
		t.Errorf("alert labels %v, want %v", alert.Labels, want)
	}
	if !strings.Contains(alert.Annotations["explanation"], server+": red-for-seconds Compromised") {
		t.Errorf("alert annotations %v", alert.Annotations)
	}
	if !alert.EndsAt.After(time.Now().Add(time.Hour)) {
		t.Errorf("an active alert ends at %v: it should last until its track turns green (active_for 24h)", alert.EndsAt)
	}

	// Green: the timeout passes, the alert is resolved.
	testutil.WaitFor(t, 20*time.Second, "the alert resolved in Alertmanager", func() bool {
		a, ok := findAlert(t, am, red.ID)
		return !ok || a.Status.State != "active" || !a.EndsAt.After(time.Now())
	})
	resolvedAfter := time.Since(posted)
	var undone decision
	testutil.WaitFor(t, 5*time.Second, "the decision undone", func() bool {
		for _, d := range decisions(t, base, "undone") {
			if d.ID == red.ID {
				undone = d
				return true
			}
		}
		return false
	})
	if !strings.Contains(undone.Reason, "the track turned green") || !strings.Contains(undone.Reason, "tracks red-for-seconds on "+server) {
		t.Errorf("undone decision's reason: %q", undone.Reason)
	}
	if resolvedAfter < timeout {
		t.Errorf("the alert was resolved %v after the NIDS alert, before the track's %v timeout", resolvedAfter, timeout)
	}
	t.Logf("alert active %v after the NIDS alert, resolved %v after it", activeAfter.Round(time.Millisecond), resolvedAfter.Round(time.Millisecond))
}

// amAlert is what the test reads of an alert in Alertmanager's API v2.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// findAlert looks for decision id's alert among those Alertmanager lists
// (GET /api/v2/alerts, active, silenced, inhibited and unprocessed ones).
func findAlert(t *testing.T, base, id string) (amAlert, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	for _, a := range alerts {
		if a.Labels["decision"] == id {
			return a, true
		}
	}
	return amAlert{}, false
}
