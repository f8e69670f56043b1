package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/configs"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// sampleSettings is a plug-in's settings as a registry would provide them.
type sampleSettings struct {
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
}

func (s *sampleSettings) Validate(p *Problems, path string) {
	if s.Threshold < 1 {
		p.Addf(Join(path, "threshold"), "must be at least 1")
	}
}

type kinds map[string]func() Settings

func (k kinds) NewSettings(kind string) (Settings, bool) {
	f, ok := k[kind]
	if !ok {
		return nil, false
	}
	return f(), true
}

func (k kinds) Kinds() []string {
	var out []string
	for name := range k {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// needKinds are response kinds that say what they act on.
type needKinds struct {
	kinds
	needs map[string][]string
}

func (k needKinds) Needs(kind string, _ Settings) []string { return k.needs[kind] }

// noSettings is a response kind's settings with nothing to set.
type noSettings struct{}

func (noSettings) Validate(*Problems, string) {}

var testRegistries = Registries{
	Engines: kinds{
		"sample": func() Settings { return &sampleSettings{Threshold: 1, Window: time.Minute} },
	},
	Responses: needKinds{
		kinds: kinds{
			"notifier":  func() Settings { return &noSettings{} },
			"blocker":   func() Settings { return &noSettings{} },
			"restarter": func() Settings { return &noSettings{} },
		},
		needs: map[string][]string{"blocker": {"addr"}, "restarter": {"host", "unit"}},
	},
}

func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f, testRegistries); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFullFile(t *testing.T) {
	ro, err := LoadFile("testdata/full.good.yml", testRegistries)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Monitor.Name != "domain-east" || ro.Monitor.Layer != "domain" || ro.Monitor.DedupWindow != 1000 {
		t.Errorf("monitor: %+v", ro.Monitor)
	}
	if len(ro.Sources) != 2 || ro.Sources[0].Delivery != DeliveryDurable || ro.Sources[1].Delivery != DeliveryCore {
		t.Errorf("sources: %+v", ro.Sources)
	}
	if len(ro.Engines) != 2 {
		t.Fatalf("engines: %+v", ro.Engines)
	}
	first := ro.Engines[0].Settings.(*sampleSettings)
	second := ro.Engines[1].Settings.(*sampleSettings)
	if first.Threshold != 3 || first.Window != time.Minute || second.Threshold != 1 {
		t.Errorf("settings: defaults or values lost: %+v %+v", first, second)
	}
	if ro.Subscriptions[0].MinSeverity.Of() != event.SeverityYellow || ro.Resolver.MinSeverity.Of() != event.SeverityRed || ro.Resolver.Publish {
		t.Errorf("severities: %+v %+v", ro.Subscriptions, ro.Resolver)
	}
	if ro.Store.Retention != 720*time.Hour || ro.Store.FlushInterval != 10*time.Millisecond {
		t.Errorf("store: %+v", ro.Store)
	}
	if ro.Server.JetStream.MaxAge != 48*time.Hour || len(ro.Server.Users) != 1 {
		t.Errorf("server: %+v", ro.Server)
	}
	// Levels: the ones given, the defaults for the rest.
	if l := ro.Agent.Levels; l.CPU != 80 || l.CPUFor != 2*time.Minute || l.MemMB != 4096 || l.Mem != DefaultMemLevel ||
		l.MemFor != DefaultMemLevelFor || l.Repeat != DefaultLevelRepeat {
		t.Errorf("agent levels: %+v", l)
	}
	// A list given replaces the default's; what is not given keeps it.
	ev := ro.Agent.Events
	if !ev.Enabled || ev.RingBufferBytes != 16<<20 || len(ev.ModifyPaths) != 2 || len(ev.ModifyNames) != 1 ||
		len(ev.OpenPaths) != len(DefaultAgentEvents().OpenPaths) || ev.MaxArgs != DefaultEventsMaxArgs ||
		ev.ReadEvery != 50*time.Millisecond || ev.Exits != EventsExitsSignalled {
		t.Errorf("agent.events: %+v", ev)
	}
	if ro.Agent.TimerSlack != 2*time.Millisecond || ro.Agent.MaxProcs != 2 {
		t.Errorf("agent.timer_slack %v, max_procs %d", ro.Agent.TimerSlack, ro.Agent.MaxProcs)
	}
}

func TestDefaults(t *testing.T) {
	ro, err := LoadFile("testdata/minimal.good.yml", testRegistries)
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Sources) != 1 || ro.Sources[0].Subjects[0] != "vigil.obs.>" || ro.Monitor.Layer != "service" ||
		!ro.Resolver.Publish || ro.Store.Retention != 7*24*time.Hour || ro.Server.Listen != "127.0.0.1:4222" ||
		ro.Agent.Levels.CPU != 90 || ro.Agent.Levels.CPUFor != time.Minute ||
		ro.Agent.Events.ReadEvery != DefaultEventsReadEvery || ro.Agent.Events.Exits != EventsExitsAll ||
		ro.Agent.TimerSlack != DefaultAgentTimerSlack || ro.Agent.MaxProcs != DefaultAgentMaxProcs {
		t.Errorf("defaults not applied: %+v", ro)
	}
	// The embedded default names engine kinds this package does not
	// know; cmd/vigil's TestCheckRules checks it with all of them.
	if !strings.Contains(string(configs.Default()), "name: local") {
		t.Error("the embedded default resource object is not the local monitor's")
	}
}

