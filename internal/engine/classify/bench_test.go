package classify

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/cvtest"
)

// BenchmarkClassify measures the engine on one core with stride 1: every
// vector completes a sequence that the model classifies (the cost of a
// vector at the default stride of 10 is about a tenth of it). ns/op is
// the latency from a vector to its process's verdict; sequences/s is the
// throughput per core; cpu-ns/op and sequences/cpu-s count the process's
// processor time only (a loaded machine inflates ns/op).
func BenchmarkClassify(b *testing.B) {
	recs := cvtest.WriteRecordings(b, b.TempDir(), 200, 31)
	for _, kind := range []string{"logreg", "svm", "forest", "lstm", "bilstm", "inception"} {
		if _, ok := learn.Lookup(kind); !ok {
			continue
		}
		b.Run(kind, func(b *testing.B) {
			res, err := classifier.Train(context.Background(), classifier.TrainOptions{Data: recs, Kind: kind, Epochs: 2, Seed: 1, Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			e, err := New(res.File, Options{Stride: 1, MaxProcesses: 1000})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			const procs = 100
			vs := make([]event.CountVector, 0, procs*20)
			for p := range int32(procs) {
				vs = append(vs, cvtest.Vectors(rng, "web1", p, "nginx", t0, 20, cvtest.Behaviours["nginx"])...)
			}
			emit := func(event.Report) {}
			b.ResetTimer()
			cpu := testutil.CPUTime()
			for i := range b.N {
				v := vs[i%len(vs)]
				v.Start = v.Start.Add(time.Duration(i/len(vs)) * 20 * time.Second) // each process goes on where it was
				e.Observe(&v, emit)
			}
			b.StopTimer()
			if s := e.Stats(); s.Sequences > 0 {
				b.ReportMetric(float64(s.Sequences)/b.Elapsed().Seconds(), "sequences/s")
				testutil.ReportCPU(b, cpu, int(s.Sequences), "sequences")
			}
		})
	}
}
