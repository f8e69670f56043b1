package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

const profilesConfig = `monitor: {name: gw}
sources:
  - name: all
    subjects: ["vigil.obs.>"]
engines:
  - kind: profile
    name: profiles
    %s
    classes:
      - name: source
        match: {type: NET.CONN}
        subject: src
        short_half_life: 10
        measures:
          - {name: service, categorical: dport}
          - {categorical: outcome}
          - {name: rate, intensity: [1m, 10m]}
resolver: {publish: true, min_severity: yellow}
`

// connections writes a JSON-lines file of NET.CONN events: days of a
// source's ordinary use (web and mail, established), then, if burst, a
// scan of many ports, refused.
func connections(t *testing.T, path string, from time.Time, days int, burst bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(days)))
	var b strings.Builder
	n := 0
	add := func(at time.Time, port int64, outcome string) {
		n++
		ev := event.Event{ID: fmt.Sprintf("c%07d", n), Time: at, Type: "NET.CONN", IP: "10.0.0.3", Source: "gw",
			Attrs: map[string]any{"src": "198.51.100.7", "dst": "10.0.0.3", "dport": port, "outcome": outcome}}
		b.Write(ev.AppendJSON(nil))
		b.WriteByte('\n')
	}
	for i := range days * 24 * 60 {
		port := int64(443)
		if rng.IntN(4) == 0 {
			port = 25
		}
		add(from.Add(time.Duration(i)*time.Minute), port, "established")
	}
	if burst {
		at := from.Add(time.Duration(days) * 24 * time.Hour)
		for p := range int64(40) {
			add(at.Add(time.Duration(p)*100*time.Millisecond), 1000+p, "refused")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestProfilesBootstrapAndTransfer trains a profile engine from recorded
// events with vigil replay (the profiles kept in a state file), finds a
// later replay starts from them (a scan is reported at once), and moves
// the profiles into another monitor's store and out again with vigil
// profiles import and export.
func TestProfilesBootstrapAndTransfer(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "trained.jsonl")
	cfg := filepath.Join(dir, "train.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, profilesConfig, "state: trained.jsonl"), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	history := filepath.Join(dir, "history.jsonl")
	connections(t, history, t0, 3, false)
	if out, code := run(t, "", "replay", "--config", cfg, "--log-level", "error", history); code != 0 {
		t.Fatalf("training replay exit %d:\n%s", code, out)
	}
	saved, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(saved), `"key":"198.51.100.7"`) {
		t.Fatalf("the profiles were not saved: %v\n%.300s", err, saved)
	}
	// A later replay of a scan from the same source starts from them.
	scan := filepath.Join(dir, "scan.jsonl")
	connections(t, scan, t0.Add(3*24*time.Hour), 0, true)
	out, code := run(t, "", "replay", "--config", cfg, "--log-level", "info", scan)
	if code != 0 || !strings.Contains(out, "profiles restored") || !strings.Contains(out, `"model":"source"`) || !strings.Contains(out, "198.51.100.7") {
		t.Fatalf("replaying the scan (exit %d):\n%s", code, out)
	}
	// Another site: into its store, and out again.
	site := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(site, fmt.Appendf(nil, profilesConfig, ""), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "site-data")
	if out, code := run(t, "", "profiles", "import", "--config", site, "--engine", "profiles", "--data", data, state); code != 0 || !strings.Contains(out, "1 subjects") {
		t.Fatalf("import (exit %d):\n%s", code, out)
	}
	exported, code := run(t, "", "profiles", "export", "--engine", "profiles", "--data", data, "--log-level", "error")
	if code != 0 {
		t.Fatalf("export exit %d:\n%s", code, exported)
	}
	again, _ := os.ReadFile(state)
	if exported != string(again) {
		t.Errorf("exported profiles differ from those imported")
	}
	// Profiles of other classes are refused, and nothing is imported.
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte(strings.Replace(fmt.Sprintf(profilesConfig, ""), "{categorical: outcome}", "{categorical: proto}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, "", "profiles", "import", "--config", other, "--engine", "profiles", "--data", filepath.Join(dir, "other-data"), state); code == 0 || !strings.Contains(out, "differ") {
		t.Errorf("importing into different measures (exit %d):\n%s", code, out)
	}
}
