package revprobe

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
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestDocExampleLoadsAndBuilds loads the resource object of the Reverse
// probing section of docs/RESPONSES.md, so that the example a reader
// copies stays valid, and builds and plans its method.
func TestDocExampleLoadsAndBuilds(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RESPONSES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Reverse probing")
	if !ok {
		t.Fatal("docs/RESPONSES.md has no Reverse probing section")
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("no yaml example in the Reverse probing section")
	}
	r := registry(t)
	ro, err := config.Load([]byte("monitor: {name: gw}\n"+block[1]), filepath.Join(t.TempDir(), "gw.yml"), config.Registries{Responses: r})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Responses) != 1 || len(ro.Resolver.Policies) != 1 {
		t.Fatalf("%d responses and %d policies, want 1 and 1", len(ro.Responses), len(ro.Resolver.Policies))
	}
	s := ro.Responses[0].Settings.(*Settings)
	if len(s.Allow) != 2 || len(s.Ports) != 4 || s.BannerBytes != 64 || s.Budget.Count != 10 {
		t.Errorf("settings %+v", s)
	}
	m, err := r.Build(context.Background(), ro.Responses[0], action.Deps{Monitor: "gw", Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan(probeReq("198.51.100.7"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: %s", plan)
	if _, err := m.Plan(probeReq("203.0.113.9")); err == nil {
		t.Error("an address outside the example's ranges was planned")
	}
}

// TestDefaultsProbeNothing: a reverse-probe with no settings but its name
// is valid and refuses every address.
func TestDefaultsProbeNothing(t *testing.T) {
	m := build(t, "", nil)
	if _, err := m.Plan(probeReq("198.51.100.7")); err == nil || !strings.Contains(err.Error(), "no allow ranges are configured") {
		t.Errorf("Plan with the defaults: %v", err)
	}
}

func TestMistakesAreReportedWithTheirLines(t *testing.T) {
	src := `monitor: {name: m}
responses:
  - kind: reverse-probe
    name: rp
    allow: [10.0.0.0/8, 10.1.2.3/16, 0.0.0.0/0, banana]
    ports: [22, 70000, 22]
    timeout: 1m
    banner_bytes: 5000
    budget: {count: 0, per: 1h}
    colour: red
`
	_, err := config.Load([]byte(src), filepath.Join(t.TempDir(), "m.yml"), config.Registries{Responses: registry(t)})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a config error", err)
	}
	want := []struct {
		line int
		text string
	}{
		{5, "10.1.2.3/16 has host bits set: write 10.1.0.0/16"},
		{5, "0.0.0.0/0 is wider than a /8"},
		{5, `"banana" is not an address or a range`},
		{6, "70000 is not a TCP port"},
		{6, "port 22 is listed twice"},
		{7, "timeout"},
		{8, "banner_bytes"},
		{9, "count"},
		{10, "colour"},
	}
	for _, w := range want {
		found := false
		for _, p := range ce.Problems {
			if p.Line == w.line && strings.Contains(p.Path+": "+p.Msg, w.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem on line %d mentioning %q in:\n%v", w.line, w.text, err)
		}
	}
	if !strings.Contains(err.Error(), "m.yml:5:") {
		t.Errorf("the error does not name the file and line:\n%v", err)
	}
}

// TestPolicySubjectMustNameAnAddress: a policy whose subject gives no
// address cannot name a reverse-probe.
func TestPolicySubjectMustNameAnAddress(t *testing.T) {
	src := `monitor: {name: m}
responses:
  - {kind: reverse-probe, name: rp, allow: [198.51.100.0/24]}
resolver:
  policies:
    - {name: p, where: {severity: red}, subject: host, methods: [rp]}
`
	_, err := config.Load([]byte(src), "m.yml", config.Registries{Responses: registry(t)})
	if err == nil || !strings.Contains(err.Error(), "m.yml:6") || !strings.Contains(err.Error(), "addr") {
		t.Errorf("error %v, want one at m.yml:6 about the subject's address", err)
	}
}
