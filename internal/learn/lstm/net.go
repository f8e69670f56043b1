package lstm

import (
	"math"

	"github.com/vigil-ids/vigil/internal/learn"
)

// run is one pass of an LSTM over a sample: which LSTM's weights, how many
// raw vectors make one step, and whether the steps go backwards in time.
type run struct {
	lstm    int
	scale   int
	reverse bool
}

// arch is an architecture: its LSTMs and the runs whose final hidden
// states, concatenated in order, feed the fully connected layer.
type arch struct {
	name  string
	doc   string
	lstms int
	runs  []run
}

var (
	simpleArch = arch{
		name:  string(Simple),
		doc:   "single-layer LSTM over the sequence, last hidden state to a softmax (seed 001 simple net)",
		lstms: 1,
		runs:  []run{{0, 1, false}},
	}
	biArch = arch{
		name:  string(Bidirectional),
		doc:   "two LSTMs, one over the sequence in order and one reversed, final states concatenated (seed 001 bidirectional net)",
		lstms: 2,
		runs:  []run{{0, 1, false}, {1, 1, true}},
	}
	inceptionArch = arch{
		name:  string(Inception),
		doc:   "one LSTM with tied weights over 1, 2 and 3-vector intervals, final states concatenated (seed 001 inception-like net)",
		lstms: 1,
		runs:  []run{{0, 1, false}, {0, 2, false}, {0, 3, false}},
	}
)

func archOf(a Arch) (*arch, bool) {
	switch a {
	case Simple:
		return &simpleArch, true
	case Bidirectional:
		return &biArch, true
	case Inception:
		return &inceptionArch, true
	}
	return nil, false
}

// shape sizes a network and lays its parameters out in one flat slice:
// for each LSTM, Wx (D×4H), Wh (H×4H) and b (4H), gates in the order
// input, forget, cell, output; then the fully connected layer's V (F×C)
// and c (C), F being the runs' hidden states side by side.
type shape struct {
	a       *arch
	H, D, C int
}

func (s shape) G() int             { return 4 * s.H }
func (s shape) F() int             { return len(s.a.runs) * s.H }
func (s shape) perLSTM() int       { return s.D*s.G() + s.H*s.G() + s.G() }
func (s shape) wx(l int) int       { return l * s.perLSTM() }
func (s shape) wh(l int) int       { return s.wx(l) + s.D*s.G() }
func (s shape) b(l int) int        { return s.wh(l) + s.H*s.G() }
func (s shape) v() int             { return s.a.lstms * s.perLSTM() }
func (s shape) c() int             { return s.v() + s.F()*s.C }
func (s shape) size() int          { return s.c() + s.C }
func (s shape) steps(L, r int) int { return L / s.a.runs[r].scale }

// runBuf holds one run's activations for n samples of T steps; row t·n+i
// is sample i at step t.
type runBuf struct {
	T  int
	x  []float64 // normalised inputs, T·n×D
	z  []float64 // gate activations, T·n×4H
	c  []float64 // cell states, T·n×H
	tc []float64 // tanh of the cell states
	h  []float64 // hidden states
	dz []float64 // loss gradient at the gates' pre-activations
}

// work is the scratch of one forward (and backward) pass over at most n
// samples; each goroutine has its own.
type work struct {
	s     shape
	n, L  int
	runs  []runBuf
	hcat  []float64 // n×F final hidden states side by side
	p     []float64 // n×C class probabilities
	dhcat []float64 // n×F
	dh    []float64 // n×H
	dc    []float64 // n×H
	grad  []float64 // the parameters' gradient (training only)
	loss  float64   // summed cross-entropy of the last backward pass
}

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// ensure sizes w for n samples of L raw vectors.
func (w *work) ensure(n, L int) {
	s := w.s
	if len(w.runs) != len(s.a.runs) {
		w.runs = make([]runBuf, len(s.a.runs))
	}
	w.n, w.L = n, L
	for r := range w.runs {
		rb := &w.runs[r]
		rb.T = s.steps(L, r)
		tn := rb.T * n
		rb.x = grow(rb.x, tn*s.D)
		rb.z = grow(rb.z, tn*s.G())
		rb.c = grow(rb.c, tn*s.H)
		rb.tc = grow(rb.tc, tn*s.H)
		rb.h = grow(rb.h, tn*s.H)
		if w.grad != nil {
			rb.dz = grow(rb.dz, tn*s.G())
		}
	}
	w.hcat = grow(w.hcat, n*s.F())
	w.p = grow(w.p, n*s.C)
	if w.grad != nil {
		w.dhcat = grow(w.dhcat, n*s.F())
		w.dh = grow(w.dh, n*s.H)
		w.dc = grow(w.dc, n*s.H)
	}
}

