package lstm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
)

// paramName says which weight index i of a net of shape s is, for failures.
func paramName(s shape, i int) string {
	G := s.G()
	for l := 0; l < s.a.lstms; l++ {
		switch {
		case i >= s.wx(l) && i < s.wh(l):
			k := i - s.wx(l)
			return fmt.Sprintf("lstm%d.Wx[%d,%d]", l, k/G, k%G)
		case i >= s.wh(l) && i < s.b(l):
			k := i - s.wh(l)
			return fmt.Sprintf("lstm%d.Wh[%d,%d]", l, k/G, k%G)
		case i >= s.b(l) && i < s.b(l)+G:
			return fmt.Sprintf("lstm%d.b[%d]", l, i-s.b(l))
		}
	}
	if i < s.c() {
		k := i - s.v()
		return fmt.Sprintf("fc.V[%d,%d]", k/s.C, k%s.C)
	}
	return fmt.Sprintf("fc.c[%d]", i-s.c())
}

// tinyData draws n samples of L vectors of dim random counts (some all
// zero) over classes classes.
func tinyData(rng *rand.Rand, n, L, dim, classes int) []learn.Sample {
	out := make([]learn.Sample, n)
	for i := range out {
		out[i].Y = i % classes
		for t := 0; t < L; t++ {
			v := make([]float64, dim)
			if rng.IntN(5) > 0 {
				for k := range v {
					v[k] = float64(rng.IntN(20))
				}
			}
			out[i].X = append(out[i].X, v)
		}
	}
	return out
}

// The analytic gradient of the training objective (mean cross-entropy
// plus the L2 term) agrees with numerical (central) differences for every weight and
// bias of every architecture, with batches cut into several shards.
func TestGradientsMatchCentralDifferences(t *testing.T) {
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		t.Run(string(a), func(t *testing.T) {
			ar, _ := archOf(a)
			rng := rand.New(rand.NewPCG(7, 11))
			s := shape{a: ar, H: 3, D: 5, C: 3}
			theta := make([]float64, s.size())
			for i := range theta {
				theta[i] = rng.NormFloat64() * 0.8
			}
			p := Params{Hidden: 3, Batch: 3, Shard: 2, LearnRate: 1e-3, L2: 0.3}
			tr := newTrainer(s, theta, p, 2)
			// Seven vectors: inception's 2- and 3-vector runs drop a last incomplete group.
			samples := tinyData(rng, 3, 7, s.D, s.C)
			batch := []int{0, 1, 2}
			tr.gradient(samples, batch, 7)
			analytic := append([]float64(nil), tr.grad...)

			// Five-point central differences: truncation error O(h⁴),
			// rounding error about 1e-16/h ≈ 1e-12, so gradients below
			// 1e-5 are compared at an absolute 1e-11.
			const h = 1e-4
			worst := 0.0
			for i := range theta {
				orig := theta[i]
				at := func(d float64) float64 {
					theta[i] = orig + d
					return tr.objective(samples, batch, 7)
				}
				num := (at(-2*h) - 8*at(-h) + 8*at(h) - at(2*h)) / (12 * h)
				theta[i] = orig
				a := analytic[i]
				den := max(math.Abs(a)+math.Abs(num), 1e-5)
				rel := math.Abs(a-num) / den
				worst = max(worst, rel)
				if rel > 1e-6 {
					t.Errorf("%s: analytic %.10g, numeric %.10g (relative error %.2g)", paramName(s, i), a, num, rel)
				}
			}
			t.Logf("%d parameters, worst relative error %.2g", len(theta), worst)
		})
	}
}
