package classify

import (
	"math"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/learn"
)

// centroid is a stand-in model: the softmax of the negative distance of a
// sequence's normalised mean vector to each class's behaviour.
type centroid struct{ classes []string }

func (c centroid) Kind() string                   { return "centroid" }
func (c centroid) MarshalBinary() ([]byte, error) { return nil, nil }
func (c centroid) Predict(x [][]float64) []float64 {
	mean := make([]float64, len(x[0]))
	for _, v := range x {
		var s float64
		for _, q := range v {
			s += q
		}
		for i, q := range v {
			if s > 0 {
				mean[i] += q / s / float64(len(x))
			}
		}
	}
	out := make([]float64, len(c.classes))
	var z float64
	for k, cl := range c.classes {
		var d float64
		for i, q := range behaviours[cl] {
			d += (q - mean[i]) * (q - mean[i])
		}
		out[k] = math.Exp(-10 * d)
		z += out[k]
	}
	for k := range out {
		out[k] /= z
	}
	return out
}

func testFile(t testing.TB) *learn.File {
	classes := []string{"nginx", "nongrata:miner", "sshd"}
	return &learn.File{Kind: "centroid", Classes: classes, Features: testFeatures, SeqLen: learn.SeqLen, Interval: time.Second,
		Novelty: map[string]float64{"nginx": 0.6, "sshd": 0.6}, NoveltyQuantile: 0.01, Model: centroid{classes}}
}
