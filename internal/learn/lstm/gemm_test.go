package lstm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// gemm, tile by tile, computes what the textbook triple loop computes, for
// every transposition and for shapes of one tile and of many (row and
// column edges included), with C's and A's strides wider than the matrices.
func TestGemmMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			if rng.IntN(4) > 0 { // some zeros, which gonum's kernels skip
				x[i] = rng.NormFloat64()
			}
		}
		return x
	}
	shapes := [][3]int{{1, 1, 1}, {3, 5, 2}, {8, 256, 64}, {80, 256, 100}, {100, 256, 80}, {200, 70, 33}, {65, 193, 129}, {8, 64, 256}, {300, 400, 7}}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				t.Run(fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v", m, n, k, tA, tB), func(t *testing.T) {
					ar, ac := m, k
					if tA {
						ar, ac = k, m
					}
					br, bc := k, n
					if tB {
						br, bc = n, k
					}
					lda, ldb, ldc := ac+3, bc+1, n+2
					a, b, c := rnd(ar*lda), rnd(br*ldb), rnd(m*ldc)
					want := append([]float64(nil), c...)
					at := func(i, l int) float64 {
						if tA {
							return a[l*lda+i]
						}
						return a[i*lda+l]
					}
					bt := func(l, j int) float64 {
						if tB {
							return b[j*ldb+l]
						}
						return b[l*ldb+j]
					}
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var s float64
							for l := 0; l < k; l++ {
								s += at(i, l) * bt(l, j)
							}
							want[i*ldc+j] = 0.5*want[i*ldc+j] + 2*s
						}
					}
					gemm(tA, tB, m, n, k, 2, a, lda, b, ldb, 0.5, c, ldc)
					for i := range c {
						if math.Abs(c[i]-want[i]) > 1e-9*(1+math.Abs(want[i])) {
							t.Fatalf("C[%d,%d] = %g, want %g", i/ldc, i%ldc, c[i], want[i])
						}
					}
				})
			}
		}
	}
}

// gemm never starts goroutines of its own: Options.Workers alone says how
// many cores training takes.
func TestGemmStaysSerial(t *testing.T) {
	for _, g := range []int{1, 2, 10} {
		if c := tileBlocks(g*gonumBlock*4, g*gonumBlock*4); c >= 4 {
			t.Errorf("%d blocks in a tile of a %d×%d product: gonum would go parallel", c, g*256, g*256)
		}
	}
	before := runtime.NumGoroutine()
	a := make([]float64, 512*512)
	done := make(chan struct{})
	peak := before
	go func() {
		defer close(done)
		gemm(false, false, 512, 512, 512, 1, a, 512, a, 512, 0, make([]float64, 512*512), 512)
	}()
	for {
		select {
		case <-done:
			if peak > before+1 {
				t.Errorf("%d goroutines during a product, %d before", peak, before)
			}
			return
		default:
			peak = max(peak, runtime.NumGoroutine())
			runtime.Gosched()
		}
	}
}
