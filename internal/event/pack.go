package event

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The packed form carries several events in compact form in one bus
// message: a sensor's observations of its host, published together so that
// the bus handles one message, not one per observation. Layout:
//
//	byte    magic: magicPack (0xE2)
//	then for each event, in order:
//	  uvarint length
//	  the event's compact form (magicEvent ...)
//
// A pack holds at least one event and at most MaxPackEvents; each is
// checked by DecodeCompact as a message of its own would be.
const magicPack = 0xE2

// MaxPackEvents bounds the events of one pack.
const MaxPackEvents = 4096

// ErrBadPack says a packed message's framing is broken (its events before
// the break are readable).
var ErrBadPack = errors.New("malformed pack of events")

// IsPacked reports whether data is in the packed form (by its magic byte).
func IsPacked(data []byte) bool { return len(data) > 0 && data[0] == magicPack }

// AppendPacked appends a record, an event in compact form, to pack, a
// packed message being written: nil or empty starts one.
func AppendPacked(pack, rec []byte) []byte {
	if len(pack) == 0 {
		pack = append(pack, magicPack)
	}
	pack = binary.AppendUvarint(pack, uint64(len(rec)))
	return append(pack, rec...)
}

// SplitPacked appends to dst the events of a packed message, each a
// sub-slice of data (still to be decoded: DecodeCompact), and returns it.
// On broken framing it returns the events before the break and an error
// wrapping ErrBadPack that names the event and the byte where it broke.
// It allocates nothing beyond dst's growth, and no more than data's size
// allows.
func SplitPacked(data []byte, dst [][]byte) ([][]byte, error) {
	if !IsPacked(data) {
		return dst, fmt.Errorf("%w: no pack magic byte", ErrBadPack)
	}
	off := 1
	for i := 0; off < len(data); i++ {
		if i == MaxPackEvents {
			return dst, fmt.Errorf("%w: more than %d events", ErrBadPack, MaxPackEvents)
		}
		n, k := binary.Uvarint(data[off:])
		if k <= 0 {
			return dst, fmt.Errorf("%w: event %d at byte %d: unreadable length", ErrBadPack, i+1, off)
		}
		if n == 0 || n > MaxEventBytes || n > uint64(len(data)-off-k) {
			return dst, fmt.Errorf("%w: event %d at byte %d: length %d with %d bytes left (at most %d an event)", ErrBadPack, i+1, off, n, len(data)-off-k, MaxEventBytes)
		}
		off += k
		dst = append(dst, data[off:off+int(n):off+int(n)])
		off += int(n)
	}
	if off == 1 {
		return dst, fmt.Errorf("%w: no events", ErrBadPack)
	}
	return dst, nil
}
