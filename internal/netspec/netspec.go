// Package netspec parses the small network specifications resource objects
// use for the network sensor: address sets, services ("10.0.0.3:8000/tcp"),
// protocols and TCP flag sets. Both the resource-object loader (to report
// mistakes with their lines) and the sensor use it.
package netspec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol numbers by name.
var protocols = map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "icmp6": 58}

// ParseProto parses a protocol name or number.
func ParseProto(s string) (uint8, error) {
	if p, ok := protocols[strings.ToLower(s)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("unknown protocol %q (want tcp, udp, icmp, icmpv6 or a number)", s)
	}
	return uint8(n), nil
}

// ParsePrefix parses an address or a CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("bad address range %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePrefixes parses a list of addresses and prefixes.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Service is a service the site runs: an address range, a port and a
// protocol. An invalid (zero) Net matches every address.
type Service struct {
	Net   netip.Prefix
	Port  uint16
	Proto uint8
}

// Matches reports whether a flow to addr:port over proto is this service.
func (s Service) Matches(addr netip.Addr, port uint16, proto uint8) bool {
	return s.Port == port && s.Proto == proto && (!s.Net.IsValid() || s.Net.Contains(addr))
}

// ParseService parses "ADDR:PORT/PROTO", "CIDR:PORT/PROTO", "*:PORT/PROTO"
// or ":PORT/PROTO" (the protocol defaults to tcp).
func ParseService(s string) (Service, error) {
	var svc Service
	body, proto, hasProto := strings.Cut(s, "/")
	// A CIDR has its own slash: "10.0.0.0/24:80/tcp".
	if hasProto && strings.Contains(proto, ":") {
		more, p2, ok := strings.Cut(proto, "/")
		body, proto = body+"/"+more, p2
		hasProto = ok
	}
	if !hasProto {
		proto = "tcp"
	}
	p, err := ParseProto(proto)
	if err != nil {
		return svc, fmt.Errorf("service %q: %w", s, err)
	}
	svc.Proto = p
	i := strings.LastIndexByte(body, ':')
	if i < 0 {
		return svc, fmt.Errorf("service %q: want ADDR:PORT/PROTO", s)
	}
	addr, port := body[:i], body[i+1:]
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return svc, fmt.Errorf("service %q: bad port %q", s, port)
	}
	svc.Port = uint16(n)
	if addr != "" && addr != "*" {
		if svc.Net, err = ParsePrefix(addr); err != nil {
			return svc, fmt.Errorf("service %q: %w", s, err)
		}
	}
	return svc, nil
}

// TCP flag bits, as in the TCP header.
var flagBits = map[string]uint8{"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80}

// ParseFlags parses a set of TCP flags: names joined by '+' ("SYN+ACK"),
// or "NONE".
func ParseFlags(s string) (uint8, error) {
	if strings.EqualFold(s, "NONE") {
		return 0, nil
	}
	var f uint8
	for _, name := range strings.Split(strings.ToUpper(s), "+") {
		b, ok := flagBits[strings.TrimSpace(name)]
		if !ok {
			return 0, fmt.Errorf("unknown TCP flag %q in %q (want FIN, SYN, RST, PSH, ACK, URG, ECE, CWR joined by +, or NONE)", name, s)
		}
		f |= b
	}
	return f, nil
}
