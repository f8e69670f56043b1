package linear

import (
	"sync"

	"gonum.org/v1/gonum/floats"
)

// objective is a training loss over n rows: the mean of a per-row loss
// plus lambda/2 times the squared weights, theta holding k rows of dim
// weights (penalised) then k biases (not).
type objective struct {
	z       []float64 // rows of dim standardised entries
	y       []int
	k, dim  int
	lambda  float64
	workers int
	// rows adds the gradient of the loss of rows lo..hi to g and returns
	// their summed loss.
	rows func(theta, g []float64, lo, hi int) float64
}

// chunkRows is how many rows one goroutine takes at a time; partial sums
// are added in chunk order, so the result does not depend on the workers.
const chunkRows = 1024

// eval returns the objective at theta and writes its gradient to grad.
func (o *objective) eval(theta, grad []float64) float64 {
	n := len(o.y)
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
	for range max(1, min(o.workers, chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				losses[c] = o.rows(theta, partial[c*np:(c+1)*np], c*chunkRows, min((c+1)*chunkRows, n))
			}
		}()
	}
	wg.Wait()
	clear(grad)
	loss := 0.0
	for c := range chunks {
		loss += losses[c]
		floats.Add(grad, partial[c*np:(c+1)*np])
	}
	inv := 1 / float64(n)
	loss *= inv
	floats.Scale(inv, grad)
	for i, w := range theta[:o.k*o.dim] {
		loss += o.lambda / 2 * w * w
		grad[i] += o.lambda * w
	}
	return loss
}
