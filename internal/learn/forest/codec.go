package forest

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vigil-ids/vigil/internal/learn"
)

// The binary form of a forest (little endian):
//
//	[4]byte  "RFO1"
//	uint32   classes, dim, trees
//	per tree: uint32 nodes, then per node (10 bytes):
//	         uint16 feature (0xffff: a leaf), float32 threshold,
//	         uint32 left child (a leaf: its class); the right child follows the left

const magic = "RFO1"

const nodeBytes = 10

// MarshalBinary returns the forest in its binary form.
func (m *model) MarshalBinary() ([]byte, error) {
	size := 16
	for _, t := range m.trees {
		size += 4 + nodeBytes*len(t)
	}
	b := make([]byte, 0, size)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.k))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.dim))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.trees)))
	for _, t := range m.trees {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t)))
		for _, n := range t {
			b = binary.LittleEndian.AppendUint16(b, n.feat)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(n.thr))
			b = binary.LittleEndian.AppendUint32(b, n.left)
		}
	}
	return b, nil
}

// Decode reads a forest of classes classes over dim-entry vectors from its
// binary form, checking that every tree is well formed: every feature
// under dim, thresholds finite, children after their parent (so that a
// walk ends), leaves' classes under classes.
func Decode(b []byte, classes, dim int) (learn.Model, error) {
	if classes < 1 || classes > learn.ClassLimit || dim < 1 || dim >= leaf {
		return nil, fmt.Errorf("forest: %d classes over %d-entry vectors are out of range", classes, dim)
	}
	if len(b) < 16 || string(b[:4]) != magic {
		return nil, fmt.Errorf("forest: weights do not start with %q", magic)
	}
	k, d, nt := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])
	if int64(k) != int64(classes) || int64(d) != int64(dim) {
		return nil, fmt.Errorf("forest: weights for %d classes over %d entries, the file says %d over %d", k, d, classes, dim)
	}
	rest := b[16:]
	if nt == 0 || uint64(nt)*(4+nodeBytes) > uint64(len(rest)) {
		return nil, fmt.Errorf("forest: %d trees in %d bytes", nt, len(rest))
	}
	m := &model{k: classes, dim: dim, trees: make([]tree, 0, nt)}
	for ti := range int(nt) {
		if len(rest) < 4 {
			return nil, fmt.Errorf("forest: tree %d: cut short", ti)
		}
		nn := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if nn == 0 || uint64(nn)*nodeBytes > uint64(len(rest)) {
			return nil, fmt.Errorf("forest: tree %d: %d nodes in the %d bytes left", ti, nn, len(rest))
		}
		t := make(tree, nn)
		for i := range t {
			p := rest[i*nodeBytes:]
			n := node{feat: binary.LittleEndian.Uint16(p), thr: math.Float32frombits(binary.LittleEndian.Uint32(p[2:])), left: binary.LittleEndian.Uint32(p[6:])}
			if n.feat == leaf {
				if n.left >= uint32(classes) || n.thr != 0 {
					return nil, fmt.Errorf("forest: tree %d node %d: a leaf of class %d (of %d)", ti, i, n.left, classes)
				}
			} else {
				if int(n.feat) >= dim {
					return nil, fmt.Errorf("forest: tree %d node %d: feature %d of %d", ti, i, n.feat, dim)
				}
				if math.IsNaN(float64(n.thr)) || math.IsInf(float64(n.thr), 0) {
					return nil, fmt.Errorf("forest: tree %d node %d: threshold not finite", ti, i)
				}
				if n.left <= uint32(i) || uint64(n.left)+1 >= uint64(nn) {
					return nil, fmt.Errorf("forest: tree %d node %d: children at %d of %d nodes", ti, i, n.left, nn)
				}
			}
			t[i] = n
		}
		rest = rest[int(nn)*nodeBytes:]
		m.trees = append(m.trees, t)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("forest: %d bytes after the last tree", len(rest))
	}
	return m, nil
}
