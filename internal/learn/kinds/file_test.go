package kinds

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/learn/learntest"
)

// TestModelFilesOfEveryKindLoadAndRefuseDamage saves a trained model of
// each kind, loads it back to the same predictions, and checks that a
// damaged copy is refused.
func TestModelFilesOfEveryKindLoadAndRefuseDamage(t *testing.T) {
	d := learntest.Synthetic(4, 9, 20, 0.3, 7)
	features := []uint16{0, 1, 2, 3, 4, 5, 6, 7}
	for _, name := range []string{"logreg", "svm", "forest"} {
		kind, _ := learn.Lookup(name)
		m, err := kind.Train(context.Background(), d, learn.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		f := &learn.File{Kind: name, Classes: d.Classes, Features: features, SeqLen: learn.SeqLen, Interval: time.Second,
			Novelty: map[string]float64{d.Classes[0]: 0.4}, NoveltyQuantile: 0.05,
			Trained: learn.TrainInfo{At: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), Samples: len(d.Samples), Seed: 1}, Model: m}
		var b bytes.Buffer
		if err := learn.Save(&b, f); err != nil {
			t.Fatal(err)
		}
		got, err := learn.Load(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, s := range d.Samples {
			if p, q := m.Predict(s.X), got.Model.Predict(s.X); !slices.Equal(p, q) {
				t.Fatalf("%s: loaded model predicts %v, the saved one %v", name, q, p)
			}
		}
		raw := b.Bytes()
		for _, at := range []int{0, 20, len(raw) / 3, len(raw) - 40, len(raw) - 1} {
			c := slices.Clone(raw)
			c[at] ^= 0x10
			if _, err := learn.Load(bytes.NewReader(c)); err == nil {
				t.Fatalf("%s: byte %d flipped, loaded", name, at)
			}
		}
		if _, err := learn.Load(bytes.NewReader(raw[:len(raw)-100])); !errors.Is(err, learn.ErrTruncated) {
			t.Fatalf("%s: truncated: %v", name, err)
		}
	}
}
