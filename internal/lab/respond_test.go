package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
)

// TestRespondConfigLoads: the acting lab's resource object is the
// experiment's with m3r, the web clients' engine and the four policies in
// enforce mode, and loads without a mistake; the plain lab's is unchanged
// (m3, no policies).
func TestRespondConfigLoads(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "web-clients.yaml")
	if err := os.WriteFile(rules, []byte(webClientRules), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := respondConfig(rules)
	for _, want := range []string{`"builtin:m3r.yaml"`, "models: [m3r, m4]"} {
		if !strings.Contains(conf, want) {
			t.Errorf("the acting lab's tracks do not run m3r (%s):\n%s", want, conf)
		}
	}
	regs, _ := node.Registries()
	ro, err := config.Load([]byte(conf), filepath.Join(dir, "dmz-lab.yaml"), regs)
	if err != nil {
		t.Fatalf("the acting lab's resource object: %v", err)
	}
	var engines []string
	for _, e := range ro.Engines {
		engines = append(engines, e.Name)
	}
	if !slices.Equal(engines, []string{"gateway-signatures", "web-clients", "tracks"}) {
		t.Errorf("engines %v", engines)
	}
	if ro.Resolver.Mode != config.ModeEnforce || len(ro.Resolver.Policies) != 4 || len(ro.Responses) != 3 {
		t.Errorf("resolver %s with %d policies and %d methods", ro.Resolver.Mode, len(ro.Resolver.Policies), len(ro.Responses))
	}
	plain, err := config.Load([]byte(monitorConfig), filepath.Join(dir, "plain.yaml"), regs)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Resolver.Policies) != 0 || len(plain.Engines) != 2 {
		t.Errorf("the plain lab's resource object changed: %d policies, %d engines", len(plain.Resolver.Policies), len(plain.Engines))
	}
}
