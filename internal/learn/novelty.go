package learn

import (
	"math"
	"slices"
)

// NoveltyThresholds returns, per class with samples in d, the q-quantile
// (nearest rank below) of the confidences m gives its samples: the
// probability of their own class. A process presenting a class's name whose
// sequence gets less is novel (File.Novelty); q is the share of held-out
// sequences of the class that would be called novel. d is held-out data,
// not what m was trained on. Predictions run on workers goroutines.
func NoveltyThresholds(m Model, d *Data, q float64, workers int) map[string]float64 {
	q = math.Min(math.Max(q, 0), 1)
	conf := make([]float64, len(d.Samples))
	parallel(len(d.Samples), workers, func(i int) {
		p := m.Predict(d.Samples[i].X)
		if y := d.Samples[i].Y; y >= 0 && y < len(p) {
			conf[i] = p[y]
		}
	})
	per := make([][]float64, len(d.Classes))
	for i, s := range d.Samples {
		if s.Y >= 0 && s.Y < len(per) {
			per[s.Y] = append(per[s.Y], conf[i])
		}
	}
	out := map[string]float64{}
	for c, cs := range per {
		if len(cs) == 0 {
			continue
		}
		slices.Sort(cs)
		out[d.Classes[c]] = math.Min(math.Max(cs[int(q*float64(len(cs)-1))], 0), 1)
	}
	return out
}
