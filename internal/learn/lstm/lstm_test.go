package lstm

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/learn"
)

// orderData makes samples of classes that differ in the order of their
// vectors only: every sample has five vectors drawn like A (most calls in
// the first half of the features) and five like B (most in the second
// half), in an order each class has of its own. A model that looked at the
// vectors as a bag could not beat chance.
func orderData(seed uint64, perClass int) *learn.Data {
	patterns := []string{"AAAAABBBBB", "BBBBBAAAAA", "ABABABABAB", "AABBBBAAAB"}
	const dim = 6
	rng := rand.New(rand.NewPCG(seed, 3))
	d := &learn.Data{Classes: []string{"first-a", "first-b", "alternating", "middle-b"}, Dim: dim}
	for i := 0; i < perClass; i++ {
		for y, pat := range patterns {
			sm := learn.Sample{Y: y}
			for _, c := range pat {
				v := make([]float64, dim)
				scale := 1 + 4*rng.Float64() // the process's activity that second
				for k := range v {
					mean := 3.0
					if (c == 'A') == (k < dim/2) {
						mean = 5
					}
					v[k] = math.Round(scale * mean * (0.5 + rng.Float64()))
				}
				sm.X = append(sm.X, v)
			}
			d.Samples = append(d.Samples, sm)
		}
	}
	return d
}

func argmax(p []float64) int {
	best := 0
	for i, x := range p {
		if x > p[best] {
			best = i
		}
	}
	return best
}

func accuracy(m learn.Model, d *learn.Data) float64 {
	ok := 0
	for _, s := range d.Samples {
		if argmax(m.Predict(s.X)) == s.Y {
			ok++
		}
	}
	return float64(ok) / float64(len(d.Samples))
}

// Each kind learns classes that only the order of their vectors tells
// apart, to more than 90% on held-out samples; the same seed gives the
// same weights, byte for byte, with one worker and with two.
func TestLearnsTemporalOrderDeterministically(t *testing.T) {
	train, test := orderData(1, 60), orderData(2, 30)
	p := Params{Hidden: 16, Batch: 16, Shard: 4, LearnRate: 1e-2}
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		t.Run(string(a), func(t *testing.T) {
			t.Parallel()
			var bins [][]byte
			var m *Model
			for _, workers := range []int{1, 2} {
				var err error
				m, err = TrainWith(context.Background(), a, train, learn.Options{Seed: 42, Epochs: 30, Workers: workers}, p)
				if err != nil {
					t.Fatal(err)
				}
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				bins = append(bins, b)
			}
			if !bytes.Equal(bins[0], bins[1]) {
				t.Errorf("seed 42 gave different weights with 1 and 2 workers")
			}
			if acc := accuracy(m, test); acc <= 0.9 {
				t.Errorf("held-out accuracy %.3f, want > 0.9", acc)
			} else {
				t.Logf("held-out accuracy %.3f", acc)
			}
			// The same test samples with their vectors shuffled: the order
			// was what the model used.
			shuffled := &learn.Data{Classes: test.Classes, Dim: test.Dim}
			rng := rand.New(rand.NewPCG(9, 9))
			for _, s := range test.Samples {
				x := append([][]float64(nil), s.X...)
				rng.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
				shuffled.Samples = append(shuffled.Samples, learn.Sample{X: x, Y: s.Y})
			}
			if acc := accuracy(m, shuffled); acc > 0.5 {
				t.Errorf("accuracy %.3f on shuffled sequences, want near chance (0.25)", acc)
			} else {
				t.Logf("accuracy on shuffled sequences %.3f", acc)
			}
			other, err := TrainWith(context.Background(), a, train, learn.Options{Seed: 43, Epochs: 1, Workers: 2}, p)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := other.MarshalBinary(); bytes.Equal(b, bins[0]) {
				t.Errorf("seeds 42 and 43 gave the same weights")
			}
		})
	}
}

// The three kinds are registered; the registered Train uses the defaults
// (64 hidden units) and its model decodes back through the registry.
func TestRegisteredKinds(t *testing.T) {
	d := orderData(5, 4)
	for _, name := range []string{"lstm", "bilstm", "inception"} {
		k, ok := learn.Lookup(name)
		if !ok {
			t.Fatalf("kind %q not registered", name)
		}
		if k.Doc == "" {
			t.Errorf("kind %q has no doc line", name)
		}
		m, err := k.Train(context.Background(), d, learn.Options{Seed: 1, Epochs: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind() != name || m.(*Model).Hidden() != 64 {
			t.Errorf("kind %q trained a %q model of %d hidden units", name, m.Kind(), m.(*Model).Hidden())
		}
		b, _ := m.MarshalBinary()
		back, err := k.Decode(b, len(d.Classes), d.Dim)
		if err != nil {
			t.Fatal(err)
		}
		want, got := m.Predict(d.Samples[0].X), back.Predict(d.Samples[0].X)
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("%s: decoded model predicts %v, the trained one %v", name, got, want)
			}
		}
	}
}

