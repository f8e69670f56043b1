package netsensor

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// counters are one subject's measures over one interval (seed 004 section
// 4: packets, volume, connection attempts and their outcomes, distinct
// peers and ports, errors).
type counters struct {
	packets, bytes              uint64
	tcp, udp, icmp              uint64
	echoRequests                uint64
	syn, synAck, rst, fin       uint64
	attempts                    uint64
	established, refused, unans uint64
	unreach                     uint64
	probes, icmpErrors          uint64
	fragments                   uint64
	records, suppressed         uint64
	peers, ports                distinct
}

// maxDistinct bounds each distinct-value set; beyond it the count is a
// lower bound, marked as such.
const maxDistinct = 1 << 16

func (c *counters) peer(a netip.Addr) { c.peers.add(addrPrint(a)) }

func (c *counters) port(p uint16) { c.ports.add(portPrint(p)) }

// packet counts one packet.
func (c *counters) packet(p *Packet) {
	c.packets++
	c.bytes += uint64(p.Length)
	if p.Fragment {
		c.fragments++
		return
	}
	switch p.Proto {
	case ProtoTCP:
		c.tcp++
		switch {
		case p.Flags&(FlagSYN|FlagACK) == FlagSYN:
			c.syn++
		case p.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
			c.synAck++
		}
		if p.Flags&FlagRST != 0 {
			c.rst++
		}
		if p.Flags&FlagFIN != 0 {
			c.fin++
		}
	case ProtoUDP:
		c.udp++
	case ProtoICMP, ProtoICMPv6:
		c.icmp++
		if p.Proto == ProtoICMP && p.ICMPType == 8 || p.Proto == ProtoICMPv6 && p.ICMPType == 128 {
			c.echoRequests++
		}
	}
}

// add sums o's counters into c; distinct values are not merged (a sum of
// many subjects reports how many subjects it holds instead).
func (c *counters) add(o *counters) {
	c.packets += o.packets
	c.bytes += o.bytes
	c.tcp += o.tcp
	c.udp += o.udp
	c.icmp += o.icmp
	c.echoRequests += o.echoRequests
	c.syn += o.syn
	c.synAck += o.synAck
	c.rst += o.rst
	c.fin += o.fin
	c.attempts += o.attempts
	c.established += o.established
	c.refused += o.refused
	c.unans += o.unans
	c.unreach += o.unreach
	c.probes += o.probes
	c.icmpErrors += o.icmpErrors
	c.fragments += o.fragments
	c.records += o.records
	c.suppressed += o.suppressed
}

// subjectKey identifies a subject: an address, or an address and a
// service port.
type subjectKey struct {
	addr  [16]byte
	port  uint16
	proto uint8
}

// summaries hold the current interval's counters by subject kind.
type summaries struct {
	cfg      *Config
	start    time.Time // of the current interval
	epoch    uint64
	gateway  counters
	src, dst map[subjectKey]*counters
	svc      map[subjectKey]*counters
	stream   []*counters // by stream index
	other    map[string]*counters
	overflow map[string]uint64
	kinds    map[string]bool
	free     []*counters // counters of past intervals, for reuse
	// The last subject looked up of each kind: traffic comes in runs to
	// and from the same hosts.
	lastSrc, lastDst, lastSvc struct {
		k subjectKey
		c *counters
	}
}

func newSummaries(cfg *Config) *summaries {
	s := &summaries{cfg: cfg, kinds: map[string]bool{}}
	for _, k := range cfg.Subjects {
		s.kinds[k] = true
	}
	s.reset(time.Time{})
	return s
}

func (s *summaries) reset(start time.Time) {
	s.start = start
	s.epoch++
	s.lastSrc.c, s.lastDst.c, s.lastSvc.c = nil, nil, nil
	s.gateway = counters{}
	for _, m := range []map[subjectKey]*counters{s.src, s.dst, s.svc} {
		for _, c := range m {
			if len(s.free) < 4*s.cfg.MaxSubjects {
				s.free = append(s.free, c)
			}
		}
		clear(m)
	}
	if s.src == nil {
		s.src, s.dst, s.svc = map[subjectKey]*counters{}, map[subjectKey]*counters{}, map[subjectKey]*counters{}
	}
	s.stream = make([]*counters, len(s.cfg.Streams))
	for i := range s.stream {
		s.stream[i] = &counters{}
	}
	s.other = map[string]*counters{}
	s.overflow = map[string]uint64{}
}

// get returns the counters of a subject, or the kind's "other" counters
// when the kind already has as many subjects as it may.
func (s *summaries) get(kind string, m map[subjectKey]*counters, k subjectKey) *counters {
	if c := m[k]; c != nil {
		return c
	}
	if len(m) >= s.cfg.MaxSubjects {
		s.overflow[kind]++
		o := s.other[kind]
		if o == nil {
			o = &counters{}
			s.other[kind] = o
		}
		return o
	}
	var c *counters
	if n := len(s.free); n > 0 {
		c = s.free[n-1]
		s.free = s.free[:n-1]
		c.reuse()
	} else {
		c = &counters{}
	}
	m[k] = c
	return c
}

// reuse zeroes c, keeping the memory of its distinct sets when they are
// small (a flood's large sets go back to the collector).
func (c *counters) reuse() {
	keep := func(sl []uint64) []uint64 {
		if len(sl) > 256 {
			return nil
		}
		clear(sl)
		return sl
	}
	*c = counters{peers: distinct{slots: keep(c.peers.slots)}, ports: distinct{slots: keep(c.ports.slots)}}
}

func (s *summaries) srcOf(a netip.Addr) *counters {
	k := subjectKey{addr: a.As16()}
	if s.lastSrc.c == nil || s.lastSrc.k != k {
		s.lastSrc.k, s.lastSrc.c = k, s.get("src", s.src, k)
	}
	return s.lastSrc.c
}

