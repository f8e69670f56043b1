// Package eval measures Vigil's detectors on public datasets, each beside
// a baseline run in the same harness, and writes the results in one JSON
// shape: {"dataset": ..., "results": [{"detector": NAME, METRIC: VALUE}]}.
package eval

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/event"
)

// Report is an evaluation's outcome.
type Report struct {
	Dataset string           `json:"dataset"`
	Results []map[string]any `json:"results"`
	// Notes say how the figures were made.
	Notes []string `json:"notes,omitempty"`
}

// Series is one NAB data file: its samples and labelled anomaly windows.
type Series struct {
	Name    string
	Times   []time.Time
	Values  []float64
	Windows [][2]time.Time
}

const nabTime = "2006-01-02 15:04:05"

// LoadNAB reads the realAWSCloudwatch series of a NAB directory (the
// dataset's README: realAWSCloudwatch/*.csv and
// labels/combined_windows_realAWSCloudwatch.json).
func LoadNAB(dir string) ([]Series, error) {
	files, err := filepath.Glob(filepath.Join(dir, "realAWSCloudwatch", "*.csv"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("%s: no realAWSCloudwatch/*.csv (is this the NAB dataset directory?)", dir)
	}
	labels := filepath.Join(dir, "labels", "combined_windows_realAWSCloudwatch.json")
	raw, err := os.ReadFile(labels)
	if err != nil {
		return nil, err
	}
	var windows map[string][][2]string
	if err := json.Unmarshal(raw, &windows); err != nil {
		return nil, fmt.Errorf("%s: %w", labels, err)
	}
	var out []Series
	for _, f := range files {
		s, err := readNABFile(f)
		if err != nil {
			return nil, err
		}
		key := "realAWSCloudwatch/" + filepath.Base(f)
		ws, ok := windows[key]
		if !ok {
			return nil, fmt.Errorf("%s: no windows for %s", labels, key)
		}
		for i, w := range ws {
			var pair [2]time.Time
			for j := range w {
				t, err := time.Parse(nabTime, strings.TrimSuffix(w[j], ".000000"))
				if err != nil {
					return nil, fmt.Errorf("%s: %s window %d: %w", labels, key, i+1, err)
				}
				pair[j] = t
			}
			s.Windows = append(s.Windows, pair)
		}
		out = append(out, s)
	}
	return out, nil
}

func readNABFile(path string) (Series, error) {
	s := Series{Name: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && rec[0] == "timestamp" {
			continue
		}
		t, err := time.Parse(nabTime, rec[0])
		if err != nil {
			return s, fmt.Errorf("%s:%d: timestamp: %w", path, line, err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return s, fmt.Errorf("%s:%d: value: %w", path, line, err)
		}
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, v)
	}
	if len(s.Times) == 0 {
		return s, fmt.Errorf("%s: no samples", path)
	}
	return s, nil
}

// NAB's standard application profile (Lavin and Ahmad 2015): a true
// positive counts 1, a false positive 0.11, a missed window 1.
const (
	nabTP, nabFP, nabFN = 1.0, 0.11, 1.0
	probationPercent    = 0.15
)

// probation is NAB's probationary period: detections in it do not count.
func probation(n int) int {
	return int(math.Min(math.Floor(probationPercent*float64(n)), probationPercent*5000))
}

// scaledSigmoid is NAB's weight of a detection at relative position y
// (−1 at a window's start, 0 at its end, positive past it).
func scaledSigmoid(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// nabCounts is one series' score at one threshold.
type nabCounts struct {
	raw        float64
	tp, fp, fn int
}

// scoreSeries applies NAB's scoring to one series' anomaly scores at a
// threshold: the earliest detection in a window counts as a true
// positive by its position; detections outside windows are false
// positives, weighed by their distance past the last window; windows
// without a detection are misses.
func scoreSeries(s *Series, scores []float64, threshold float64) nabCounts {
	type win struct{ l, r int }
	var wins []win
	for _, w := range s.Windows {
		l := sort.Search(len(s.Times), func(i int) bool { return !s.Times[i].Before(w[0]) })
		r := sort.Search(len(s.Times), func(i int) bool { return s.Times[i].After(w[1]) }) - 1
		if l <= r {
			wins = append(wins, win{l, r})
		}
	}
	maxTP := scaledSigmoid(-1)
	var c nabCounts
	detected := make([]bool, len(wins))
	wi := 0
	prev := -1 // the last window passed
	for i := probation(len(scores)); i < len(scores); i++ {
		for wi < len(wins) && i > wins[wi].r {
			prev = wi
			wi++
		}
		if scores[i] < threshold {
			continue
		}
		if wi < len(wins) && i >= wins[wi].l {
			if !detected[wi] {
				detected[wi] = true
				w := wins[wi]
				c.raw += nabTP * scaledSigmoid(-float64(w.r-i+1)/float64(w.r-w.l+1)) / maxTP
				c.tp++
			}
			continue
		}
		c.fp++
		if prev < 0 {
			c.raw -= nabFP
			continue
		}
		w := wins[prev]
		c.raw += nabFP * scaledSigmoid(math.Abs(float64(w.r-i))/float64(max(w.r-w.l, 1)))
	}
	for _, d := range detected {
		if !d {
			c.fn++
			c.raw -= nabFN
		}
	}
	return c
}

// NABResult is a detector's score over the corpus at its best threshold.
type NABResult struct {
	Detector   string
	Normalized float64 // NAB's normalised score: null detector 0, perfect 100
	Threshold  float64
	TP, FP, FN int
}

// scoreCorpus sweeps the threshold over the scores' values and keeps the
// best total, as NAB does per detector and profile.
func scoreCorpus(name string, series []Series, scores [][]float64) NABResult {
	var cand []float64
	for _, sc := range scores {
		cand = append(cand, sc...)
	}
	slices.Sort(cand)
	cand = slices.Compact(cand)
	if len(cand) > 1000 {
		q := make([]float64, 0, 1001)
		for k := 0; k <= 1000; k++ {
			q = append(q, cand[k*(len(cand)-1)/1000])
		}
		cand = slices.Compact(q)
	}
	windows := 0
	for _, s := range series {
		windows += len(s.Windows)
	}
	best := NABResult{Detector: name, Normalized: math.Inf(-1)}
	null := -nabFN * float64(windows)
	perfect := nabTP * float64(windows)
	for _, t := range cand {
		if t <= 0 {
			continue // a threshold of 0 calls every sample an anomaly
		}
		var tot nabCounts
		for i := range series {
			c := scoreSeries(&series[i], scores[i], t)
			tot.raw += c.raw
			tot.tp += c.tp
			tot.fp += c.fp
			tot.fn += c.fn
		}
		norm := 100 * (tot.raw - null) / (perfect - null)
		if norm > best.Normalized {
			best = NABResult{Detector: name, Normalized: norm, Threshold: t, TP: tot.tp, FP: tot.fp, FN: tot.fn}
		}
	}
	if math.IsInf(best.Normalized, -1) {
		best.Normalized = 0
	}
	return best
}

// WindowedGaussian is NAB's windowed Gaussian baseline: the tail
// probability of each value under a normal distribution fitted to the
// previous window of values (6,400), refitted every 100 samples.
func WindowedGaussian(values []float64) []float64 {
	const window, step = 6400, 100
	out := make([]float64, len(values))
	var mean, std float64
	for i, v := range values {
		if i > 0 && (i%step == 0 || i < step) {
			lo := max(0, i-window)
			mean, std = meanStd(values[lo:i])
		}
		if std > 0 {
			z := math.Abs(v-mean) / std
			out[i] = 1 - math.Erfc(z/math.Sqrt2) // 1 − the two-sided tail
		}
	}
	return out
}

func meanStd(xs []float64) (float64, float64) {
	var s, ss float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)))
}

