package learn

import "gonum.org/v1/gonum/floats"

// Helpers for the kinds that classify single count vectors and vote over
// a sample's vectors (seed 001 section 5.1: "a process was classified
// using a majority vote over the multiple vectors representing it").

// SingleVectors returns every vector of d's samples normalised by its sum,
// as the rows of a flat row-major matrix of d.Dim columns, with the class
// of each row. All-zero vectors (seconds a process made no call) say
// nothing of their class and are left out.
func SingleVectors(d *Data) (x []float64, y []int) {
	n := 0
	for _, s := range d.Samples {
		for _, v := range s.X {
			if len(v) == d.Dim && floats.Sum(v) > 0 {
				n++
			}
		}
	}
	x = make([]float64, 0, n*d.Dim)
	y = make([]int, 0, n)
	for _, s := range d.Samples {
		for _, v := range s.X {
			if len(v) != d.Dim || floats.Sum(v) <= 0 {
				continue
			}
			row := x[len(x) : len(x)+d.Dim]
			x = append(x, v...)
			Normalise(row)
			y = append(y, s.Y)
		}
	}
	return x, y
}

// VoteShares classifies each of a sample's vectors (normalised by its sum,
// in a scratch copy) with classify and returns the share of the votes each
// of k classes got: the majority vote as probabilities. All-zero vectors
// do not vote unless all are zero; vectors not of dim entries do not vote;
// with no vote at all every class gets 1/k. classify must return a class
// in [0, k).
func VoteShares(x [][]float64, dim, k int, classify func(v []float64) int) []float64 {
	out := make([]float64, k)
	if k == 0 {
		return out
	}
	buf := make([]float64, dim)
	votes := 0
	vote := func(v []float64) {
		copy(buf, v)
		Normalise(buf)
		if c := classify(buf); c >= 0 && c < k {
			out[c]++
			votes++
		}
	}
	zeros := 0
	for _, v := range x {
		if len(v) != dim {
			continue
		}
		if floats.Sum(v) > 0 {
			vote(v)
		} else {
			zeros++
		}
	}
	if votes == 0 && zeros > 0 {
		clear(buf)
		if c := classify(buf); c >= 0 && c < k {
			out[c] = 1
			return out
		}
	}
	if votes == 0 {
		for i := range out {
			out[i] = 1 / float64(k)
		}
		return out
	}
	floats.Scale(1/float64(votes), out)
	return out
}
