package track

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzModels parses arbitrary model files: an error naming the problem, or
// models that run over a few events, producing valid reports and scores
// in [0, 1].
func FuzzModels(f *testing.F) {
	seeds, _ := filepath.Glob("../../../models/*.yaml")
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, p := range append(seeds, bad...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	evs := hostEvents("he hf na ha hc nb hb hg hd")
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := ParseModels("fuzz.yaml", data)
		if err != nil {
			return
		}
		e := New(ms, Options{Beam: 4})
		check := func(r Report) {
			if r.Score < 0 || r.Score > 1+1e-9 {
				t.Fatalf("score %v", r.Score)
			}
			rep := r.Event()
			rep.Monitor, rep.ID, rep.Engine = "fuzz", "r1", "tracks"
			if err := rep.Validate(); err != nil {
				t.Fatalf("invalid report %+v: %v", rep, err)
			}
		}
		for i := range evs {
			e.Handle(&evs[i], check)
		}
		e.Tick(evs[len(evs)-1].Time.Add(48*time.Hour), check)
	})
}
