package syscalls

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/vigil-ids/vigil/internal/event"
)

// A recording of count vectors (vigil record --syscalls, vigil eval lidds
// --vectors) is JSON lines, one count vector each in its stable JSON form
// (docs/EVENTS.md), in the order the intervals ended. Its sequences are the
// vectors of one process (host, pid and name) in time order, labelled with
// the process name: the training data of a process classifier.

// Sequence is the count vectors of one process, in time order.
type Sequence struct {
	Label   string // the process name
	Host    string
	PID     int32
	Vectors []event.CountVector
}

// WriteVectors writes vectors as JSON lines.
func WriteVectors(w io.Writer, vs []event.CountVector) error {
	var b []byte
	for i := range vs {
		b = append(vs[i].AppendJSON(b[:0]), '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// ReadVectors reads JSON lines of count vectors. A malformed line stops the
// reading with an error naming its number; the vectors before it are
// returned with the error.
func ReadVectors(r io.Reader) ([]event.CountVector, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), event.MaxEventBytes+1)
	var out []event.CountVector
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		v, err := event.DecodeCountVectorJSON(b)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("after line %d: %w", line, err)
	}
	return out, nil
}

// Sequences groups vectors by process (host, pid and name; a pid that runs
// another program starts another sequence) and orders each in time. The
// sequences come sorted by label, host, pid and first interval.
func Sequences(vs []event.CountVector) []Sequence {
	type key struct {
		host, name string
		pid        int32
	}
	idx := map[key]int{}
	var out []Sequence
	for _, v := range vs {
		k := key{v.Host, v.Process, v.PID}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Sequence{Label: v.Process, Host: v.Host, PID: v.PID})
		}
		out[i].Vectors = append(out[i].Vectors, v)
	}
	for i := range out {
		slices.SortStableFunc(out[i].Vectors, func(a, b event.CountVector) int { return a.Start.Compare(b.Start) })
	}
	slices.SortFunc(out, func(a, b Sequence) int {
		return cmp.Or(cmp.Compare(a.Label, b.Label), cmp.Compare(a.Host, b.Host), cmp.Compare(a.PID, b.PID),
			a.Vectors[0].Start.Compare(b.Vectors[0].Start))
	})
	return out
}
