package eval

import (
	"math"
	"slices"
	"sort"
)

// This file is NAB's scoring (Lavin and Ahmad 2015, and the rules the
// benchmark documents): every sample after the probationary period gets
// the weight it would have as a detection: inside an anomaly window a
// scaled sigmoid of its relative position (the window's start scores the
// whole true-positive weight, its end about nothing); outside, a false
// positive's cost, the full cost before the first window and a sigmoid of
// the distance past the last window after it. At a threshold, the first
// detection in a window counts (the earliest, whose weight is the
// greatest), every detection outside windows counts, and each window
// without a detection costs the false-negative weight. The threshold is
// optimised per detector and profile over the whole corpus, and the total
// normalised between the null detector (0) and a perfect one (100).

// NABProfile is one of NAB's application profiles: the weights of a true
// positive, a false positive and a false negative (a missed window).
type NABProfile struct {
	Name       string
	TP, FP, FN float64
}

// NABProfiles are NAB's three application profiles, as its
// config/profiles.json gives them; a corpus with its own config uses that.
var NABProfiles = []NABProfile{
	{Name: "standard", TP: 1, FP: 0.11, FN: 1},
	{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1},
	{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2},
}

const probationPercent = 0.15

// probation is NAB's probationary period: the first 15% of a series (at
// most 750 samples), in which detections do not count.
func probation(n int) int {
	return int(math.Min(math.Floor(probationPercent*float64(n)), probationPercent*5000))
}

