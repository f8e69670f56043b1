package kinds

import (
	"context"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/learn/learntest"
)

// The baselines at the size of seed 001's laboratory classes: 28 classes
// over 100-entry vectors (99 system calls and the rest), 100 samples of 10
// vectors per class to train on.
const (
	benchClasses   = 28
	benchDim       = 100
	benchPerClass  = 100
	benchNoise     = 0.8
	benchTestShare = 0.2
)

func benchData() (train, test *learn.Data) {
	return learn.SplitByTime(learntest.Synthetic(benchClasses, benchDim, benchPerClass, benchNoise, 42), 1-benchTestShare)
}

// BenchmarkTrain reports each baseline's training time on 28 classes x 80
// samples x 10 vectors, with the test accuracy it reached.
func BenchmarkTrain(b *testing.B) {
	train, test := benchData()
	vectors := 0
	for _, s := range train.Samples {
		vectors += len(s.X)
	}
	for _, name := range []string{"logreg", "svm", "forest"} {
		kind, _ := learn.Lookup(name)
		b.Run(name, func(b *testing.B) {
			var m learn.Model
			for b.Loop() {
				var err error
				if m, err = kind.Train(context.Background(), train, learn.Options{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(vectors)*float64(b.N)/b.Elapsed().Seconds(), "vectors/s")
			b.ReportMetric(learn.Evaluate(m, test, 0).Accuracy, "accuracy")
		})
	}
}

// BenchmarkPredict reports each baseline's classification of one sequence
// (10 vectors) on one goroutine.
func BenchmarkPredict(b *testing.B) {
	train, test := benchData()
	for _, name := range []string{"logreg", "svm", "forest"} {
		kind, _ := learn.Lookup(name)
		m, err := kind.Train(context.Background(), train, learn.Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				m.Predict(test.Samples[i%len(test.Samples)].X)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sequences/s")
		})
	}
}
