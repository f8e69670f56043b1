package lstm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/vigil-ids/vigil/internal/learn"
)

// TrainWith trains a net of architecture a on d with the settings p (zero
// fields: DefaultParams) and o (zero Epochs: DefaultEpochs; zero Workers:
// GOMAXPROCS). The same seed and settings give the same model whatever the
// number of workers. When ctx ends it returns promptly with ctx's error.
// Progress reports the mean cross-entropy of the epoch so far (without the
// L2 term) after every batch.
func TrainWith(ctx context.Context, a Arch, d *learn.Data, o learn.Options, p Params) (*Model, error) {
	ar, ok := archOf(a)
	if !ok {
		return nil, fmt.Errorf("lstm: unknown architecture %q", a)
	}
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("lstm: train %s: %w", a, err)
	}
	L, err := checkData(d)
	if err != nil {
		return nil, fmt.Errorf("lstm: train %s: %w", a, err)
	}
	epochs := o.Epochs
	if epochs == 0 {
		epochs = DefaultEpochs
	}
	if epochs < 0 {
		return nil, fmt.Errorf("lstm: train %s: %d epochs", a, epochs)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x6c73746d))
	s := shape{a: ar, H: p.Hidden, D: d.Dim, C: len(d.Classes)}
	if s.size() > maxBytes/8 {
		return nil, fmt.Errorf("lstm: train %s: %d parameters (%d hidden units, %d classes, vectors of %d) would take more than the %d MiB a model may have", a, s.size(), s.H, s.C, s.D, maxBytes>>20)
	}
	t := newTrainer(s, initParams(s, rng), p, workers)
	N := len(d.Samples)
	order := make([]int, N)
	for i := range order {
		order[i] = i
	}
	for ep := 1; ep <= epochs; ep++ {
		rng.Shuffle(N, func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum float64
		for b0 := 0; b0 < N; b0 += p.Batch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			b1 := min(b0+p.Batch, N)
			sum += t.step(d.Samples, order[b0:b1], L)
			if o.Progress != nil {
				o.Progress(learn.Progress{
					Kind: string(a), Epoch: ep, Epochs: epochs,
					Loss: sum / float64(b1), Done: b1, Total: N,
				})
			}
		}
	}
	return newModel(ar, s.H, s.C, s.D, t.theta), nil
}

// checkData returns the samples' common length after checking every sample.
func checkData(d *learn.Data) (int, error) {
	switch {
	case d == nil || len(d.Samples) == 0:
		return 0, fmt.Errorf("no samples")
	case len(d.Classes) < 1 || len(d.Classes) > maxClasses:
		return 0, fmt.Errorf("%d classes: want 1 to %d", len(d.Classes), maxClasses)
	case d.Dim < 1 || d.Dim > maxDim:
		return 0, fmt.Errorf("vector size %d: want 1 to %d", d.Dim, maxDim)
	}
	L := len(d.Samples[0].X)
	if L < 1 {
		return 0, fmt.Errorf("sample 0: no vectors")
	}
	for i, sm := range d.Samples {
		if len(sm.X) != L {
			return 0, fmt.Errorf("sample %d: %d vectors, sample 0 has %d", i, len(sm.X), L)
		}
		if sm.Y < 0 || sm.Y >= len(d.Classes) {
			return 0, fmt.Errorf("sample %d: class %d of %d", i, sm.Y, len(d.Classes))
		}
		for t, v := range sm.X {
			if len(v) != d.Dim {
				return 0, fmt.Errorf("sample %d vector %d: %d entries, want %d", i, t, len(v), d.Dim)
			}
			for k, c := range v {
				if !(c >= 0) || math.IsInf(c, 1) {
					return 0, fmt.Errorf("sample %d vector %d entry %d: count %g", i, t, k, c)
				}
			}
		}
	}
	return L, nil
}

// initParams draws the starting weights: Glorot-uniform matrices, zero
// biases but the forget gates' (1, so that cells remember from the start).
func initParams(s shape, rng *rand.Rand) []float64 {
	theta := make([]float64, s.size())
	uni := func(dst []float64, fanIn, fanOut int) {
		lim := math.Sqrt(6 / float64(fanIn+fanOut))
		for i := range dst {
			dst[i] = (2*rng.Float64() - 1) * lim
		}
	}
	H, G, D, F, C := s.H, s.G(), s.D, s.F(), s.C
	for l := 0; l < s.a.lstms; l++ {
		uni(theta[s.wx(l):s.wx(l)+D*G], D, H)
		uni(theta[s.wh(l):s.wh(l)+H*G], H, H)
		b := theta[s.b(l) : s.b(l)+G]
		for j := H; j < 2*H; j++ {
			b[j] = 1
		}
	}
	uni(theta[s.v():s.v()+F*C], F, C)
	return theta
}

