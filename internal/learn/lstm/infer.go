package lstm

import "math"

// The single-sample inference path (Model.Predict). Training keeps the
// exact float64 forward and backward passes of net.go; a model answers
// Predict with the same net computed more cheaply:
//
//   - float32 copies of the weights, made once when the model is built or
//     decoded (the file keeps float64), multiplied by the row kernel
//     (axpyRows: AVX-512 or AVX2 where the processor has them, gonum's
//     float32 Saxpy elsewhere);
//   - each raw vector's input projection x·Wx summed over the vector's
//     nonzero counts only (a process makes a few dozen of the system
//     calls), each LSTM's projection made once per raw vector and shared
//     by every run of that LSTM;
//   - the inception net's steps over 2 and 3 vectors take no projection
//     of their own: the projection is linear, and a group's normalised sum
//     (a+b)/(|a|+|b|) projects to (|a|·P(a/|a|) + |b|·P(b/|b|)) / (|a|+|b|),
//     a weighted sum of the single vectors' projections;
//   - the gates' sigmoid and tanh from the gate kernel (act: 2^y from a
//     polynomial and the float's exponent, eight lanes at a time, or a
//     table of cubic pieces, tanhApprox, elsewhere).
//
// fast_test.go checks it against the exact forward pass.

// fastNet is a model's weights in the form Predict reads them: float32,
// each gate's block of columns padded to a multiple of gateLanes and every
// row to a multiple of blockCols, the padding zero.
type fastNet struct {
	s    shape
	hp   int         // a gate's block of columns, H padded
	ldg  int         // a row of gates, 4·hp padded
	cp   int         // a row of the fully connected layer, C padded
	wx   [][]float32 // per LSTM: D×ldg, row k the projection of feature k
	wh   [][]float32 // per LSTM: H×ldg
	b    [][]float32 // per LSTM: ldg
	v    []float32   // the fully connected weights, F×cp
	c    []float64   // its bias, C
	zero []float32   // hp zeros
	id   []int32     // 0, 1, 2, ... max(H, F)-1
}

func newFastNet(s shape, theta []float64) *fastNet {
	H, G, D, F, C := s.H, s.G(), s.D, s.F(), s.C
	n := &fastNet{s: s, hp: roundUp(H, gateLanes)}
	n.ldg = roundUp(4*n.hp, blockCols)
	n.cp = roundUp(C, blockCols)
	// gates copies rows of 4H gate columns into rows of ldg.
	gates := func(src []float64, rows int) []float32 {
		out := make([]float32, rows*n.ldg)
		for r := range rows {
			for q := range 4 {
				for j := range H {
					out[r*n.ldg+q*n.hp+j] = float32(src[r*G+q*H+j])
				}
			}
		}
		return out
	}
	for l := range s.a.lstms {
		n.wx = append(n.wx, gates(theta[s.wx(l):s.wx(l)+D*G], D))
		n.wh = append(n.wh, gates(theta[s.wh(l):s.wh(l)+H*G], H))
		n.b = append(n.b, gates(theta[s.b(l):s.b(l)+G], 1))
	}
	v := theta[s.v() : s.v()+F*C]
	n.v = make([]float32, F*n.cp)
	for f := range F {
		for c := range C {
			n.v[f*n.cp+c] = float32(v[f*C+c])
		}
	}
	n.c = theta[s.c() : s.c()+C]
	n.zero = make([]float32, n.hp)
	n.id = make([]int32, max(H, F))
	for i := range n.id {
		n.id[i] = int32(i)
	}
	return n
}

// fastWork is the scratch of one Predict.
type fastWork struct {
	idx  []int32     // a vector's nonzero entries
	val  []float32   // and their normalised values
	sum  []float64   // per raw vector: the sum of its counts
	proj [][]float32 // per LSTM: per raw vector its input projection (L×ldg, no bias)
	gw   []float32   // a group's weights
	in   []float32   // a grouped step's input projection (ldg)
	z    []float32   // the gates (ldg)
	c    []float32   // cell state (hp)
	tc   []float32   // tanh of it (hp)
	h    []float32   // hidden state (hp)
	hcat []float32   // final hidden states side by side (F)
	l    []float32   // logits (cp)
}