func (s *summaries) dstOf(a netip.Addr) *counters {
	k := subjectKey{addr: a.As16()}
	if s.lastDst.c == nil || s.lastDst.k != k {
		s.lastDst.k, s.lastDst.c = k, s.get("dst", s.dst, k)
	}
	return s.lastDst.c
}

func (s *summaries) svcOf(a netip.Addr, port uint16, proto uint8) *counters {
	k := subjectKey{addr: a.As16(), port: port, proto: proto}
	if s.lastSvc.c == nil || s.lastSvc.k != k {
		s.lastSvc.k, s.lastSvc.c = k, s.get("service", s.svc, k)
	}
	return s.lastSvc.c
}

// emit turns the interval's counters into NET.SUMMARY records.
func (s *summaries) emit(end time.Time, sensor string, extra map[string]any, out func(event.Event)) {
	if s.start.IsZero() || s.gateway.packets == 0 {
		return
	}
	length := end.Sub(s.start).Seconds()
	mk := func(kind, subject string, ip netip.Addr, c *counters) event.Event {
		// Counters that are zero are left out (a reader takes a missing
		// measure as zero): most subjects of a busy interval touch few.
		a := make(map[string]any, 16)
		a["kind"], a["subject"], a["interval_s"] = kind, subject, length
		a["packets"], a["kbytes"] = int64(c.packets), float64(c.bytes)/1024
		for _, m := range [...]struct {
			name string
			v    uint64
		}{
			{"tcp", c.tcp}, {"udp", c.udp}, {"icmp", c.icmp}, {"echo_requests", c.echoRequests}, {"syn", c.syn}, {"syn_ack", c.synAck}, {"rst", c.rst},
			{"fin", c.fin}, {"conn_attempts", c.attempts}, {"established", c.established}, {"refused", c.refused},
			{"unanswered", c.unans}, {"unreachable", c.unreach}, {"probes", c.probes}, {"icmp_errors", c.icmpErrors},
			{"errors", c.rst + c.icmpErrors}, {"fragments", c.fragments},
			{"distinct_peers", uint64(c.peers.n)}, {"distinct_ports", uint64(c.ports.n)},
		} {
			if m.v != 0 {
				a[m.name] = int64(m.v)
			}
		}
		if c.peers.full {
			a["distinct_peers_at_least"] = true
		}
		if c.ports.full {
			a["distinct_ports_at_least"] = true
		}
		if c.suppressed > 0 {
			a["records_suppressed"] = int64(c.suppressed)
		}
		ev := event.Event{Time: end, Type: TypeSummary, Source: sensor, Attrs: a}
		if ip.IsValid() {
			ev.IP = ip.String()
		} else {
			ev.Host = sensor
		}
		return ev
	}
	if s.kinds["gateway"] {
		ev := mk("gateway", sensor, netip.Addr{}, &s.gateway)
		for k, v := range extra {
			ev.Attrs[k] = v
		}
		for kind, n := range s.overflow {
			ev.Attrs["subjects_overflow."+kind] = int64(n)
		}
		out(ev)
	}
	for _, kind := range []struct {
		name string
		m    map[subjectKey]*counters
	}{{"src", s.src}, {"dst", s.dst}, {"service", s.svc}} {
		if !s.kinds[kind.name] {
			continue
		}
		keys := make([]subjectKey, 0, len(kind.m))
		for k := range kind.m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b subjectKey) int {
			if c := cmp.Compare(binary.BigEndian.Uint64(a.addr[:8]), binary.BigEndian.Uint64(b.addr[:8])); c != 0 {
				return c
			}
			if c := cmp.Compare(binary.BigEndian.Uint64(a.addr[8:]), binary.BigEndian.Uint64(b.addr[8:])); c != 0 {
				return c
			}
			return cmp.Compare(uint32(a.port)<<8|uint32(a.proto), uint32(b.port)<<8|uint32(b.proto))
		})
		// Services that answered nobody, and hosts seen in a single
		// packet (the spoofed sources of a flood), are summed into one
		// summary rather than reported one by one.
		var quiet *counters
		var quietN int64
		for _, k := range keys {
			if kind.name == "service" && kind.m[k].established == 0 || kind.name != "service" && kind.m[k].packets < 2 {
				if quiet == nil {
					quiet = &counters{}
				}
				quiet.add(kind.m[k])
				quietN++
				continue
			}
			ip := netip.AddrFrom16(k.addr).Unmap()
			subject := ip.String()
			if kind.name == "service" {
				subject = fmt.Sprintf("%s:%d/%s", subject, k.port, protoName(k.proto))
			}
			ev := mk(kind.name, subject, ip, kind.m[k])
			if kind.name == "service" {
				ev.Attrs["port"] = int64(k.port)
				ev.Attrs["proto"] = protoName(k.proto)
			}
			out(ev)
		}
		if o := s.other[kind.name]; o != nil {
			ev := mk(kind.name, "other", netip.Addr{}, o)
			ev.Attrs["subjects"] = int64(s.overflow[kind.name])
			out(ev)
		}
		if quiet != nil {
			name := "single-packet"
			if kind.name == "service" {
				name = "unanswered"
			}
			ev := mk(kind.name, name, netip.Addr{}, quiet)
			ev.Attrs["subjects"] = quietN
			out(ev)
		}
	}
	if s.kinds["stream"] {
		for i, c := range s.stream {
			if c.packets == 0 {
				continue
			}
			out(mk("stream", s.cfg.Streams[i].Name, netip.Addr{}, c))
		}
	}
}

func protoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprint(p)
}
