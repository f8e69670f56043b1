package event

import (
	"encoding/binary"
	"fmt"
	"net/netip"
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

func (p *peeker) skipVarint(field string) {
	if p.err != nil {
		return
	}
	_, n := binary.Varint(p.b)
	if n <= 0 {
		p.err = fieldErr(field, "truncated or malformed varint")
		return
	}
	p.b = p.b[n:]
}