func (n *fastNet) newWork() *fastWork {
	s := n.s
	return &fastWork{
		idx:  make([]int32, s.D),
		val:  make([]float32, s.D),
		proj: make([][]float32, s.a.lstms),
		gw:   make([]float32, 0, 8),
		in:   make([]float32, n.ldg),
		z:    make([]float32, n.ldg),
		c:    make([]float32, n.hp),
		tc:   make([]float32, n.hp),
		h:    make([]float32, n.hp),
		hcat: make([]float32, s.F()),
		l:    make([]float32, n.cp),
	}
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// predict leaves the class probabilities for x in p (C entries).
func (n *fastNet) predict(w *fastWork, x [][]float64, p []float64) {
	s := n.s
	H, D, F, hp, ldg := s.H, s.D, s.F(), n.hp, n.ldg
	L := len(x)

	// Every LSTM's projection of every raw vector, normalised by its sum,
	// from the vector's nonzero counts.
	if cap(w.sum) < L {
		w.sum = make([]float64, L)
	}
	w.sum = w.sum[:L]
	for l := range w.proj {
		w.proj[l] = growF32(w.proj[l], L*ldg)
		clear(w.proj[l])
	}
	for t, v := range x {
		v = v[:min(len(v), D)]
		idx := w.idx[:0]
		var sum float64
		for k, c := range v {
			if c > 0 && c <= math.MaxFloat64 {
				sum += c
				idx = append(idx, int32(k))
			}
		}
		w.sum[t] = sum
		if !(sum <= math.MaxFloat64) {
			continue // counts too large to add up: zero in the exact pass too
		}
		val := w.val[:len(idx)]
		if inv := 1 / sum; inv <= math.MaxFloat64 {
			for i, k := range idx {
				val[i] = float32(v[k] * inv)
			}
		} else { // a sum so small that its inverse overflows
			for i, k := range idx {
				val[i] = float32(v[k] / sum)
			}
		}
		for l, wx := range n.wx {
			axpyRows(w.proj[l][t*ldg:(t+1)*ldg], wx, ldg, idx, val)
		}
	}

	for r, ru := range s.a.runs {
		T := L / ru.scale
		hr := w.hcat[r*H : (r+1)*H]
		if T == 0 {
			clear(hr)
			continue
		}
		proj, wh, bias := w.proj[ru.lstm], n.wh[ru.lstm], n.b[ru.lstm]
		z, c, tc, h := w.z, w.c, w.tc, w.h
		for t := range T {
			g := t
			if ru.reverse {
				g = T - 1 - t
			}
			if ru.scale == 1 {
				copy(z, proj[g*ldg:(g+1)*ldg])
			} else {
				copy(z, w.group(proj, g*ru.scale, ru.scale, ldg))
			}
			if t > 0 {
				axpyRows(z, wh, ldg, n.id[:H], h[:H])
			}
			act(z[:2*hp], bias[:2*hp], sigScale, sigMul, sigAdd)
			act(z[2*hp:3*hp], bias[2*hp:3*hp], tanhScale, tanhMul, tanhAdd)
			act(z[3*hp:4*hp], bias[3*hp:4*hp], sigScale, sigMul, sigAdd)
			zi, zf, zg, zo := z[:H], z[hp:hp+H], z[2*hp:2*hp+H], z[3*hp:3*hp+H]
			if t == 0 {
				for j := range H {
					c[j] = zi[j] * zg[j]
				}
			} else {
				for j := range H {
					c[j] = zi[j]*zg[j] + zf[j]*c[j]
				}
			}
			copy(tc, c)
			act(tc, n.zero, tanhScale, tanhMul, tanhAdd)
			for j := range H {
				h[j] = zo[j] * tc[j]
			}
		}
		copy(hr, h[:H])
	}

	// The fully connected layer, then the softmax in float64.
	clear(w.l)
	axpyRows(w.l, n.v, n.cp, n.id[:F], w.hcat)
	for j := range p {
		p[j] = float64(w.l[j])
	}
	softmax(p, n.c)
}

// group returns the input projection of the normalised sum of raw vectors
// first..first+size-1, from their own projections and sums.
func (w *fastWork) group(proj []float32, first, size, ldg int) []float32 {
	var tot float64
	for j := first; j < first+size; j++ {
		tot += w.sum[j]
	}
	in := w.in
	clear(in)
	if !(tot > 0 && tot <= math.MaxFloat64) {
		return in
	}
	idx, gw := w.idx[:0], w.gw[:0]
	for j := first; j < first+size; j++ {
		if a := w.sum[j] / tot; a > 0 {
			idx, gw = append(idx, int32(j)), append(gw, float32(a))
		}
	}
	w.gw = gw
	axpyRows(in, proj, ldg, idx, gw)
	return in
}

// The portable gate kernel reads one table of tanh on [0, tanhMax): a
// cubic per interval of 1/tanhPerUnit, the Hermite cubic that matches tanh
// and its derivative at both ends of the interval, built at start from
// math.Tanh. Beyond tanhMax, tanh is ±1 (1 - tanh(9) = 3.0e-8). The
// interpolation error is at most h⁴/384 · max|tanh⁗| (about 1e-8 for h =
// 1/32); TestGates measures the largest error against math over a fine
// grid (below 5e-8).
const (
	tanhPerUnit = 32 // intervals per unit
	tanhMax     = 9
)

var tanhTable = buildTanhTable()

func buildTanhTable() *[tanhMax * tanhPerUnit][4]float64 {
	const h = 1.0 / tanhPerUnit
	t := new([tanhMax * tanhPerUnit][4]float64)
	for i := range t {
		x0 := float64(i) * h
		y0, y1 := math.Tanh(x0), math.Tanh(x0+h)
		m0, m1 := 1-y0*y0, 1-y1*y1
		d := (y1 - y0) / h
		t[i] = [4]float64{y0, m0, (3*d - 2*m0 - m1) / h, (m0 + m1 - 2*d) / (h * h)}
	}
	return t
}

// tanhApprox is tanh within 5e-8; it is never NaN, whatever x. The sign
// is put back with bit operations, not a branch the processor would
// mispredict half the time.
func tanhApprox(x float64) float64 {
	a := math.Abs(x)
	if !(a < tanhMax) {
		return math.Copysign(1, x)
	}
	i := int(a * tanhPerUnit)
	u := a - float64(i)*(1.0/tanhPerUnit)
	c := &tanhTable[i]
	return math.Copysign(c[0]+u*(c[1]+u*(c[2]+u*c[3])), x)
}
