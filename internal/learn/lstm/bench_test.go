package lstm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// benchData draws n samples of 10 vectors over dim features and classes
// classes, shaped like system call counts: each class calls a few dozen of
// the features, at rates of its own, the rest stay zero.
func benchData(n, dim, classes int) *learn.Data {
	rng := rand.New(rand.NewPCG(1, 2))
	rates := make([][]float64, classes)
	for c := range rates {
		rates[c] = make([]float64, dim)
		for k := range rates[c] {
			if rng.IntN(3) == 0 {
				rates[c][k] = 50 * rng.Float64()
			}
		}
	}
	d := &learn.Data{Dim: dim}
	for c := 0; c < classes; c++ {
		d.Classes = append(d.Classes, fmt.Sprintf("class%d", c))
	}
	for i := 0; i < n; i++ {
		s := learn.Sample{Y: i % classes}
		for t := 0; t < learn.SeqLen; t++ {
			v := make([]float64, dim)
			for k, r := range rates[s.Y] {
				v[k] = float64(int(r * 2 * rng.Float64()))
			}
			s.X = append(s.X, v)
		}
		d.Samples = append(d.Samples, s)
	}
	return d
}

// BenchmarkTrainEpoch times one training epoch over 2,000 samples (10
// vectors of 100 counts, 28 classes) with the default parameters (64
// hidden units, batches of 32), per kind and number of workers.
func BenchmarkTrainEpoch(b *testing.B) {
	d := benchData(2000, 100, 28)
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", a, workers), func(b *testing.B) {
				for b.Loop() {
					if _, err := TrainWith(context.Background(), a, d, learn.Options{Seed: 1, Epochs: 1, Workers: workers}, Params{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(d.Samples)*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// BenchmarkPredict times classifying one sequence (10 vectors of 100
// counts, 28 classes, 64 hidden units) on one goroutine; cpu-ns/op and
// sequences/cpu-s count the process's processor time, which a loaded
// machine does not inflate as it does ns/op.
func BenchmarkPredict(b *testing.B) {
	d := benchData(100, 100, 28)
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		m, err := TrainWith(context.Background(), a, d, learn.Options{Seed: 1, Epochs: 1, Workers: 1}, Params{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(a), func(b *testing.B) {
			i := 0
			cpu := testutil.CPUTime()
			for b.Loop() {
				m.Predict(d.Samples[i%len(d.Samples)].X)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sequences/s")
			testutil.ReportCPU(b, cpu, b.N, "sequences")
		})
	}
}