// trainer holds the parameters, Adam's moments and one scratch per shard.
type trainer struct {
	s       shape
	p       Params
	theta   []float64
	grad    []float64
	m, v    []float64
	steps   int
	workers int
	sq      []float64 // per chunk of parameters: the squared gradient's sum
	shards  []*work
	xs      [][][][]float64 // per shard: the samples' X
	ys      [][]int         // per shard: their classes
}

func newTrainer(s shape, theta []float64, p Params, workers int) *trainer {
	t := &trainer{
		s: s, p: p, theta: theta, workers: workers,
		grad: make([]float64, len(theta)),
		m:    make([]float64, len(theta)),
		v:    make([]float64, len(theta)),
		sq:   make([]float64, (len(theta)+chunk-1)/chunk),
	}
	n := (p.Batch + p.Shard - 1) / p.Shard
	for range n {
		t.shards = append(t.shards, newWork(s, true))
		t.xs = append(t.xs, make([][][]float64, 0, p.Shard))
		t.ys = append(t.ys, make([]int, 0, p.Shard))
	}
	return t
}

// gradient sets t.grad to the gradient of the batch's loss (the mean
// cross-entropy plus 0.5·L2·‖V‖²), t.sq to its squares summed chunk by
// chunk, and returns the summed cross-entropy.
func (t *trainer) gradient(samples []learn.Sample, batch []int, L int) float64 {
	sh := t.p.Shard
	n := (len(batch) + sh - 1) / sh
	for k := 0; k < n; k++ {
		part := batch[k*sh : min((k+1)*sh, len(batch))]
		t.xs[k], t.ys[k] = t.xs[k][:0], t.ys[k][:0]
		for _, i := range part {
			t.xs[k] = append(t.xs[k], samples[i].X)
			t.ys[k] = append(t.ys[k], samples[i].Y)
		}
	}
	t.parallel(n, func(k int) {
		w := t.shards[k]
		w.ensure(len(t.xs[k]), L)
		w.fill(t.xs[k])
		w.forward(t.theta)
		w.backward(t.theta, t.ys[k])
	})
	loss := 0.0
	for k := 0; k < n; k++ {
		loss += t.shards[k].loss
	}
	// The shards' gradients added in shard order, chunk by chunk: the same
	// sums for any number of workers.
	inv := 1 / float64(len(batch))
	s := t.s
	v0, v1 := s.v(), s.v()+s.F()*s.C
	t.parallel(len(t.sq), func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(t.grad))
		g := t.grad[lo:hi]
		copy(g, t.shards[0].grad[lo:hi])
		for k := 1; k < n; k++ {
			for i, x := range t.shards[k].grad[lo:hi] {
				g[i] += x
			}
		}
		var sq float64
		for i := range g {
			g[i] *= inv
			if j := lo + i; t.p.L2 > 0 && j >= v0 && j < v1 {
				g[i] += t.p.L2 * t.theta[j]
			}
			sq += g[i] * g[i]
		}
		t.sq[c] = sq
	})
	return loss
}

// chunk is how many parameters a worker takes at a time outside the
// forward and backward passes.
const chunk = 4096

// parallel calls fn(0) to fn(n-1) on the trainer's workers and waits.
func (t *trainer) parallel(n int, fn func(k int)) {
	if t.workers <= 1 || n == 1 {
		for k := 0; k < n; k++ {
			fn(k)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(t.workers, n) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				fn(k)
			}
		})
	}
	wg.Wait()
}

// objective is the batch loss gradient minimises, for tests.
func (t *trainer) objective(samples []learn.Sample, batch []int, L int) float64 {
	loss := t.gradient(samples, batch, L) / float64(len(batch))
	if t.p.L2 > 0 {
		s := t.s
		var sq float64
		for _, x := range t.theta[s.v() : s.v()+s.F()*s.C] {
			sq += x * x
		}
		loss += 0.5 * t.p.L2 * sq
	}
	return loss
}

const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// step trains on one batch and returns its summed cross-entropy.
func (t *trainer) step(samples []learn.Sample, batch []int, L int) float64 {
	loss := t.gradient(samples, batch, L)
	f := 1.0
	if t.p.ClipNorm > 0 {
		var sq float64
		for _, x := range t.sq {
			sq += x
		}
		if n := math.Sqrt(sq); n > t.p.ClipNorm {
			f = t.p.ClipNorm / n
		}
	}
	t.steps++
	c1 := 1 - math.Pow(adamBeta1, float64(t.steps))
	c2 := 1 - math.Pow(adamBeta2, float64(t.steps))
	lr := t.p.LearnRate
	t.parallel(len(t.sq), func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(t.grad))
		m, v, theta := t.m[lo:hi], t.v[lo:hi], t.theta[lo:hi]
		for i, g := range t.grad[lo:hi] {
			g *= f
			m[i] = adamBeta1*m[i] + (1-adamBeta1)*g
			v[i] = adamBeta2*v[i] + (1-adamBeta2)*g*g
			theta[i] -= lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + adamEps)
		}
	})
	return loss
}
