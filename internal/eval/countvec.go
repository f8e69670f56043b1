package eval

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/classifier"
	"github.com/vigil-ids/vigil/internal/learn"
)

// Seed 001's figures: Table 1 (laboratory, time split 80/20) and Table 2
// (production, trained on some servers and tested on others); macro
// precision and recall, mean (standard deviation) over 10 runs.
type PaperFigure struct {
	Row                           string
	Precision, Recall, PStd, RStd float64
}

// PaperTable1 and PaperTable2 are seed 001's results by model kind.
var (
	PaperTable1 = map[string]PaperFigure{
		"logreg":    {"Logistic Regression", 0.843, 0.815, 1e-16, 1e-16},
		"svm":       {"Linear SVM", 0.850, 0.827, 1e-16, 1e-16},
		"forest":    {"Random Forest", 0.860, 0.838, 0.006, 9e-05},
		"lstm":      {"Simple net", 0.916, 0.922, 0.01, 0.003},
		"bilstm":    {"Bidirectional net", 0.923, 0.923, 0.01, 0.003},
		"inception": {"Inception-like net", 0.924, 0.925, 0.01, 0.003},
	}
	PaperTable2 = map[string]PaperFigure{
		"logreg":    {"Logistic Regression", 0.791, 0.741, 1e-16, 1e-16},
		"svm":       {"Linear SVM", 0.792, 0.741, 1e-16, 1e-16},
		"forest":    {"Random Forest", 0.850, 0.795, 0.02, 0.02},
		"lstm":      {"Simple net", 0.957, 0.918, 0.03, 0.03},
		"bilstm":    {"Bidirectional net", 0.948, 0.911, 0.04, 0.04},
		"inception": {"Inception-like net", 0.965, 0.931, 0.02, 0.01},
	}
)

// DefaultCountVecModels are the kinds seed 001 compares, in its order.
var DefaultCountVecModels = []string{"lstm", "bilstm", "inception", "logreg", "svm", "forest"}

// CountVecOptions configure CountVec.
type CountVecOptions struct {
	Data   string   // recordings (learn.ReadRecordings)
	Runs   int      // runs per model, each with its own seed (default 10)
	Models []string // model kinds (default DefaultCountVecModels)
	// TestGroups, when set, selects the cross-host protocol (Table 2):
	// the samples of these hosts test, the others train. Otherwise each
	// class's time is split TrainFraction/rest (Table 1).
	TestGroups    []string
	TrainFraction float64 // default 0.8
	MaxClasses    int     // default 28
	MaxFeatures   int     // 0: every call seen
	Epochs        int     // 0: each kind's default
	Seed          int64   // run r trains with Seed+r
	Workers       int
	// Progress, when set, receives a line per model and run (and the
	// trainers' progress).
	Progress io.Writer
	// Verbose passes the trainers' own progress to Progress.
	Verbose bool
}

// Stat is a mean and standard deviation over runs.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// CountVecRow is one model's results.
type CountVecRow struct {
	Model           string    `json:"model"`
	Precision       Stat      `json:"precision"`
	Recall          Stat      `json:"recall"`
	Accuracy        Stat      `json:"accuracy"`
	TrainSeconds    float64   `json:"train_seconds_per_run"`
	PaperRow        string    `json:"paper_row,omitempty"`
	PaperPrecision  float64   `json:"paper_precision,omitempty"`
	PaperRecall     float64   `json:"paper_recall,omitempty"`
	PaperPrecStd    float64   `json:"paper_precision_std,omitempty"`
	PaperRecallStd  float64   `json:"paper_recall_std,omitempty"`
	PerRunPrecision []float64 `json:"per_run_precision"`
	PerRunRecall    []float64 `json:"per_run_recall"`
}

// CountVecReport is a comparison of model kinds on one data set.
type CountVecReport struct {
	Data       string        `json:"data"`
	Protocol   string        `json:"protocol"`
	Table      string        `json:"paper_table"`
	Classes    []string      `json:"classes"`
	Features   int           `json:"features"`
	Train      int           `json:"train_samples"`
	Test       int           `json:"test_samples"`
	TrainHosts []string      `json:"train_hosts,omitempty"`
	TestHosts  []string      `json:"test_hosts,omitempty"`
	Runs       int           `json:"runs"`
	Rows       []CountVecRow `json:"models"`
}

