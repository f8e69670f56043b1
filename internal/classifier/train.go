// Package classifier holds the process classifier's protocols on top of
// internal/learn (seed 001 section 5): training a model from recordings
// of count vectors into a model file, with per-class novelty thresholds
// set from held-out confidences, and the progress a trainer shows.
// `vigil train classifier` runs Train; `vigil eval countvec` (internal/eval)
// uses the same steps to compare model kinds.
package classifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
	_ "github.com/vigil-ids/vigil/internal/learn/kinds" // every model kind
)

// Defaults of TrainOptions.
const (
	DefaultKind            = "lstm"
	DefaultMaxClasses      = 28 // seed 001 kept the 28 most represented processes
	DefaultNoveltyQuantile = 0.01
	DefaultTrainFraction   = 0.8
)

// TrainOptions configure Train.
type TrainOptions struct {
	// Data is a recordings directory or file (learn.ReadRecordings).
	Data string
	// Kind is the model kind (learn.Kinds; default DefaultKind).
	Kind   string
	Epochs int   // 0: the kind's default
	Seed   int64 // every random choice derives from it
	// MaxClasses keeps the most represented classes (default
	// DefaultMaxClasses; every non-grata class is kept beside them).
	MaxClasses int
	// MaxFeatures bounds the system calls counted one by one, the most
	// frequent (0: every call seen).
	MaxFeatures int
	// Other trains one class more, learn.OtherClass, of the ordinary
	// processes MaxClasses and MinSamples leave out.
	Other bool
	// MinSamples leaves out classes with fewer samples (default
	// learn.DefaultMinSamples).
	MinSamples int
	// NoveltyQuantile is the quantile of held-out true-class confidences
	// a class's novelty threshold is set at (default
	// DefaultNoveltyQuantile).
	NoveltyQuantile float64
	// TrainFraction of each class's time span trains, the rest tests
	// (default DefaultTrainFraction).
	TrainFraction float64
	Workers       int // default GOMAXPROCS
	// Progress, when set, receives a line per progress report.
	Progress io.Writer
	// Now stamps the model file (default time.Now).
	Now func() time.Time
}

// TrainResult is what Train made and measured.
type TrainResult struct {
	File          *learn.File
	Train, Test   int // samples
	Scores        learn.Scores
	TrainDuration time.Duration
}

func (o *TrainOptions) fill() error {
	if o.Data == "" {
		return errors.New("no recordings (--data)")
	}
	if o.Kind == "" {
		o.Kind = DefaultKind
	}
	if _, ok := learn.Lookup(o.Kind); !ok {
		return fmt.Errorf("unknown model kind %q: want one of %s", o.Kind, strings.Join(learn.Kinds(), ", "))
	}
	if o.MaxClasses == 0 {
		o.MaxClasses = DefaultMaxClasses
	}
	if o.NoveltyQuantile == 0 {
		o.NoveltyQuantile = DefaultNoveltyQuantile
	}
	if o.TrainFraction == 0 {
		o.TrainFraction = DefaultTrainFraction
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.MaxClasses < 2:
		return fmt.Errorf("max classes %d: at least 2", o.MaxClasses)
	case !(o.NoveltyQuantile > 0 && o.NoveltyQuantile < 1):
		return fmt.Errorf("novelty quantile %v: between 0 and 1", o.NoveltyQuantile)
	case !(o.TrainFraction > 0 && o.TrainFraction < 1):
		return fmt.Errorf("train fraction %v: between 0 and 1", o.TrainFraction)
	case o.Epochs < 0 || o.MaxFeatures < 0 || o.MinSamples < 0:
		return errors.New("epochs, max features and min samples must not be negative")
	}
	return nil
}

// Prepared is data ready to learn from: the samples split by time, the
// features and interval they were built with.
type Prepared struct {
	Recordings  []learn.Recording
	Features    []uint16
	Interval    time.Duration
	All         *learn.Data
	Train, Test *learn.Data
}

// Prepare reads the recordings, selects the features and builds the
// samples of the most represented classes.
func Prepare(data string, maxClasses, maxFeatures int) (*Prepared, error) {
	return PrepareMin(data, maxClasses, maxFeatures, 0)
}

