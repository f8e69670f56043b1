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

const populationConfig = `monitor: {name: dom1}
engines:
  - kind: population
    name: peers
    half_life: 5m
    threshold: 0.25
    classes:
      - {name: web, hosts: ["web-*"]}
`

// TestReplayPopulation replays an hour of six web servers' observations
// through `vigil replay` with a population engine: for the first half
// hour they behave alike, then web-4 starts running shells and
// connecting out; the only report is about web-4, of class web, naming
// PROC.EXEC and PROC.CONNECT among the values that differ.
func TestReplayPopulation(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dom1.yaml")
	if err := os.WriteFile(cfg, []byte(populationConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	normal := []string{"PROC.ACCEPT", "PROC.ACCEPT", "PROC.ACCEPT", "FILE.OPEN", "FILE.OPEN", "SYS.NET.TX"}
	deviant := []string{"PROC.ACCEPT", "PROC.ACCEPT", "FILE.OPEN", "PROC.EXEC", "PROC.EXEC", "PROC.CONNECT"}
	var b []byte
	n := 0
	for s := range 3600 {
		at := t0.Add(time.Duration(s) * time.Second)
		for h := 1; h <= 6; h++ {
			types := normal
			if h == 4 && s >= 1800 {
				types = deviant
			}
			n++
			ev := event.Event{ID: fmt.Sprintf("ev-%07d", n), Time: at, Type: types[rng.IntN(len(types))], Host: fmt.Sprintf("web-%d", h), Source: "agent"}
			b = ev.AppendJSON(b)
			b = append(b, '\n')
		}
	}
	events := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(events, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, "", "replay", "--config", cfg, "--log-level", "error", events)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(out, "1 reports") {
		t.Fatalf("want one report, got %d:\n%s", len(lines), out)
	}
	for _, want := range []string{`"model":"population/web"`, `"host":"web-4"`, `"class":"web"`, "PROC.EXEC", "PROC.CONNECT"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the report lacks %s:\n%s", want, lines[0])
		}
	}
}
