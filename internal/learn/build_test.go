package learn

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

func TestBuildCutsEachProcessIntoSamplesOfSeqLenVectors(t *testing.T) {
	// nginx pid 10 on web: 25 consecutive seconds: 2 samples (stride 10),
	// the last 5 seconds too few for a third.
	var vs []event.CountVector
	vs = append(vs, steady("web", "nginx", 10, 0, 25, 0, 4, 1, 1)...)
	// postgres on db: 10 seconds, then 30 silent seconds, then 10: the gap
	// is too long to fill, 2 samples.
	vs = append(vs, steady("db", "postgres", 11, 0, 10, 17, 2)...)
	vs = append(vs, steady("db", "postgres", 11, 40, 10, 17, 2)...)
	recs := []Recording{{Path: "r", Group: "lab", Vectors: vs}}
	d, err := Build(recs, BuildOptions{Features: []uint16{0, 1}, MinSamples: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Classes, []string{"nginx", "postgres"}) || d.Dim != 3 {
		t.Fatalf("classes %q dim %d", d.Classes, d.Dim)
	}
	var starts []int
	for _, s := range d.Samples {
		if len(s.X) != SeqLen || s.Group != "lab" {
			t.Fatalf("sample %+v", s)
		}
		starts = append(starts, s.Y*1000+int(s.Start.Sub(t0)/time.Second))
	}
	if want := []int{0, 10, 1000, 1040}; !slices.Equal(starts, want) {
		t.Fatalf("samples (class*1000 + start second) = %v, want %v", starts, want)
	}
	if got := d.Samples[0].X[3]; !slices.Equal(got, []float64{4, 1, 0}) {
		t.Fatalf("an nginx vector = %v, want raw counts 4, 1, 0", got)
	}
	if got := d.Samples[2].X[0]; !slices.Equal(got, []float64{0, 0, 2}) {
		t.Fatalf("a postgres vector = %v, want its calls under others", got)
	}

	// Stride 5 overlaps: nginx starts at 0, 5, 10, 15.
	d, err = Build(recs, BuildOptions{Features: []uint16{0, 1}, MinSamples: 1, Stride: 5})
	if err != nil {
		t.Fatal(err)
	}
	if n := countClass(d, 0); n != 4 {
		t.Fatalf("stride 5: %d nginx samples, want 4", n)
	}
	d.Samples[0].X[5][0] = -1
	if d.Samples[1].X[0][0] == -1 {
		t.Fatal("overlapping samples share their vectors")
	}
}

func TestBuildFillsShortSilencesWithZeroVectors(t *testing.T) {
	// Seconds 0-3, silent 4-7 (4 missing), 8-12: one run of 13.
	vs := append(steady("h", "cron", 5, 0, 4, 0, 1), steady("h", "cron", 5, 8, 5, 0, 1)...)
	// Two vectors in the same second add up.
	vs = append(vs, vec("h", "cron", 5, 12, 0, 2))
	d, err := Build([]Recording{{Vectors: vs}}, BuildOptions{Features: []uint16{0}, MinSamples: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Samples) != 1 {
		t.Fatalf("%d samples, want 1", len(d.Samples))
	}
	var firsts []float64
	for _, x := range d.Samples[0].X {
		firsts = append(firsts, x[0])
	}
	if want := []float64{1, 1, 1, 1, 0, 0, 0, 0, 1, 1}; !slices.Equal(firsts, want) {
		t.Fatalf("counts %v, want %v", firsts, want)
	}
	if d.Samples[0].Group != "h" {
		t.Fatalf("group %q, want the vectors' host", d.Samples[0].Group)
	}

	// A silence of SeqLen intervals (10 missing) breaks the run.
	vs = append(steady("h", "cron", 5, 0, 6, 0, 1), steady("h", "cron", 5, 16, 6, 0, 1)...)
	if _, err := Build([]Recording{{Vectors: vs}}, BuildOptions{Features: []uint16{0}, MinSamples: 1}); err == nil || !strings.Contains(err.Error(), "no sample") {
		t.Fatalf("two runs of 6: %v, want no sample", err)
	}
}

func TestBuildKeepsClassesWithEnoughSamplesTheMostRepresentedFirst(t *testing.T) {
	var vs []event.CountVector
	for i, n := range map[string]int{"a": 3, "b": 2, "c": 2, "d": 1} {
		_ = i
		vs = append(vs, steady("h", i, int32(len(i)+int(i[0])), 0, n*SeqLen, 0, 1)...)
	}
	recs := []Recording{{Vectors: vs}, {Label: NonGrataPrefix + "miner", Vectors: steady("lab", "openssl", 9, 0, 20, 1, 9)}}
	f := []uint16{0, 1}
	check := func(o BuildOptions, want ...string) {
		t.Helper()
		o.Features = f
		d, err := Build(recs, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Classes, want) {
			t.Fatalf("%+v: classes %q, want %q", o, d.Classes, want)
		}
		for _, s := range d.Samples {
			if s.Y < 0 || s.Y >= len(want) {
				t.Fatalf("sample of class %d", s.Y)
			}
		}
	}
	check(BuildOptions{MinSamples: 2}, "a", "b", "c", "nongrata:miner")
	check(BuildOptions{MinSamples: 1, MaxClasses: 3}, "a", "b", "c", "nongrata:miner") // a non-grata class is kept whatever its rank
	check(BuildOptions{MinSamples: 1, MaxClasses: 2}, "a", "b", "nongrata:miner")      // b and c tie on 2: names decide
	check(BuildOptions{Classes: []string{"d", "zzz", "a"}}, "d", "zzz", "a")
	if _, err := Build(recs, BuildOptions{Features: f}); err == nil || !strings.Contains(err.Error(), `no class has 20 samples (the most: "a" with 3)`) {
		t.Fatalf("default MinSamples: %v", err)
	}
}

// With Other, the ordinary processes MaxClasses and MinSamples leave out
// are one class more, OtherClass, and never a known-bad tool's samples; a
// model's class list that names OtherClass labels every unnamed ordinary
// process with it.
func TestBuildOtherClassGathersTheRest(t *testing.T) {
	var vs []event.CountVector
	for name, n := range map[string]int{"a": 3, "b": 2, "c": 2, "d": 1} {
		vs = append(vs, steady("h", name, int32(name[0]), 0, n*SeqLen, 0, 1)...)
	}
	recs := []Recording{{Vectors: vs}, {Label: NonGrataPrefix + "miner", Vectors: steady("lab", "openssl", 9, 0, 20, 1, 9)}}
	per := func(d *Data) map[string]int {
		out := map[string]int{}
		for _, s := range d.Samples {
			out[d.Classes[s.Y]]++
		}
		return out
	}
	d, err := Build(recs, BuildOptions{Features: []uint16{0, 1}, MinSamples: 1, MaxClasses: 2, Other: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{OtherClass, "a", "b", "nongrata:miner"}; !slices.Equal(d.Classes, want) {
		t.Fatalf("classes %q, want %q", d.Classes, want)
	}
	if got := per(d); got[OtherClass] != 3 || got["a"] != 3 || got["b"] != 2 || got["nongrata:miner"] != 2 {
		t.Fatalf("samples per class %v: want c's 2 and d's 1 as %q", got, OtherClass)
	}
	// Too few left out for the class: none.
	d, err = Build(recs, BuildOptions{Features: []uint16{0, 1}, MinSamples: 4, MaxClasses: 2, Other: true})
	if err == nil && slices.Contains(d.Classes, OtherClass) {
		t.Fatalf("classes %q: the 3 samples left out are fewer than MinSamples 4", d.Classes)
	}
	// A model's classes.
	d, err = Build(recs, BuildOptions{Features: []uint16{0, 1}, Classes: []string{"a", OtherClass}})
	if err != nil {
		t.Fatal(err)
	}
	if got := per(d); got["a"] != 3 || got[OtherClass] != 5 {
		t.Fatalf("samples per class %v: want b, c and d's 5 as %q, the miner left out", got, OtherClass)
	}
}

func TestBuildRefusesBadOptionsAndMixedIntervals(t *testing.T) {
	vs := steady("h", "p", 1, 0, 10, 0, 1)
	for _, o := range []BuildOptions{
		{},
		{Features: []uint16{3, 2}},
		{Features: []uint16{1024}},
		{Features: []uint16{1}, Classes: []string{"a", "a"}},
		{Features: []uint16{1}, Stride: -1},
	} {
		if _, err := Build([]Recording{{Vectors: vs}}, o); err == nil {
			t.Errorf("%+v was accepted", o)
		}
	}
	vs[4].Interval = 2 * time.Second
	_, err := Build([]Recording{{Path: "x.jsonl", Vectors: vs}}, BuildOptions{Features: []uint16{0}, MinSamples: 1})
	if err == nil || !strings.Contains(err.Error(), `"x.jsonl"`) || !strings.Contains(err.Error(), "interval of 2s") {
		t.Fatalf("mixed intervals: %v", err)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	var vs []event.CountVector
	for pid := range int32(6) {
		vs = append(vs, steady([]string{"h1", "h2"}[pid%2], []string{"a", "b", "c"}[pid%3], pid, int(pid), 30, 0, uint64(pid)+1)...)
	}
	// Shuffle the vectors: the order they were recorded in is irrelevant.
	shuffled := slices.Clone(vs)
	slices.Reverse(shuffled)
	o := BuildOptions{Features: []uint16{0}, MinSamples: 1}
	d1 := must(Build([]Recording{{Vectors: vs}}, o))
	d2 := must(Build([]Recording{{Vectors: shuffled}}, o))
	if len(d1.Samples) != len(d2.Samples) || len(d1.Samples) != 18 {
		t.Fatalf("%d and %d samples, want 18", len(d1.Samples), len(d2.Samples))
	}
	for i := range d1.Samples {
		a, b := d1.Samples[i], d2.Samples[i]
		if a.Y != b.Y || a.Group != b.Group || !a.Start.Equal(b.Start) || a.X[0][0] != b.X[0][0] {
			t.Fatalf("sample %d differs: %+v vs %+v", i, a, b)
		}
	}
}

func countClass(d *Data, y int) int {
	n := 0
	for _, s := range d.Samples {
		if s.Y == y {
			n++
		}
	}
	return n
}
