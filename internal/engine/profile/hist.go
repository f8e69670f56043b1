package profile

import "math"

// hist is an aged empirical distribution of a non-negative statistic (a
// measure's Q, a subject's T2) over logarithmic bins: bin 0 holds zero
// and values below lo, bin i (1..histBins-1) the values from
// lo*ratio^(i-1). It answers tail probabilities and percentiles without
// assuming any parametric form.
type hist struct {
	w     [histBins]float32
	total float32
}

const (
	histBins = 48
	histLo   = 1e-4
)

// histLogRatio spreads the bins from histLo to about 1e8.
var histLogRatio = math.Log(1e12) / float64(histBins-2)

func histBin(v float64) int {
	switch {
	case !(v >= histLo): // also NaN
		return 0
	case v >= 1e8:
		return histBins - 1
	}
	i := 1 + int(math.Log(v/histLo)/histLogRatio)
	return min(i, histBins-1)
}

// histLower is the smallest value of bin i.
func histLower(i int) float64 {
	if i == 0 {
		return 0
	}
	return histLo * math.Exp(float64(i-1)*histLogRatio)
}

func (h *hist) add(v float64) {
	h.w[histBin(v)]++
	h.total++
}

// age multiplies every weight by b.
func (h *hist) age(b float64) {
	f := float32(b)
	for i := range h.w {
		h.w[i] *= f
	}
	h.total *= f
}

// tail is the probability of a value at least v: the weight of the bins
// above v's plus half of its own (so a value in the busiest bin is not
// called rare).
func (h *hist) tail(v float64) float64 {
	if h.total <= 0 {
		return 1
	}
	b := histBin(v)
	var above float32
	for i := b + 1; i < histBins; i++ {
		above += h.w[i]
	}
	return math.Min(1, float64(above+h.w[b]/2)/float64(h.total))
}

// rank is the probability of a value below v (with half of v's bin).
func (h *hist) rank(v float64) float64 { return 1 - h.tail(v) }

// percentile is the smallest bin boundary below which a fraction q of
// the weight lies.
func (h *hist) percentile(q float64) float64 {
	if h.total <= 0 {
		return math.Inf(1)
	}
	target := float32(q) * h.total
	var cum float32
	for i := range h.w {
		cum += h.w[i]
		if cum >= target {
			return histLower(i + 1)
		}
	}
	return histLower(histBins)
}

// normalScore turns a tail probability into NIDES's normal-equivalent
// score S = Φ⁻¹(1 − P/2): 0 for an ordinary value, growing as the value
// gets rarer.
func normalScore(p float64) float64 {
	p = math.Max(p, 1e-9)
	if p >= 1 {
		return 0
	}
	return math.Sqrt2 * math.Erfinv(1-p) // Φ⁻¹(1 − p/2) = √2 erfinv(1 − p)
}
