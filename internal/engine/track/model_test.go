package track

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestBadModels checks the messages for broken model files: every
// mistake, with its line, in testdata/bad/*.errors.
func TestBadModels(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad models")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadModels([]string{f})
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

// TestShippedModels loads every model in models/ and checks what the
// compiler made of them: distributions that sum to 1, targets, timeouts.
func TestShippedModels(t *testing.T) {
	files, _ := filepath.Glob("../../../models/*.yaml")
	ms, err := LoadModels(files)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*Model{}
	for _, m := range ms {
		ids[m.ID] = m
		sum := func(xs []float64) (s float64) {
			for _, x := range xs {
				s += x
			}
			return s
		}
		if d := sum(m.Init) - 1; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: initial distribution sums to %v", m.ID, sum(m.Init))
		}
		for i, row := range m.Trans {
			if d := sum(row) - 1; d > 1e-9 || d < -1e-9 {
				t.Errorf("%s: transitions from %s sum to %v", m.ID, m.States[i], sum(row))
			}
		}
	}
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		if ids[id] == nil {
			t.Errorf("model %s is not shipped", id)
		}
	}
	m3 := ids["m3"]
	if q := m3.State("Questionable"); m3.Timeout[q] == 0 || m3.States[m3.Fallback[q]] != "Nominal" || !m3.Target[m3.State("Compromised")] {
		t.Errorf("m3: %+v", m3)
	}
	if m3.Emissions[0].Key != "dst" {
		t.Errorf("m3's NIDS alerts bind by %q, want dst", m3.Emissions[0].Key)
	}
}
