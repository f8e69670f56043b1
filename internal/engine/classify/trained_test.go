package classify

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/testutil/cvtest"
)

// trainedModel trains a logistic regression on synthetic recordings and
// writes its model file in dir.
func trainedModel(t testing.TB, dir string) (string, *learn.File) {
	t.Helper()
	res, err := classifier.Train(context.Background(), classifier.TrainOptions{Data: cvtest.WriteRecordings(t, t.TempDir(), 300, 11), Kind: "logreg", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "classifier.vgm")
	if err := learn.SaveFile(path, res.File); err != nil {
		t.Fatal(err)
	}
	return path, res.File
}

func loadRO(t testing.TB, dir, yaml string) (*config.ResourceObject, error) {
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ro.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return config.LoadFile(path, config.Registries{Engines: reg})
}

// A real trained model, loaded through the resource object as a monitor
// would: a known program raises nothing; a masquerade, a non-grata tool
// under a known and under an unknown name are each reported; the engine
// takes vectors through engine.VectorHandler.
func TestTrainedModelScenarios(t *testing.T) {
	dir := t.TempDir()
	trainedModel(t, dir)
	ro, err := loadRO(t, dir, "monitor: {name: m}\nengines:\n  - kind: classify\n    model: classifier.vgm\n    suppress: 1m\n")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := Factory().New(context.Background(), ro.Engines[0].Settings, engine.Deps{Name: "classifier"})
	if err != nil {
		t.Fatal(err)
	}
	vh := eng.(engine.VectorHandler)
	var rec recorder
	rng := rand.New(rand.NewPCG(21, 22))
	run := func(pid int32, name string, b cvtest.Behaviour) {
		vs := cvtest.Vectors(rng, "web1", pid, name, t0, 30, b)
		ptrs := make([]*event.CountVector, len(vs))
		for i := range vs {
			ptrs[i] = &vs[i]
		}
		if err := vh.HandleVectors(context.Background(), ptrs, rec.emit); err != nil {
			t.Fatal(err)
		}
	}
	run(1, "nginx", cvtest.Behaviours["nginx"])
	run(2, "postgres", cvtest.Behaviours["postgres"])
	if len(rec.reps) != 0 {
		t.Fatalf("known programs behaving as themselves reported: %v", rec.scenarios())
	}
	run(3, "sshd", cvtest.Behaviours["nginx"])              // nc copied over sshd, say
	run(4, "cron", cvtest.Behaviours["nongrata:miner"])     // a miner renamed cron
	run(5, "kthreadx", cvtest.Behaviours["nongrata:miner"]) // a miner under a name the model does not know
	run(6, "kthreadx", cvtest.Behaviours["nginx"])          // unknown name, known behaviour: nothing
	got := map[int64]string{}
	for _, r := range rec.reps {
		got[r.Attrs["pid"].(int64)] = r.Attrs["scenario"].(string) + " " + r.Attrs["class"].(string)
	}
	want := map[int64]string{3: "masquerade nginx", 4: "non-grata nongrata:miner", 5: "non-grata nongrata:miner"}
	if len(got) != len(want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Fatalf("pid %d: %q, want %q (all: %v)", pid, got[pid], w, got)
		}
	}
	if n := len(rec.reps); n != 3 {
		t.Fatalf("%d reports, want one per process (30 s, suppress 1m)", n)
	}
}

// vigil check loads the model file: a missing or corrupted one is refused
// at the model key with the loader's reason.
func TestSettingsValidateModelFile(t *testing.T) {
	dir := t.TempDir()
	path, _ := trainedModel(t, dir)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0x40
	if err := os.WriteFile(filepath.Join(dir, "corrupt.vgm"), corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.vgm"), good[:len(good)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		settings string
		want     []string // "" = valid
	}{
		{"model: classifier.vgm", nil},
		{"model: classifier.vgm\n    confidence: 0.9\n    stride: 1\n    top: 5", nil},
		{"confidence: 0.9", []string{"ro.yml:3", "model", "a model file"}},
		{"model: missing.vgm", []string{"ro.yml:4", "model", "missing.vgm", "no such file"}},
		{"model: corrupt.vgm", []string{"ro.yml:4", "model", "corrupt.vgm", "checksum"}},
		{"model: short.vgm", []string{"ro.yml:4", "model", "short.vgm", "truncated"}},
		{"model: ro.yml", []string{"ro.yml:4", "not a Vigil model file"}},
		{"model: classifier.vgm\n    confidence: 1.5", []string{"ro.yml:5", "confidence"}},
		{"model: classifier.vgm\n    stride: 11", []string{"ro.yml:5", "stride", "at most the model's sequence length, 10"}},
		{"model: classifier.vgm\n    max_processes: 0", []string{"ro.yml:5", "max_processes"}},
		{"model: classifier.vgm\n    modle: x", []string{"ro.yml:5", "modle"}},
		{"model: builtin:classifier.vgm\n    persist: 3", nil},
		{"model: builtin:nope.vgm", []string{"ro.yml:4", "no such model in the binary", "builtin:classifier.vgm"}},
		{"model: classifier.vgm\n    persist: 0", []string{"ro.yml:5", "persist", "1 to 60"}},
		{"model: classifier.vgm\n    novelty_below: 0", []string{"ro.yml:5", "novelty_below"}},
	} {
		_, err := loadRO(t, dir, "monitor: {name: m}\nengines:\n  - kind: classify\n    "+c.settings+"\n")
		if c.want == nil {
			if err != nil {
				t.Errorf("%q: %v", c.settings, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: accepted", c.settings)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v, want it to say %q", c.settings, err, w)
			}
		}
	}
}

// A model file's vectors must be of its interval: an agent at 5 s
// intervals is ignored and counted, not classified.
func TestOtherIntervalIgnored(t *testing.T) {
	_, f := trainedModel(t, t.TempDir())
	e, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	for i := range 20 {
		v := cvtest.Vector(rand.New(rand.NewPCG(1, uint64(i))), "web1", 7, "nginx", t0.Add(time.Duration(i)*5*time.Second), cvtest.Behaviours["nginx"], 100)
		v.Interval = 5 * time.Second
		e.Observe(&v, rec.emit)
	}
	if s := e.Stats(); s.Mismatched != 20 || s.Vectors != 0 || s.Processes != 0 {
		t.Fatalf("stats %+v", s)
	}
}
