package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// The compact form is what travels on the bus. Layout (all integers are
// varints, signed ones zig-zag encoded; a string is a length then bytes):
//
//	byte    magic: magicEvent (0xE1) for version 1 of the event form
//	string  id
//	svarint time, Unix nanoseconds
//	string  type, host, ip, source
//	uvarint number of attributes, then for each:
//	  string  name
//	  byte    tag: 1 string, 2 integer (svarint), 3 number (8 bytes,
//	          IEEE 754, little endian), 4 true, 5 false, 6 list of strings
//	          (uvarint count, then strings)
//
// A decoder of this form checks every length against what remains before it
// allocates, so a hostile message cannot make it allocate more than the
// message's own size.
const (
	magicEvent       = 0xE1
	magicCountVector = 0xC1
)

const (
	tagString = 1 + iota
	tagInt
	tagFloat
	tagTrue
	tagFalse
	tagList
)

// ErrNotCompact says the data does not start with a known magic byte.
var ErrNotCompact = errors.New("not a compact record")

// AppendCompact appends the compact form of e to b.
func (e *Event) AppendCompact(b []byte) []byte {
	b = e.appendHead(b)
	for k, v := range e.Attrs {
		b = appendAttr(b, k, v)
	}
	return b
}

// AppendValidCompact is Validate and AppendCompact in one pass over the
// attributes: it appends e's compact form to b when e is valid, and
// returns b as it was with the first problem found when not (the same
// problem Validate reports, though of several it may find another first).
func (e *Event) AppendValidCompact(b []byte) ([]byte, error) {
	if e.ID == "" {
		return b, fieldErr("id", "missing")
	}
	if err := checkID(e.ID); err != nil {
		return b, fieldErr("id", "%v", err)
	}
	if e.Time.IsZero() {
		return b, fieldErr("time", "missing")
	}
	if err := e.validateFields(); err != nil {
		return b, err
	}
	n := len(b)
	out := e.appendHead(b)
	for k, v := range e.Attrs {
		if err := checkAttr(k, v); err != nil {
			return b[:n], err
		}
		out = appendAttr(out, k, v)
	}
	return out, nil
}

// appendHead appends the magic byte, the fields and the number of
// attributes.
func (e *Event) appendHead(b []byte) []byte {
	b = append(b, magicEvent)
	b = appendStr(b, e.ID)
	b = binary.AppendVarint(b, e.Time.UnixNano())
	b = appendStr(b, e.Type)
	b = appendStr(b, e.Host)
	b = appendStr(b, e.IP)
	b = appendStr(b, e.Source)
	return binary.AppendUvarint(b, uint64(len(e.Attrs)))
}

// appendAttr appends one attribute, its name then its tagged value.
func appendAttr(b []byte, k string, v any) []byte {
	b = appendStr(b, k)
	switch v := v.(type) {
	case string:
		b = append(b, tagString)
		b = appendStr(b, v)
	case int64:
		b = append(b, tagInt)
		b = binary.AppendVarint(b, v)
	case float64:
		b = append(b, tagFloat)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	case bool:
		if v {
			b = append(b, tagTrue)
		} else {
			b = append(b, tagFalse)
		}
	case []string:
		b = append(b, tagList)
		b = binary.AppendUvarint(b, uint64(len(v)))
		for _, s := range v {
			b = appendStr(b, s)
		}
	default:
		b = append(b, tagString)
		b = appendStr(b, FormatValue(v))
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeCompact decodes an event from its compact form and validates it.
func DecodeCompact(data []byte) (Event, error) {
	var ev Event
	if len(data) > MaxEventBytes {
		return ev, fmt.Errorf("event of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	if len(data) == 0 || data[0] != magicEvent {
		return ev, ErrNotCompact
	}
	d := newDecoder(data[1:])
	ev.ID = d.str("id")
	ev.Time = time.Unix(0, d.svarint("time")).UTC()
	ev.Type = d.str("type")
	ev.Host = d.str("host")
	ev.IP = d.str("ip")
	ev.Source = d.str("source")
	n := d.count("attrs", 3) // a name, a tag, a value: at least 3 bytes each
	if d.err == nil && n > MaxAttrs {
		return Event{}, fieldErr("attrs", "%d attributes, more than the limit of %d", n, MaxAttrs)
	}
	if n > 0 && d.err == nil {
		ev.Attrs = make(map[string]any, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str("attrs")
		d.attr = k
		const field = attrField
		switch tag := d.byte(field); tag {
		case tagString:
			ev.Attrs[k] = d.str(field)
		case tagInt:
			ev.Attrs[k] = d.svarint(field)
		case tagFloat:
			ev.Attrs[k] = d.float(field)
		case tagTrue:
			ev.Attrs[k] = true
		case tagFalse:
			ev.Attrs[k] = false
		case tagList:
			m := d.count(field, 1)
			if d.err == nil && m > MaxListLen {
				d.fail(field, "list of %d items, more than the limit of %d", m, MaxListLen)
			}
			l := make([]string, 0, m)
			for j := 0; j < m && d.err == nil; j++ {
				l = append(l, d.str(field))
			}
			ev.Attrs[k] = l
		default:
			if d.err == nil {
				d.fail(field, "unknown value tag %d", tag)
			}
		}
		if d.err == nil && len(ev.Attrs) != i+1 {
			d.fail(field, "appears twice")
		}
	}
	if d.err != nil {
		return Event{}, d.err
	}
	if len(d.buf) != 0 {
		return Event{}, fmt.Errorf("%d bytes of trailing data", len(d.buf))
	}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// DecodeBus decodes an event as it arrives on the bus: the compact form, or
// JSON (first byte '{') from a third-party publisher. A JSON event may lack
// an id or time; the caller normalises it.
func DecodeBus(data []byte) (Event, error) {
	if len(data) > 0 && data[0] == '{' {
		return DecodeJSON(data)
	}
	return DecodeCompact(data)
}

// decoder reads the compact form; the first error sticks and later reads
// return zero values. Strings are cut from one copy of the input, so a
// record costs one string allocation however many strings it holds.
type decoder struct {
	buf  []byte
	text string // a copy of the input; buf is always a suffix of it
	attr string // the attribute being read, named in errors as attrs.<attr>
	err  error
}

// attrField stands for "attrs.<the attribute being read>" in errors, so
// the name is built only when there is an error.
const attrField = "attrs.*"

func newDecoder(b []byte) decoder {
	return decoder{buf: b, text: string(b)}
}

func (d *decoder) fail(field, format string, args ...any) {
	if field == attrField {
		field = "attrs." + d.attr
	}
	if d.err == nil {
		d.err = fieldErr(field, format, args...)
	}
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail(field, "truncated or malformed varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) svarint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail(field, "truncated or malformed varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a count of items of at least minSize bytes each and checks it
// against the bytes that remain.
func (d *decoder) count(field string, minSize int) int {
	v := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.buf)/minSize) {
		d.fail(field, "count %d exceeds the remaining %d bytes", v, len(d.buf))
		return 0
	}
	return int(v)
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail(field, "truncated")
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) float(field string) float64 {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 8 {
		d.fail(field, "truncated")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
	d.buf = d.buf[8:]
	return f
}

func (d *decoder) str(field string) string {
	n := d.count(field, 1)
	if d.err != nil {
		return ""
	}
	off := len(d.text) - len(d.buf)
	s := d.text[off : off+n]
	d.buf = d.buf[n:]
	if !utf8.ValidString(s) {
		d.fail(field, "invalid UTF-8")
		return ""
	}
	return s
}
