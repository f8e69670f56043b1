package learn

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/vigil-ids/vigil/internal/event"
)

// Dense returns cv's counts as a model's input: len(features)+1 entries,
// the count of each listed system call number (features sorted by
// number), then the count of every other call. The counts are raw; a
// model normalises them (Normalise).
func Dense(cv *event.CountVector, features []uint16) []float64 {
	out := make([]float64, len(features)+1)
	for _, c := range cv.Counts {
		if i, ok := slices.BinarySearch(features, c.Nr); ok {
			out[i] += float64(c.Count)
		} else {
			out[len(features)] += float64(c.Count)
		}
	}
	return out
}

// Densifier writes count vectors as Dense does, into a vector it is
// given, without allocating: a table from system call numbers to entries
// stands in for Dense's search. It maps every number exactly as Dense
// does.
type Densifier struct {
	entry []int32 // by system call number, up to the largest feature
	other int     // the entry of every other call
}

// NewDensifier makes a Densifier for features (sorted by number, as
// Dense's are).
func NewDensifier(features []uint16) *Densifier {
	d := &Densifier{other: len(features)}
	if len(features) > 0 {
		d.entry = make([]int32, int(slices.Max(features))+1)
		for nr := range d.entry {
			i, ok := slices.BinarySearch(features, uint16(nr))
			if !ok {
				i = len(features)
			}
			d.entry[nr] = int32(i)
		}
	}
	return d
}

// Dim is the number of entries of the vectors it writes.
func (d *Densifier) Dim() int { return d.other + 1 }

// Entry is the entry of system call nr in the vectors it writes.
func (d *Densifier) Entry(nr uint16) int {
	if int(nr) < len(d.entry) {
		return int(d.entry[nr])
	}
	return d.other
}

// Add adds cv's counts to dst, which has Dim entries: after it, a zero
// dst equals Dense(cv, features).
func (d *Densifier) Add(dst []float64, cv *event.CountVector) {
	dst = dst[:d.other+1]
	for _, c := range cv.Counts {
		dst[d.Entry(c.Nr)] += float64(c.Count)
	}
}

// SelectFeatures returns the system calls seen in recs, most frequent
// first, at most max of them (0 = all), sorted by number. A call's
// frequency is the number of vectors it appears in (so that one busy
// process does not decide alone); ties go to the larger total count, then
// to the lower number.
func SelectFeatures(recs []Recording, max int) []uint16 {
	type freq struct {
		nr      uint16
		vectors int
		calls   uint64
	}
	var fs [event.MaxSyscallNr + 1]freq
	for i := range fs {
		fs[i].nr = uint16(i)
	}
	for _, r := range recs {
		for i := range r.Vectors {
			for _, c := range r.Vectors[i].Counts {
				if int(c.Nr) < len(fs) {
					fs[c.Nr].vectors++
					fs[c.Nr].calls += c.Count
				}
			}
		}
	}
	seen := make([]freq, 0, 64)
	for _, f := range fs {
		if f.vectors > 0 {
			seen = append(seen, f)
		}
	}
	slices.SortFunc(seen, func(a, b freq) int {
		return cmp.Or(cmp.Compare(b.vectors, a.vectors), cmp.Compare(b.calls, a.calls), cmp.Compare(a.nr, b.nr))
	})
	if max > 0 && len(seen) > max {
		seen = seen[:max]
	}
	out := make([]uint16, len(seen))
	for i, f := range seen {
		out[i] = f.nr
	}
	slices.Sort(out)
	return out
}

// checkFeatures says what is wrong with a feature list: empty, over
// event.MaxSyscallNr, unsorted or repeated.
func checkFeatures(fs []uint16) error {
	if len(fs) == 0 {
		return fmt.Errorf("no features")
	}
	for i, f := range fs {
		if f > event.MaxSyscallNr {
			return fmt.Errorf("feature %d: system call number %d over %d", i, f, event.MaxSyscallNr)
		}
		if i > 0 && fs[i-1] >= f {
			return fmt.Errorf("feature %d: system call numbers not sorted or repeated at %d", i, f)
		}
	}
	return nil
}