// TestBadFiles compares every problem reported for each bad fixture with
// its golden list (testdata/NAME.bad.errors).
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadFile(f, testRegistries)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			var lines []string
			for _, p := range ce.Problems {
				if p.Line == 0 && !strings.Contains(p.Msg, "empty") {
					t.Errorf("problem without a line: %v", p)
				}
				lines = append(lines, p.String())
			}
			got := strings.Join(lines, "\n") + "\n"
			golden := strings.TrimSuffix(f, ".yml") + ".errors"
			testutil.Golden(t, golden, []byte(got))
		})
	}
}

func TestTenMistakes(t *testing.T) {
	_, err := LoadFile("testdata/ten.bad.yml", testRegistries)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	if len(ce.Problems) < 10 {
		t.Fatalf("want at least 10 problems, got %d:\n%v", len(ce.Problems), err)
	}
	lines := map[int]bool{}
	for _, p := range ce.Problems {
		lines[p.Line] = true
	}
	if len(lines) < 10 {
		t.Errorf("problems on %d distinct lines, want 10 or more:\n%v", len(lines), err)
	}
}

func TestSubjects(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{{"vigil.obs.>", true}, {"a.*.c", true}, {"a", true}, {"", false}, {"a..b", false}, {"a.>.b", false}, {"a.b*", false}, {"a b", false}} {
		if err := checkSubject(tc.s); (err == nil) != tc.ok {
			t.Errorf("checkSubject(%q) = %v", tc.s, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, name := range []string{"full.good.yml", "ten.bad.yml", "files.bad.yml", "resolver.good.yml", "resolver.bad.yml", "hierarchy.good.yml", "hierarchy.bad.yml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ro, err := Load(data, "fuzz.yml", testRegistries)
		if err == nil && ro.Monitor.Name == "" {
			t.Fatal("accepted a resource object without a monitor name")
		}
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}

// TestReportsFrom checks the engines an engine takes reports from: they
// must exist, not be itself, and not feed each other in a cycle.
func TestReportsFrom(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"engines:\n  - {kind: sample, name: a}\n  - {kind: sample, name: b, reports_from: [a]}\n", ""},
		{"engines:\n  - {kind: sample, name: a, reports_from: [nope]}\n", `no engine named "nope"`},
		{"engines:\n  - {kind: sample, name: a, reports_from: [a]}\n", "cannot receive its own reports"},
		{"engines:\n  - {kind: sample, name: a, reports_from: [b]}\n  - {kind: sample, name: b, reports_from: [a]}\n", "in a cycle"},
		{"engines:\n  - {kind: sample, name: a, reports_from: x}\n", "list of engine names"},
	}
	for _, c := range cases {
		_, err := Load([]byte("monitor: {name: m}\n"+c.yaml), "m.yaml", testRegistries)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.yaml, err, c.want)
		}
	}
}

