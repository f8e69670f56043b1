// Package eval measures Vigil's detectors on public datasets, each beside
// a baseline run in the same harness, and writes the results in one JSON
// shape: {"dataset": ..., "results": [{"detector": NAME, METRIC: VALUE}]}.
package eval

import (
	"math"
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

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
