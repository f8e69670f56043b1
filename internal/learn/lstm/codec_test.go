package lstm

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/learn"
)

func smallModel(t testing.TB, a Arch) (*Model, []byte) {
	t.Helper()
	m, err := TrainWith(context.Background(), a, orderData(8, 2), learn.Options{Seed: 3, Epochs: 1}, Params{Hidden: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

// The binary form is the header the package documents followed by the
// parameters, and decodes to a model that predicts exactly the same.
func TestBinaryRoundTrip(t *testing.T) {
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		m, b := smallModel(t, a)
		s := m.s
		if want := 4 + 2 + 1 + len(a) + 5*4 + 8 + 8*s.size(); len(b) != want {
			t.Errorf("%s: %d bytes, want %d", a, len(b), want)
		}
		if !bytes.HasPrefix(b, []byte("VLST\x01\x00")) || string(b[7:7+len(a)]) != string(a) {
			t.Errorf("%s: header % x", a, b[:7+len(a)])
		}
		back, err := Decode(a, b, 4, 6)
		if err != nil {
			t.Fatal(err)
		}
		if back.Kind() != string(a) || back.Hidden() != 3 || back.Classes() != 4 || back.Dim() != 6 {
			t.Errorf("%s: decoded %s H%d C%d D%d", a, back.Kind(), back.Hidden(), back.Classes(), back.Dim())
		}
		again, _ := back.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Errorf("%s: re-encoding differs", a)
		}
		x := orderData(9, 1).Samples[0].X
		if p, q := m.Predict(x), back.Predict(x); !equal(p, q) {
			t.Errorf("%s: predictions %v and %v", a, p, q)
		}
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Decode refuses, with an error that says what is wrong, weights that do
// not fit the model file's kind, classes or vector size, and every
// malformed or oversized form, before allocating for it.
func TestDecodeRefuses(t *testing.T) {
	_, good := smallModel(t, Bidirectional)
	kindEnd := 7 + len("bilstm")
	put32 := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	nan := bytes.Clone(good)
	binary.LittleEndian.PutUint64(nan[len(nan)-8:], math.Float64bits(math.NaN()))
	huge := put32(kindEnd, maxHidden) // hidden at the limit: too many parameters for 64 MiB with 65536 dims
	binary.LittleEndian.PutUint32(huge[kindEnd+8:], maxDim)
	binary.LittleEndian.PutUint32(huge[kindEnd+16:], 2*maxHidden)
	cases := []struct {
		name         string
		arch         Arch
		b            []byte
		classes, dim int
		want         string
	}{
		{"empty", Bidirectional, nil, 4, 6, `no "VLST"`},
		{"foreign", Bidirectional, []byte("{\"weights\": []}"), 4, 6, `no "VLST"`},
		{"version", Bidirectional, append([]byte("VLST\x02\x00"), good[6:]...), 4, 6, "format version 2"},
		{"truncated header", Bidirectional, good[:kindEnd+5], 4, 6, "header: truncated"},
		{"other kind", Simple, good, 4, 6, `weights of kind "bilstm"`},
		{"classes", Bidirectional, good, 5, 6, "weights for 4 classes, the model has 5"},
		{"dim", Bidirectional, good, 4, 7, "vectors of 6 entries, the model's have 7"},
		{"zero hidden", Bidirectional, put32(kindEnd, 0), 4, 6, "hidden units 0"},
		{"hidden too large", Bidirectional, put32(kindEnd, maxHidden+1), 4, 6, "hidden units 4097"},
		{"hidden disagrees with length", Bidirectional, put32(kindEnd, 4), 4, 6, "fully connected layer of 6 inputs, want 8"},
		{"lstms", Bidirectional, put32(kindEnd+12, 1), 4, 6, "1 LSTMs, bilstm has 2"},
		{"too large", Bidirectional, huge, 4, maxDim, "more than the 64 MiB allowed"},
		{"truncated weights", Bidirectional, good[:len(good)-8], 4, 6, "bytes of parameters"},
		{"trailing bytes", Bidirectional, append(bytes.Clone(good), 0), 4, 6, "bytes of parameters"},
		{"NaN weight", Bidirectional, nan, 4, 6, "is NaN"},
		{"no classes asked", Bidirectional, good, 0, 6, "0 classes asked for"},
		{"unknown arch", "gru", good, 4, 6, "unknown architecture"},
	}
	for _, c := range cases {
		m, err := Decode(c.arch, c.b, c.classes, c.dim)
		if err == nil || m != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	// The count field disagreeing with the sizes.
	b := bytes.Clone(good)
	binary.LittleEndian.PutUint64(b[kindEnd+20:], 1)
	if _, err := Decode(Bidirectional, b, 4, 6); err == nil || !strings.Contains(err.Error(), "1 parameters, the sizes give") {
		t.Errorf("count: %v", err)
	}
}

// FuzzDecode: no input makes Decode panic or allocate beyond its bound,
// and whatever it accepts encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, a := range []Arch{Simple, Bidirectional, Inception} {
		_, b := smallModel(f, a)
		f.Add(b, 4, 6, uint8(0))
		f.Add(b[:len(b)/2], 4, 6, uint8(1))
	}
	f.Add([]byte("VLST\x01\x00\x04lstm"), 1, 1, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, classes, dim int, arch uint8) {
		a := []Arch{Simple, Bidirectional, Inception}[int(arch)%3]
		m, err := Decode(a, b, classes, dim)
		if err != nil {
			if m != nil {
				t.Fatal("model and error")
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not re-encode to itself (%v)", err)
		}
		p := m.Predict([][]float64{make([]float64, dim)})
		if len(p) != classes {
			t.Fatalf("%d probabilities for %d classes", len(p), classes)
		}
	})
}
