package event

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"
)

// Attrs is a run of attributes in compact form, written one by one and
// checked as Validate checks an event's attributes. A sensor that makes
// many events of a few shapes writes them with a Builder instead of
// building each one's map: no map, no boxed values, no second walk to
// encode them. An Attrs made once (a process's context) can be appended
// to many events.
//
// The first problem sticks: later writes are ignored, and the event's End
// reports it. The caller must not write one name twice (End reports it:
// a decoder would refuse the record).
type Attrs struct {
	buf   []byte
	names []string // the names written, in order (End's check)
	err   error
}

// Len is how many attributes were written.
func (a *Attrs) Len() int { return len(a.names) }

// Err is the first problem met, or nil.
func (a *Attrs) Err() error { return a.err }

// Clone returns a copy of a in memory of its own, of the size it needs.
func (a *Attrs) Clone() Attrs {
	return Attrs{buf: append(make([]byte, 0, len(a.buf)), a.buf...), names: append(make([]string, 0, len(a.names)), a.names...), err: a.err}
}

// Reset empties a, keeping its memory.
func (a *Attrs) Reset() { a.buf, a.names, a.err = a.buf[:0], a.names[:0], nil }

// name appends k, when it is a valid attribute name and no problem came
// before; it says whether the value should follow.
func (a *Attrs) name(k string) bool {
	if a.err != nil {
		return false
	}
	if err := checkAttrName(k); err != nil {
		a.err = fieldErr("attrs", "attribute name %q: %v", k, err)
		return false
	}
	a.names = append(a.names, k)
	a.buf = appendStr(a.buf, k)
	return true
}

// Str writes a string attribute (valid UTF-8).
func (a *Attrs) Str(k, v string) {
	if !utf8.ValidString(v) {
		if a.err == nil {
			a.err = fieldErr("attrs."+k, "invalid UTF-8")
		}
		return
	}
	if a.name(k) {
		a.buf = append(a.buf, tagString)
		a.buf = appendStr(a.buf, v)
	}
}

// Int writes an integer attribute.
func (a *Attrs) Int(k string, v int64) {
	if a.name(k) {
		a.buf = append(a.buf, tagInt)
		a.buf = binary.AppendVarint(a.buf, v)
	}
}

// Float writes a number attribute (finite).
func (a *Attrs) Float(k string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		if a.err == nil {
			a.err = fieldErr("attrs."+k, "not a finite number")
		}
		return
	}
	if a.name(k) {
		a.buf = append(a.buf, tagFloat)
		a.buf = binary.LittleEndian.AppendUint64(a.buf, math.Float64bits(v))
	}
}

// Bool writes a boolean attribute.
func (a *Attrs) Bool(k string, v bool) {
	if a.name(k) {
		if v {
			a.buf = append(a.buf, tagTrue)
		} else {
			a.buf = append(a.buf, tagFalse)
		}
	}
}

// List writes a list of strings (at most MaxListLen, each valid UTF-8).
func (a *Attrs) List(k string, v []string) {
	if a.err != nil {
		return
	}
	if err := checkValue(v); err != nil {
		a.err = fieldErr("attrs."+k, "%v", err)
		return
	}
	if a.name(k) {
		a.buf = append(a.buf, tagList)
		a.buf = binary.AppendUvarint(a.buf, uint64(len(v)))
		for _, s := range v {
			a.buf = appendStr(a.buf, s)
		}
	}
}

// Append writes the attributes of b (and its problem, if it has one).
func (a *Attrs) Append(b *Attrs) {
	if a.err != nil {
		return
	}
	if b.err != nil {
		a.err = b.err
		return
	}
	a.buf = append(a.buf, b.buf...)
	a.names = append(a.names, b.names...)
}

// Builder appends events in compact form (AppendCompact's) to a buffer,
// attribute by attribute: Begin, the attributes (its Attrs' methods),
// then End.
type Builder struct {
	Attrs
	head []byte // the event's form up to its attribute count
}

// Begin starts an event with these fields, checked as Validate checks
// them; its attributes follow.
func (b *Builder) Begin(id string, t time.Time, typ, host, ip, source string) {
	b.Reset()
	b.head = b.head[:0]
	switch {
	case id == "":
		b.err = fieldErr("id", "missing")
	case t.IsZero():
		b.err = fieldErr("time", "missing")
	}
	if b.err == nil {
		if err := checkID(id); err != nil {
			b.err = fieldErr("id", "%v", err)
		} else {
			b.err = checkHead(typ, host, ip, source)
		}
	}
	h := append(b.head, magicEvent)
	h = appendStr(h, id)
	h = binary.AppendVarint(h, t.UnixNano())
	h = appendStr(h, typ)
	h = appendStr(h, host)
	h = appendStr(h, ip)
	b.head = appendStr(h, source)
}

// checkHead is validateFields' check of the type, host, ip and source.
func checkHead(typ, host, ip, source string) error {
	if typ == "" {
		return fieldErr("type", "missing")
	}
	if err := CheckType(typ); err != nil {
		return fieldErr("type", "%v", err)
	}
	if host == "" && ip == "" {
		return fieldErr("host", "an event needs a host or an ip")
	}
	if err := checkName(host); err != nil {
		return fieldErr("host", "%v", err)
	}
	if ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fieldErr("ip", "not an IP address: %q", ip)
		}
	}
	if err := checkName(source); err != nil {
		return fieldErr("source", "%v", err)
	}
	return nil
}

// End appends the event to dst and returns it; with the first problem
// met instead (dst as it was) when the event is not valid: a field or an
// attribute Validate would refuse, an attribute written twice, more than
// MaxAttrs attributes, or a form over MaxEventBytes.
func (b *Builder) End(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	if len(b.names) > MaxAttrs {
		return dst, fieldErr("attrs", "%d attributes, more than the limit of %d", len(b.names), MaxAttrs)
	}
	if err := b.unique(); err != nil {
		return dst, err
	}
	size := len(b.head) + uvarintLen(uint64(len(b.names))) + len(b.buf)
	if size > MaxEventBytes {
		return dst, fmt.Errorf("event of %d bytes is over the limit of %d: %w", size, MaxEventBytes, ErrTooLarge)
	}
	dst = append(dst, b.head...)
	dst = binary.AppendUvarint(dst, uint64(len(b.names)))
	return append(dst, b.buf...), nil
}

// unique checks that no attribute name was written twice: a few dozen
// names are compared pairwise (most pairs differ in length) faster than a
// set is built.
func (b *Builder) unique() error {
	for i, k := range b.names {
		for _, seen := range b.names[:i] {
			if len(seen) == len(k) && seen == k {
				return fieldErr("attrs."+k, "appears twice")
			}
		}
	}
	return nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
