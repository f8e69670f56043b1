package configs_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// hostEvent is an agent's observation of host at t0+at.
func hostEvent(seq int, at time.Duration, host, typ string) event.Event {
	return event.Event{ID: fmt.Sprintf("h-%07d", seq), Time: t0.Add(at), Type: typ, Host: host, Source: "agent",
		Attrs: map[string]any{"name": "apache2"}}
}

// serverDay drives the shipped domain monitor with an hour of its
// servers' observations (a few a second each, as agents with --events
// send them): four web servers and three mail servers, each class with
// its own mix. From half an hour on, change(host) may give a host
// another mix.
func serverDay(d *running, change func(host string) []string) {
	rng := rand.New(rand.NewPCG(7, 19))
	web := []string{"PROC.ACCEPT", "PROC.ACCEPT", "PROC.ACCEPT", "FILE.OPEN", "FILE.OPEN", "PROC.CPU"}
	mail := []string{"PROC.ACCEPT", "PROC.EXEC", "PROC.EXIT", "FILE.OPEN", "FILE.MODIFY", "FILE.MODIFY"}
	hosts := map[string][]string{"d1-web": web, "d1-web2": web, "www3": web, "web-4": web, "d1-mail": mail, "mx2": mail, "mail-3": mail}
	order := []string{"d1-web", "d1-web2", "www3", "web-4", "d1-mail", "mx2", "mail-3"}
	seq := 0
	for s := 0; s < 3600; s += 2 {
		at := time.Duration(s) * time.Second
		for _, h := range order {
			types := hosts[h]
			if s >= 1800 && change != nil {
				if c := change(h); c != nil {
					types = c
				}
			}
			seq++
			d.handle(hostEvent(seq, at, h, types[rng.IntN(len(types))]))
		}
	}
	d.tick(t0.Add(time.Hour + time.Minute))
}

// TestServerPeers runs the shipped domain monitor's population engine
// (server-peers) over its servers' agents' observations: a web server
// that starts running shells and connecting out is reported, red or
// yellow, of class web, naming what it does more than its peers; the
// same change on every web server at once, and an hour of servers that
// behave alike, are reported by no engine.
func TestServerPeers(t *testing.T) {
	shells := []string{"PROC.ACCEPT", "PROC.ACCEPT", "FILE.OPEN", "PROC.SPAWN", "PROC.EXEC", "PROC.CONNECT"}

	d := start(t, "domain.yaml", "dom1")
	serverDay(d, func(h string) []string {
		if h == "web-4" {
			return shells
		}
		return nil
	})
	reps := d.of("population/web")
	if len(reps) != 1 {
		t.Fatalf("population/web reports %d, want one about web-4: %q", len(reps), d.alarms())
	}
	r := reps[0]
	if r.Host != "web-4" || r.Engine != "server-peers" || r.Severity < event.SeverityYellow || r.Attrs["class"] != "web" {
		t.Errorf("report %+v", r)
	}
	t.Logf("%s at +%v: %s", r.Severity, r.Time.Sub(t0), r.Explanation)
	if r.Time.Before(t0.Add(30 * time.Minute)) {
		t.Errorf("reported at %v, before web-4 changed", r.Time)
	}
	for _, want := range []string{"PROC.EXEC", "PROC.CONNECT"} {
		if !strings.Contains(r.Explanation, want) {
			t.Errorf("explanation %q does not name %s", r.Explanation, want)
		}
	}
	if a := d.alarms(); len(a) != 1 {
		t.Errorf("alarms %q, want web-4's alone", a)
	}

	for _, c := range []struct {
		name   string
		change func(string) []string
	}{
		{"alike", nil},
		{"every web server changes together", func(h string) []string {
			if strings.Contains(h, "web") || strings.HasPrefix(h, "www") {
				return shells
			}
			return nil
		}},
	} {
		d := start(t, "domain.yaml", "dom1")
		serverDay(d, c.change)
		if a := d.alarms(); len(a) != 0 || len(d.of("population/web"))+len(d.of("population/mail")) != 0 {
			t.Errorf("%s: reports %q", c.name, a)
		}
	}
}
