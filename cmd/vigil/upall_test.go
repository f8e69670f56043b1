package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// getJSON decodes url's answer into v; false when it did not answer 200.
func getJSON(t *testing.T, url string, v any) bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return true
}

// TestUpShowsEveryEngine runs `vigil up` as a newcomer does (the built-in
// resource object, the local agent at its default interval) and checks
// that within 60 s of the start the track engine follows this machine
// (/api/tracks lists its M3 track), the profiler has learnt it per host and
// per process name (/api/profiles), and the hosts overview has its row.
func TestUpShowsEveryEngine(t *testing.T) {
	hostID, err := os.Hostname()
	if err != nil || hostID == "" {
		t.Skipf("no host name: %v", err)
	}
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	started := time.Now()
	up := start(t, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", t.TempDir())
	waitHTTP(t, base+"/healthz", 10*time.Second)
	// This machine does something: a process starts (and lives past the
	// agent's interval, so that it is seen).
	sleeper := exec.Command("sleep", "90")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()

	type track struct {
		Engine, Model, Host, IP, State, Severity string
		Attrs                                    map[string]any
	}
	type subject struct {
		Engine, Class, Subject string
		Events                 int64
	}
	deadline := started.Add(60 * time.Second)
	var ip string
	var tracks []track
	var subjects []subject
	var firstTrack, firstSubject, sleepSubject time.Duration
	for time.Now().Before(deadline) && (firstTrack == 0 || firstSubject == 0 || sleepSubject == 0) {
		if ip == "" {
			for _, ev := range getEvents(t, base+"/api/events?host="+url.QueryEscape(hostID)+"&limit=1") {
				if ev.Source == "agent" {
					if ip = ev.IP; ip == "" {
						t.Skip("this machine has no address, and M3 follows hosts by address")
					}
				}
			}
		}
		if ip != "" && firstTrack == 0 && getJSON(t, base+"/api/tracks?ip="+url.QueryEscape(ip)+"&model=m3", &tracks) && len(tracks) > 0 {
			firstTrack = time.Since(started)
		}
		if getJSON(t, base+"/api/profiles?subject="+url.QueryEscape(hostID)+"&limit=1000", &subjects) {
			for _, s := range subjects {
				if firstSubject == 0 && s.Class == "host" && s.Subject == hostID {
					firstSubject = time.Since(started)
				}
				if sleepSubject == 0 && s.Class == "process-spawns" && s.Subject == hostID+",sleep" {
					sleepSubject = time.Since(started)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if firstTrack == 0 {
		t.Errorf("no M3 track for this machine (%s, %s) on /api/tracks within 60 s", hostID, ip)
	} else if tr := tracks[0]; tr.Engine != "tracks" || tr.IP != ip || tr.State == "" || tr.Attrs["observations"] == nil {
		t.Errorf("this machine's track: %+v", tr)
	}
	if firstSubject == 0 || sleepSubject == 0 {
		t.Errorf("the profiler's subjects for %s within 60 s (host after %v, sleep's spawns after %v): %+v", hostID, firstSubject, sleepSubject, subjects)
	}
	t.Logf("after the start: first track %v, first profile subject %v, the new process profiled %v", firstTrack, firstSubject, sleepSubject)

	var hosts []struct {
		Host, IP, Severity, Reason string
		LastObservation            *time.Time `json:"last_observation"`
	}
	if !getJSON(t, base+"/api/hosts", &hosts) {
		t.Fatal("/api/hosts did not answer")
	}
	found := false
	for _, h := range hosts {
		if h.Host == hostID {
			found = true
			if h.IP != ip || h.Severity == "" || h.LastObservation == nil || !strings.Contains(h.Reason, hostID) && !strings.Contains(h.Reason, ip) {
				t.Errorf("this machine's row of the hosts overview: %+v", h)
			}
		}
	}
	if !found {
		t.Errorf("no row for %s in the hosts overview: %+v", hostID, hosts)
	}

	if _, err := up.Stop(t, 5*time.Second); err != nil {
		t.Errorf("vigil up exited with %v", err)
	}
}
