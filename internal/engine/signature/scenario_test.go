package signature_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// runScenario replays dir/events.jsonl through a monitor whose signature
// engine runs rules, and compares the reports with dir/reports.jsonl.
func runScenario(t *testing.T, dir string, rules []string) {
	t.Helper()
	var ro bytes.Buffer
	ro.WriteString("monitor: {name: scenario}\nengines:\n  - kind: signature\n    rules:\n")
	for _, r := range rules {
		abs, err := filepath.Abs(r)
		if err != nil {
			t.Fatal(err)
		}
		ro.WriteString("      - " + abs + "\n")
	}
	reg := engine.NewRegistry()
	if err := reg.Register(signature.Factory()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(ro.Bytes(), filepath.Join(dir, "scenario.yaml"), config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	res, err := monitor.Replay(context.Background(), monitor.ReplayOptions{Config: cfg, Engines: reg}, in, &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad > 0 {
		t.Fatalf("%d bad lines in %s/events.jsonl", res.Bad, dir)
	}
	golden := filepath.Join(dir, "reports.jsonl")
	testutil.Golden(t, golden, out.Bytes())
}

// TestScenarios runs one scenario per feature of the rule language: a
// rules.yaml, the events.jsonl it sees, and the reports.jsonl it must
// make (nothing more, nothing less).
func TestScenarios(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/scenarios/*")
	if len(dirs) == 0 {
		t.Fatal("no scenarios")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runScenario(t, dir, []string{filepath.Join(dir, "rules.yaml")})
		})
	}
}

// TestPackScenarios runs, for each shipped rule, a scenario against the
// whole pack it belongs to: the rule fires, and no other rule does.
func TestPackScenarios(t *testing.T) {
	packs, _ := filepath.Glob("../../../rules/*.yaml")
	if len(packs) == 0 {
		t.Fatal("no rule packs in rules/")
	}
	for _, pack := range packs {
		name := trimExt(filepath.Base(pack))
		dirs, _ := filepath.Glob(filepath.Join("../../../rules/scenarios", name, "*"))
		if len(dirs) == 0 {
			t.Errorf("pack %s has no scenarios", name)
		}
		for _, dir := range dirs {
			t.Run(name+"/"+filepath.Base(dir), func(t *testing.T) {
				runScenario(t, dir, []string{pack})
			})
		}
	}
}

func trimExt(s string) string { return s[:len(s)-len(filepath.Ext(s))] }

// TestBadRules checks the messages for broken rule files: every mistake,
// with its line, in testdata/bad/*.errors.
func TestBadRules(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, _, err := signature.Load([]string{f}, signature.Options{})
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			var b strings.Builder
			for _, p := range ce.Problems {
				if p.Line == 0 {
					t.Errorf("problem without a line: %v", p)
				}
				b.WriteString(p.String() + "\n")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".errors"
			testutil.Golden(t, golden, []byte(b.String()))
		})
	}
}