// Progress comes after every batch, in order, never concurrently; ending
// the context stops training at once with the context's error.
func TestProgressAndCancel(t *testing.T) {
	d := orderData(3, 20) // 80 samples: 5 batches of 16
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		inCB  bool
		calls []learn.Progress
	)
	p := Params{Hidden: 8, Batch: 16}
	_, err := TrainWith(ctx, Bidirectional, d, learn.Options{Seed: 1, Epochs: 3, Workers: 2, Progress: func(pr learn.Progress) {
		mu.Lock()
		if inCB {
			t.Error("progress called concurrently")
		}
		inCB = true
		mu.Unlock()
		calls = append(calls, pr)
		if pr.Epoch == 2 && pr.Done == 32 {
			cancel()
		}
		mu.Lock()
		inCB = false
		mu.Unlock()
	}}, p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(calls) != 7 {
		t.Fatalf("%d progress calls before the cancel took effect, want 7 (5 + 2)", len(calls))
	}
	for i, pr := range calls {
		wantEpoch, wantDone := 1+i/5, 16*(1+i%5)
		if pr.Kind != "bilstm" || pr.Epoch != wantEpoch || pr.Epochs != 3 || pr.Done != wantDone || pr.Total != 80 {
			t.Errorf("call %d: %+v, want epoch %d/3, %d/80 done", i, pr, wantEpoch, wantDone)
		}
		if !(pr.Loss > 0) {
			t.Errorf("call %d: loss %g", i, pr.Loss)
		}
	}

	// A context already ended: no training at all.
	start := time.Now()
	if _, err := TrainWith(ctx, Simple, d, learn.Options{Epochs: 1000}, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: err = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("ended context: took %v", time.Since(start))
	}
}

// Bad data is refused with an error naming the sample, vector and entry.
func TestTrainRefusesBadData(t *testing.T) {
	good := func() *learn.Data { return orderData(4, 2) }
	cases := []struct {
		name string
		edit func(d *learn.Data)
		want string
	}{
		{"no samples", func(d *learn.Data) { d.Samples = nil }, "no samples"},
		{"no classes", func(d *learn.Data) { d.Classes = nil }, "0 classes"},
		{"class out of range", func(d *learn.Data) { d.Samples[3].Y = 4 }, "sample 3: class 4 of 4"},
		{"short sequence", func(d *learn.Data) { d.Samples[2].X = d.Samples[2].X[:9] }, "sample 2: 9 vectors"},
		{"short vector", func(d *learn.Data) { d.Samples[1].X[4] = d.Samples[1].X[4][:5] }, "sample 1 vector 4: 5 entries, want 6"},
		{"negative count", func(d *learn.Data) { d.Samples[5].X[0][2] = -1 }, "sample 5 vector 0 entry 2: count -1"},
		{"NaN count", func(d *learn.Data) { d.Samples[5].X[0][2] = math.NaN() }, "entry 2: count NaN"},
		{"zero dim", func(d *learn.Data) { d.Dim = 0 }, "vector size 0"},
	}
	for _, c := range cases {
		d := good()
		c.edit(d)
		_, err := TrainWith(context.Background(), Simple, d, learn.Options{Epochs: 1}, Params{Hidden: 2})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to say %q", c.name, err, c.want)
		}
	}
	if _, err := TrainWith(context.Background(), Simple, good(), learn.Options{}, Params{Hidden: -1}); err == nil || !strings.Contains(err.Error(), "hidden units -1") {
		t.Errorf("negative hidden size: err = %v", err)
	}
	if _, err := TrainWith(context.Background(), Bidirectional, good(), learn.Options{}, Params{Hidden: 4096}); err == nil || !strings.Contains(err.Error(), "more than the 64 MiB") {
		t.Errorf("oversized model: err = %v", err)
	}
	if _, err := TrainWith(context.Background(), "gru", good(), learn.Options{}, Params{}); err == nil || !strings.Contains(err.Error(), `"gru"`) {
		t.Errorf("unknown architecture: err = %v", err)
	}
}

// Predict is a probability distribution for any input, even malformed
// (short, long, empty, negative, NaN, infinite counts), and gives the same
// answers from many goroutines at once.
func TestPredictRobustAndConcurrent(t *testing.T) {
	d := orderData(6, 3)
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		m, err := TrainWith(context.Background(), a, d, learn.Options{Seed: 1, Epochs: 1}, Params{Hidden: 5})
		if err != nil {
			t.Fatal(err)
		}
		inputs := [][][]float64{
			nil,
			{{1, 2}},
			{{1, 2, 3, 4, 5, 6, 7, 8}, {-1, math.NaN(), math.Inf(1), math.Inf(-1), 0, 1}},
			{{0, 0, 0, 0, 0, 0}, {math.MaxFloat64, math.MaxFloat64, 1, 1, 1, 1}},
			d.Samples[0].X,
			append(append([][]float64{}, d.Samples[1].X...), d.Samples[2].X...), // 20 vectors
		}
		for i, x := range inputs {
			p := m.Predict(x)
			var sum float64
			for _, v := range p {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s input %d: probability %g", a, i, v)
				}
				sum += v
			}
			if len(p) != 4 || math.Abs(sum-1) > 1e-12 {
				t.Fatalf("%s input %d: %v", a, i, p)
			}
		}
		want := make([][]float64, len(d.Samples))
		for i, s := range d.Samples {
			want[i] = m.Predict(s.X)
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Go(func() {
				for r := 0; r < 20; r++ {
					for i, s := range d.Samples {
						got := m.Predict(s.X)
						for j := range got {
							if got[j] != want[i][j] {
								t.Errorf("%s: concurrent Predict of sample %d differs", a, i)
								return
							}
						}
					}
				}
			})
		}
		wg.Wait()
	}
}
