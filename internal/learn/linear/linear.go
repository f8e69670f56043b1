// Package linear holds the process classifier's linear baselines of seed
// 001 section 5.1: multinomial logistic regression ("logreg") and a linear
// support vector machine, one-vs-rest ("svm", with the squared hinge loss
// of scikit-learn's LinearSVC). Both are trained with L-BFGS, an L2
// penalty on the weights, deterministically. Both classify single count
// vectors, each normalised by its sum and standardised (per entry, the
// training vectors' mean and standard deviation), and name a sample by the
// majority vote of its vectors: Predict returns each class's share of the
// votes.
package linear

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/vigil-ids/vigil/internal/learn"
)

func init() {
	learn.Register(learn.Kind{
		Name: KindLogReg,
		Doc:  "multinomial logistic regression over single vectors (L2, L-BFGS), majority vote",
		Train: func(ctx context.Context, d *learn.Data, o learn.Options) (learn.Model, error) {
			return TrainLogReg(ctx, d, o, Default)
		},
		Decode: func(b []byte, classes, dim int) (learn.Model, error) { return decode(KindLogReg, b, classes, dim) },
	})
	learn.Register(learn.Kind{
		Name: KindSVM,
		Doc:  "linear SVM over single vectors (one-vs-rest, squared hinge loss, L2, L-BFGS), majority vote",
		Train: func(ctx context.Context, d *learn.Data, o learn.Options) (learn.Model, error) {
			return TrainSVM(ctx, d, o, Default)
		},
		Decode: func(b []byte, classes, dim int) (learn.Model, error) { return decode(KindSVM, b, classes, dim) },
	})
}

// The kinds' names.
const (
	KindLogReg = "logreg"
	KindSVM    = "svm"
)

// minStd bounds the standard deviation an entry is divided by, so that
// an entry (nearly) constant in training does not blow up at prediction.
const minStd = 1e-3

// model is a linear classifier over standardised normalised vectors:
// class scores W z + b with z = (x - mean) * scale.
type model struct {
	kind        string
	k, dim      int
	mean, scale []float64 // dim
	w           []float64 // k rows of dim
	b           []float64 // k
}

func (m *model) Kind() string { return m.kind }

// Predict returns the share of a sample's vectors voting for each class.
func (m *model) Predict(x [][]float64) []float64 {
	z := make([]float64, m.dim)
	return learn.VoteShares(x, m.dim, m.k, func(v []float64) int {
		m.standardise(z, v)
		return m.classify(z)
	})
}

func (m *model) standardise(z, v []float64) {
	for j := range z {
		z[j] = (v[j] - m.mean[j]) * m.scale[j]
	}
}

// classify returns the class of the highest score of standardised z, the
// lowest of a tie.
func (m *model) classify(z []float64) int {
	best, bestScore := 0, math.Inf(-1)
	for c := range m.k {
		s := m.b[c] + dot(m.w[c*m.dim:(c+1)*m.dim], z)
		if s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

func dot(a, b []float64) float64 { return floats.Dot(a, b) }

// standardiser returns the mean and 1/std of each column of the n-row
// matrix x.
func standardiser(x []float64, n, dim int) (mean, scale []float64) {
	mean, scale = make([]float64, dim), make([]float64, dim)
	for i := range n {
		for j, v := range x[i*dim : (i+1)*dim] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j, v := range x[i*dim : (i+1)*dim] {
			d := v - mean[j]
			scale[j] += d * d
		}
	}
	for j := range scale {
		scale[j] = 1 / max(math.Sqrt(scale[j]/float64(n)), minStd)
	}
	return mean, scale
}

// The binary form of a model (little endian):
//
//	[4]byte  "LOGR" or "LSVM"
//	uint32   classes k
//	uint32   dim
//	float64  mean[dim], scale[dim], w[k*dim] (row per class), b[k]

var magics = map[string]string{KindLogReg: "LOGR", KindSVM: "LSVM"}

func (m *model) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, size(m.k, m.dim))
	b = append(b, magics[m.kind]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.k))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.dim))
	for _, part := range [][]float64{m.mean, m.scale, m.w, m.b} {
		for _, v := range part {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b, nil
}

func size(k, dim int) int { return 12 + 8*(2*dim+k*dim+k) }

func decode(kind string, b []byte, classes, dim int) (learn.Model, error) {
	if classes < 1 || dim < 1 || classes > learn.ClassLimit || dim > 1<<16 {
		return nil, fmt.Errorf("%s: %d classes over %d-entry vectors are out of range", kind, classes, dim)
	}
	if len(b) < 12 || string(b[:4]) != magics[kind] {
		return nil, fmt.Errorf("%s: weights do not start with %q", kind, magics[kind])
	}
	k, d := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	if int64(k) != int64(classes) || int64(d) != int64(dim) {
		return nil, fmt.Errorf("%s: weights for %d classes over %d entries, the file says %d over %d", kind, k, d, classes, dim)
	}
	if want := size(classes, dim); len(b) != want {
		return nil, fmt.Errorf("%s: %d bytes of weights, want %d", kind, len(b), want)
	}
	vals := make([]float64, (len(b)-12)/8)
	for i := range vals {
		vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[12+8*i:]))
		if math.IsNaN(vals[i]) || math.IsInf(vals[i], 0) {
			return nil, fmt.Errorf("%s: weight %d is not finite", kind, i)
		}
	}
	m := &model{kind: kind, k: classes, dim: dim}
	m.mean, vals = vals[:dim], vals[dim:]
	m.scale, vals = vals[:dim], vals[dim:]
	m.w, m.b = vals[:classes*dim], vals[classes*dim:]
	for j, s := range m.scale {
		if s <= 0 || s > 1/minStd {
			return nil, fmt.Errorf("%s: scale %v of entry %d outside (0, %v]", kind, s, j, 1/minStd)
		}
	}
	return m, nil
}

var errNoData = errors.New("no non-zero vector to learn from")

// prepare returns d's single vectors standardised, their classes and the
// standardisation.
func prepare(kind string, d *learn.Data) (z []float64, y []int, mean, scale []float64, err error) {
	if len(d.Classes) == 0 || d.Dim < 1 {
		return nil, nil, nil, nil, fmt.Errorf("%s: %d classes over %d entries", kind, len(d.Classes), d.Dim)
	}
	z, y = learn.SingleVectors(d)
	if len(y) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", kind, errNoData)
	}
	mean, scale = standardiser(z, len(y), d.Dim)
	for i := range y {
		row := z[i*d.Dim : (i+1)*d.Dim]
		for j := range row {
			row[j] = (row[j] - mean[j]) * scale[j]
		}
	}
	return z, y, mean, scale, nil
}
