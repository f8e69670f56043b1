package signature

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

const standbyRules = `
rules:
  - id: any-outbound-ssh
    group: exfiltration
    enabled: false
    severity: red
    match: {type: NET.CONN, where: {dport: 22}}
    suppress: 0s
    report: "outbound ssh from {src}"
  - id: many-connections
    group: exfiltration
    enabled: false
    match: {type: NET.CONN}
    threshold: {group_by: [src], count: 3, window: 1m}
    suppress: 0s
  - id: telnet
    group: legacy
    match: {type: NET.CONN, where: {dport: 23}}
    suppress: 0s
  - id: ftp-off
    enabled: false
    match: {type: NET.CONN, where: {dport: 21}}
`

// standbyEngine builds a signature engine from rules through its factory,
// as a monitor does.
func standbyEngine(t *testing.T, rules string) engine.Engine {
	t.Helper()
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/rules.yaml", []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte("monitor: {name: m}\nengines:\n  - {kind: signature, name: sig, rules: [rules.yaml], reload: 0s}\n"), dir+"/m.yml", config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	e, err := reg.Build(context.Background(), cfg.Engines[0], engine.Deps{Monitor: "m", Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestStandbyGroupFiresOnlyWhileSensitised: rules written `enabled: false`
// with a group are silent until a control request turns the group on;
// then they fire; at the request's expiry (the monitor's tick at or past
// it) they are silent again and have forgotten their counts.
func TestStandbyGroupFiresOnlyWhileSensitised(t *testing.T) {
	e := standbyEngine(t, standbyRules)
	s := e.(engine.Sensitiser)
	ctx := context.Background()
	n := 0
	send := func(at time.Time, dport int) []event.Report {
		n++
		var got []event.Report
		ev := &event.Event{ID: fmt.Sprint("e", n), Time: at, Type: "NET.CONN", IP: "10.0.0.5", Attrs: map[string]any{"src": "10.0.0.5", "dst": "203.0.113.9", "dport": int64(dport)}}
		if err := e.Handle(ctx, ev, func(r event.Report) { got = append(got, r) }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	tick := func(at time.Time) {
		if err := e.Tick(ctx, at, func(event.Report) {}); err != nil {
			t.Fatal(err)
		}
	}
	models := func(rs []event.Report) string {
		var m []string
		for _, r := range rs {
			m = append(m, r.Model)
		}
		return strings.Join(m, ",")
	}

	tick(t0)
	if got := send(t0.Add(time.Second), 22); len(got) != 0 {
		t.Fatalf("a standby rule fired before its group was on: %s", models(got))
	}
	if got := send(t0.Add(2*time.Second), 23); models(got) != "telnet" {
		t.Fatalf("an enabled rule with a group: %q, want telnet", models(got))
	}

	until := t0.Add(10 * time.Minute)
	detail, err := s.Sensitise(engine.Change{ID: "req-1", By: "domain", Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "exfiltration"}, Until: until}, t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "2 standby rule(s) of group exfiltration (any-outbound-ssh, many-connections)") {
		t.Errorf("detail %q", detail)
	}
	if got := send(t0.Add(4*time.Second), 22); models(got) != "any-outbound-ssh" {
		t.Fatalf("sensitised: %q, want any-outbound-ssh", models(got))
	}
	send(t0.Add(5*time.Second), 80)
	if got := send(t0.Add(6*time.Second), 80); models(got) != "many-connections" {
		t.Fatalf("the threshold rule of the group after 3 connections: %q", models(got))
	}
	send(t0.Add(7*time.Second), 80) // one counted toward the next three

	tick(until.Add(-time.Second))
	if got := send(until.Add(-time.Second), 22); models(got) != "any-outbound-ssh" {
		t.Fatalf("a second before expiry: %q", models(got))
	}
	tick(until)
	if got := send(until.Add(time.Second), 22); len(got) != 0 {
		t.Fatalf("after expiry the group still fires: %s", models(got))
	}
	if _, ok := s.Desensitise("req-1", until); ok {
		t.Error("an expired request could still be reverted")
	}

	// On again: the threshold counts from zero (what was counted before
	// the expiry was dropped).
	if _, err := s.Sensitise(engine.Change{ID: "req-2", Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "exfiltration"}, Until: until.Add(time.Hour)}, until.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	send(until.Add(3*time.Second), 80)
	if got := send(until.Add(4*time.Second), 80); len(got) != 0 {
		t.Errorf("the threshold kept its count across standby: %s", models(got))
	}
	// Reverted early: silent at once.
	if d, ok := s.Desensitise("req-2", until.Add(5*time.Second)); !ok || !strings.Contains(d, "back in standby") {
		t.Errorf("revert: %q, %v", d, ok)
	}
	if got := send(until.Add(6*time.Second), 22); len(got) != 0 {
		t.Errorf("after a revert the group still fires: %s", models(got))
	}
}

// TestOverlappingRequestsKeepTheGroupOn: two requests for one group; the
// group stays on until the last ends.
func TestOverlappingRequestsKeepTheGroupOn(t *testing.T) {
	e := standbyEngine(t, standbyRules)
	s := e.(engine.Sensitiser)
	on := func(id string, until time.Time) {
		if _, err := s.Sensitise(engine.Change{ID: id, Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "exfiltration"}, Until: until}, t0); err != nil {
			t.Fatal(err)
		}
	}
	on("a", t0.Add(time.Minute))
	on("b", t0.Add(time.Hour))
	fires := func(at time.Time) bool {
		var got int
		_ = e.Tick(context.Background(), at, func(event.Report) {})
		ev := &event.Event{ID: at.String(), Time: at, Type: "NET.CONN", IP: "10.0.0.5", Attrs: map[string]any{"src": "10.0.0.5", "dport": int64(22)}}
		_ = e.Handle(context.Background(), ev, func(event.Report) { got++ })
		return got > 0
	}
	if !fires(t0.Add(2 * time.Minute)) {
		t.Error("the group went off when the first of two requests expired")
	}
	if d, ok := s.Desensitise("b", t0.Add(3*time.Minute)); !ok || !strings.Contains(d, "back in standby") {
		t.Errorf("revert of the last request: %q", d)
	}
	if fires(t0.Add(4 * time.Minute)) {
		t.Error("the group stayed on with no request in force")
	}
}

func TestEnableGroupRefusesWhatItCannotDo(t *testing.T) {
	e := standbyEngine(t, standbyRules)
	s := e.(engine.Sensitiser)
	for name, c := range map[string]struct {
		ch   engine.Change
		want string
	}{
		"unknown group":   {engine.Change{ID: "x", Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "nope"}, Until: t0.Add(time.Hour)}, `no rule group "nope" with standby rules (groups: exfiltration)`},
		"no standby rule": {engine.Change{ID: "x", Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "legacy"}, Until: t0.Add(time.Hour)}, `no rule group "legacy"`},
		"past":            {engine.Change{ID: "x", Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "exfiltration"}, Until: t0}, "not after now"},
		"other action":    {engine.Change{ID: "x", Action: controlmsg.ActionLowerThreshold, Params: map[string]string{"subject": "s", "factor": "0.5"}, Until: t0.Add(time.Hour)}, `takes "enable-group", not "lower-threshold"`},
	} {
		if _, err := s.Sensitise(c.ch, t0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

// TestStandbyNeedsAGroupAndYieldsToTheEngineSettings: a rule off without a
// group is off for good; the engine's disable list and overrides win over
// standby.
func TestStandbyNeedsAGroupAndYieldsToTheEngineSettings(t *testing.T) {
	on := true
	rs, err := Parse("r.yaml", []byte(standbyRules), Options{Disable: []string{"many-connections"}, Overrides: map[string]Override{"any-outbound-ssh": {Enabled: &on}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range rs.Rules {
		got[r.ID] = r.Standby
	}
	if s, ok := got["any-outbound-ssh"]; !ok || s {
		t.Errorf("an override enabling a standby rule: present %v, standby %v", ok, s)
	}
	if _, ok := got["many-connections"]; ok {
		t.Error("a disabled standby rule was compiled in")
	}
	if _, ok := got["ftp-off"]; ok {
		t.Error("a rule off without a group was compiled in")
	}
	if _, err := Parse("r.yaml", []byte("rules:\n  - {id: a, group: \"bad group\", match: {type: X}}\n"), Options{}); err == nil || !strings.Contains(err.Error(), `group "bad group"`) {
		t.Errorf("a bad group name: %v", err)
	}
}

// TestStandbyExampleDocumented: the example of docs/RULES.md "Standby
// groups" compiles into one standby rule of its group.
func TestStandbyExampleDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Standby groups")
	if !ok {
		t.Fatal("docs/RULES.md has no section \"Standby groups\"")
	}
	_, rest, _ := strings.Cut(section, "```yaml\n")
	example, _, _ := strings.Cut(rest, "```")
	rs, err := Parse("RULES.md", []byte(example), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || !rs.Rules[0].Standby || rs.Rules[0].Group != "exfiltration" {
		t.Errorf("the example compiles to %+v", rs.Rules)
	}
}
