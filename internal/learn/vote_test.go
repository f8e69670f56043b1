package learn

import (
	"slices"
	"testing"
)

func TestSingleVectorsNormalisesAndDropsSilentSeconds(t *testing.T) {
	d := &Data{Classes: []string{"a", "b"}, Dim: 2, Samples: []Sample{
		{X: [][]float64{{1, 3}, {0, 0}}, Y: 1},
		{X: [][]float64{{2, 2}}, Y: 0},
	}}
	x, y := SingleVectors(d)
	if !slices.Equal(x, []float64{0.25, 0.75, 0.5, 0.5}) || !slices.Equal(y, []int{1, 0}) {
		t.Fatalf("x %v y %v", x, y)
	}
	if d.Samples[0].X[0][0] != 1 {
		t.Fatal("the data was normalised in place")
	}
}

func TestVoteSharesAreTheMajorityVote(t *testing.T) {
	// Class 1 when the first entry is the larger share, else class 0.
	byFirst := func(v []float64) int {
		if v[0] > 0.5 {
			return 1
		}
		return 0
	}
	x := [][]float64{{9, 1}, {3, 1}, {1, 3}, {0, 0}, {5}}
	if got := VoteShares(x, 2, 3, byFirst); !slices.Equal(got, []float64{1.0 / 3, 2.0 / 3, 0}) {
		t.Fatalf("shares %v: silent and malformed vectors must not vote", got)
	}
	if got := VoteShares([][]float64{{0, 0}, {0, 0}}, 2, 2, byFirst); !slices.Equal(got, []float64{1, 0}) {
		t.Fatalf("all silent: %v", got)
	}
	if got := VoteShares(nil, 2, 4, byFirst); !slices.Equal(got, []float64{0.25, 0.25, 0.25, 0.25}) {
		t.Fatalf("no vote: %v", got)
	}
	if x[0][0] != 9 {
		t.Fatal("the sample was normalised in place")
	}
}
