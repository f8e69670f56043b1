package lstm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// fastTolerance is how far Predict's probabilities may be from the exact
// float64 forward pass's.
const fastTolerance = 1e-5

// kernelModes runs f with each form of the inference kernels the
// processor has: the portable one, and the AVX2 one where it runs.
func kernelModes(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	type mode struct {
		name         string
		avx2, avx512 bool
	}
	modes := []mode{{"portable", false, false}}
	if haveAVX2 {
		modes = append(modes, mode{"avx2", true, false})
	} else {
		t.Log("no AVX2 and FMA here (or the purego tag): the portable kernels only")
	}
	if haveAVX512 {
		modes = append(modes, mode{"avx512", true, true})
	}
	defer func(a, b bool) { useAVX2, useAVX512 = a, b }(useAVX2, useAVX512)
	for _, m := range modes {
		useAVX2, useAVX512 = m.avx2, m.avx512
		t.Run(m.name, f)
	}
}

// TestGates: the gate kernel's sigmoid and tanh are within 1.5e-7 of
// math's over [-30, 30] in steps of 1e-4, a bias added first; they stay
// in their range and are never NaN, whatever comes in.
func TestGates(t *testing.T) {
	kernelModes(t, func(t *testing.T) {
		const n = 600_000
		xs := make([]float32, n)
		bias := make([]float32, n)
		for i := range xs {
			x := -30 + float64(i)*1e-4
			bias[i] = float32(i%7) - 3
			xs[i] = float32(x) - bias[i]
		}
		x := func(i int) float64 { return float64(xs[i]) + float64(bias[i]) }
		sig := append([]float32(nil), xs...)
		act(sig, bias, sigScale, sigMul, sigAdd)
		th := append([]float32(nil), xs...)
		act(th, bias, tanhScale, tanhMul, tanhAdd)
		var maxS, maxT float64
		for i := range xs {
			maxS = max(maxS, math.Abs(float64(sig[i])-1/(1+math.Exp(-x(i)))))
			maxT = max(maxT, math.Abs(float64(th[i])-math.Tanh(x(i))))
		}
		t.Logf("largest error on [-30, 30]: sigmoid %.2g, tanh %.2g", maxS, maxT)
		if maxS > 1.5e-7 || maxT > 1.5e-7 {
			t.Errorf("largest error: sigmoid %g, tanh %g", maxS, maxT)
		}
		odd := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32, 1e-30, 0, -0}
		zero := make([]float32, len(odd))
		s := append([]float32(nil), odd...)
		act(s, zero, sigScale, sigMul, sigAdd)
		tn := append([]float32(nil), odd...)
		act(tn, zero, tanhScale, tanhMul, tanhAdd)
		for i := range odd {
			if !(s[i] >= 0 && s[i] <= 1) || !(tn[i] >= -1 && tn[i] <= 1) {
				t.Errorf("act(%g): sigmoid %g, tanh %g", odd[i], s[i], tn[i])
			}
		}
		if s[1] != 1 || s[2] != 0 || tn[1] != 1 || tn[2] != -1 {
			t.Errorf("act(±Inf): sigmoid %g %g, tanh %g %g", s[1], s[2], tn[1], tn[2])
		}
	})
}

// TestAxpyRows: the row kernel adds the scaled rows asked for, in any
// order and with repeats, as a plain loop does.
func TestAxpyRows(t *testing.T) {
	kernelModes(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 1))
		const rows, ldw, cols = 9, 300, 256
		w := make([]float32, (rows-1)*ldw+cols)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		idx := []int32{3, 0, 8, 3, 5}
		val := []float32{0.5, -2, 1e-3, 1, 0}
		z := make([]float32, cols)
		want := make([]float64, cols)
		for j := range z {
			z[j] = float32(j)
			want[j] = float64(j)
		}
		for i, r := range idx {
			for j := range cols {
				want[j] += float64(val[i]) * float64(w[int(r)*ldw+j])
			}
		}
		axpyRows(z, w, ldw, idx, val)
		for j := range z {
			if math.Abs(float64(z[j])-want[j]) > 1e-5*(1+math.Abs(want[j])) {
				t.Fatalf("column %d: %g, want %g", j, z[j], want[j])
			}
		}
		defer func() {
			if recover() == nil {
				t.Error("a row past the matrix's end did not panic")
			}
		}()
		axpyRows(z, w, ldw, []int32{rows}, val)
	})
}