func newWork(s shape, train bool) *work {
	w := &work{s: s}
	if train {
		w.grad = make([]float64, s.size())
	}
	return w
}

// fill builds each run's normalised input steps from the samples' raw
// counts. Entries past a vector's end, negative or not finite count as 0.
func (w *work) fill(xs [][][]float64) {
	s, n := w.s, len(xs)
	for r, ru := range s.a.runs {
		rb := &w.runs[r]
		for t := 0; t < rb.T; t++ {
			g := t
			if ru.reverse {
				g = rb.T - 1 - t
			}
			for i, x := range xs {
				row := rb.x[(t*n+i)*s.D : (t*n+i+1)*s.D]
				clear(row)
				for j := g * ru.scale; j < (g+1)*ru.scale; j++ {
					v := x[j]
					m := min(len(v), s.D)
					for k, c := range v[:m] {
						if c > 0 && c <= math.MaxFloat64 {
							row[k] += c
						}
					}
				}
				normalise(row)
			}
		}
	}
}

// normalise divides row by its sum; a row whose sum is not finite (raw
// counts that overflow when added) is read as zero, not as NaN, and one
// whose sum is so small that its inverse overflows is divided entry by
// entry.
func normalise(row []float64) {
	var sum float64
	for _, v := range row {
		sum += v
	}
	switch {
	case !(sum <= math.MaxFloat64):
		clear(row)
	case sum > 0 && 1/sum > math.MaxFloat64:
		for i := range row {
			row[i] /= sum
		}
	default:
		learn.Normalise(row)
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// forward runs the net over the inputs fill built, leaving the class
// probabilities in w.p.
func (w *work) forward(theta []float64) {
	s, n := w.s, w.n
	H, G, D, F, C := s.H, s.G(), s.D, s.F(), s.C
	for r, ru := range s.a.runs {
		rb := &w.runs[r]
		T := rb.T
		if T == 0 {
			for i := 0; i < n; i++ {
				clear(w.hcat[i*F+r*H : i*F+(r+1)*H])
			}
			continue
		}
		wx := theta[s.wx(ru.lstm) : s.wx(ru.lstm)+D*G]
		wh := theta[s.wh(ru.lstm) : s.wh(ru.lstm)+H*G]
		bias := theta[s.b(ru.lstm) : s.b(ru.lstm)+G]
		// Every step's input term at once.
		gemm(false, false, T*n, G, D, 1, rb.x, D, wx, G, 0, rb.z, G)
		for t := 0; t < T; t++ {
			zt := rb.z[t*n*G : (t+1)*n*G]
			if t > 0 {
				gemm(false, false, n, G, H, 1, rb.h[(t-1)*n*H:t*n*H], H, wh, G, 1, zt, G)
			}
			for i := 0; i < n; i++ {
				z := zt[i*G : (i+1)*G]
				ct := rb.c[(t*n+i)*H : (t*n+i+1)*H]
				tc := rb.tc[(t*n+i)*H : (t*n+i+1)*H]
				ht := rb.h[(t*n+i)*H : (t*n+i+1)*H]
				var cp []float64
				if t > 0 {
					cp = rb.c[((t-1)*n+i)*H : ((t-1)*n+i+1)*H]
				}
				zi, zf, zg, zo := z[:H], z[H:2*H], z[2*H:3*H], z[3*H:]
				for j := 0; j < H; j++ {
					ig := sigmoid(zi[j] + bias[j])
					fg := sigmoid(zf[j] + bias[H+j])
					gg := math.Tanh(zg[j] + bias[2*H+j])
					og := sigmoid(zo[j] + bias[3*H+j])
					zi[j], zf[j], zg[j], zo[j] = ig, fg, gg, og
					c := ig * gg
					if cp != nil {
						c += fg * cp[j]
					}
					ct[j] = c
					tc[j] = math.Tanh(c)
					ht[j] = og * tc[j]
				}
			}
		}
		for i := 0; i < n; i++ {
			copy(w.hcat[i*F+r*H:i*F+(r+1)*H], rb.h[((T-1)*n+i)*H:((T-1)*n+i+1)*H])
		}
	}
	v := theta[s.v() : s.v()+F*C]
	cb := theta[s.c() : s.c()+C]
	gemm(false, false, n, C, F, 1, w.hcat, F, v, C, 0, w.p, C)
	for i := 0; i < n; i++ {
		softmax(w.p[i*C:(i+1)*C], cb)
	}
}

// softmax turns logits plus bias into probabilities in place.
func softmax(l, bias []float64) {
	mx := math.Inf(-1)
	for j := range l {
		l[j] += bias[j]
		mx = max(mx, l[j])
	}
	var sum float64
	for j := range l {
		l[j] = math.Exp(l[j] - mx)
		sum += l[j]
	}
	for j := range l {
		l[j] /= sum
	}
}

// backward sets w.grad to the gradient of the summed cross-entropy of the
// samples whose classes are ys (after forward) and w.loss to that sum.
func (w *work) backward(theta []float64, ys []int) {
	s, n := w.s, w.n
	H, G, D, F, C := s.H, s.G(), s.D, s.F(), s.C
	clear(w.grad)
	w.loss = 0
	// Softmax and cross-entropy: dlogits = p - onehot(y), kept in w.p.
	for i, y := range ys {
		p := w.p[i*C : (i+1)*C]
		w.loss -= math.Log(max(p[y], math.SmallestNonzeroFloat64))
		p[y] -= 1
	}
	v := theta[s.v() : s.v()+F*C]
	gemm(true, false, F, C, n, 1, w.hcat, F, w.p, C, 0, w.grad[s.v():s.v()+F*C], C)
	gc := w.grad[s.c() : s.c()+C]
	for i := 0; i < n; i++ {
		for j, d := range w.p[i*C : (i+1)*C] {
			gc[j] += d
		}
	}
	gemm(false, true, n, F, C, 1, w.p, C, v, C, 0, w.dhcat, F)

	for r, ru := range s.a.runs {
		rb := &w.runs[r]
		T := rb.T
		if T == 0 {
			continue
		}
		wh := theta[s.wh(ru.lstm) : s.wh(ru.lstm)+H*G]
		for i := 0; i < n; i++ {
			copy(w.dh[i*H:(i+1)*H], w.dhcat[i*F+r*H:i*F+(r+1)*H])
		}
		clear(w.dc)
		for t := T - 1; t >= 0; t-- {
			for i := 0; i < n; i++ {
				k := t*n + i
				z := rb.z[k*G : (k+1)*G]
				dz := rb.dz[k*G : (k+1)*G]
				tc := rb.tc[k*H : (k+1)*H]
				dh := w.dh[i*H : (i+1)*H]
				dc := w.dc[i*H : (i+1)*H]
				var cp []float64
				if t > 0 {
					cp = rb.c[(k-n)*H : (k-n+1)*H]
				}
				for j := 0; j < H; j++ {
					ig, fg, gg, og := z[j], z[H+j], z[2*H+j], z[3*H+j]
					dct := dc[j] + dh[j]*og*(1-tc[j]*tc[j])
					dz[3*H+j] = dh[j] * tc[j] * og * (1 - og)
					dz[j] = dct * gg * ig * (1 - ig)
					dz[2*H+j] = dct * ig * (1 - gg*gg)
					if cp != nil {
						dz[H+j] = dct * cp[j] * fg * (1 - fg)
					} else {
						dz[H+j] = 0
					}
					dc[j] = dct * fg
				}
			}
			if t > 0 {
				gemm(false, true, n, H, G, 1, rb.dz[t*n*G:(t+1)*n*G], G, wh, G, 0, w.dh, H)
			}
		}
		l := ru.lstm
		gemm(true, false, D, G, T*n, 1, rb.x, D, rb.dz, G, 1, w.grad[s.wx(l):s.wx(l)+D*G], G)
		if T > 1 {
			gemm(true, false, H, G, (T-1)*n, 1, rb.h, H, rb.dz[n*G:], G, 1, w.grad[s.wh(l):s.wh(l)+H*G], G)
		}
		gb := w.grad[s.b(l) : s.b(l)+G]
		for k := 0; k < T*n; k++ {
			for j, d := range rb.dz[k*G : (k+1)*G] {
				gb[j] += d
			}
		}
	}
}
