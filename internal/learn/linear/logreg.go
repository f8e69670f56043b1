package linear

import (
	"context"
	"math"
	"runtime"

	"gonum.org/v1/gonum/floats"

	"github.com/vigil-ids/vigil/internal/learn"
)

// Config are a linear kind's settings.
type Config struct {
	// Lambda weighs the L2 penalty on the weights (not the biases).
	Lambda float64
	// Iterations bounds L-BFGS's iterations; Options.Epochs, when set,
	// overrides it.
	Iterations int
}

// Default are the settings the registered kinds train with.
var Default = Config{Lambda: 1e-4, Iterations: 200}

// TrainLogReg learns a multinomial logistic regression over d's single
// vectors: it minimises the mean cross-entropy of the softmax of the class
// scores plus Lambda/2 times the squared weights with L-BFGS from zero
// weights. It is deterministic (Options.Seed is not used). Progress is
// called after every iteration, Epoch being the iteration.
func TrainLogReg(ctx context.Context, d *learn.Data, o learn.Options, cfg Config) (learn.Model, error) {
	return train(ctx, KindLogReg, d, o, cfg, func(ob *objective) func(theta, g []float64, lo, hi int) float64 {
		return ob.crossEntropy
	})
}

// TrainSVM learns one linear SVM per class, the class against the rest
// (scikit-learn's LinearSVC form): it minimises, for each class, the mean
// squared hinge loss plus Lambda/2 times the squared weights, all classes
// at once with L-BFGS from zero weights. It is deterministic (Options.Seed
// is not used). Progress is called after every iteration.
func TrainSVM(ctx context.Context, d *learn.Data, o learn.Options, cfg Config) (learn.Model, error) {
	return train(ctx, KindSVM, d, o, cfg, func(ob *objective) func(theta, g []float64, lo, hi int) float64 {
		return ob.squaredHinge
	})
}

func train(ctx context.Context, kind string, d *learn.Data, o learn.Options, cfg Config, loss func(*objective) func(theta, g []float64, lo, hi int) float64) (learn.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	z, y, mean, scale, err := prepare(kind, d)
	if err != nil {
		return nil, err
	}
	iters := cfg.Iterations
	if o.Epochs > 0 {
		iters = o.Epochs
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	k, dim := len(d.Classes), d.Dim
	ob := &objective{z: z, y: y, k: k, dim: dim, lambda: cfg.Lambda, workers: workers}
	ob.rows = loss(ob)
	theta, err := lbfgs(ctx, ob.eval, make([]float64, k*dim+k), iters, func(iter int, f float64) {
		if o.Progress != nil {
			o.Progress(learn.Progress{Kind: kind, Epoch: iter, Epochs: iters, Loss: f, Done: len(y), Total: len(y)})
		}
	})
	if err != nil {
		return nil, err
	}
	return &model{kind: kind, k: k, dim: dim, mean: mean, scale: scale,
		w: append([]float64(nil), theta[:k*dim]...), b: append([]float64(nil), theta[k*dim:]...)}, nil
}

// crossEntropy is the softmax cross-entropy of rows lo..hi.
func (ob *objective) crossEntropy(theta, g []float64, lo, hi int) float64 {
	k, dim := ob.k, ob.dim
	w, b := theta[:k*dim], theta[k*dim:]
	gw, gb := g[:k*dim], g[k*dim:]
	s := make([]float64, k)
	loss := 0.0
	for i := lo; i < hi; i++ {
		z := ob.z[i*dim : (i+1)*dim]
		top := math.Inf(-1)
		for c := range k {
			s[c] = b[c] + floats.Dot(w[c*dim:(c+1)*dim], z)
			top = max(top, s[c])
		}
		sum := 0.0
		for c := range k {
			s[c] = math.Exp(s[c] - top)
			sum += s[c]
		}
		y := ob.y[i]
		loss += math.Log(sum) - math.Log(s[y])
		for c := range k {
			p := s[c] / sum
			if c == y {
				p--
			}
			gb[c] += p
			floats.AddScaled(gw[c*dim:(c+1)*dim], p, z)
		}
	}
	return loss
}

// squaredHinge is the one-vs-rest squared hinge loss of rows lo..hi: for
// each class c, max(0, 1 - t*(w_c z + b_c))^2 with t = 1 for a row of
// class c, else -1.
func (ob *objective) squaredHinge(theta, g []float64, lo, hi int) float64 {
	k, dim := ob.k, ob.dim
	w, b := theta[:k*dim], theta[k*dim:]
	gw, gb := g[:k*dim], g[k*dim:]
	loss := 0.0
	for i := lo; i < hi; i++ {
		z := ob.z[i*dim : (i+1)*dim]
		for c := range k {
			t := -1.0
			if ob.y[i] == c {
				t = 1
			}
			m := 1 - t*(b[c]+floats.Dot(w[c*dim:(c+1)*dim], z))
			if m <= 0 {
				continue
			}
			loss += m * m
			gb[c] -= 2 * m * t
			floats.AddScaled(gw[c*dim:(c+1)*dim], -2*m*t, z)
		}
	}
	return loss
}