// scaledSigmoid is NAB's weight of a detection at relative position y
// (−1 at a window's start, 0 just past its end, positive past it).
func scaledSigmoid(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// nabPoint is one scorable sample: its anomaly score, its unweighted
// sigmoid value, and its window (an index into the series' windows, −1
// outside every window).
type nabPoint struct {
	score  float64
	sig    float64
	window int32
}

// windowSpans turns a series' windows into sample index ranges [l, r]:
// from the first sample at or after the window's start to the first
// sample at its end (the last before it when none falls on it). Series
// may repeat a timestamp; the first of equal samples bounds a window.
// Windows that hold no sample are dropped.
func windowSpans(s *Series) [][2]int {
	var spans [][2]int
	for _, w := range s.Windows {
		l := sort.Search(len(s.Times), func(i int) bool { return !s.Times[i].Before(w[0]) })
		r := sort.Search(len(s.Times), func(i int) bool { return !s.Times[i].Before(w[1]) })
		if r == len(s.Times) || s.Times[r].After(w[1]) {
			r--
		}
		if l <= r {
			spans = append(spans, [2]int{l, r})
		}
	}
	return spans
}

// nabPoints gives each sample after the probationary period its place in
// NAB's scoring, for the anomaly scores of one detector on series s. A
// window that ends within the probationary period has no scorable
// sample: it is neither found nor missed.
func nabPoints(s *Series, scores []float64) []nabPoint {
	spans := windowSpans(s)
	start := probation(len(scores))
	pts := make([]nabPoint, 0, len(scores)-start)
	// Windows that end inside the probationary period cannot be scored:
	// the points number the others from 0.
	early := 0
	for early < len(spans) && spans[early][1] < start {
		early++
	}
	cur, next, prev := -1, 0, -1
	for i, sc := range scores {
		if next < len(spans) && i == spans[next][0] {
			cur, next = next, next+1
		}
		var sig float64
		switch {
		case cur >= 0:
			w := spans[cur]
			sig = scaledSigmoid(-float64(w[1]-i+1) / float64(w[1]-w[0]+1))
		case prev < 0:
			sig = -1 // no window before: as far from one as can be
		default:
			w := spans[prev]
			sig = scaledSigmoid(math.Abs(float64(w[1]-i)) / float64(max(w[1]-w[0], 1)))
		}
		if i >= start {
			w := int32(-1)
			if cur >= 0 {
				w = int32(cur - early)
			}
			pts = append(pts, nabPoint{score: sc, sig: sig, window: w})
		}
		if cur >= 0 && i == spans[cur][1] {
			prev, cur = cur, -1
		}
	}
	return pts
}

// weight is a point's score as a detection under profile p.
func (pt nabPoint) weight(p NABProfile) float64 {
	if pt.window >= 0 {
		return pt.sig * p.TP / scaledSigmoid(-1)
	}
	return pt.sig * p.FP
}

// countWindows counts the windows that have a scorable point (numbered
// from 0 by nabPoints).
func countWindows(pts []nabPoint) int {
	n := 0
	for _, pt := range pts {
		n = max(n, int(pt.window)+1)
	}
	return n
}

// NABFileScore is one series' score at one threshold: the raw score and
// NAB's sample counts (TP and FN count samples inside windows detected
// or not, FP and TN samples outside), plus the windows detected.
type NABFileScore struct {
	Raw               float64
	TP, TN, FP, FN    int
	Windows, Detected int
}

// scoreFile scores one series' points at a threshold: a sample is a
// detection when its anomaly score is at or above the threshold.
func scoreFile(pts []nabPoint, p NABProfile, threshold float64) NABFileScore {
	nw := countWindows(pts)
	best := make([]float64, nw)
	found := make([]bool, nw)
	var f NABFileScore
	f.Windows = nw
	for _, pt := range pts {
		det := pt.score >= threshold
		switch {
		case pt.window >= 0 && det:
			f.TP++
			w := pt.window
			if wt := pt.weight(p); !found[w] || wt > best[w] {
				best[w] = wt
			}
			found[w] = true
		case pt.window >= 0:
			f.FN++
		case det:
			f.FP++
			f.Raw += pt.weight(p)
		default:
			f.TN++
		}
	}
	for w := range nw {
		if found[w] {
			f.Raw += best[w]
			f.Detected++
		} else {
			f.Raw -= p.FN
		}
	}
	return f
}

// NABScore is a detector's score over a corpus under one profile at its
// threshold.
type NABScore struct {
	Profile         string  `json:"profile"`
	Threshold       float64 `json:"threshold"`
	Raw             float64 `json:"raw"`
	Normalized      float64 `json:"normalized"`
	Windows         int     `json:"windows"`
	Detected        int     `json:"windows_detected"`
	FalsePositives  int     `json:"false_positives"`
	NoDetectionBest bool    `json:"no_detection_best,omitempty"`
}

// corpusPoint is a scorable point with its window numbered across the
// corpus.
type corpusPoint struct {
	score  float64
	weight float64
	window int32
}

// optimizeThreshold is NAB's threshold optimisation: it sweeps the
// threshold down through every distinct anomaly score of the corpus
// (every sample at or above it a detection) and keeps the threshold with
// the greatest raw total; of equal totals the highest threshold wins.
// Above the greatest score nothing is detected.
func optimizeThreshold(files [][]nabPoint, p NABProfile) NABScore {
	var all []corpusPoint
	windows := 0
	for _, pts := range files {
		nw := countWindows(pts)
		for _, pt := range pts {
			w := int32(-1)
			if pt.window >= 0 {
				w = int32(windows) + pt.window
			}
			all = append(all, corpusPoint{score: pt.score, weight: pt.weight(p), window: w})
		}
		windows += nw
	}
	slices.SortFunc(all, func(a, b corpusPoint) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	found := make([]bool, windows)
	best := make([]float64, windows)
	total := -p.FN * float64(windows)
	res := NABScore{Profile: p.Name, Raw: total, Windows: windows, Threshold: math.Inf(1), NoDetectionBest: true}
	if len(all) > 0 {
		res.Threshold = math.Nextafter(all[0].score, math.Inf(1))
	}
	detected, fps := 0, 0
	for i := 0; i < len(all); {
		th := all[i].score
		for ; i < len(all) && all[i].score == th; i++ {
			pt := all[i]
			if pt.window < 0 {
				total += pt.weight
				fps++
				continue
			}
			switch w := pt.window; {
			case !found[w]:
				found[w], best[w] = true, pt.weight
				total += p.FN + pt.weight
				detected++
			case pt.weight > best[w]:
				total += pt.weight - best[w]
				best[w] = pt.weight
			}
		}
		if total > res.Raw {
			res.Raw, res.Threshold, res.Detected, res.FalsePositives, res.NoDetectionBest = total, th, detected, fps, false
		}
	}
	return res
}

// normalize is NAB's normalisation: 100 × (raw − null) / (perfect − null),
// where null is the null detector's raw score (every window missed) and
// perfect the score of a detector that finds every window at its start.
func normalize(raw, null, perfect float64) float64 {
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}
