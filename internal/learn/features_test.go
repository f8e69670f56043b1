package learn

import (
	"math/rand/v2"
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

// TestDensifierAddsAsDenseCounts: on vectors with features, other calls,
// numbers past the largest feature, repeated numbers and huge counts, a
// Densifier's Add to a zero vector gives Dense's vector, and to a
// non-zero one adds to it; Entry places each call where Dense does.
func TestDensifierAddsAsDenseCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, features := range [][]uint16{{1, 3, 9}, {0}, {event.MaxSyscallNr}, {2, 40, 41, 300, 1000}} {
		d := NewDensifier(features)
		if d.Dim() != len(features)+1 {
			t.Fatalf("Dim %d for %d features", d.Dim(), len(features))
		}
		for range 200 {
			var v event.CountVector
			for range rng.IntN(12) {
				nr := uint16(rng.IntN(1100))
				if rng.IntN(2) == 0 {
					nr = features[rng.IntN(len(features))]
				}
				v.Counts = append(v.Counts, event.SyscallCount{Nr: nr, Count: uint64(rng.IntN(1000))})
			}
			huge := rng.IntN(10) == 0
			if huge {
				v.Counts = append(v.Counts, event.SyscallCount{Nr: 65535, Count: 1 << 62})
			}
			want := Dense(&v, features)
			got := make([]float64, d.Dim())
			d.Add(got, &v)
			entries := make([]float64, d.Dim())
			for _, c := range v.Counts {
				entries[d.Entry(c.Nr)] += float64(c.Count)
			}
			if !slices.Equal(got, want) || !slices.Equal(entries, want) {
				t.Fatalf("features %v, counts %v: Add gives %v, Entry %v, Dense %v", features, v.Counts, got, entries, want)
			}
			if huge {
				continue // adding twice rounds
			}
			d.Add(got, &v)
			for i := range got {
				if got[i] != 2*want[i] {
					t.Fatalf("a second Add gives %v, want twice %v", got, want)
				}
			}
		}
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
