package linear

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/learn/learntest"
)

func TestLogRegLearnsSeparableClasses(t *testing.T) {
	learntest.CheckKind(t, KindLogReg, learn.Options{Seed: 1}, 0.95, true)
}

func TestSVMLearnsSeparableClasses(t *testing.T) {
	learntest.CheckKind(t, KindSVM, learn.Options{Seed: 1}, 0.95, true)
}

// TestLossGradientsMatchFiniteDifferences checks the analytic gradient
// of the regularised cross-entropy against central differences at a
// random point.
func TestLossGradientsMatchFiniteDifferences(t *testing.T) {
	d := learntest.Synthetic(4, 7, 5, 0.5, 3)
	z, y, _, _, err := prepare(KindLogReg, d)
	if err != nil {
		t.Fatal(err)
	}
	for name, loss := range map[string]func(*objective) func(theta, g []float64, lo, hi int) float64{
		"cross-entropy": func(o *objective) func(theta, g []float64, lo, hi int) float64 { return o.crossEntropy },
		"squared hinge": func(o *objective) func(theta, g []float64, lo, hi int) float64 { return o.squaredHinge },
	} {
		checkGradient(t, name, z, y, loss)
	}
}

func checkGradient(t *testing.T, name string, z []float64, y []int, loss func(*objective) func(theta, g []float64, lo, hi int) float64) {
	l := &objective{z: z, y: y, k: 4, dim: 7, lambda: 0.03, workers: 2}
	l.rows = loss(l)
	rng := rand.New(rand.NewPCG(1, 2))
	theta := make([]float64, 4*7+4)
	for i := range theta {
		theta[i] = rng.NormFloat64()
	}
	grad := make([]float64, len(theta))
	l.eval(theta, grad)
	const h = 1e-6
	scratch := make([]float64, len(theta))
	for i := range theta {
		orig := theta[i]
		theta[i] = orig + h
		up := l.eval(theta, scratch)
		theta[i] = orig - h
		down := l.eval(theta, scratch)
		theta[i] = orig
		num := (up - down) / (2 * h)
		if math.Abs(num-grad[i]) > 1e-6*max(1, math.Abs(num)) {
			t.Fatalf("%s: d loss / d theta[%d]: analytic %.9g, numerical %.9g", name, i, grad[i], num)
		}
	}
}

func TestLBFGSFindsTheMinimumOfRosenbrock(t *testing.T) {
	rosen := func(x, g []float64) float64 {
		a, b := 1-x[0], x[1]-x[0]*x[0]
		g[0] = -2*a - 400*x[0]*b
		g[1] = 200 * b
		return a*a + 100*b*b
	}
	x, err := lbfgs(context.Background(), rosen, []float64{-1.2, 1}, 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(x[0]-1) > 1e-4 || math.Abs(x[1]-1) > 1e-4 {
		t.Fatalf("minimum at %v, want (1, 1)", x)
	}
}

func TestTrainingReportsProgress(t *testing.T) {
	d := learntest.Synthetic(3, 6, 10, 0.3, 5)
	for _, kind := range []string{KindLogReg, KindSVM} {
		var got []learn.Progress
		k, _ := learn.Lookup(kind)
		if _, err := k.Train(context.Background(), d, learn.Options{Epochs: 3, Progress: func(p learn.Progress) { got = append(got, p) }}); err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[len(got)-1].Epochs != 3 || got[0].Kind != kind || got[0].Epoch != 1 || got[0].Loss <= 0 {
			t.Fatalf("%s progress %+v", kind, got)
		}
	}
}

func FuzzDecodeLogReg(f *testing.F) { fuzzDecode(f, KindLogReg) }
func FuzzDecodeSVM(f *testing.F)    { fuzzDecode(f, KindSVM) }

func fuzzDecode(f *testing.F, name string) {
	kind, _ := learn.Lookup(name)
	m, err := kind.Train(context.Background(), learntest.Synthetic(3, 4, 4, 0.2, 1), learn.Options{Epochs: 2})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := m.MarshalBinary()
	f.Add(b, uint8(3), uint8(4))
	f.Add(b[:20], uint8(3), uint8(4))
	f.Fuzz(func(t *testing.T, b []byte, classes, dim uint8) {
		learntest.FuzzDecode(t, kind, b, int(classes), int(dim))
	})
}
