package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

func registry(t *testing.T) *action.Registry {
	t.Helper()
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDocExampleLoadsAndBuilds loads the resource object of the
// Notifications section of docs/RESPONSES.md, so that the example a reader
// copies stays valid, and builds each of its methods.
func TestDocExampleLoadsAndBuilds(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Notifications")
	if !ok {
		t.Fatal("docs/RESPONSES.md has no Notifications section")
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("no yaml example in the Notifications section")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "ops-hook.key"), []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}
	r := registry(t)
	ro, err := config.Load([]byte("monitor: {name: svc-web}\n"+block[1]), filepath.Join(dir, "monitor.yml"), config.Registries{Responses: r})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Responses) != 4 {
		t.Fatalf("%d responses, want 4", len(ro.Responses))
	}
	deps := testDeps(t)
	deps.Resolve = func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for _, spec := range ro.Responses {
		m, err := r.Build(context.Background(), spec, deps)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		if _, err := m.Plan(sampleRequest()); err != nil {
			t.Errorf("%s: plan: %v", spec.Name, err)
		}
		if c, ok := m.(action.Closer); ok {
			c.Close()
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "decisions.jsonl")); err != nil {
		t.Errorf("the jsonfile method did not create its file beside the resource object: %v", err)
	}
}

func TestResourceObjectMistakesAreReportedWithTheirLines(t *testing.T) {
	dir := t.TempDir()
	src := `monitor: {name: m}
responses:
  - kind: webhook
    name: hook
    url: gopher://x
    secret_file: nokey
    retries: many
  - kind: syslog
    name: s
    address: logs:514
    network: carrier-pigeon
    colour: red
  - kind: jsonfile
    name: f
    path: missing/dir/x.jsonl
`
	_, err := config.Load([]byte(src), filepath.Join(dir, "m.yml"), config.Registries{Responses: registry(t)})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a config error", err)
	}
	want := map[int]string{5: "scheme \"gopher\"", 6: "nokey", 7: "whole number", 11: "carrier-pigeon", 12: "colour", 15: "missing/dir"}
	for line, text := range want {
		found := false
		for _, p := range ce.Problems {
			if p.Line == line && strings.Contains(p.Msg, text) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem on line %d mentioning %q in:\n%v", line, text, err)
		}
	}
}