// PrepareMin is Prepare leaving out classes of fewer than minSamples
// samples (0: learn.DefaultMinSamples).
func PrepareMin(data string, maxClasses, maxFeatures, minSamples int) (*Prepared, error) {
	recs, err := learn.ReadRecordings(data)
	if err != nil {
		return nil, err
	}
	return prepareRecordings(recs, maxClasses, maxFeatures, minSamples, false)
}

// PrepareRecordings is Prepare on recordings already read. The vectors'
// intervals are rounded to IntervalPrecision first (an agent measures each
// interval, a little off the nominal length); the most common one is the
// data's, and vectors of another (a recording's first, partial interval)
// are left out.
func PrepareRecordings(recs []learn.Recording, maxClasses, maxFeatures int) (*Prepared, error) {
	return prepareRecordings(recs, maxClasses, maxFeatures, 0, false)
}

func prepareRecordings(recs []learn.Recording, maxClasses, maxFeatures, minSamples int, other bool) (*Prepared, error) {
	RoundIntervals(recs)
	iv := IntervalOf(recs)
	if iv == 0 {
		return nil, errors.New("the recordings hold no count vectors")
	}
	for i := range recs {
		recs[i].Vectors = slices.DeleteFunc(recs[i].Vectors, func(v event.CountVector) bool { return v.Interval != iv })
	}
	fs := learn.SelectFeatures(recs, maxFeatures)
	d, err := learn.Build(recs, learn.BuildOptions{Features: fs, MaxClasses: maxClasses, MinSamples: minSamples, Interval: iv, Other: other})
	if err != nil {
		return nil, err
	}
	if len(d.Classes) < 2 {
		return nil, fmt.Errorf("%d classes with enough samples: at least 2 are needed", len(d.Classes))
	}
	return &Prepared{Recordings: recs, Features: fs, Interval: iv, All: d}, nil
}

// IntervalPrecision is what recorded intervals are rounded to.
const IntervalPrecision = 100 * time.Millisecond

// RoundIntervals rounds every vector's interval to IntervalPrecision (at
// least IntervalPrecision).
func RoundIntervals(recs []learn.Recording) {
	for i := range recs {
		for j := range recs[i].Vectors {
			v := &recs[i].Vectors[j]
			v.Interval = max(v.Interval.Round(IntervalPrecision), IntervalPrecision)
		}
	}
}

// IntervalOf is the most common interval of recs' vectors (0: none; the
// shorter of equally common ones).
func IntervalOf(recs []learn.Recording) time.Duration {
	n := map[time.Duration]int{}
	for _, r := range recs {
		for i := range r.Vectors {
			n[r.Vectors[i].Interval]++
		}
	}
	var best time.Duration
	for iv, c := range n {
		if c > n[best] || c == n[best] && iv < best {
			best = iv
		}
	}
	return best
}

