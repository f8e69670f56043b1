package linear

import (
	"context"
	"math"
	"runtime"
	"sync"

	"github.com/vigil-ids/vigil/internal/learn"
)

// LogRegConfig are logistic regression's settings.
type LogRegConfig struct {
	// Lambda weighs the L2 penalty on the weights (not the biases).
	Lambda float64
	// Iterations bounds L-BFGS's iterations; Options.Epochs, when set,
	// overrides it.
	Iterations int
}

// DefaultLogReg are the settings the registered "logreg" kind trains with.
var DefaultLogReg = LogRegConfig{Lambda: 1e-4, Iterations: 200}

func trainLogReg(ctx context.Context, d *learn.Data, o learn.Options) (learn.Model, error) {
	return TrainLogReg(ctx, d, o, DefaultLogReg)
}

// TrainLogReg learns a multinomial logistic regression over d's single
// vectors by minimising the mean cross-entropy of the softmax plus
// Lambda/2 times the squared weights with L-BFGS, from zero weights (it is
// deterministic; Options.Seed is not used). Progress is called after every
// iteration, Epoch being the iteration.
func TrainLogReg(ctx context.Context, d *learn.Data, o learn.Options, cfg LogRegConfig) (learn.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	z, y, mean, scale, err := prepare(KindLogReg, d)
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
	l := &logLoss{z: z, y: y, k: k, dim: dim, lambda: cfg.Lambda, workers: workers}
	theta, err := lbfgs(ctx, l.eval, make([]float64, k*dim+k), iters, func(iter int, f float64) {
		if o.Progress != nil {
			o.Progress(learn.Progress{Kind: KindLogReg, Epoch: iter, Epochs: iters, Loss: f, Done: len(y), Total: len(y)})
		}
	})
	if err != nil {
		return nil, err
	}
	return &model{kind: KindLogReg, k: k, dim: dim, mean: mean, scale: scale,
		w: append([]float64(nil), theta[:k*dim]...), b: append([]float64(nil), theta[k*dim:]...)}, nil
}

// logLoss is the regularised mean cross-entropy of a softmax over k
// classes; theta holds the weights (k rows of dim) then the biases.
type logLoss struct {
	z       []float64 // rows of dim standardised entries
	y       []int
	k, dim  int
	lambda  float64
	workers int
}

// chunkRows is how many rows one goroutine takes at a time; partial sums
// are added in chunk order, so the result does not depend on the workers.
const chunkRows = 1024

// eval returns the loss at theta and writes its gradient to grad.
func (l *logLoss) eval(theta, grad []float64) float64 {
	n := len(l.y)
	chunks := (n + chunkRows - 1) / chunkRows
	np := len(theta)
	partial := make([]float64, chunks*np)
	losses := make([]float64, chunks)
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for range min(l.workers, chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := make([]float64, l.k)
			for c := range next {
				losses[c] = l.chunk(theta, partial[c*np:(c+1)*np], s, c*chunkRows, min((c+1)*chunkRows, n))
			}
		}()
	}
	wg.Wait()
	clear(grad)
	loss := 0.0
	for c := range chunks {
		loss += losses[c]
		for i, v := range partial[c*np : (c+1)*np] {
			grad[i] += v
		}
	}
	inv := 1 / float64(n)
	loss *= inv
	kd := l.k * l.dim
	for i := range grad {
		grad[i] *= inv
	}
	for i, w := range theta[:kd] {
		loss += l.lambda / 2 * w * w
		grad[i] += l.lambda * w
	}
	return loss
}

// chunk adds the cross-entropy gradient of rows lo..hi to g and returns
// their summed loss; s is scratch of k.
func (l *logLoss) chunk(theta, g, s []float64, lo, hi int) float64 {
	k, dim := l.k, l.dim
	w, b := theta[:k*dim], theta[k*dim:]
	gw, gb := g[:k*dim], g[k*dim:]
	loss := 0.0
	for i := lo; i < hi; i++ {
		z := l.z[i*dim : (i+1)*dim]
		top := math.Inf(-1)
		for c := range k {
			s[c] = b[c] + dot(w[c*dim:(c+1)*dim], z)
			top = max(top, s[c])
		}
		sum := 0.0
		for c := range k {
			s[c] = math.Exp(s[c] - top)
			sum += s[c]
		}
		y := l.y[i]
		loss += math.Log(sum) - math.Log(s[y])
		for c := range k {
			p := s[c] / sum
			if c == y {
				p--
			}
			gb[c] += p
			row := gw[c*dim : (c+1)*dim]
			for j, v := range z {
				row[j] += p * v
			}
		}
	}
	return loss
}
