package event

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// CompactKey is what routes an event on the bus and de-duplicates it there,
// read from its compact form: its id, host and IP.
type CompactKey struct {
	ID, Host, IP string
}

// PeekCompact reads an event's id, host and IP from its compact form
// without decoding the rest, so that bytes already in that form (a
// sensor's spool) can be published as they are. It checks the magic byte,
// the size limit and the fields it reads as Validate does (a well-formed
// id, a host or an IP); the fields after them are not read.
func PeekCompact(data []byte) (CompactKey, error) { return PeekCompactLike(data, CompactKey{}) }

// PeekCompactLike is PeekCompact for the next of records that mostly
// share their host and IP (a sensor's): a host or IP equal to like's,
// a key PeekCompact or PeekCompactLike returned, is like's string, not
// a new one, and is not checked again.
func PeekCompactLike(data []byte, like CompactKey) (CompactKey, error) {
	var k CompactKey
	if len(data) > MaxEventBytes {
		return k, fmt.Errorf("event of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	if len(data) == 0 || data[0] != magicEvent {
		return k, ErrNotCompact
	}
	p := peeker{b: data[1:]}
	k.ID = p.str("id")
	p.skipVarint("time")
	p.skipStr("type")
	host := p.bytes("host")
	ip := p.bytes("ip")
	if p.err != nil {
		return CompactKey{}, p.err
	}
	if k.ID == "" {
		return CompactKey{}, fieldErr("id", "missing")
	}
	if err := checkID(k.ID); err != nil {
		return CompactKey{}, fieldErr("id", "%v", err)
	}
	if len(host) == 0 && len(ip) == 0 {
		return CompactKey{}, fieldErr("host", "an event needs a host or an ip")
	}
	if like.Host != "" && string(host) == like.Host {
		k.Host = like.Host
	} else {
		k.Host = string(host)
		if err := checkName(k.Host); err != nil {
			return CompactKey{}, fieldErr("host", "%v", err)
		}
	}
	if like.IP != "" && string(ip) == like.IP {
		k.IP = like.IP
	} else if len(ip) > 0 {
		k.IP = string(ip)
		if _, err := netip.ParseAddr(k.IP); err != nil {
			return CompactKey{}, fieldErr("ip", "not an IP address: %q", k.IP)
		}
	}
	return k, nil
}

// peeker reads the leading fields of the compact form without copying
// the rest; the first error sticks.
type peeker struct {
	b   []byte
	err error
}

func (p *peeker) length(field string) int {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = fieldErr(field, "truncated or malformed varint")
		return 0
	}
	p.b = p.b[n:]
	if v > uint64(len(p.b)) {
		p.err = fieldErr(field, "count %d exceeds the remaining %d bytes", v, len(p.b))
		return 0
	}
	return int(v)
}

func (p *peeker) str(field string) string {
	n := p.length(field)
	s := string(p.b[:n])
	p.b = p.b[n:]
	return s
}

// bytes is str without the copy: the bytes are data's.
func (p *peeker) bytes(field string) []byte {
	n := p.length(field)
	b := p.b[:n]
	p.b = p.b[n:]
	return b
}

func (p *peeker) skipStr(field string) {
	n := p.length(field)
	p.b = p.b[n:]
}

func (p *peeker) skipVarint(field string) { p.varint(field) }

// CompactInt is what PeekCompactInt reads from an event's compact form.
type CompactInt struct {
	Type string
	Time time.Time
	// Value is the integer attribute asked for; Found says the event has
	// it (an attribute of that name that is not an integer is not found).
	Value int64
	Found bool
}

// PeekCompactInt reads an event's type, time and one integer attribute
// from its compact form without decoding the rest: a reader that counts
// or sorts many events by one attribute spares the map DecodeCompact
// builds for each. Every length is checked against the data; nothing is
// checked beyond what these reads need (DecodeCompact validates).
func PeekCompactInt(data []byte, name string) (CompactInt, error) {
	var c CompactInt
	if len(data) > MaxEventBytes {
		return c, fmt.Errorf("event of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	if len(data) == 0 || data[0] != magicEvent {
		return c, ErrNotCompact
	}
	p := peeker{b: data[1:]}
	p.skipStr("id")
	t := p.varint("time")
	typ := p.bytes("type")
	p.skipStr("host")
	p.skipStr("ip")
	p.skipStr("source")
	n := p.uvarint("attrs")
	for i := uint64(0); i < n && p.err == nil && !c.Found; i++ {
		k := p.bytes("attrs")
		tag := p.byte("attrs")
		if tag == tagInt && string(k) == name {
			c.Value, c.Found = p.varint("attrs"), true
			break
		}
		p.skipValue(tag)
	}
	if p.err != nil {
		return CompactInt{}, p.err
	}
	c.Type, c.Time = string(typ), time.Unix(0, t).UTC()
	return c, nil
}

// varint reads a signed (zig-zag) varint, as binary.Varint does.
func (p *peeker) varint(field string) int64 {
	u := p.uvarint(field)
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (p *peeker) uvarint(field string) uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.err = fieldErr(field, "truncated or malformed varint")
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *peeker) byte(field string) byte {
	if p.err != nil {
		return 0
	}
	if len(p.b) == 0 {
		p.err = fieldErr(field, "truncated")
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

// skipValue skips an attribute's value of the tag given.
func (p *peeker) skipValue(tag byte) {
	switch tag {
	case tagString:
		p.skipStr("attrs")
	case tagInt:
		p.skipVarint("attrs")
	case tagFloat:
		if p.err == nil && len(p.b) < 8 {
			p.err = fieldErr("attrs", "truncated")
			return
		}
		if p.err == nil {
			p.b = p.b[8:]
		}
	case tagTrue, tagFalse:
	case tagList:
		for m := p.uvarint("attrs"); m > 0 && p.err == nil; m-- {
			p.skipStr("attrs")
		}
	default:
		if p.err == nil {
			p.err = fieldErr("attrs", "unknown value tag %d", tag)
		}
	}
}
