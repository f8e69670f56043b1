// Package lstm holds the process classifier's recurrent nets (seed 001
// sections 3-4) and registers them as three learn kinds:
//
//   - "lstm", the simple net: a single-layer LSTM reads a sample's count
//     vectors, each normalised by its sum, in time order; its last hidden
//     state goes through a fully connected layer to a softmax over the
//     classes.
//   - "bilstm", the bidirectional net: two independent LSTMs, one over the
//     vectors in order, one over them reversed; their final hidden states,
//     concatenated, feed the fully connected layer.
//   - "inception", the inception-like net: one LSTM (tied weights) runs over
//     the same sample at intervals of 1, 2 and 3 vectors (10, 5 and 3 steps
//     for 10 vectors: consecutive raw counts summed, then normalised; a last
//     incomplete group left out); the three final states, concatenated, feed
//     the fully connected layer.
//
// Training minimises the mean cross-entropy of mini-batches plus an L2
// penalty on the fully connected layer's weights, with Adam. Each batch is
// cut into shards of a fixed size that the workers share; the shards'
// gradients are added in shard order, so a seed gives the same model
// whatever the number of workers. Training is pure Go on gonum's BLAS, in
// float64.
//
// Predict runs the same nets through an inference path of its own
// (infer.go): float32 copies of the weights, input projections summed over
// a vector's nonzero counts only and shared by the runs, and gates from a
// fast tanh; its kernels are AVX2/FMA (the row kernel AVX-512 too)
// assembly where the processor has them (kernels_amd64.s), portable Go
// elsewhere. Its probabilities are within 1e-5 of the exact pass's.
//
// A model's parameters are written by MarshalBinary in a compact binary
// form (a header with the kind and the sizes, then little-endian float64s)
// that Decode checks size by size before it allocates anything.
package lstm

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/vigil-ids/vigil/internal/learn"
)

// Arch names one of the package's architectures; its value is the kind's
// registered name.
type Arch string

// The architectures.
const (
	Simple        Arch = "lstm"
	Bidirectional Arch = "bilstm"
	Inception     Arch = "inception"
)

// Params are the training settings beyond learn.Options. Zero values mean
// the defaults (DefaultParams).
type Params struct {
	Hidden    int     // LSTM hidden units (64)
	Batch     int     // samples per mini-batch (32)
	Shard     int     // samples per shard of a batch, the unit of work a worker takes (8)
	LearnRate float64 // Adam's initial learning rate (1e-3)
	L2        float64 // weight of 0.5·‖V‖² for the fully connected weights V (1e-4; negative: none)
	ClipNorm  float64 // a batch gradient longer than this is scaled down to it (5; negative: never)
}

// DefaultParams are the settings of seed 001 section 5 where it gives them
// (64 hidden units, Adam at 1e-3, L2 on the fully connected layer).
func DefaultParams() Params {
	return Params{Hidden: 64, Batch: 32, Shard: 8, LearnRate: 1e-3, L2: 1e-4, ClipNorm: 5}
}

// DefaultEpochs is the number of passes over the data when Options.Epochs
// is zero.
const DefaultEpochs = 20

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Hidden == 0 {
		p.Hidden = d.Hidden
	}
	if p.Batch == 0 {
		p.Batch = d.Batch
	}
	if p.Shard == 0 {
		p.Shard = d.Shard
	}
	if p.LearnRate == 0 {
		p.LearnRate = d.LearnRate
	}
	if p.L2 == 0 {
		p.L2 = d.L2
	}
	if p.ClipNorm == 0 {
		p.ClipNorm = d.ClipNorm
	}
	return p
}

