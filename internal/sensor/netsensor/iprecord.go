package netsensor

import (
	"strconv"

	"github.com/vigil-ids/vigil/internal/event"
)

// IP-level records: packets whose IP header itself is of interest (IPv4
// options such as source routing) and protocols other than TCP, UDP and
// ICMP (tunnels: IP in IP, IPv6 in IPv4, GRE). One NET.IP record is made
// per source, destination, protocol and options in an interval, within
// the destination's record budget: a rule can tell a tunnel or a
// source-routed packet, the sensor does not judge them.

// IPv4 options the sensor names (RFC 791, RFC 1108, RFC 2113).
const (
	OptRecordRoute uint8 = 1 << iota // 7
	OptTimestamp                     // 68
	OptLSRR                          // 131: loose source route
	OptSSRR                          // 137: strict source route
	OptSecurity                      // 130, 133
	OptRouterAlert                   // 148
	OptOther
)

func optionBit(typ uint8) uint8 {
	switch typ {
	case 0, 1: // end of list, no-op
		return 0
	case 7:
		return OptRecordRoute
	case 68:
		return OptTimestamp
	case 131:
		return OptLSRR
	case 137:
		return OptSSRR
	case 130, 133:
		return OptSecurity
	case 148:
		return OptRouterAlert
	}
	return OptOther
}

var optionNames = []struct {
	bit  uint8
	name string
}{{OptRecordRoute, "record-route"}, {OptTimestamp, "timestamp"}, {OptLSRR, "lsrr"}, {OptSSRR, "ssrr"}, {OptSecurity, "security"}, {OptRouterAlert, "router-alert"}, {OptOther, "other"}}

// OptionNames lists the options set in bits.
func OptionNames(bits uint8) []string {
	var out []string
	for _, o := range optionNames {
		if bits&o.bit != 0 {
			out = append(out, o.name)
		}
	}
	return out
}

// ProtoName names an IP protocol the records mention.
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6:
		return protoName(p)
	case 4:
		return "ipip"
	case 41:
		return "ipv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 2:
		return "igmp"
	case 89:
		return "ospf"
	case 132:
		return "sctp"
	case 103:
		return "pim"
	case 112:
		return "vrrp"
	}
	return strconv.Itoa(int(p))
}

// ipKey identifies a NET.IP record within an interval.
type ipKey struct {
	src, dst [16]byte
	proto    uint8
	opts     uint8
}

// maxIPKeys bounds the NET.IP records an interval remembers having made.
const maxIPKeys = 16384

// ipRecord makes the NET.IP record of p, once per interval.
func (s *Sensor) ipRecord(p *Packet) {
	k := ipKey{src: p.Src.As16(), dst: p.Dst.As16(), proto: p.Proto, opts: p.IPOptions}
	if _, done := s.ipSeen[k]; done {
		return
	}
	if len(s.ipSeen) >= maxIPKeys {
		return
	}
	s.ipSeen[k] = struct{}{}
	if !s.takeBudget(s.sum.dstOf(p.Dst), p.Src, p.Dst) {
		return
	}
	a := map[string]any{"proto": ProtoName(p.Proto), "ip_proto": int64(p.Proto), "src": p.Src.String(), "dst": p.Dst.String(), "bytes": int64(p.Length), "payload_bytes": int64(p.IPPayload)}
	if p.IPOptions != 0 {
		a["ip_options"] = OptionNames(p.IPOptions)
	}
	if p.Fragment {
		a["fragment"] = true
	}
	t := traffic{proto: p.Proto, src: p.Src, dst: p.Dst, dir: s.cfg.direction(p.Src, p.Dst)}
	if t.dir != "" {
		a["direction"] = t.dir
	}
	if names := s.cfg.streamsOf(&t); len(names) > 0 {
		a["streams"] = names
	}
	s.out(event.Event{Time: s.now, Type: TypeIP, IP: p.Dst.String(), Attrs: a})
}
