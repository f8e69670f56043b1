package learn

import (
	"runtime"
	"sync"
)

// Scores are how well a model named the samples of a data set.
type Scores struct {
	Accuracy float64
	// MacroPrecision and MacroRecall are the means over the classes that
	// occur in the data or in the predictions (as scikit-learn's macro
	// average); a class never predicted has precision 0, one that does not
	// occur recall 0.
	MacroPrecision, MacroRecall float64
	PerClass                    []ClassScore // one per class, in the data's order
	Confusion                   [][]int      // [true][predicted] sample counts
}

// ClassScore is one class's share of Scores.
type ClassScore struct {
	Class             string
	Precision, Recall float64
	Support           int // samples of the class in the data
}

// Argmax returns the index of p's largest entry, the lowest index among
// equal ones (-1 for an empty p).
func Argmax(p []float64) int {
	best := -1
	for i, v := range p {
		if best < 0 || v > p[best] {
			best = i
		}
	}
	return best
}

// Evaluate predicts every sample of d with m using workers goroutines
// (0 = GOMAXPROCS) and scores the predicted classes (Argmax of Predict).
func Evaluate(m Model, d *Data, workers int) Scores {
	k := len(d.Classes)
	pred := make([]int, len(d.Samples))
	parallel(len(d.Samples), workers, func(i int) { pred[i] = Argmax(m.Predict(d.Samples[i].X)) })
	return score(d, pred, k)
}

func score(d *Data, pred []int, k int) Scores {
	sc := Scores{Confusion: make([][]int, k), PerClass: make([]ClassScore, k)}
	for i := range sc.Confusion {
		sc.Confusion[i] = make([]int, k)
	}
	right := 0
	for i, s := range d.Samples {
		p := pred[i]
		if p < 0 || p >= k || s.Y < 0 || s.Y >= k {
			continue // a model that answers out of range is wrong
		}
		sc.Confusion[s.Y][p]++
		if p == s.Y {
			right++
		}
	}
	if len(d.Samples) > 0 {
		sc.Accuracy = float64(right) / float64(len(d.Samples))
	}
	counted := 0
	for c := range k {
		support, predicted := 0, 0
		for j := range k {
			support += sc.Confusion[c][j]
			predicted += sc.Confusion[j][c]
		}
		cs := ClassScore{Class: d.Classes[c], Support: support}
		if predicted > 0 {
			cs.Precision = float64(sc.Confusion[c][c]) / float64(predicted)
		}
		if support > 0 {
			cs.Recall = float64(sc.Confusion[c][c]) / float64(support)
		}
		sc.PerClass[c] = cs
		if support > 0 || predicted > 0 {
			counted++
			sc.MacroPrecision += cs.Precision
			sc.MacroRecall += cs.Recall
		}
	}
	if counted > 0 {
		sc.MacroPrecision /= float64(counted)
		sc.MacroRecall /= float64(counted)
	}
	return sc
}

// parallel calls f for 0..n-1 on workers goroutines (0 = GOMAXPROCS), in
// chunks, and returns when all are done.
func parallel(n, workers int, f func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	const chunk = 64
	next := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				for i := lo; i < min(lo+chunk, n); i++ {
					f(i)
				}
			}
		}()
	}
	for lo := 0; lo < n; lo += chunk {
		next <- lo
	}
	close(next)
	wg.Wait()
}
