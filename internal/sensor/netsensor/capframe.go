package netsensor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Capture files are read through a framer that checks the file's framing
// (pcap record headers, pcapng block lengths) before the packet reader
// sees any of it: a damaged part is reported and skipped up to the next
// record or block that reads well, so one bad sector or a file cut short
// costs only the packets it held.

const (
	// MaxCaptureRecord bounds a pcap record's captured length and a pcapng
	// block: what is larger is taken for damage.
	MaxCaptureRecord = 1 << 20
	// maxOrigLen bounds a record's original length: larger is damage.
	maxOrigLen = 1 << 24
	// resyncNear is how far from the last good record's time a pcap
	// record found by resynchronising may be.
	resyncNear = 24 * time.Hour
)

// DamageError is a damaged part of a capture file. Next returns it
// (without data) where the damage lies among the packets; reading goes on
// after it unless End is set.
type DamageError struct {
	Name   string // the file
	Offset int64  // byte offset of the damaged record or block
	Record uint64 // records (packets) read before it
	// Skipped is how many bytes were skipped to the next readable record
	// or block (to the end of the file when End).
	Skipped int64
	Reason  string
	End     bool // nothing readable follows
}

func (e *DamageError) Error() string {
	after := fmt.Sprintf("skipped %d bytes to the next readable record", e.Skipped)
	if e.End {
		after = fmt.Sprintf("nothing readable in the %d bytes after it", e.Skipped)
	}
	return fmt.Sprintf("netsensor: %s: damaged at byte %d, after record %d: %s; %s", e.Name, e.Offset, e.Record, e.Reason, after)
}

// Known pcapng block types (the only ones a resynchronisation lands on).
var ngKnownBlocks = map[uint32]bool{
	0x0A0D0D0A: true, // section header
	1:          true, // interface description
	2:          true, // packet (obsolete)
	3:          true, // simple packet
	4:          true, // name resolution
	5:          true, // interface statistics
	6:          true, // enhanced packet
	9:          true, // systemd journal export
	10:         true, // decryption secrets
}

// framer passes the well-framed records of a capture through Read and
// notes the damage it skips.
type framer struct {
	br      *bufio.Reader
	ng      bool
	order   binary.ByteOrder
	snap    int   // pcap: the largest captured length accepted
	nanos   bool  // pcap: timestamps in nanoseconds
	lastTS  int64 // pcap: seconds of the last good record
	off     int64 // bytes consumed
	pass    int   // bytes of the current good unit still to pass on
	records uint64
	started bool
	ended   bool
	atEOF   bool  // the reader has reached the file's end: all is buffered
	ioErr   error // a read error other than the end
	damage  []*DamageError
}

func newFramer(br *bufio.Reader, ng bool) *framer {
	return &framer{br: br, ng: ng, order: binary.LittleEndian}
}

// framerBuffer sizes the framer's reader: twice the largest unit, so
// that resynchronising (which looks at a whole unit at each step) refills
// it only once per unit's length it advances.
const framerBuffer = 2*MaxCaptureRecord + 4096

// peek is br.Peek(n) that, once the end of the file is buffered, no
// longer asks the file for more (a refill moves the buffer's contents),
// and keeps a read error to return.
func (f *framer) peek(n int) []byte {
	if f.atEOF {
		n = min(n, f.br.Buffered())
	}
	b, err := f.br.Peek(n)
	if errors.Is(err, io.EOF) {
		f.atEOF = true
	} else if err != nil && !errors.Is(err, bufio.ErrBufferFull) && f.ioErr == nil {
		f.ioErr = err
	}
	return b
}

