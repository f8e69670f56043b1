package lab

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
)

// The lab writes a monitor's identity, bus and subscriptions itself and
// takes the rest (sources, engines, responses, resolver) from the shipped
// resource object: gateway.yaml is shipped in every build.
func TestShippedAnalysisKeepsTheAnalysisOnly(t *testing.T) {
	out, err := shippedAnalysis("gateway.yaml", "fallback")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"monitor", "server", "bus", "subscriptions"} {
		if _, ok := m[k]; ok {
			t.Errorf("section %s kept:\n%s", k, out)
		}
	}
	for _, k := range []string{"sources", "engines", "resolver"} {
		if _, ok := m[k]; !ok {
			t.Errorf("section %s dropped:\n%s", k, out)
		}
	}
	if got, _ := shippedAnalysis("no-such.yaml", "fallback"); got != "fallback" {
		t.Errorf("a resource object the binary lacks gave %q, want the fallback", got)
	}
}

// A report belongs to a family by its rule, or by the family's word in
// its rule's name; the gateway pack's scan rules belong to none.
func TestReportFamilies(t *testing.T) {
	for _, c := range []struct {
		model string
		f     family
		want  bool
	}{
		{"round-robin-probing", familyDoorknob, true},
		{"doorknob-rattling", familyDoorknob, true},
		{"probes-seen", familyDoorknob, false},
		{"spreading-web-attack", familySpread, true},
		{"aggregate-degradation", familyDegradation, true},
		{"connection-retries", familyDegradation, false},
		{"tcp-port-scan", familyDegradation, false},
	} {
		if got := inFamily(event.Report{Model: c.model}, c.f); got != c.want {
			t.Errorf("%s in %v: %v, want %v", c.model, c.f, got, c.want)
		}
	}
}

// findState reads a monitor's health out of /api/hierarchy's answer,
// wherever the tree puts it.
func TestFindState(t *testing.T) {
	tree := map[string]any{"self": map[string]any{"name": "ent"}, "children": []any{
		map[string]any{"name": "d1", "state": "alive"}, map[string]any{"name": "d2", "state": "lost"}}}
	if got := findState(tree, "d2"); got != "lost" {
		t.Errorf("d2: %q, want lost", got)
	}
	if got := findState(tree, "d9"); got != "" {
		t.Errorf("d9: %q, want nothing", got)
	}
}
