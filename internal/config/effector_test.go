package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEffectorIsOffByDefaultAndProtectsTheHost(t *testing.T) {
	ro, err := Load([]byte("monitor: {name: m}\n"), "m.yml", Registries{})
	if err != nil {
		t.Fatal(err)
	}
	e := ro.Agent.Effector
	if e.Enabled || e.Units {
		t.Errorf("effector on by default: %+v", e)
	}
	for _, want := range []string{"sshd", "systemd", "vigil"} {
		if !strings.Contains(" "+strings.Join(e.ProtectedNames, " ")+" ", " "+want+" ") {
			t.Errorf("default protected names %q lack %q", e.ProtectedNames, want)
		}
	}
	if e.Budgets["signal"].Count != 10 || e.Budgets["restart"].Per != 10*time.Minute {
		t.Errorf("default budgets %+v", e.Budgets)
	}
}

func TestEffectorSectionIsRead(t *testing.T) {
	ro, err := Load([]byte(`monitor: {name: m}
agent:
  effector:
    enabled: true
    protected_names: [postgres]
    restart:
      apache2: {argv: [/usr/sbin/apachectl, graceful], timeout: 30s}
    budgets:
      signal: {count: 2, per: 1m}
`), "m.yml", Registries{})
	if err != nil {
		t.Fatal(err)
	}
	e := ro.Agent.Effector
	if !e.Enabled || len(e.ProtectedNames) != 1 || e.Restart["apache2"].Timeout != 30*time.Second || e.Budgets["signal"].Count != 2 {
		t.Errorf("effector %+v", e)
	}
	if e.OutputBytes != DefaultEffectorOutputBytes || e.Remember != DefaultEffectorRemember {
		t.Errorf("defaults lost: %+v", e)
	}
}

func TestEffectorMistakesAreNamedWithTheirLines(t *testing.T) {
	_, err := Load([]byte(`monitor: {name: m}
agent:
  effector:
    enabled: true
    protected_exes: [sshd]
    restart:
      web: {argv: [apachectl, restart], timeout: 1h}
      db: {timeout: 5s}
    budgets:
      reboot: {count: 1, per: 1m}
      signal: {count: 0, per: 1ms}
    remember: 1s
`), "m.yml", Registries{})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	got := map[string]int{}
	for _, p := range ce.Problems {
		got[p.Path] = p.Line
	}
	for path, line := range map[string]int{
		"agent.effector.protected_exes[0]":    5,
		"agent.effector.restart.web.argv[0]":  7,
		"agent.effector.restart.web.timeout":  7,
		"agent.effector.restart.db.argv":      8,
		"agent.effector.budgets.reboot":       10,
		"agent.effector.budgets.signal.count": 11,
		"agent.effector.budgets.signal.per":   11,
		"agent.effector.remember":             12,
	} {
		if l, ok := got[path]; !ok {
			t.Errorf("no problem at %s; problems: %v", path, ce.Problems)
		} else if l != line {
			t.Errorf("%s: line %d, want %d", path, l, line)
		}
	}
}

// TestEffectorDocExample loads the agent.effector example of
// docs/RESPONSES.md, so the section a reader copies stays valid.
func TestEffectorDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1) {
		if !strings.Contains(string(b[1]), "  effector:") {
			continue
		}
		ro, err := Load(append([]byte("monitor: {name: m}\n"), b[1]...), "RESPONSES.md", Registries{})
		if err != nil {
			t.Fatal(err)
		}
		if e := ro.Agent.Effector; !e.Enabled || e.Restart["apache2"].Timeout != 30*time.Second || e.Budgets["restart"].Count != 3 {
			t.Errorf("effector %+v", e)
		}
		return
	}
	t.Fatal("no agent.effector example in docs/RESPONSES.md")
}