// CountVec compares model kinds on recordings of count vectors with seed
// 001's protocols: every model trained Runs times (seeds Seed, Seed+1,
// ...) on the same split and scored on the held-out samples by macro
// precision and recall, mean and standard deviation over the runs.
func CountVec(ctx context.Context, o CountVecOptions) (*CountVecReport, error) {
	if o.Runs <= 0 {
		o.Runs = 10
	}
	if len(o.Models) == 0 {
		o.Models = DefaultCountVecModels
	}
	if o.TrainFraction == 0 {
		o.TrainFraction = classifier.DefaultTrainFraction
	}
	if o.MaxClasses == 0 {
		o.MaxClasses = classifier.DefaultMaxClasses
	}
	for _, m := range o.Models {
		if _, ok := learn.Lookup(m); !ok {
			return nil, fmt.Errorf("unknown model kind %q: want some of %s", m, strings.Join(learn.Kinds(), ", "))
		}
	}
	p, err := classifier.Prepare(o.Data, o.MaxClasses, o.MaxFeatures)
	if err != nil {
		return nil, err
	}
	rep := &CountVecReport{Data: o.Data, Classes: p.All.Classes, Features: len(p.Features) + 1, Runs: o.Runs}
	paper := PaperTable1
	if len(o.TestGroups) > 0 {
		known := map[string]bool{}
		for _, s := range p.All.Samples {
			known[s.Group] = true
		}
		for _, g := range o.TestGroups {
			if !known[g] {
				return nil, fmt.Errorf("test host %q has no samples; the hosts are %s", g, strings.Join(sortedKeys(known), ", "))
			}
		}
		p.Train, p.Test = learn.SplitByGroup(p.All, o.TestGroups)
		// Hosts that run other software than the training hosts can be
		// scored only on the programs both run.
		p.Train, p.Test = learn.CommonClasses(p.Train, p.Test)
		rep.Classes = p.Train.Classes
		if len(rep.Classes) < 2 {
			return nil, fmt.Errorf("the training and test hosts share %d classes; a cross-host test needs at least 2", len(rep.Classes))
		}
		rep.Protocol = "cross-host: trained on " + strings.Join(groups(p.Train), ", ") + ", tested on " + strings.Join(groups(p.Test), ", ") +
			fmt.Sprintf(", the %d classes both sides run", len(rep.Classes))
		rep.Table = "Table 2 (production, other servers)"
		rep.TrainHosts, rep.TestHosts = groups(p.Train), groups(p.Test)
		paper = PaperTable2
	} else {
		p.Train, p.Test = learn.SplitByTime(p.All, o.TrainFraction)
		rep.Protocol = fmt.Sprintf("time split %.0f/%.0f per class", 100*o.TrainFraction, 100*(1-o.TrainFraction))
		rep.Table = "Table 1 (laboratory)"
	}
	rep.Train, rep.Test = len(p.Train.Samples), len(p.Test.Samples)
	if rep.Train == 0 || rep.Test == 0 {
		return nil, fmt.Errorf("the split left %d samples to train and %d to test", rep.Train, rep.Test)
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "%d classes, %d features; %s: %d samples train, %d test\n", len(rep.Classes), rep.Features, rep.Protocol, rep.Train, rep.Test)
	}
	var trainProgress io.Writer
	if o.Verbose {
		trainProgress = o.Progress
	}
	for _, name := range o.Models {
		kind, _ := learn.Lookup(name)
		row := CountVecRow{Model: name}
		if f, ok := paper[name]; ok {
			row.PaperRow, row.PaperPrecision, row.PaperRecall, row.PaperPrecStd, row.PaperRecallStd = f.Row, f.Precision, f.Recall, f.PStd, f.RStd
		}
		var acc []float64
		var took time.Duration
		for r := range o.Runs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			start := time.Now()
			m, err := kind.Train(ctx, p.Train, learn.Options{Seed: o.Seed + int64(r), Epochs: o.Epochs, Workers: o.Workers, Progress: classifier.ProgressPrinter(trainProgress)})
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", name, r+1, err)
			}
			took += time.Since(start)
			s := learn.Evaluate(m, p.Test, o.Workers)
			row.PerRunPrecision = append(row.PerRunPrecision, s.MacroPrecision)
			row.PerRunRecall = append(row.PerRunRecall, s.MacroRecall)
			acc = append(acc, s.Accuracy)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "%-10s run %2d/%d: precision %.3f recall %.3f (%.1f s)\n", name, r+1, o.Runs, s.MacroPrecision, s.MacroRecall, time.Since(start).Seconds())
			}
		}
		row.Precision, row.Recall, row.Accuracy = stat(row.PerRunPrecision), stat(row.PerRunRecall), stat(acc)
		row.TrainSeconds = took.Seconds() / float64(o.Runs)
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// WriteTable writes the comparison as seed 001's tables, the paper's
// figures beside.
func (r *CountVecReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "Count vectors %s: %d classes, %d features, %s; %d samples train, %d test; %d runs\n",
		r.Data, len(r.Classes), r.Features, r.Protocol, r.Train, r.Test, r.Runs)
	fmt.Fprintf(w, "  %-10s %-17s %-17s %-9s | seed 001 %s\n", "model", "precision (std)", "recall (std)", "train s", r.Table)
	for _, row := range r.Rows {
		paper := "-"
		if row.PaperRow != "" {
			paper = fmt.Sprintf("%-19s %.3f (%.2g)  %.3f (%.2g)", row.PaperRow, row.PaperPrecision, row.PaperPrecStd, row.PaperRecall, row.PaperRecallStd)
		}
		if _, err := fmt.Fprintf(w, "  %-10s %.3f (%.3f)     %.3f (%.3f)     %-9.1f | %s\n", row.Model, row.Precision.Mean, row.Precision.Std,
			row.Recall.Mean, row.Recall.Std, row.TrainSeconds, paper); err != nil {
			return err
		}
	}
	return nil
}

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	mean := s / float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	std := 0.0
	if len(xs) > 1 {
		std = math.Sqrt(v / float64(len(xs)-1))
	}
	return Stat{Mean: mean, Std: std}
}

func groups(d *learn.Data) []string {
	seen := map[string]bool{}
	for _, s := range d.Samples {
		seen[s.Group] = true
	}
	return sortedKeys(seen)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
