// Package learntest holds what the tests and benchmarks of the model kinds
// share: synthetic count vector data and the checks every kind must pass.
package learntest

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/learn"
)

// Synthetic returns perClass samples of each of k classes over dim-entry
// count vectors. Each class has a profile: the shares of a few system
// calls it mostly makes. Each vector mixes its class's profile with a
// fresh random one, noise being the random one's weight (0: every vector
// is its profile; 1: no trace of the class), and draws 20 to 500 calls
// from the mix. Samples alternate between groups "h1" and "h2", a second
// apart within a class. The same arguments give the same data.
func Synthetic(k, dim, perClass int, noise float64, seed uint64) *learn.Data {
	rng := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	profiles := make([][]float64, k)
	for c := range profiles {
		p := make([]float64, dim)
		for range 6 {
			p[rng.IntN(dim)] += rng.ExpFloat64()
		}
		norm(p)
		profiles[c] = p
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	d := &learn.Data{Dim: dim}
	for c := range k {
		d.Classes = append(d.Classes, "class-"+string(rune('A'+c%26))+string(rune('a'+c/26)))
		for i := range perClass {
			x := make([][]float64, learn.SeqLen)
			for j := range x {
				r := make([]float64, dim)
				for range 6 {
					r[rng.IntN(dim)] += rng.ExpFloat64()
				}
				norm(r)
				total := 20 + rng.Float64()*480
				v := make([]float64, dim)
				for e := range v {
					v[e] = math.Round(total * ((1-noise)*profiles[c][e] + noise*r[e]))
				}
				x[j] = v
			}
			d.Samples = append(d.Samples, learn.Sample{
				X: x, Y: c, Group: []string{"h1", "h2"}[i%2],
				Start: t0.Add(time.Duration(i*learn.SeqLen) * time.Second),
			})
		}
	}
	return d
}

func norm(p []float64) {
	s := 0.0
	for _, v := range p {
		s += v
	}
	for i := range p {
		p[i] /= s
	}
}

// CheckKind trains the named kind on separable synthetic data and checks
// what every kind promises: it learns (test accuracy at least minAccuracy),
// Predict gives probabilities, the same seed gives the same model whatever
// the workers, MarshalBinary and Decode round-trip, Decode refuses what
// does not fit, and Train stops when its context ends. A kind that is
// deterministic does not use the seed; others must give another model for
// another seed.
func CheckKind(t *testing.T, name string, o learn.Options, minAccuracy float64, deterministic bool) {
	t.Helper()
	kind, ok := learn.Lookup(name)
	if !ok {
		t.Fatalf("kind %q not registered", name)
	}
	d := Synthetic(5, 12, 40, 0.3, 1)
	train, test := learn.SplitByTime(d, 0.75)
	o.Workers = 1
	m, err := kind.Train(context.Background(), train, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind() != name {
		t.Fatalf("model says it is a %q", m.Kind())
	}
	sc := learn.Evaluate(m, test, 2)
	if sc.Accuracy < minAccuracy || sc.MacroRecall < minAccuracy {
		t.Fatalf("test accuracy %.3f, macro recall %.3f, want at least %.2f", sc.Accuracy, sc.MacroRecall, minAccuracy)
	}
	for _, s := range test.Samples[:10] {
		p := m.Predict(s.X)
		sum := 0.0
		for _, v := range p {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("probability %v", v)
			}
			sum += v
		}
		if len(p) != len(d.Classes) || math.Abs(sum-1) > 1e-9 {
			t.Fatalf("Predict = %v, want %d probabilities summing to 1", p, len(d.Classes))
		}
	}

	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	o.Workers = 2
	m2, err := kind.Train(context.Background(), train, o)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := m2.MarshalBinary(); !bytes.Equal(b, b2) {
		t.Fatal("the same seed with 2 workers gave another model")
	}
	o.Seed++
	if m3, err := kind.Train(context.Background(), train, o); err != nil {
		t.Fatal(err)
	} else if b3, _ := m3.MarshalBinary(); !deterministic && bytes.Equal(b, b3) {
		t.Fatal("another seed gave the same model")
	}
	back, err := kind.Decode(b, len(d.Classes), d.Dim)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range test.Samples {
		p, q := m.Predict(s.X), back.Predict(s.X)
		for i := range p {
			if p[i] != q[i] {
				t.Fatalf("decoded model predicts %v, the trained one %v", q, p)
			}
		}
	}
	if _, err := kind.Decode(b, len(d.Classes)+1, d.Dim); err == nil {
		t.Fatal("decoded for another number of classes")
	}
	if _, err := kind.Decode(b, len(d.Classes), d.Dim-1); err == nil {
		t.Fatal("decoded for another dimension")
	}
	for _, n := range []int{0, 1, 7, len(b) / 2, len(b) - 1} {
		if _, err := kind.Decode(b[:n], len(d.Classes), d.Dim); err == nil {
			t.Fatalf("decoded %d of %d bytes", n, len(b))
		}
	}
	if _, err := kind.Decode(append(bytes.Clone(b), 0), len(d.Classes), d.Dim); err == nil {
		t.Fatal("decoded with a byte appended")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := kind.Train(ctx, train, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("Train with its context ended: %v", err)
	}
	// Ended while it trains: it stops with the context's error.
	ctx, cancel = context.WithCancel(context.Background())
	stopped := o
	stopped.Progress = func(learn.Progress) { cancel() }
	if _, err := kind.Train(ctx, train, stopped); !errors.Is(err, context.Canceled) {
		t.Fatalf("Train with its context ended after the first progress: %v", err)
	}
	if _, err := kind.Train(context.Background(), &learn.Data{Classes: []string{"a"}, Dim: 3}, o); err == nil {
		t.Fatal("trained on no sample")
	}
}

// FuzzDecode is the body of a kind's Decode fuzz target: any bytes decode
// to a model that predicts probabilities, or to an error.
func FuzzDecode(t *testing.T, kind learn.Kind, b []byte, classes, dim int) {
	m, err := kind.Decode(b, classes, dim)
	if err != nil {
		return
	}
	x := make([][]float64, learn.SeqLen)
	for i := range x {
		x[i] = make([]float64, dim)
		x[i][i%dim] = float64(i)
	}
	p := m.Predict(x)
	if len(p) != classes {
		t.Fatalf("%d probabilities for %d classes", len(p), classes)
	}
}
