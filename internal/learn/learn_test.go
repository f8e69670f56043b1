package learn

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// fixedKind is a model kind for the tests of this package: its model
// answers with fixed class probabilities, whatever it reads, or (when
// byFirst is set) the class whose index is the first count of the first
// vector.
type fixedModel struct {
	p       []float64
	byFirst bool
}

func (m *fixedModel) Kind() string { return "fixed" }

func (m *fixedModel) Predict(x [][]float64) []float64 {
	if m.byFirst {
		out := make([]float64, len(m.p))
		out[int(x[0][0])%len(out)] = 1
		return out
	}
	return append([]float64(nil), m.p...)
}

func (m *fixedModel) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 8*len(m.p))
	for _, v := range m.p {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b, nil
}

func init() {
	Register(Kind{
		Name: "fixed",
		Doc:  "test kind: fixed probabilities",
		Train: func(ctx context.Context, d *Data, o Options) (Model, error) {
			p := make([]float64, len(d.Classes))
			for _, s := range d.Samples {
				p[s.Y]++
			}
			for i := range p {
				p[i] /= float64(len(d.Samples))
			}
			return &fixedModel{p: p}, nil
		},
		Decode: func(b []byte, classes, dim int) (Model, error) {
			if len(b) != 8*classes {
				return nil, fmt.Errorf("%d bytes for %d classes, want %d", len(b), classes, 8*classes)
			}
			p := make([]float64, classes)
			for i := range p {
				p[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
				if !(p[i] >= 0 && p[i] <= 1) {
					return nil, fmt.Errorf("probability %v of class %d outside [0,1]", p[i], i)
				}
			}
			return &fixedModel{p: p}, nil
		},
	})
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// vec is a one-second count vector of process name/pid on host, at
// second sec after t0, with counts given as nr, count pairs.
func vec(host, name string, pid int32, sec int, counts ...uint64) event.CountVector {
	v := event.CountVector{Host: host, PID: pid, Process: name, Start: t0.Add(time.Duration(sec) * time.Second), Interval: time.Second}
	for i := 0; i+1 < len(counts); i += 2 {
		v.Counts = append(v.Counts, event.SyscallCount{Nr: uint16(counts[i]), Count: counts[i+1]})
	}
	return v
}

// steady is n consecutive vectors of one process from second from on.
func steady(host, name string, pid int32, from, n int, counts ...uint64) []event.CountVector {
	var out []event.CountVector
	for i := range n {
		out = append(out, vec(host, name, pid, from+i, counts...))
	}
	return out
}
