package signature_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
)

// FuzzRules parses arbitrary rule files: an error naming the problem, or a
// rule set that runs over a few events without panicking.
func FuzzRules(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/scenarios/*/rules.yaml")
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	packs, _ := filepath.Glob("../../../rules/*.yaml")
	for _, p := range append(append(seeds, bad...), packs...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	evs := []event.Event{
		{ID: "a", Time: t0, Type: "NET.CONN", IP: "10.0.0.3", Attrs: map[string]any{"src": "203.0.113.1", "dst": "10.0.0.3", "dport": int64(23), "outcome": "refused"}},
		{ID: "b", Time: t0.Add(time.Second), Type: "NET.HTTP", IP: "10.0.0.3", Attrs: map[string]any{"src": "203.0.113.1", "path": "/../etc/passwd", "status": int64(200), "streams": []string{"web"}}},
		{ID: "c", Time: t0.Add(2 * time.Second), Type: "PROC.SPAWN", Host: "web-3", Attrs: map[string]any{"name": "sh", "pid": int64(7), "parent_name": "httpd"}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := signature.Parse("fuzz.yaml", data, signature.Options{})
		if err != nil {
			return
		}
		e := signature.New(rs, signature.Limits{MaxGroups: 8, MaxInstances: 8, MaxFacts: 8, MaxSuppress: 8}, nil)
		for i := range evs {
			e.Handle(&evs[i], func(r event.Report) {
				r.Monitor, r.ID = "fuzz", "r1" // the resolver's stamps
				if err := r.Validate(); err != nil {
					t.Fatalf("invalid report %+v: %v", r, err)
				}
			})
		}
		e.Tick(t0.Add(48*time.Hour), func(event.Report) {})
	})
}
