package linear

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/vigil-ids/vigil/internal/learn"
)

// SVMConfig are the linear SVM's settings.
type SVMConfig struct {
	// Lambda weighs the L2 penalty (Pegasos' lambda).
	Lambda float64
	// Epochs is the number of passes over the training vectors;
	// Options.Epochs, when set, overrides it.
	Epochs int
}

// DefaultSVM are the settings the registered "svm" kind trains with.
var DefaultSVM = SVMConfig{Lambda: 1e-4, Epochs: 10}

func trainSVM(ctx context.Context, d *learn.Data, o learn.Options) (learn.Model, error) {
	return TrainSVM(ctx, d, o, DefaultSVM)
}

// TrainSVM learns one linear SVM per class, the class against the rest, by
// Pegasos stochastic subgradient descent on the hinge loss plus Lambda/2
// times the squared weights (the bias a weight on a constant entry). The
// classes train in parallel over Options.Workers goroutines; each visits
// the vectors in an order drawn from Options.Seed and its index, so the
// model depends on the seed alone. Progress is called after every epoch
// with the mean hinge loss seen in it.
func TrainSVM(ctx context.Context, d *learn.Data, o learn.Options, cfg SVMConfig) (learn.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	z, y, mean, scale, err := prepare(KindSVM, d)
	if err != nil {
		return nil, err
	}
	epochs := cfg.Epochs
	if o.Epochs > 0 {
		epochs = o.Epochs
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	k, dim, n := len(d.Classes), d.Dim, len(y)
	bins := make([]*pegasos, k)
	for c := range bins {
		bins[c] = &pegasos{class: c, v: make([]float64, dim+1), a: 1, t0: 1 / cfg.Lambda, lambda: cfg.Lambda,
			rng: rand.New(rand.NewPCG(uint64(o.Seed), uint64(c)))}
	}
	for epoch := 1; epoch <= epochs; epoch++ {
		next := make(chan *pegasos, k)
		for _, p := range bins {
			next <- p
		}
		close(next)
		var wg sync.WaitGroup
		for range min(workers, k) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range next {
					p.epoch(ctx, z, y, dim)
				}
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			loss := 0.0
			for _, p := range bins {
				loss += p.hinge / float64(n)
			}
			o.Progress(learn.Progress{Kind: KindSVM, Epoch: epoch, Epochs: epochs, Loss: loss / float64(k), Done: n, Total: n})
		}
	}
	m := &model{kind: KindSVM, k: k, dim: dim, mean: mean, scale: scale, w: make([]float64, k*dim), b: make([]float64, k)}
	for c, p := range bins {
		for j := range dim {
			m.w[c*dim+j] = p.a * p.v[j]
		}
		m.b[c] = p.a * p.v[dim]
	}
	return m, nil
}

// pegasos is one class's binary SVM in training: its weights are a*v (the
// last entry the bias), so that shrinking them costs nothing.
type pegasos struct {
	class  int
	v      []float64
	a      float64
	t      int
	t0     float64 // offsets the step count, so that the first steps are not huge
	lambda float64
	rng    *rand.Rand
	hinge  float64 // hinge loss summed over the last epoch
}

func (p *pegasos) epoch(ctx context.Context, z []float64, y []int, dim int) {
	p.hinge = 0
	for step, i := range p.rng.Perm(len(y)) {
		if step%8192 == 0 && ctx.Err() != nil {
			return
		}
		row := z[i*dim : (i+1)*dim]
		label := -1.0
		if y[i] == p.class {
			label = 1
		}
		margin := label * p.a * (dot(p.v[:dim], row) + p.v[dim])
		p.t++
		eta := 1 / (p.lambda * (float64(p.t) + p.t0))
		p.a *= 1 - eta*p.lambda
		if margin < 1 {
			p.hinge += 1 - margin
			s := eta * label / p.a
			for j, x := range row {
				p.v[j] += s * x
			}
			p.v[dim] += s
		}
		if p.a < 1e-6 {
			for j := range p.v {
				p.v[j] *= p.a
			}
			p.a = 1
		}
	}
}
