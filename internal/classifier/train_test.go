package classifier

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/learn"
	"github.com/vigil-ids/vigil/internal/testutil/cvtest"
)

// Training on recordings of six classes (two of them non-grata) makes a
// model that names the held-out samples, with a novelty threshold per
// known class, written and read back whole; its progress is shown.
func TestTrainWritesModelFile(t *testing.T) {
	dir := cvtest.WriteRecordings(t, t.TempDir(), 300, 1)
	var progress bytes.Buffer
	at := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	res, err := Train(context.Background(), TrainOptions{Data: dir, Kind: "logreg", Seed: 3, Progress: &progress, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	f := res.File
	want := []string{"cron", "nginx", "nongrata:getppid", "nongrata:miner", "postgres", "sshd"}
	if strings.Join(f.Classes, ",") != strings.Join(want, ",") {
		t.Fatalf("classes %v, want %v", f.Classes, want)
	}
	if res.Scores.MacroPrecision < 0.95 || res.Scores.MacroRecall < 0.95 {
		t.Fatalf("held-out macro precision %.3f recall %.3f: the classes are easy to tell apart", res.Scores.MacroPrecision, res.Scores.MacroRecall)
	}
	if res.Train == 0 || res.Test == 0 || res.Train < 3*res.Test {
		t.Fatalf("%d samples train, %d test: want about 80/20", res.Train, res.Test)
	}
	for _, c := range want {
		thr, ok := f.Novelty[c]
		if strings.HasPrefix(c, "nongrata:") {
			if ok {
				t.Fatalf("non-grata class %s has a novelty threshold", c)
			}
			continue
		}
		if !ok || !(thr > 0 && thr <= 1) {
			t.Fatalf("class %s novelty threshold %v, %v", c, thr, ok)
		}
	}
	if f.NoveltyQuantile != DefaultNoveltyQuantile || f.Interval != time.Second || f.SeqLen != learn.SeqLen || !f.Trained.At.Equal(at) || f.Trained.Seed != 3 {
		t.Fatalf("file metadata %+v", f)
	}
	if !strings.Contains(progress.String(), "logreg epoch") || !strings.Contains(progress.String(), "samples/s") {
		t.Fatalf("progress shown:\n%s", progress.String())
	}
	path := filepath.Join(t.TempDir(), "m.vgm")
	if err := learn.SaveFile(path, f); err != nil {
		t.Fatal(err)
	}
	back, err := learn.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Kind != "logreg" || len(back.Classes) != 6 || back.Novelty["nginx"] != f.Novelty["nginx"] {
		t.Fatalf("read back %+v", back)
	}
	var out bytes.Buffer
	if err := WriteScores(&out, res.Scores); err != nil || !strings.Contains(out.String(), "macro precision") || !strings.Contains(out.String(), `"nongrata:miner"`) {
		t.Fatalf("scores written:\n%s (%v)", out.String(), err)
	}
}

// The same seed trains the same model.
func TestTrainDeterministic(t *testing.T) {
	dir := cvtest.WriteRecordings(t, t.TempDir(), 120, 2)
	var files [2][]byte
	for i := range files {
		res, err := Train(context.Background(), TrainOptions{Data: dir, Kind: "logreg", Seed: 9, Workers: 1 + i, Now: func() time.Time { return time.Unix(0, 0) }})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := learn.Save(&b, res.File); err != nil {
			t.Fatal(err)
		}
		files[i] = b.Bytes()
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two trainings with the same seed wrote different model files")
	}
}

func TestTrainRefusals(t *testing.T) {
	dir := cvtest.WriteRecordings(t, t.TempDir(), 60, 3)
	for _, c := range []struct {
		o    TrainOptions
		want string
	}{
		{TrainOptions{}, "no recordings"},
		{TrainOptions{Data: dir, Kind: "nope"}, `unknown model kind "nope"`},
		{TrainOptions{Data: dir, Kind: "logreg", NoveltyQuantile: 1.5}, "novelty quantile"},
		{TrainOptions{Data: dir, Kind: "logreg", MaxClasses: 1}, "max classes"},
		{TrainOptions{Data: filepath.Join(dir, "missing"), Kind: "logreg"}, "missing"},
	} {
		_, err := Train(context.Background(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error about %q", c.o, err, c.want)
		}
	}
}
