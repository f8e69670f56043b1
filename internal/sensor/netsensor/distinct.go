package netsensor

import (
	"encoding/binary"
	"net/netip"
)

// distinct counts distinct values exactly, up to a bound, in an
// open-addressed table of 64-bit fingerprints: no pointers for the
// collector to trace and no allocation per value. Two values whose
// fingerprints collide count once (with 64-bit fingerprints, not in any
// table this small).
type distinct struct {
	slots []uint64 // 0 is empty; fingerprints are never 0
	n     int
	full  bool
}

func (d *distinct) add(fp uint64) {
	if d.full {
		return
	}
	if fp == 0 {
		fp = 1
	}
	if d.n*4 >= len(d.slots)*3 {
		d.grow()
	}
	mask := uint64(len(d.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch d.slots[i] {
		case fp:
			return
		case 0:
			d.slots[i] = fp
			d.n++
			d.full = d.n >= maxDistinct
			return
		}
	}
}

func (d *distinct) grow() {
	old := d.slots
	size := max(16, 2*len(old))
	d.slots = make([]uint64, size)
	mask := uint64(size - 1)
	for _, fp := range old {
		if fp == 0 {
			continue
		}
		for i := fp & mask; ; i = (i + 1) & mask {
			if d.slots[i] == 0 {
				d.slots[i] = fp
				break
			}
		}
	}
}

// mix64 is a 64-bit finaliser: every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func addrPrint(a netip.Addr) uint64 {
	b := a.As16()
	return mix64(binary.LittleEndian.Uint64(b[:8])*31 ^ mix64(binary.LittleEndian.Uint64(b[8:])))
}

func portPrint(p uint16) uint64 { return mix64(uint64(p) + 0x9e3779b97f4a7c15) }
