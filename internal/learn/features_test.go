package learn

import (
	"slices"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
)

func TestDenseCountsEachFeatureThenEveryOtherCall(t *testing.T) {
	v := vec("h", "p", 1, 0, 0, 5, 1, 7, 3, 2, 60, 4)
	got := Dense(&v, []uint16{1, 3, 9})
	want := []float64{7, 2, 0, 5 + 4}
	if !slices.Equal(got, want) {
		t.Fatalf("Dense = %v, want %v (write, close, nothing, then read+others)", got, want)
	}
	empty := vec("h", "p", 1, 0)
	if got := Dense(&empty, []uint16{1}); !slices.Equal(got, []float64{0, 0}) {
		t.Fatalf("Dense of an empty vector = %v", got)
	}
}

func TestSelectFeaturesKeepsTheCallsInMostVectorsSortedByNumber(t *testing.T) {
	// 200 appears in 3 vectors, 7 in 2 (with many calls), 5 and 9 in 1
	// each (9 with more calls), 1000 in 1 with fewest calls.
	recs := []Recording{
		{Vectors: []event.CountVector{vec("a", "x", 1, 0, 7, 1000, 200, 1), vec("a", "x", 1, 1, 200, 1, 1000, 1)}},
		{Vectors: []event.CountVector{vec("b", "y", 2, 0, 5, 2, 7, 1000, 9, 3, 200, 1)}},
	}
	if got := SelectFeatures(recs, 0); !slices.Equal(got, []uint16{5, 7, 9, 200, 1000}) {
		t.Fatalf("all = %v", got)
	}
	if got := SelectFeatures(recs, 3); !slices.Equal(got, []uint16{7, 9, 200}) {
		t.Fatalf("top 3 = %v, want 7, 9, 200 (200 in most vectors, 7 next, 9 beats 5 and 1000 on calls)", got)
	}
	if got := SelectFeatures(nil, 3); len(got) != 0 {
		t.Fatalf("no recordings gave %v", got)
	}
}