// fastInputs are the sequences the fast path is checked on: samples of
// the data, every length from 1 to 3 and 10, and vectors empty, all zero,
// shorter and longer than dim, with NaN, negative, infinite and huge
// counts.
func fastInputs(d *learn.Data, rng *rand.Rand) [][][]float64 {
	dim := d.Dim
	odd := [][]float64{
		nil,
		{},
		make([]float64, dim),
		{3, 1},                                // shorter than dim
		append(make([]float64, dim), 7, 7, 7), // longer: the tail is ignored
		{math.NaN(), -4, math.Inf(1), math.Inf(-1), 2, 0, 5},
		{math.MaxFloat64, math.MaxFloat64, 1}, // the sum overflows: read as zero
		{math.NaN(), math.NaN()},
		{-1, -2, -3},
		{1e300, 1},
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 1e-300},
		{5e-324, 0, 1e-320}, // subnormal: the sum's inverse overflows
	}
	var out [][][]float64
	for i := 0; i < 60; i++ {
		out = append(out, d.Samples[i%len(d.Samples)].X)
	}
	for _, L := range []int{1, 2, 3, 4, 5, 6, 7, 10, 11, 13} {
		for r := 0; r < 8; r++ {
			s := d.Samples[rng.IntN(len(d.Samples))].X
			x := make([][]float64, L)
			for t := range x {
				if rng.IntN(3) == 0 {
					x[t] = odd[rng.IntN(len(odd))]
				} else {
					x[t] = s[t%len(s)]
				}
			}
			out = append(out, x)
		}
	}
	for _, v := range odd {
		for _, L := range []int{1, 2, 3, 10} {
			x := make([][]float64, L)
			for t := range x {
				x[t] = v
			}
			out = append(out, x)
		}
	}
	return append(out, nil, [][]float64{})
}

// TestFastMatchesExact: Predict's probabilities are within fastTolerance
// of the training's exact float64 forward pass for every kind and every
// form of the kernels, on confident trained models (a high learning rate,
// 20 epochs), odd vectors and sequences of any length; they are never NaN
// and sum to 1.
func TestFastMatchesExact(t *testing.T) {
	d := benchData(120, 50, 7)
	type trained struct {
		name string
		m    *Model
	}
	var models []trained
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		for _, hidden := range []int{5, 64} {
			m, err := TrainWith(context.Background(), a, d, learn.Options{Seed: 3, Epochs: 20, Workers: 1}, Params{Hidden: hidden, LearnRate: 1e-2})
			if err != nil {
				t.Fatal(err)
			}
			if m.fast == nil {
				t.Fatalf("%s: trained model has no fast path", a)
			}
			var big float64
			for _, v := range m.theta {
				big = max(big, math.Abs(v))
			}
			name := fmt.Sprintf("%s H=%d (largest weight %.2g)", a, hidden, big)
			models = append(models, trained{name, m})
			// The same net with every weight four times larger: saturated
			// gates, sharper probabilities, float32's rounding four times
			// larger.
			theta := append([]float64(nil), m.theta...)
			for i := range theta {
				theta[i] *= 4
			}
			models = append(models, trained{fmt.Sprintf("%s H=%d, weights ×4", a, hidden), newModel(m.s.a, m.s.H, m.s.C, m.s.D, theta)})
		}
	}
	kernelModes(t, func(t *testing.T) {
		for _, tm := range models {
			m := tm.m
			rng := rand.New(rand.NewPCG(7, uint64(m.s.H)))
			var worst float64
			for i, x := range fastInputs(d, rng) {
				got := m.Predict(x)
				want := m.predictExact(x, make([]float64, len(d.Classes)))
				var sum float64
				for j := range got {
					if !(got[j] >= 0 && got[j] <= 1) || !(want[j] >= 0 && want[j] <= 1) {
						t.Fatalf("%s input %d: probability %g, exact %g", tm.name, i, got[j], want[j])
					}
					sum += got[j]
					worst = max(worst, math.Abs(got[j]-want[j]))
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Fatalf("%s input %d: probabilities sum to %g", tm.name, i, sum)
				}
			}
			t.Logf("%s: largest difference from the exact pass %.2g", tm.name, worst)
			if worst > fastTolerance {
				t.Errorf("%s: probabilities %g from the exact pass's, want at most %g", tm.name, worst, fastTolerance)
			}
		}
	})
}

