package lstm

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The binary form of a model's parameters (MarshalBinary, Decode), all
// integers little-endian:
//
//	magic       4 bytes  "VLST"
//	version     uint16   formatVersion
//	kind        uint8 length, then the kind's name ("lstm", "bilstm", "inception")
//	hidden      uint32   hidden units H of each LSTM
//	classes     uint32   C
//	dim         uint32   entries D of a count vector
//	lstms       uint32   LSTMs with their own weights (1, 2 for bilstm)
//	fc inputs   uint32   F: the final hidden states side by side (H, 2H, 3H)
//	count       uint64   float64s that follow
//	parameters  count float64s: per LSTM Wx (D×4H), Wh (H×4H), b (4H), gates
//	            in the order input, forget, cell, output, matrices row-major;
//	            then V (F×C) and c (C) of the fully connected layer.
const (
	magic         = "VLST"
	formatVersion = 1

	maxHidden  = 4096
	maxClasses = 1 << 16
	maxDim     = 1 << 16
	// maxBytes bounds the parameters Decode allocates for.
	maxBytes = 64 << 20
)

// MarshalBinary returns the model's parameters in the package's binary form.
func (m *Model) MarshalBinary() ([]byte, error) {
	s := m.s
	b := make([]byte, 0, 4+2+1+len(s.a.name)+5*4+8+8*len(m.theta))
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = append(b, byte(len(s.a.name)))
	b = append(b, s.a.name...)
	for _, v := range []int{s.H, s.C, s.D, s.a.lstms, s.F()} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(m.theta)))
	for _, x := range m.theta {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b, nil
}

// Decode reads a model of architecture a for classes classes over
// dim-entry vectors from MarshalBinary's output. Every size in the header
// is checked against a, classes, dim and the length of b before anything
// is allocated; a malformed or foreign b is an error saying what is wrong.
func Decode(a Arch, b []byte, classes, dim int) (*Model, error) {
	m, err := decode(a, b, classes, dim)
	if err != nil {
		return nil, fmt.Errorf("lstm: decode %s weights: %w", a, err)
	}
	return m, nil
}

func decode(a Arch, b []byte, classes, dim int) (*Model, error) {
	ar, ok := archOf(a)
	if !ok {
		return nil, fmt.Errorf("unknown architecture")
	}
	if classes < 1 || classes > maxClasses {
		return nil, fmt.Errorf("%d classes asked for: want 1 to %d", classes, maxClasses)
	}
	if dim < 1 || dim > maxDim {
		return nil, fmt.Errorf("vector size %d asked for: want 1 to %d", dim, maxDim)
	}
	r := reader{b: b}
	if string(r.bytes(len(magic))) != magic {
		return nil, fmt.Errorf("not LSTM weights (no %q at the start)", magic)
	}
	if v := r.u16(); r.err == nil && v != formatVersion {
		return nil, fmt.Errorf("format version %d, want %d", v, formatVersion)
	}
	kind := string(r.bytes(int(r.u8())))
	hidden, cls, d, lstms, fc := r.u32(), r.u32(), r.u32(), r.u32(), r.u32()
	count := r.u64()
	if r.err != nil {
		return nil, fmt.Errorf("header: %w", r.err)
	}
	if kind != ar.name {
		return nil, fmt.Errorf("weights of kind %q", kind)
	}
	if hidden < 1 || hidden > maxHidden {
		return nil, fmt.Errorf("hidden units %d: want 1 to %d", hidden, maxHidden)
	}
	if int(cls) != classes {
		return nil, fmt.Errorf("weights for %d classes, the model has %d", cls, classes)
	}
	if int(d) != dim {
		return nil, fmt.Errorf("weights for vectors of %d entries, the model's have %d", d, dim)
	}
	s := shape{a: ar, H: int(hidden), D: dim, C: classes}
	if int(lstms) != ar.lstms {
		return nil, fmt.Errorf("%d LSTMs, %s has %d", lstms, a, ar.lstms)
	}
	if int(fc) != s.F() {
		return nil, fmt.Errorf("fully connected layer of %d inputs, want %d (%d runs of %d hidden units)", fc, s.F(), len(ar.runs), hidden)
	}
	want := s.size() // at most a few times 2^30: no overflow
	if int64(want)*8 > maxBytes {
		return nil, fmt.Errorf("%d parameters: more than the %d MiB allowed", want, maxBytes>>20)
	}
	if count != uint64(want) {
		return nil, fmt.Errorf("%d parameters, the sizes give %d", count, want)
	}
	if rest := len(b) - r.off; rest != 8*want {
		return nil, fmt.Errorf("%d bytes of parameters, want %d", rest, 8*want)
	}
	theta := make([]float64, want)
	for i := range theta {
		x := math.Float64frombits(binary.LittleEndian.Uint64(b[r.off+8*i:]))
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("parameter %d is %g", i, x)
		}
		theta[i] = x
	}
	return newModel(ar, s.H, s.C, s.D, theta), nil
}

// reader reads the header; after the first short read it keeps the error
// and returns zeros.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.err = fmt.Errorf("truncated at byte %d (%d bytes)", r.off, len(r.b))
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) u8() uint8 {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.bytes(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.bytes(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