// NABProfileClass is the profile class the NAB evaluation gives the
// profiler: each series a subject, its value and its change from the
// previous sample as continuous measures with bins learnt from the
// probationary period, a short-term half-life of three samples (15
// minutes), daily long-term updates with a seven-day half-life.
func NABProfileClass(autoBins int) *profile.Class {
	return &profile.Class{
		Name: "nab", Subject: "series",
		Measures: []profile.Measure{
			{Name: "value", Kind: profile.Continuous, Field: "value", AutoBins: autoBins},
			{Name: "change", Kind: profile.Continuous, Field: "change", AutoBins: autoBins},
		},
		ShortHalfLife: 3, LongHalfLife: 7 * 24 * time.Hour, Update: 24 * time.Hour,
		Rare: 0.01, Alert: 0.99, Red: 0.999, MinHistory: 50,
	}
}

// ProfileScores runs the profiler (NABProfileClass with the given
// half-lives) over one series, learning as it goes (NAB's detectors see
// each sample once, in order), and returns per sample the rank of its T2
// in the series' own history (0 until the profile is ready), and the
// alerts the profiler would report: T2 above the subject's 99th
// percentile, at most one an hour.
func ProfileScores(s *Series, short float64, long time.Duration) (ranks, alerts []float64) {
	c := NABProfileClass(max(probation(len(s.Values)), 50))
	c.ShortHalfLife, c.LongHalfLife = short, long
	p := profile.New([]*profile.Class{c}, profile.Options{})
	ranks, alerts = make([]float64, len(s.Values)), make([]float64, len(s.Values))
	ev := event.Event{Type: "METRIC", Attrs: map[string]any{"series": s.Name}}
	var last time.Time
	for i, v := range s.Values {
		change := 0.0
		if i > 0 {
			change = v - s.Values[i-1]
		}
		ev.Time = s.Times[i]
		ev.Attrs["value"], ev.Attrs["change"] = v, change
		for _, r := range p.Observe(&ev, true) {
			if !r.Ready {
				continue
			}
			ranks[i] = r.Rank
			if r.Rank >= c.Alert && (last.IsZero() || ev.Time.Sub(last) >= time.Hour) {
				alerts[i], last = 1, ev.Time
			}
		}
	}
	return ranks, alerts
}

