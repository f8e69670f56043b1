package lstm

import (
	"fmt"
	"math"
)

// The inference path's two kernels: a sum of scaled matrix rows and the
// gates' nonlinearity over a vector. Each has an AVX2+FMA form
// (kernels_amd64.s; the row kernel an AVX-512 one too) and a portable one;
// useAVX2 and useAVX512 pick, once, from what the processor has (tests run
// every form the processor has).
var useAVX2, useAVX512 = haveAVX2, haveAVX512

// blockCols is the column block of the widest row kernel: rows of the
// inference path's matrices are padded to a multiple of it.
const blockCols = 128

// gateLanes is the vector width of the gate kernel: each gate's block of
// pre-activations is padded to a multiple of it.
const gateLanes = 8

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// axpyRows adds Σ val[i]·w[idx[i]·ldw : idx[i]·ldw+len(z)] to z. len(z) is
// a multiple of blockCols; every row read must lie in w (checked: a bad
// index is a programming error, and the kernel reads memory unchecked).
func axpyRows(z, w []float32, ldw int, idx []int32, val []float32) {
	n := len(z)
	if n%blockCols != 0 || len(val) < len(idx) || ldw < n {
		panic(fmt.Sprintf("lstm: axpyRows of %d columns, stride %d, %d rows, %d values", n, ldw, len(idx), len(val)))
	}
	rows := int32((len(w) - n) / ldw) // the last row that fits
	for _, r := range idx {
		if r < 0 || r > rows || len(w) < n {
			panic(fmt.Sprintf("lstm: axpyRows row %d of a %d-row matrix", r, rows+1))
		}
	}
	if len(idx) == 0 {
		return
	}
	switch {
	case useAVX512:
		for c := 0; c < n; c += 128 {
			axpyRows128(&z[c], &w[c], ldw, &idx[0], &val[0], len(idx))
		}
		return
	case useAVX2:
		for c := 0; c < n; c += 64 {
			axpyRows64(&z[c], &w[c], ldw, &idx[0], &val[0], len(idx))
		}
		return
	}
	for i, r := range idx {
		if a := val[i]; a != 0 {
			impl.Saxpy(n, a, w[int(r)*ldw:int(r)*ldw+n], 1, z, 1)
		}
	}
}

// actConsts are the gate kernel's constants, each in eight lanes: the
// bounds of its argument, then the coefficients of 2^f, highest first.
type actConsts [9][gateLanes]float32

var actC = func() *actConsts {
	c := new(actConsts)
	vals := [9]float64{60, -60}
	// 2^f = e^(f·ln 2) = Σ (ln 2)^j/j! f^j, to j = 6: for |f| <= 1/2 the
	// rest is below 1.2e-7 of it.
	for j := 0; j <= 6; j++ {
		vals[8-j] = math.Pow(math.Ln2, float64(j)) / math.Gamma(float64(j+1))
	}
	for i, v := range vals {
		for l := range c[i] {
			c[i][l] = float32(v)
		}
	}
	return c
}()

// Sigmoid and tanh as act's mul·tanh(scale·x) + add: σ(x) = (1+tanh(x/2))/2.
const (
	sigScale, sigMul, sigAdd    = 0.5, 0.5, 0.5
	tanhScale, tanhMul, tanhAdd = 1, 1, 0
)

// act sets z[i] to mul·tanh(scale·(z[i]+bias[i])) + add, to within 1.5e-7
// (the AVX2 kernel, float32) or 5e-8 (the portable one); never NaN.
// len(z) is a multiple of gateLanes and bias at least as long.
func act(z, bias []float32, scale, mul, add float32) {
	n := len(z)
	if n%gateLanes != 0 || len(bias) < n {
		panic(fmt.Sprintf("lstm: act over %d values, %d biases", n, len(bias)))
	}
	if n == 0 {
		return
	}
	if useAVX2 {
		tanhAffine8(&z[0], &bias[0], n, actC, 2*scale*math.Log2E, mul, add)
		return
	}
	bias = bias[:n]
	for i, v := range z {
		z[i] = float32(float64(mul)*tanhApprox(float64(scale)*(float64(v)+float64(bias[i]))) + float64(add))
	}
}
