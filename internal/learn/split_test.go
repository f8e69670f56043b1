package learn

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func sample(y int, group string, sec int, first float64) Sample {
	x := make([][]float64, SeqLen)
	for i := range x {
		x[i] = []float64{first, 1}
	}
	return Sample{X: x, Y: y, Group: group, Start: t0.Add(time.Duration(sec) * time.Second)}
}

func TestSplitByTimeTrainsOnTheFirstPartOfEachClassesSpan(t *testing.T) {
	d := &Data{Classes: []string{"a", "b"}, Dim: 2}
	for sec := 0; sec < 100; sec += 10 { // a: 0..90
		d.Samples = append(d.Samples, sample(0, "h", sec, 0))
	}
	for sec := 1000; sec < 1050; sec += 10 { // b: 1000..1040, its own span
		d.Samples = append(d.Samples, sample(1, "h", sec, 0))
	}
	d.Samples = append(d.Samples, sample(1, "h", 1040, 0))
	train, test := SplitByTime(d, 0.8)
	// a: cut at 72 s: 0..70 train (8), 80, 90 test. b: cut at 1032: 1000..1030
	// train (4), 1040 twice test.
	if countClass(train, 0) != 8 || countClass(test, 0) != 2 || countClass(train, 1) != 4 || countClass(test, 1) != 2 {
		t.Fatalf("train a %d b %d, test a %d b %d", countClass(train, 0), countClass(train, 1), countClass(test, 0), countClass(test, 1))
	}
	for _, s := range test.Samples {
		if s.Y == 0 && s.Start.Before(t0.Add(72*time.Second)) {
			t.Fatalf("test holds an early sample %v", s.Start)
		}
	}
	if &train.Classes[0] != &d.Classes[0] || test.Dim != 2 {
		t.Fatal("halves do not share the classes")
	}

	one := &Data{Classes: []string{"a"}, Samples: []Sample{sample(0, "h", 5, 0), sample(0, "h", 5, 0)}}
	if train, test := SplitByTime(one, 0.8); len(train.Samples) != 2 || len(test.Samples) != 0 {
		t.Fatal("a class of one instant must train")
	}
}

func TestSplitByGroupTestsTheNamedGroups(t *testing.T) {
	d := &Data{Classes: []string{"a"}, Samples: []Sample{sample(0, "h1", 0, 0), sample(0, "h2", 0, 0), sample(0, "h3", 0, 0), sample(0, "h2", 9, 0)}}
	train, test := SplitByGroup(d, []string{"h2", "nowhere"})
	if len(train.Samples) != 2 || len(test.Samples) != 2 || test.Samples[0].Group != "h2" || test.Samples[1].Group != "h2" {
		t.Fatalf("train %+v test %+v", train.Samples, test.Samples)
	}
}

func TestEvaluateScoresPredictionsAgainstLabels(t *testing.T) {
	// byFirst predicts the class in each sample's first count.
	m := &fixedModel{p: make([]float64, 3), byFirst: true}
	d := &Data{Classes: []string{"a", "b", "c"}, Dim: 2}
	add := func(y, pred, n int) {
		for range n {
			d.Samples = append(d.Samples, sample(y, "h", 0, float64(pred)))
		}
	}
	add(0, 0, 8) // a: 8 right, 2 taken for b
	add(0, 1, 2)
	add(1, 1, 5) // b: 5 right
	add(2, 1, 5) // c: 5 taken for b
	for _, workers := range []int{1, 3} {
		sc := Evaluate(m, d, workers)
		near := func(got, want float64) bool { return math.Abs(got-want) < 1e-12 }
		// precision a 1, b 5/12, c 0; recall a .8, b 1, c 0.
		if !near(sc.Accuracy, 13.0/20) || !near(sc.MacroPrecision, (1+5.0/12)/3) || !near(sc.MacroRecall, 1.8/3) {
			t.Fatalf("workers %d: %+v", workers, sc)
		}
		if sc.Confusion[0][1] != 2 || sc.Confusion[2][1] != 5 || sc.Confusion[2][2] != 0 {
			t.Fatalf("confusion %v", sc.Confusion)
		}
		if sc.PerClass[2] != (ClassScore{Class: "c", Support: 5}) || sc.PerClass[1].Support != 5 || !near(sc.PerClass[1].Precision, 5.0/12) {
			t.Fatalf("per class %+v", sc.PerClass)
		}
	}
	// A class that neither occurs nor is predicted is left out of the means.
	d.Classes = append(d.Classes, "unseen")
	m.p = make([]float64, 4)
	if sc := Evaluate(m, d, 2); math.Abs(sc.MacroRecall-1.8/3) > 1e-12 {
		t.Fatalf("unseen class counted: %+v", sc)
	}
	if sc := Evaluate(m, &Data{Classes: []string{"a"}}, 2); sc.Accuracy != 0 || len(sc.Confusion) != 1 {
		t.Fatalf("empty data: %+v", sc)
	}
}

func TestArgmaxTakesTheLowestIndexOfATie(t *testing.T) {
	if Argmax([]float64{0.2, 0.4, 0.4}) != 1 || Argmax(nil) != -1 || Argmax([]float64{0}) != 0 {
		t.Fatal("Argmax")
	}
}

func TestNoveltyThresholdsAreQuantilesOfOwnClassConfidence(t *testing.T) {
	// byFirst gives probability 1 to the class in the first count: class
	// a's samples get confidence 1 four times in five, class b's always 0.
	m := &fixedModel{p: make([]float64, 3), byFirst: true}
	d := &Data{Classes: []string{"a", "b", "c"}, Dim: 2}
	for i := range 10 {
		first := 0.0
		if i%5 == 4 {
			first = 2
		}
		d.Samples = append(d.Samples, sample(0, "h", i, first), sample(1, "h", i, 0))
	}
	got := NoveltyThresholds(m, d, 0.1, 2)
	if len(got) != 2 || got["a"] != 0 || got["b"] != 0 {
		t.Fatalf("q 0.1: %v", got)
	}
	if got := NoveltyThresholds(m, d, 0.5, 1); got["a"] != 1 {
		t.Fatalf("q 0.5: %v, want a's median confidence 1", got)
	}
	if _, ok := got["c"]; ok {
		t.Fatal("a class without samples got a threshold")
	}
}

// Only the classes both sides of a split have samples of remain,
// renumbered.
func TestCommonClasses(t *testing.T) {
	d := &Data{Classes: []string{"a", "b", "c", "d"}, Dim: 2}
	train := &Data{Classes: d.Classes, Dim: 2, Samples: []Sample{{Y: 0}, {Y: 1}, {Y: 3}, {Y: 3}}}
	test := &Data{Classes: d.Classes, Dim: 2, Samples: []Sample{{Y: 2}, {Y: 3}, {Y: 1}, {Y: 1}}}
	tr, te := CommonClasses(train, test)
	if got := strings.Join(tr.Classes, ","); got != "b,d" || strings.Join(te.Classes, ",") != got {
		t.Fatalf("classes %q and %q; want b,d on both sides", tr.Classes, te.Classes)
	}
	var ys []int
	for _, s := range append(tr.Samples, te.Samples...) {
		ys = append(ys, s.Y)
	}
	if fmt.Sprint(ys) != "[0 1 1 1 0 0]" {
		t.Fatalf("labels %v", ys)
	}
}