// TestResolverPolicies checks what the policies of a resolver section read
// into: modes, windows, criteria, subjects, and the defaults.
func TestResolverPolicies(t *testing.T) {
	ro, err := LoadFile("testdata/resolver.good.yml", testRegistries)
	if err != nil {
		t.Fatal(err)
	}
	r := ro.Resolver
	if r.Mode != ModeEnforce || r.ActionTimeout != 5*time.Second || r.DefaultBudget.Count != 10 || r.Budgets["block-gw"].Per != 10*time.Minute {
		t.Errorf("resolver: %+v", r)
	}
	if len(r.Protect.ProtectedPrefixes()) != 3 || r.Protect.Processes[1] != "postgres" {
		t.Errorf("protect: %+v", r.Protect)
	}
	if len(r.Policies) != 3 {
		t.Fatalf("%d policies", len(r.Policies))
	}
	contain, block, tell := r.Policies[0], r.Policies[1], r.Policies[2]
	if contain.Cond == nil || len(contain.With) != 1 || contain.With[0].Cond == nil || contain.With[0].Count != 1 || contain.Within != 5*time.Minute {
		t.Errorf("contain-web: %+v", contain)
	}
	if got := strings.Join(contain.SubjectParts(), ","); got != "host,unit" {
		t.Errorf("contain-web supplies %s", got)
	}
	if block.Count != 5 || block.Subject != "addr:src" || len(block.Escalate) != 4 || block.Escalate[3] != 168*time.Hour ||
		block.EffectiveMode(r.Mode) != ModeMonitor || contain.EffectiveMode(r.Mode) != ModeEnforce {
		t.Errorf("block-scanner: %+v", block)
	}
	if tell.Count != 1 || tell.Subject != "host" || !tell.DryRun {
		t.Errorf("tell: %+v", tell)
	}
}

// TestResolverDefaults: a resource object without a resolver section is in
// monitor mode, with no policies, sshd protected and a budget per method.
func TestResolverDefaults(t *testing.T) {
	ro, err := LoadFile("testdata/minimal.good.yml", testRegistries)
	if err != nil {
		t.Fatal(err)
	}
	r := ro.Resolver
	if r.Mode != ModeMonitor || len(r.Policies) != 0 || r.DefaultBudget.Count != DefaultBudgetCount || r.ActionTimeout != DefaultActionTimeout {
		t.Errorf("defaults: %+v", r)
	}
	if !strings.Contains(strings.Join(r.Protect.Processes, ","), "sshd") {
		t.Errorf("sshd not protected by default: %v", r.Protect.Processes)
	}
}

// TestPolicyNeeds: a method that acts on what the policy's subject cannot
// give is a load error at the method's position.
func TestPolicyNeeds(t *testing.T) {
	doc := "monitor: {name: m}\nresponses:\n  - {kind: blocker, name: b}\n  - {kind: restarter, name: r}\n" +
		"resolver:\n  policies:\n    - name: p\n      where: {severity: red}\n      subject: host\n      methods: [b, r]\n"
	_, err := Load([]byte(doc), "m.yaml", testRegistries)
	if err == nil || !strings.Contains(err.Error(), `m.yaml:10:17: resolver.policies[0].methods[0]: method "b" (blocker) acts on an address, which subject "host" does not give`) {
		t.Errorf("got %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), `method "r" (restarter) acts on a unit (unit:)`) {
		t.Errorf("got %v", err)
	}
}

// TestSensorObjectNeedsNoMonitor: a sensor's resource object (an agent
// section and its bus) may leave out the monitor section, which a
// monitor's object may not; a sensor's object that names a monitor still
// has it checked, and its other sections are checked as always.
func TestSensorObjectNeedsNoMonitor(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	agent := write("agent.yaml", "agent:\n  interval: 2s\n  effector: {enabled: true}\nbus: {url: \"nats://127.0.0.1:4222\"}\n")
	ro, err := LoadSensorFile(agent, testRegistries)
	if err != nil || ro.Agent.Interval != 2*time.Second || !ro.Agent.Effector.Enabled {
		t.Fatalf("an agent's object: %+v, %v", ro, err)
	}
	if _, err := LoadFile(agent, testRegistries); err == nil || !strings.Contains(err.Error(), "monitor.name: missing") {
		t.Errorf("the same object as a monitor's: %v, want monitor.name missing", err)
	}
	badName := write("bad-name.yaml", "monitor: {name: \"a b\"}\nagent: {interval: 2s}\n")
	if _, err := LoadSensorFile(badName, testRegistries); err == nil || !strings.Contains(err.Error(), "monitor.name") {
		t.Errorf("a sensor's object naming a bad monitor: %v", err)
	}
	badAgent := write("bad-agent.yaml", "agent: {interval: -2s}\n")
	if _, err := LoadSensorFile(badAgent, testRegistries); err == nil || !strings.Contains(err.Error(), "agent.interval") {
		t.Errorf("a sensor's object with a bad agent section: %v", err)
	}
}
