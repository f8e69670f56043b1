package forest

import (
	"context"
	"slices"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/learn/learntest"
)

func TestForestLearnsSeparableClasses(t *testing.T) {
	learntest.CheckKind(t, Kind, learn.Options{Seed: 1}, 0.95, false)
}

func TestTreeSplitsWhereTheClassesPart(t *testing.T) {
	// Class 0 has at most 30% of its calls in entry 0, class 1 at least
	// 60%: every tree needs one split between them.
	d := &learn.Data{Classes: []string{"a", "b"}, Dim: 2}
	for i := range 40 {
		share := float64(i%4) * 10 // 0..30
		y := 0
		if i%2 == 1 {
			share, y = 60+float64(i%5)*10, 1 // 60..100
		}
		x := make([][]float64, learn.SeqLen)
		for j := range x {
			x[j] = []float64{share, 100 - share}
		}
		d.Samples = append(d.Samples, learn.Sample{X: x, Y: y})
	}
	m, err := Train(context.Background(), d, learn.Options{Seed: 3}, Config{Trees: 5, MaxDepth: 4, MinLeaf: 1, Features: 2, Bins: 16})
	if err != nil {
		t.Fatal(err)
	}
	for ti, tr := range m.(*model).trees {
		root := tr[0]
		if root.feat == leaf || root.thr < 0.1 || root.thr >= 0.6 {
			t.Fatalf("tree %d root %+v, want a split between the classes' shares", ti, root)
		}
		if tr[root.left].feat != leaf || tr[root.left+1].feat != leaf || tr[root.left].left == tr[root.left+1].left {
			t.Fatalf("tree %d: one split should separate the classes: %+v", ti, tr)
		}
	}
	if sc := learn.Evaluate(m, d, 1); sc.Accuracy != 1 {
		t.Fatalf("training accuracy %v", sc.Accuracy)
	}
	if p := m.Predict([][]float64{{70, 30}, {80, 20}, {10, 90}}); !slices.Equal(p, []float64{1.0 / 3, 2.0 / 3}) {
		t.Fatalf("vote shares %v", p)
	}
}

func TestTrainRefusesBadSettings(t *testing.T) {
	d := learntest.Synthetic(2, 3, 5, 0.1, 1)
	for _, cfg := range []Config{{}, {Trees: 1, MaxDepth: 1, MinLeaf: 1, Bins: 300}, {Trees: 1, MaxDepth: 0, MinLeaf: 1, Bins: 8}} {
		if _, err := Train(context.Background(), d, learn.Options{}, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestDecodeRefusesLoopsAndStrays(t *testing.T) {
	m := &model{k: 2, dim: 3, trees: []tree{{{feat: 1, thr: 0.5, left: 1}, {feat: leaf, left: 0}, {feat: leaf, left: 1}}}}
	good, _ := m.MarshalBinary()
	if _, err := Decode(good, 2, 3); err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]tree{
		"loop":         {{feat: 1, thr: 0.5, left: 0}, {feat: leaf}, {feat: leaf}},
		"past the end": {{feat: 1, thr: 0.5, left: 2}, {feat: leaf}, {feat: leaf}},
		"feature":      {{feat: 3, thr: 0.5, left: 1}, {feat: leaf}, {feat: leaf}},
		"class":        {{feat: 1, thr: 0.5, left: 1}, {feat: leaf, left: 2}, {feat: leaf}},
	} {
		b, _ := (&model{k: 2, dim: 3, trees: []tree{tr}}).MarshalBinary()
		if _, err := Decode(b, 2, 3); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	m, err := Train(context.Background(), learntest.Synthetic(3, 4, 4, 0.2, 1), learn.Options{Seed: 1}, Config{Trees: 3, MaxDepth: 4, MinLeaf: 1, Bins: 8})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := m.MarshalBinary()
	f.Add(b, uint8(3), uint8(4))
	kind, _ := learn.Lookup(Kind)
	f.Fuzz(func(t *testing.T, b []byte, classes, dim uint8) {
		learntest.FuzzDecode(t, kind, b, int(classes), int(dim))
	})
}

func TestTrainReportsEachTree(t *testing.T) {
	d := learntest.Synthetic(3, 5, 10, 0.3, 2)
	var got []learn.Progress
	if _, err := Train(context.Background(), d, learn.Options{Workers: 2, Progress: func(p learn.Progress) { got = append(got, p) }},
		Config{Trees: 7, MaxDepth: 8, MinLeaf: 2, Bins: 16}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || got[6].Done != 7 || got[6].Total != 7 || got[0].Kind != Kind {
		t.Fatalf("progress %+v, want one report per tree", got)
	}
}
