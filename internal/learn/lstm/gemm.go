package lstm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gonum's Dgemm starts goroutines of its own when C has four or more
// blocks of 64×64 (gonumBlock); gemm hands it tiles of at most three, so
// that it stays on its serial kernel: the trainer's workers are the only
// parallelism, Options.Workers says how many cores training uses, and
// every product is summed in the same order whatever the number of cores.
// Tiles are as wide as that allows, for the kernel's long vector updates.
const (
	gonumBlock    = 64
	maxTileBlocks = 3
)

func blocks(n int) int { return (n + gonumBlock - 1) / gonumBlock }

// tiles returns the tile size for a product with n columns: columns in
// balanced chunks of at most three blocks, rows in as many blocks as the
// chunk's width leaves.
func tiles(n int) (rows, cols int) {
	chunks := max(1, (n+maxTileBlocks*gonumBlock-1)/(maxTileBlocks*gonumBlock))
	cols = max(1, (n+chunks-1)/chunks)
	rows = max(1, maxTileBlocks/blocks(cols)) * gonumBlock
	return rows, cols
}

// tileBlocks is the number of gonum blocks in gemm's largest tile of an
// m×n product.
func tileBlocks(m, n int) int {
	rows, cols := tiles(n)
	return blocks(min(rows, m)) * blocks(min(cols, n))
}

// impl is gonum's pure Go BLAS itself (not whatever blas64.Use installed),
// whose parallel split gemm's tiling is made for.
var impl gonum.Implementation

// gemm computes C = alpha·op(A)·op(B) + beta·C for row-major slices, with
// op(A) m×k and op(B) k×n, as blas Dgemm does, tile by tile.
func gemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	if k == 0 {
		// Dgemm with k = 0 only scales C; keep the same meaning.
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return
	}
	tileRows, tileCols := tiles(n)
	for i0 := 0; i0 < m; i0 += tileRows {
		mi := min(tileRows, m-i0)
		// op(A) rows i0.. : stored rows i0.. (no transpose) or columns i0.. (transposed).
		var as []float64
		if tA {
			as = a[i0:]
		} else {
			as = a[i0*lda:]
		}
		for j0 := 0; j0 < n; j0 += tileCols {
			nj := min(tileCols, n-j0)
			// op(B) columns j0.. : stored columns j0.. (no transpose) or rows j0.. (transposed).
			var bs []float64
			if tB {
				bs = b[j0*ldb:]
			} else {
				bs = b[j0:]
			}
			impl.Dgemm(ta, tb, mi, nj, k, alpha, as, lda, bs, ldb, beta, c[i0*ldc+j0:], ldc)
		}
	}
}
