package linear

import (
	"context"
	"math"

	"gonum.org/v1/gonum/floats"
)

// lbfgs minimises a smooth function with limited-memory BFGS (the two-loop
// recursion over the last lbfgsMemory steps) and a backtracking line
// search on the Armijo condition. eval returns the function at x and
// writes its gradient. It stops after iters iterations, when the gradient
// or the decrease becomes negligible, when the line search can go no
// further (keeping the best point), or with ctx's error when ctx ends.
// after is called after every iteration with its number and value.
func lbfgs(ctx context.Context, eval func(x, grad []float64) float64, x []float64, iters int, after func(iter int, f float64)) ([]float64, error) {
	const (
		memory   = 10
		armijo   = 1e-4
		gradTol  = 1e-7
		relTol   = 1e-10
		maxHalve = 40
	)
	n := len(x)
	g := make([]float64, n)
	f := eval(x, g)
	var ss, ys [][]float64
	var rhos []float64
	d := make([]float64, n)
	xNew, gNew := make([]float64, n), make([]float64, n)
	alpha := make([]float64, memory)
	for iter := 1; iter <= iters; iter++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if floats.Norm(g, math.Inf(1)) < gradTol {
			break
		}
		// d = -H g by the two-loop recursion.
		copy(d, g)
		for i := len(ss) - 1; i >= 0; i-- {
			alpha[i] = rhos[i] * floats.Dot(ss[i], d)
			floats.AddScaled(d, -alpha[i], ys[i])
		}
		if m := len(ss); m > 0 {
			floats.Scale(floats.Dot(ss[m-1], ys[m-1])/floats.Dot(ys[m-1], ys[m-1]), d)
		} else {
			floats.Scale(1/max(floats.Norm(g, 2), 1), d)
		}
		for i := range ss {
			beta := rhos[i] * floats.Dot(ys[i], d)
			floats.AddScaled(d, alpha[i]-beta, ss[i])
		}
		floats.Scale(-1, d)
		slope := floats.Dot(g, d)
		if slope >= 0 { // not a descent direction: forget the curvature
			ss, ys, rhos = ss[:0], ys[:0], rhos[:0]
			copy(d, g)
			floats.Scale(-1/max(floats.Norm(g, 2), 1), d)
			slope = floats.Dot(g, d)
		}
		step, fNew, ok := 1.0, 0.0, false
		for range maxHalve {
			floats.AddScaledTo(xNew, x, step, d)
			fNew = eval(xNew, gNew)
			if fNew <= f+armijo*step*slope {
				ok = true
				break
			}
			step /= 2
		}
		if !ok {
			break
		}
		s, y := make([]float64, n), make([]float64, n)
		floats.SubTo(s, xNew, x)
		floats.SubTo(y, gNew, g)
		if sy := floats.Dot(s, y); sy > 1e-12 {
			if len(ss) == memory {
				ss, ys, rhos = ss[1:], ys[1:], rhos[1:]
			}
			ss, ys, rhos = append(ss, s), append(ys, y), append(rhos, 1/sy)
		}
		decrease := f - fNew
		copy(x, xNew)
		copy(g, gNew)
		f = fNew
		if after != nil {
			after(iter, f)
		}
		if decrease <= relTol*max(1, math.Abs(f)) {
			break
		}
	}
	return x, nil
}
