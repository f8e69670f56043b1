package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// samplePack packs the sample events' compact forms and returns the pack
// and the records.
func samplePack() ([]byte, [][]byte) {
	var pack []byte
	var recs [][]byte
	for _, ev := range sampleEvents() {
		rec := ev.AppendCompact(nil)
		recs = append(recs, rec)
		pack = AppendPacked(pack, rec)
	}
	return pack, recs
}

// TestPackedRoundTrip packs events and splits them back: the same records,
// in order, each decoding to its event.
func TestPackedRoundTrip(t *testing.T) {
	pack, recs := samplePack()
	if !IsPacked(pack) || IsPacked(recs[0]) || IsPacked([]byte(`{"id":"x"}`)) || IsPacked(nil) {
		t.Fatal("IsPacked does not tell a pack from a compact record, JSON and nothing")
	}
	got, err := SplitPacked(pack, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records split, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(got[i], recs[i]) {
			t.Errorf("record %d differs", i)
		}
		if _, err := DecodeCompact(got[i]); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	// A record split out cannot grow into its neighbour.
	if cap(got[0]) != len(got[0]) {
		t.Errorf("record 0 has capacity %d past its %d bytes", cap(got[0]), len(got[0]))
	}
}

// TestBrokenPacksNameTheBreak: a pack whose framing breaks gives the
// records before the break and an error naming where.
func TestBrokenPacksNameTheBreak(t *testing.T) {
	pack, recs := samplePack()
	second := len(AppendPacked(nil, recs[0])) // where record 2's length starts
	many := []byte{magicPack}
	for range MaxPackEvents + 1 {
		many = AppendPacked(many, []byte{magicEvent})
	}
	for _, c := range []struct {
		name string
		data []byte
		kept int
		want string
	}{
		{"no magic", pack[1:], 0, "no pack magic"},
		{"empty", []byte{magicPack}, 0, "no events"},
		{"cut inside the second record", pack[:second+2], 1, "event 2 at byte " + strconv.Itoa(second)},
		{"length running past the end", append(pack[:second:second], 0xff, 0x7f), 1, "event 2 at byte " + strconv.Itoa(second)},
		{"unreadable length", append(pack[:second:second], 0x80), 1, "unreadable length"},
		{"zero length", append(pack[:second:second], 0), 1, "length 0"},
		{"over the event limit", binary.AppendUvarint([]byte{magicPack}, MaxEventBytes+1), 0, "length 65537"},
		{"too many events", many, MaxPackEvents, "more than 4096 events"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := SplitPacked(c.data, nil)
			if !errors.Is(err, ErrBadPack) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrBadPack saying %q", err, c.want)
			}
			if len(got) != c.kept {
				t.Errorf("%d records kept before the break, want %d", len(got), c.kept)
			}
		})
	}
}

// FuzzSplitPacked checks that splitting never panics, that every record
// is a piece of the data in order, and that packing what was split gives
// back the data when it was whole.
func FuzzSplitPacked(f *testing.F) {
	pack, _ := samplePack()
	f.Add(pack)
	f.Add([]byte{magicPack, 1, magicEvent})
	f.Add([]byte{magicPack, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := SplitPacked(data, nil)
		var again []byte
		for _, r := range recs {
			if len(r) == 0 || len(r) > MaxEventBytes {
				t.Fatalf("a record of %d bytes", len(r))
			}
			again = AppendPacked(again, r)
		}
		if err != nil {
			if !errors.Is(err, ErrBadPack) {
				t.Fatalf("error %v does not wrap ErrBadPack", err)
			}
			off := 0
			for i, r := range recs {
				k := bytes.Index(data[off:], r)
				if k < 0 {
					t.Fatalf("record %d is not in the data after record %d", i+1, i)
				}
				off += k + len(r)
			}
			return
		}
		// Lengths have more than one encoding (0x81 0x00 is 1): equal
		// records, not equal bytes, unless the data was written so.
		back, err := SplitPacked(again, nil)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("re-splitting: %d records, %v", len(back), err)
		}
		for i := range recs {
			if !bytes.Equal(back[i], recs[i]) {
				t.Fatalf("record %d changed", i)
			}
		}
	})
}