// TestFastFallback: a model whose weights float32 cannot carry is read by
// the exact pass.
func TestFastFallback(t *testing.T) {
	d := benchData(40, 10, 3)
	m, err := TrainWith(context.Background(), Simple, d, learn.Options{Seed: 1, Epochs: 1, Workers: 1}, Params{Hidden: 4})
	if err != nil {
		t.Fatal(err)
	}
	theta := append([]float64(nil), m.theta...)
	theta[0] = 1e30
	big := newModel(m.s.a, m.s.H, m.s.C, m.s.D, theta)
	if big.fast != nil {
		t.Fatal("a weight of 1e30 kept the float32 path")
	}
	x := d.Samples[0].X
	want := big.predictExact(x, make([]float64, 3))
	for j, p := range big.Predict(x) {
		if p != want[j] {
			t.Fatalf("fallback Predict %v, exact %v", big.Predict(x), want)
		}
	}
}

// TestPredictAllocations: Predict allocates its answer only.
func TestPredictAllocations(t *testing.T) {
	if testutil.Race {
		t.Skip("the race detector makes sync.Pool drop what it is given")
	}
	d := benchData(40, 30, 4)
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		m, err := TrainWith(context.Background(), a, d, learn.Options{Seed: 1, Epochs: 1, Workers: 1}, Params{Hidden: 8})
		if err != nil {
			t.Fatal(err)
		}
		x := d.Samples[0].X
		m.Predict(x)
		if n := testing.AllocsPerRun(100, func() { m.Predict(x) }); n > 1 {
			t.Errorf("%s: %g allocations per Predict, want 1", a, n)
		}
	}
}

// FuzzPredict: whatever the counts (any float64, any vector and sequence
// length), Predict of each kind answers probabilities that sum to 1, never
// NaN, within fastTolerance of the exact pass's.
func FuzzPredict(f *testing.F) {
	const dim = 12
	d := benchData(60, dim, 3)
	var models []*Model
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		m, err := TrainWith(context.Background(), a, d, learn.Options{Seed: 2, Epochs: 2, Workers: 1}, Params{Hidden: 6})
		if err != nil {
			f.Fatal(err)
		}
		models = append(models, m)
	}
	f.Add([]byte{10, 12, 0, 0, 0, 0, 0, 0, 240, 63})
	f.Add([]byte{3, 2, 255, 255, 255, 255, 255, 255, 239, 127, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		// b[0]: vectors; then each vector's length in one byte and its
		// entries in 8 bytes each (little-endian float64 bits), cycling
		// through b.
		L, pos := int(b[0])%14, 1
		next := func() byte {
			if len(b) == 1 {
				return 0
			}
			c := b[1+(pos-1)%(len(b)-1)]
			pos++
			return c
		}
		x := make([][]float64, L)
		for t := range x {
			x[t] = make([]float64, int(next())%(dim+4))
			for k := range x[t] {
				var u uint64
				for i := range 8 {
					u |= uint64(next()) << (8 * i)
				}
				x[t][k] = math.Float64frombits(u)
			}
		}
		for _, m := range models {
			got := m.Predict(x)
			want := m.predictExact(x, make([]float64, len(got)))
			var sum float64
			for j := range got {
				if !(got[j] >= 0 && got[j] <= 1) || math.Abs(got[j]-want[j]) > fastTolerance {
					t.Fatalf("%s: probabilities %v, exact %v", m.Kind(), got, want)
				}
				sum += got[j]
			}
			if math.Abs(sum-1) > 1e-12 {
				t.Fatalf("%s: probabilities %v sum to %g", m.Kind(), got, sum)
			}
		}
	})
}