// NAB runs the profiler and the windowed Gaussian over the series and
// scores both with NAB's standard profile: the profiler's T2 ranks (a
// threshold swept as for the baseline), and its own alerts (no sweep).
// With grid, it also scores the ranks under other short- and long-term
// half-lives, to show how much the figure depends on them.
func NAB(series []Series, grid bool) Report {
	const short, long = 3, 7 * 24 * time.Hour
	run := func(short float64, long time.Duration) (NABResult, NABResult) {
		ranks := make([][]float64, len(series))
		alerts := make([][]float64, len(series))
		for i := range series {
			ranks[i], alerts[i] = ProfileScores(&series[i], short, long)
		}
		return scoreCorpus("profile", series, ranks), scoreCorpus("profile-alerts", series, alerts)
	}
	gauss := make([][]float64, len(series))
	for i := range series {
		gauss[i] = WindowedGaussian(series[i].Values)
	}
	rep := Report{Dataset: fmt.Sprintf("nab realAWSCloudwatch (%d series)", len(series)),
		Notes: []string{"NAB standard profile (TP 1, FP 0.11, FN 1), 15% probation, one threshold per detector swept over the corpus; normalised: null detector 0, perfect 100",
			"profile: short-term half-life 3 samples, long-term 7 days, daily updates; profile-alerts: its reports (T2 above the series' 99th percentile, one an hour)"}}
	ranks, alerts := run(short, long)
	add := func(r NABResult, extra map[string]any) {
		res := map[string]any{"detector": r.Detector, "nab_standard": round(r.Normalized, 2),
			"threshold": round(r.Threshold, 6), "tp": r.TP, "fp": r.FP, "fn": r.FN}
		for k, v := range extra {
			res[k] = v
		}
		rep.Results = append(rep.Results, res)
	}
	add(ranks, nil)
	add(alerts, nil)
	add(scoreCorpus("windowed-gaussian", series, gauss), nil)
	if grid {
		for _, sh := range []float64{1, 3, 6, 12} {
			for _, lh := range []time.Duration{24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour} {
				r, _ := run(sh, lh)
				r.Detector = fmt.Sprintf("profile short %g long %v", sh, lh)
				add(r, map[string]any{"short_half_life": sh, "long_half_life_h": lh.Hours()})
			}
		}
	}
	return rep
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
