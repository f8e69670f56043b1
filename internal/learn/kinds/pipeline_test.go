package kinds

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// TestRecordingsToModelFile runs the whole path a trainer takes: a
// directory of recordings (two hosts and a nongrata tool), features,
// samples, a split by time, each baseline trained, scored and written to a
// model file that loads back.
func TestRecordingsToModelFile(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 1))
	// Each program's mix of calls: read/write/epoll_wait, accept/sendfile,
	// a miner's lone getrandom.
	programs := map[string]map[uint16]uint64{
		"nginx":    {0: 40, 1: 20, 232: 30, 43: 5, 40: 10},
		"postgres": {0: 60, 1: 60, 17: 30, 18: 30, 232: 5},
		"cron":     {35: 2, 257: 3, 3: 3, 0: 1},
	}
	record := func(path, host string, names []string, pidBase int32) {
		var vs []event.CountVector
		for sec := range 300 {
			for i, name := range names {
				v := event.CountVector{Host: host, PID: pidBase + int32(i), Process: name, Start: t0.Add(time.Duration(sec) * time.Second), Interval: time.Second}
				for nr := range uint16(300) {
					if c, ok := programs[name][nr]; ok {
						v.Counts = append(v.Counts, event.SyscallCount{Nr: nr, Count: 1 + c/2 + uint64(rng.IntN(int(c)+1))})
					}
				}
				vs = append(vs, v)
			}
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		var b bytes.Buffer
		syscalls.WriteVectors(&b, vs)
		os.WriteFile(path, b.Bytes(), 0o644)
	}
	programs["nongrata:miner"] = map[uint16]uint64{318: 50, 228: 5}
	programs["openssl"] = programs["nongrata:miner"]
	record(filepath.Join(dir, "hosts", "web.jsonl"), "web", []string{"nginx", "cron"}, 100)
	record(filepath.Join(dir, "hosts", "db.jsonl"), "db", []string{"postgres", "cron"}, 200)
	record(filepath.Join(dir, "nongrata", "miner.jsonl"), "lab", []string{"openssl"}, 300)

	recs, err := learn.ReadRecordings(dir)
	if err != nil {
		t.Fatal(err)
	}
	features := learn.SelectFeatures(recs, 6)
	d, err := learn.Build(recs, learn.BuildOptions{Features: features})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cron", "nginx", "nongrata:miner", "postgres"}; len(d.Classes) != 4 || d.Classes[2] != want[2] {
		t.Fatalf("classes %q, want %q", d.Classes, want)
	}
	train, test := learn.SplitByTime(d, 0.8)
	for _, name := range []string{"logreg", "svm", "forest"} {
		kind, _ := learn.Lookup(name)
		m, err := kind.Train(context.Background(), train, learn.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if sc := learn.Evaluate(m, test, 2); sc.MacroRecall < 0.99 || sc.MacroPrecision < 0.99 {
			t.Fatalf("%s: %+v", name, sc)
		}
		path := filepath.Join(dir, name+".model")
		if err := learn.SaveFile(path, &learn.File{Classes: d.Classes, Features: features, SeqLen: learn.SeqLen, Interval: time.Second, Model: m}); err != nil {
			t.Fatal(err)
		}
		f, err := learn.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if sc := learn.Evaluate(f.Model, test, 2); sc.MacroRecall < 0.99 || f.Kind != name {
			t.Fatalf("%s loaded: %+v", name, sc)
		}
	}
}