// Train reads the recordings, trains a model on the first part of each
// class's time, evaluates it on the rest, sets the novelty thresholds
// from the held-out confidences and returns the model file (not yet
// written: learn.SaveFile).
func Train(ctx context.Context, o TrainOptions) (*TrainResult, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	recs, err := learn.ReadRecordings(o.Data)
	if err != nil {
		return nil, err
	}
	p, err := prepareRecordings(recs, o.MaxClasses, o.MaxFeatures, o.MinSamples, o.Other)
	if err != nil {
		return nil, err
	}
	p.Train, p.Test = learn.SplitByTime(p.All, o.TrainFraction)
	if len(p.Train.Samples) == 0 || len(p.Test.Samples) == 0 {
		return nil, fmt.Errorf("the split left %d samples to train and %d to test: record for longer", len(p.Train.Samples), len(p.Test.Samples))
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "%d classes, %d features, %d samples to train, %d to test (split by time %.0f/%.0f)\n",
			len(p.All.Classes), len(p.Features)+1, len(p.Train.Samples), len(p.Test.Samples), 100*o.TrainFraction, 100*(1-o.TrainFraction))
	}
	kind, _ := learn.Lookup(o.Kind)
	start := time.Now()
	m, err := kind.Train(ctx, p.Train, learn.Options{Seed: o.Seed, Epochs: o.Epochs, Workers: o.Workers, Progress: ProgressPrinter(o.Progress)})
	if err != nil {
		return nil, fmt.Errorf("training %s: %w", o.Kind, err)
	}
	took := time.Since(start)
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "trained %s in %.1f s\n", o.Kind, took.Seconds())
	}
	scores := learn.Evaluate(m, p.Test, o.Workers)
	f := &learn.File{Kind: o.Kind, Classes: p.All.Classes, Features: p.Features, SeqLen: learn.SeqLen, Interval: p.Interval,
		Novelty: noveltyThresholds(m, p.Test, o.NoveltyQuantile, o.Workers), NoveltyQuantile: o.NoveltyQuantile,
		Trained: learn.TrainInfo{At: o.Now().UTC(), Samples: len(p.Train.Samples), Epochs: o.Epochs, Seed: o.Seed, Groups: groupsOf(p.Train),
			Options: fmt.Sprintf("max_classes=%d max_features=%d train_fraction=%g", o.MaxClasses, o.MaxFeatures, o.TrainFraction)},
		Model: m}
	return &TrainResult{File: f, Train: len(p.Train.Samples), Test: len(p.Test.Samples), Scores: scores, TrainDuration: took}, nil
}

func groupsOf(d *learn.Data) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range d.Samples {
		if !seen[s.Group] {
			seen[s.Group] = true
			out = append(out, s.Group)
		}
	}
	sort.Strings(out)
	return out
}

// noveltyThresholds sets each class's novelty threshold at quantile q of
// the probabilities m gives the true class of d's samples of that class
// (held out, learn.NoveltyThresholds). Non-grata classes ("nongrata:"
// names) get none: a process never presents such a name.
func noveltyThresholds(m learn.Model, d *learn.Data, q float64, workers int) map[string]float64 {
	out := learn.NoveltyThresholds(m, d, q, workers)
	for c := range out {
		if strings.HasPrefix(c, "nongrata:") {
			delete(out, c)
		}
	}
	return out
}

// ProgressPrinter returns a learn.Options.Progress that writes to w at
// most a line a second (and the last epoch's end): the kind, the epoch,
// the loss so far and the samples (or trees) per second since the line
// before. Nil w: nil.
func ProgressPrinter(w io.Writer) func(learn.Progress) {
	if w == nil {
		return nil
	}
	var (
		last      learn.Progress
		lastAt    = time.Now()
		done      int // samples since the last line
		printedAt time.Time
	)
	return func(p learn.Progress) {
		now := time.Now()
		if p.Epoch != last.Epoch {
			done += p.Done + max(last.Total-last.Done, 0)
		} else {
			done += p.Done - last.Done
		}
		last = p
		final := p.Epoch == p.Epochs && p.Total > 0 && p.Done >= p.Total
		if !final && now.Sub(printedAt) < time.Second {
			return
		}
		rate := 0.0
		if el := now.Sub(lastAt).Seconds(); el > 0 {
			rate = float64(done) / el
		}
		fmt.Fprintf(w, "%s epoch %d/%d  %d/%d  loss %.4f  %.0f samples/s\n", p.Kind, p.Epoch, p.Epochs, p.Done, p.Total, p.Loss, rate)
		printedAt, lastAt, done = now, now, 0
	}
}

// WriteScores writes macro precision and recall, then each class's.
func WriteScores(w io.Writer, s learn.Scores) error {
	fmt.Fprintf(w, "held-out: accuracy %.3f, macro precision %.3f, macro recall %.3f\n", s.Accuracy, s.MacroPrecision, s.MacroRecall)
	fmt.Fprintf(w, "  %-28s %9s %9s %8s\n", "class", "precision", "recall", "samples")
	for _, c := range s.PerClass {
		if _, err := fmt.Fprintf(w, "  %-28q %9.3f %9.3f %8d\n", c.Class, c.Precision, c.Recall, c.Support); err != nil {
			return err
		}
	}
	return nil
}
