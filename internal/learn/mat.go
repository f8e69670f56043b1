package learn

import "gonum.org/v1/gonum/floats"

// Normalise divides v by its sum in place (seed 001 section 3.2); an
// all-zero vector stays all zero.
func Normalise(v []float64) {
	s := floats.Sum(v)
	if s > 0 {
		floats.Scale(1/s, v)
	}
}
