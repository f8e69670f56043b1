package firewall

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Ranges no block may touch: blocking them locks the host out of itself
// or out of its neighbours, and no attacker's packet comes from them.
var never = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("ff00::/8"),
}

// ErrNoTarget is returned for a request whose subject names no address
// or prefix.
var ErrNoTarget = errors.New("the subject names no address or prefix")

// target returns the range a block request names: the subject's address
// as a one-address prefix, or else its prefix. It refuses what must never
// be blocked and prefixes shorter than the minimum.
func target(s action.Subject, min4, min6 int) (netip.Prefix, error) {
	var p netip.Prefix
	switch {
	case s.Addr.IsValid():
		a := s.Addr.WithZone("").Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	case s.Prefix.IsValid():
		p = s.Prefix
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("prefix %s: an IPv4-mapped range wider than IPv4 itself", p)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("prefix %s: a zone has no place in a block", p)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("prefix %s has host bits set (the range is %s)", p, p.Masked())
		}
	case s.Addr != netip.Addr{} || s.Prefix != netip.Prefix{}:
		return netip.Prefix{}, fmt.Errorf("malformed address or prefix in the subject")
	default:
		return netip.Prefix{}, ErrNoTarget
	}
	minBits := min4
	if p.Addr().Is6() {
		minBits = min6
	}
	if p.Bits() < minBits {
		return netip.Prefix{}, fmt.Errorf("prefix %s is wider than the shortest allowed, /%d", p, minBits)
	}
	for _, n := range never {
		if n.Overlaps(p) {
			if p.IsSingleIP() {
				return netip.Prefix{}, fmt.Errorf("address %s is in %s, which is never blocked", p.Addr(), n)
			}
			return netip.Prefix{}, fmt.Errorf("prefix %s overlaps %s, which is never blocked", p, n)
		}
	}
	return p, nil
}

// describe prints a range as a person writes it: an address alone, or a
// prefix.
func describe(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// prefixOf returns the prefix covering exactly [start, end), end being
// the address after the last (invalid: the range runs to the top of the
// address space), or false when the range is not one prefix.
func prefixOf(start, end netip.Addr) (netip.Prefix, bool) {
	for bits := start.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(start, bits)
		if p.Masked().Addr() != start {
			break
		}
		next := lastAddr(p).Next()
		if next == end || (!end.IsValid() && !next.IsValid()) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
