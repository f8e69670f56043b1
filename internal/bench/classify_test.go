package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestClassifyLabHasTheLabsSize(t *testing.T) {
	recs := ClassifyRecordings(1, 25)
	seen := map[uint16]bool{}
	names := map[string]bool{}
	for _, r := range recs {
		for _, v := range r.Vectors {
			names[v.Process] = true
			for _, c := range v.Counts {
				seen[c.Nr] = true
			}
		}
	}
	if len(names) != ClassifyClasses || len(seen) != ClassifySyscalls {
		t.Fatalf("%d classes over %d system calls: want %d over %d", len(names), len(seen), ClassifyClasses, ClassifySyscalls)
	}
}

func TestClassifyMeasuresOnOneCoreBesideTheTarget(t *testing.T) {
	res, err := RunClassify(context.Background(), ClassifyOptions{Kinds: []string{"logreg"}, Sequences: 500, SamplesPerClass: 25, Processes: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Classes != ClassifyClasses || res.Features != ClassifySyscalls+1 || res.GOMAXPROCS != 1 || len(res.Kinds) != 1 {
		t.Fatalf("%+v: want 28 classes, 141 features, GOMAXPROCS 1, one kind", res)
	}
	k := res.Kinds[0]
	if k.Sequences != 500 || !(k.Rate > 0) || !(k.CPURate > 0) || !(k.P50Micros > 0) || k.P99Micros < k.P50Micros || k.RatioToTarget != k.Rate/ClassifyTarget || !(k.EpochSeconds > 0) {
		t.Fatalf("%+v: want 500 sequences, a rate and one per processor second, p99 >= p50 > 0, the ratio to the target, a time per epoch", k)
	}
	if k.HeldOutAccuracy < 0.5 {
		t.Errorf("held-out accuracy %.3f on separable synthetic classes: want at least 0.5", k.HeldOutAccuracy)
	}
	var b bytes.Buffer
	if err := res.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "logreg") || !strings.Contains(b.String(), "20000") {
		t.Errorf("summary %q: want the kind's row beside the target 20000", b.String())
	}
	if _, err := RunClassify(context.Background(), ClassifyOptions{Kinds: []string{"perceptron"}}); err == nil || !strings.Contains(err.Error(), `unknown model kind "perceptron"`) {
		t.Errorf("unknown kind: error %v", err)
	}
}
