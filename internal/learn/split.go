package learn

import (
	"slices"
	"time"
)

// SplitByTime splits d per class: the samples whose Start lies in the
// first frac of that class's time span (its earliest to its latest
// sample's Start) train, the rest test (80/20 in seed 001: frac 0.8). A
// class whose samples all start at once trains only. Both halves share
// d's classes and sample vectors.
func SplitByTime(d *Data, frac float64) (train, test *Data) {
	type span struct{ first, last time.Time }
	spans := make([]span, len(d.Classes))
	seen := make([]bool, len(d.Classes))
	for _, s := range d.Samples {
		sp := &spans[s.Y]
		if !seen[s.Y] || s.Start.Before(sp.first) {
			sp.first = s.Start
		}
		if !seen[s.Y] || s.Start.After(sp.last) {
			sp.last = s.Start
		}
		seen[s.Y] = true
	}
	train, test = empty(d), empty(d)
	for _, s := range d.Samples {
		sp := spans[s.Y]
		cut := sp.first.Add(time.Duration(frac * float64(sp.last.Sub(sp.first))))
		if sp.first.Equal(sp.last) || s.Start.Before(cut) {
			train.Samples = append(train.Samples, s)
		} else {
			test.Samples = append(test.Samples, s)
		}
	}
	return train, test
}

// SplitByGroup splits d by where its samples came from: the samples of
// testGroups test, the others train.
func SplitByGroup(d *Data, testGroups []string) (train, test *Data) {
	train, test = empty(d), empty(d)
	for _, s := range d.Samples {
		if slices.Contains(testGroups, s.Group) {
			test.Samples = append(test.Samples, s)
		} else {
			train.Samples = append(train.Samples, s)
		}
	}
	return train, test
}

func empty(d *Data) *Data {
	return &Data{Classes: d.Classes, Dim: d.Dim}
}

// CommonClasses keeps of a train/test split only the classes both sides
// have samples of, renumbered in their order: a cross-host test of hosts
// running other software than the training hosts can only score the
// programs both run.
func CommonClasses(train, test *Data) (*Data, *Data) {
	var in [2][]bool
	for i, d := range []*Data{train, test} {
		in[i] = make([]bool, len(d.Classes))
		for _, s := range d.Samples {
			if s.Y >= 0 && s.Y < len(in[i]) {
				in[i][s.Y] = true
			}
		}
	}
	index := make([]int, len(train.Classes))
	var classes []string
	for c := range train.Classes {
		index[c] = -1
		if in[0][c] && c < len(in[1]) && in[1][c] {
			index[c] = len(classes)
			classes = append(classes, train.Classes[c])
		}
	}
	keep := func(d *Data) *Data {
		out := &Data{Classes: classes, Dim: d.Dim}
		for _, s := range d.Samples {
			if s.Y >= 0 && s.Y < len(index) && index[s.Y] >= 0 {
				s.Y = index[s.Y]
				out.Samples = append(out.Samples, s)
			}
		}
		return out
	}
	return keep(train), keep(test)
}