func (p Params) validate() error {
	switch {
	case p.Hidden < 1 || p.Hidden > maxHidden:
		return fmt.Errorf("hidden units %d: want 1 to %d", p.Hidden, maxHidden)
	case p.Batch < 1:
		return fmt.Errorf("batch size %d: want at least 1", p.Batch)
	case p.Shard < 1:
		return fmt.Errorf("shard size %d: want at least 1", p.Shard)
	case !(p.LearnRate > 0) || math.IsInf(p.LearnRate, 1):
		return fmt.Errorf("learning rate %g: want > 0", p.LearnRate)
	case math.IsNaN(p.L2) || math.IsInf(p.L2, 0):
		return fmt.Errorf("L2 weight %g: want a number", p.L2)
	case math.IsNaN(p.ClipNorm):
		return fmt.Errorf("gradient clip norm %g: want a number", p.ClipNorm)
	}
	return nil
}

func init() {
	for _, a := range []*arch{&simpleArch, &biArch, &inceptionArch} {
		name := Arch(a.name)
		learn.Register(learn.Kind{
			Name: a.name,
			Doc:  a.doc,
			Train: func(ctx context.Context, d *learn.Data, o learn.Options) (learn.Model, error) {
				m, err := TrainWith(ctx, name, d, o, Params{})
				if err != nil {
					return nil, err
				}
				return m, nil
			},
			Decode: func(b []byte, classes, dim int) (learn.Model, error) {
				m, err := Decode(name, b, classes, dim)
				if err != nil {
					return nil, err
				}
				return m, nil
			},
		})
	}
}

var _ learn.Model = (*Model)(nil)

// Model is a trained net. Predict is safe for concurrent use.
type Model struct {
	s     shape
	theta []float64
	pool  sync.Pool // *work for one sample (the exact pass)
	fast  *fastNet  // nil: Predict runs the exact pass
	fpool sync.Pool // *fastWork
}

// maxFastWeight bounds the weights the float32 inference path takes; a
// model with a larger one (no trained net has one) is read by the exact
// float64 pass, where float32 would round it too coarsely or overflow.
const maxFastWeight = 1e4

func newModel(a *arch, hidden, classes, dim int, theta []float64) *Model {
	m := &Model{s: shape{a: a, H: hidden, D: dim, C: classes}, theta: theta}
	m.pool.New = func() any { return newWork(m.s, false) }
	fast := true
	for _, v := range theta {
		if !(math.Abs(v) <= maxFastWeight) {
			fast = false
			break
		}
	}
	if fast {
		m.fast = newFastNet(m.s, theta)
		m.fpool.New = func() any { return m.fast.newWork() }
	}
	return m
}

// Kind is the model's registered kind name.
func (m *Model) Kind() string { return m.s.a.name }

// Hidden is the number of hidden units of each LSTM.
func (m *Model) Hidden() int { return m.s.H }

// Classes is the number of classes the model tells apart.
func (m *Model) Classes() int { return m.s.C }

// Dim is the number of entries of each count vector the model reads.
func (m *Model) Dim() int { return m.s.D }

// Predict returns the probability of each class for x, count vectors in
// time order (learn.SeqLen of them for the models Vigil trains; other
// lengths are read as they are). A vector's entries past Dim are ignored
// and missing ones count as 0, as do negative or non-finite counts.
//
// Predict computes the net in float32 with approximate gates (infer.go);
// its probabilities are within 1e-5 of the exact float64 pass's.
func (m *Model) Predict(x [][]float64) []float64 {
	p := make([]float64, m.s.C)
	if m.fast == nil {
		return m.predictExact(x, p)
	}
	w := m.fpool.Get().(*fastWork)
	m.fast.predict(w, x, p)
	m.fpool.Put(w)
	return p
}

// predictExact runs the training's float64 forward pass on one sample,
// leaving its probabilities in p.
func (m *Model) predictExact(x [][]float64, p []float64) []float64 {
	w := m.pool.Get().(*work)
	defer m.pool.Put(w)
	w.ensure(1, len(x))
	w.fill([][][]float64{x})
	w.forward(m.theta)
	copy(p, w.p[:m.s.C])
	return p
}
