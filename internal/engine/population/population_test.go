package population

import (
	"math"
	"testing"
)

// TestDistances: every distance is 0 for the same distribution, 1 for
// disjoint ones, symmetric, and grows as distributions part.
func TestDistances(t *testing.T) {
	p := []float64{0.5, 0.5, 0, 0}
	q := []float64{0, 0, 0.5, 0.5}
	near := []float64{0.45, 0.5, 0.05, 0}
	far := []float64{0.2, 0.3, 0.3, 0.2}
	for _, k := range []string{Hellinger, JS, ChiSquare} {
		if d := Distance(k, p, p); d > 1e-12 {
			t.Errorf("%s(p, p) = %v, want 0", k, d)
		}
		if d := Distance(k, p, q); math.Abs(d-1) > 1e-12 {
			t.Errorf("%s of disjoint distributions = %v, want 1", k, d)
		}
		if a, b := Distance(k, p, far), Distance(k, far, p); math.Abs(a-b) > 1e-12 {
			t.Errorf("%s not symmetric: %v, %v", k, a, b)
		}
		if a, b := Distance(k, p, near), Distance(k, p, far); !(a < b) {
			t.Errorf("%s: near %v not below far %v", k, a, b)
		}
	}
}

func TestMedianMAD(t *testing.T) {
	med, mad := medianMAD([]float64{1, 2, 3, 4, 100})
	if med != 3 || mad != 1 {
		t.Errorf("median %v, MAD %v: want 3 and 1", med, mad)
	}
	med, _ = medianMAD([]float64{4, 1, 3, 2})
	if med != 2.5 {
		t.Errorf("median of four %v", med)
	}
}