func (f *framer) Read(p []byte) (int, error) {
	if f.ioErr != nil {
		return 0, f.ioErr
	}
	for f.pass == 0 {
		if f.ended {
			return 0, io.EOF
		}
		f.nextUnit()
		if f.ioErr != nil {
			return 0, f.ioErr
		}
	}
	n, err := f.br.Read(p[:min(len(p), f.pass)])
	f.pass -= n
	f.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

// takeDamage returns the first damage noted before record n+1, if any.
func (f *framer) takeDamage(n uint64) *DamageError {
	if len(f.damage) == 0 || f.damage[0].Record > n {
		return nil
	}
	d := f.damage[0]
	f.damage = f.damage[1:]
	return d
}

// nextUnit checks the next record or block and sets pass to its length,
// skipping damage; at the end of the file it sets ended.
func (f *framer) nextUnit() {
	if !f.started {
		f.started = true
		if !f.ng {
			f.pcapHeader()
			return
		}
	}
	if f.ng {
		f.ngBlock()
		return
	}
	f.pcapRecord()
}

// pcapHeader passes the 24-byte file header and learns the byte order,
// the timestamp unit and the snap length.
func (f *framer) pcapHeader() {
	h := f.peek(24)
	if len(h) < 24 {
		// Too short: the packet reader says so.
		f.pass = len(h)
		f.ended = f.pass == 0
		return
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		f.nanos = true
	case 0xd4c3b2a1:
		f.order = binary.BigEndian
	case 0x4d3cb2a1:
		f.order, f.nanos = binary.BigEndian, true
	}
	f.snap = max(int(f.order.Uint32(h[16:20])), 262144)
	f.snap = min(f.snap, MaxCaptureRecord)
	f.pass = 24
}

// pcapOK reports whether h (16 bytes) is a plausible record header, and
// its captured length.
func (f *framer) pcapOK(h []byte, near bool) (int, string) {
	sec, frac := f.order.Uint32(h[0:4]), f.order.Uint32(h[4:8])
	capLen, origLen := f.order.Uint32(h[8:12]), f.order.Uint32(h[12:16])
	limit := uint32(1e6)
	if f.nanos {
		limit = 1e9
	}
	switch {
	case capLen > uint32(f.snap):
		return 0, fmt.Sprintf("record header announces %d captured bytes, over the limit of %d", capLen, f.snap)
	case capLen > origLen:
		return 0, fmt.Sprintf("record header announces %d captured bytes of a %d-byte packet", capLen, origLen)
	case origLen > maxOrigLen:
		return 0, fmt.Sprintf("record header announces a packet of %d bytes", origLen)
	case frac >= limit:
		return 0, fmt.Sprintf("record header's fraction of a second %d is out of range", frac)
	case near && f.lastTS != 0 && absDur(int64(sec)-f.lastTS) > int64(resyncNear/time.Second):
		return 0, "far in time"
	}
	return int(capLen), ""
}

func absDur(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

func (f *framer) pcapRecord() {
	h := f.peek(16)
	if len(h) == 0 {
		f.ended = f.ioErr == nil
		return
	}
	if len(h) < 16 {
		f.endDamage(fmt.Sprintf("a record header cut short (%d of 16 bytes)", len(h)))
		return
	}
	capLen, why := f.pcapOK(h, false)
	if why == "" {
		full := f.peek(16 + capLen)
		if len(full) < 16+capLen {
			f.endDamage(fmt.Sprintf("a record of %d captured bytes cut short (%d present)", capLen, len(full)-16))
			return
		}
		f.goodPcap(h, capLen)
		return
	}
	// Resynchronise: the next offset holding a plausible header whose
	// record is followed by another plausible header or the end.
	start := f.off
	for skipped := int64(1); ; skipped++ {
		if f.ioErr != nil {
			return
		}
		if _, err := f.br.Discard(1); err != nil {
			f.endDamageFrom(start, skipped-1, why)
			return
		}
		f.off++
		h := f.peek(16)
		if len(h) < 16 {
			continue // Discard ends the loop at the end
		}
		n, bad := f.pcapOK(h, true)
		if bad != "" {
			continue
		}
		// The record must be whole; what follows it, when there is a
		// header's worth, must be a plausible header too.
		next := f.peek(32 + n)
		if len(next) < 16+n {
			continue
		}
		if len(next) == 32+n {
			if _, bad := f.pcapOK(next[16+n:], true); bad != "" {
				continue
			}
		}
		f.damage = append(f.damage, &DamageError{Offset: start, Record: f.records, Skipped: skipped, Reason: why})
		f.goodPcap(h, n)
		return
	}
}

func (f *framer) goodPcap(h []byte, capLen int) {
	f.lastTS = int64(f.order.Uint32(h[0:4]))
	f.pass = 16 + capLen
	f.records++
}

// endDamage notes damage at the current offset that runs to the end of
// the file, and ends the framing.
func (f *framer) endDamage(why string) {
	start := f.off
	n, _ := f.br.Discard(1 << 62)
	f.off += int64(n)
	f.endDamageFrom(start, int64(n), why)
}

func (f *framer) endDamageFrom(start, skipped int64, why string) {
	f.damage = append(f.damage, &DamageError{Offset: start, Record: f.records, Skipped: skipped, Reason: why, End: true})
	f.ended = true
}

// ngOK checks the header of the block at the head of b (at least 12
// bytes) read in byte order cur: its type (only known types when known)
// and its length. It returns the block's length and byte order, or why
// it is damaged.
func (f *framer) ngOK(b []byte, cur binary.ByteOrder, known bool) (typ uint32, length int, order binary.ByteOrder, why string) {
	order = cur
	typ = order.Uint32(b[0:4])
	if typ == 0x0A0D0D0A {
		switch binary.LittleEndian.Uint32(b[8:12]) {
		case 0x1A2B3C4D:
			order = binary.LittleEndian
		case 0x4D3C2B1A:
			order = binary.BigEndian
		default:
			return typ, 0, order, "section header with an unknown byte-order magic"
		}
	} else if known && !ngKnownBlocks[typ] {
		return typ, 0, order, "unknown block type"
	}
	l := order.Uint32(b[4:8])
	switch {
	case l < 12 || l%4 != 0:
		return typ, 0, order, fmt.Sprintf("block of type %#x announces a length of %d bytes", typ, l)
	case l > MaxCaptureRecord:
		return typ, 0, order, fmt.Sprintf("block of type %#x announces %d bytes, over the limit of %d", typ, l, MaxCaptureRecord)
	}
	return typ, int(l), order, ""
}

func (f *framer) ngBlock() {
	h := f.peek(12)
	if len(h) == 0 {
		f.ended = f.ioErr == nil
		return
	}
	if len(h) < 12 {
		f.endDamage(fmt.Sprintf("a block header cut short (%d of 12 bytes)", len(h)))
		return
	}
	typ, l, order, why := f.ngOK(h, f.order, false)
	if why == "" {
		full := f.peek(l)
		switch {
		case len(full) < l:
			f.endDamage(fmt.Sprintf("a block of type %#x and %d bytes cut short (%d present)", typ, l, len(full)))
			return
		case order.Uint32(full[l-4:]) != uint32(l):
			why = fmt.Sprintf("block of type %#x announces %d bytes but ends with a length of %d", typ, l, order.Uint32(full[l-4:]))
		default:
			f.goodNg(typ, l, order)
			return
		}
	}
	// Resynchronise on 4-byte steps (blocks are aligned): the next known
	// block whose two lengths agree, followed by another block or the
	// end.
	start := f.off
	for skipped := int64(4); ; skipped += 4 {
		if f.ioErr != nil {
			return
		}
		if n, err := f.br.Discard(4); err != nil {
			f.off += int64(n)
			f.endDamageFrom(start, skipped-4+int64(n), why)
			return
		}
		f.off += 4
		h := f.peek(12)
		if len(h) < 12 {
			continue
		}
		typ, l, order, bad := f.ngOK(h, f.order, true)
		if bad != "" {
			continue
		}
		full := f.peek(l + 12)
		if len(full) < l || order.Uint32(full[l-4:l]) != uint32(l) {
			continue
		}
		if len(full) == l+12 {
			if _, _, _, bad := f.ngOK(full[l:], order, true); bad != "" {
				continue
			}
		}
		f.damage = append(f.damage, &DamageError{Offset: start, Record: f.records, Skipped: skipped, Reason: why})
		f.goodNg(typ, l, order)
		return
	}
}

func (f *framer) goodNg(typ uint32, l int, order binary.ByteOrder) {
	f.order = order
	f.pass = l
	if typ == 2 || typ == 3 || typ == 6 {
		f.records++
	}
}
