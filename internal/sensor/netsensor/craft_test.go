package netsensor

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/event"
)

// Packets for the tests are crafted with gopacket and go through the same
// decoder as captured ones.

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	t0   = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
)

func frame(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	for _, l := range ls {
		if t, ok := l.(*layers.TCP); ok {
			for _, n := range ls {
				if ip, ok := n.(*layers.IPv4); ok {
					_ = t.SetNetworkLayerForChecksum(ip)
				}
			}
		}
		if u, ok := l.(*layers.UDP); ok {
			for _, n := range ls {
				if ip, ok := n.(*layers.IPv4); ok {
					_ = u.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

// setFlags sets a segment's flags from a tcpdump-style string (S, A, R,
// F, P, U, E, C; anything else, such as "none", sets nothing).
func setFlags(t *layers.TCP, flags string) {
	for _, c := range flags {
		switch c {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'R':
			t.RST = true
		case 'F':
			t.FIN = true
		case 'P':
			t.PSH = true
		case 'U':
			t.URG = true
		case 'E':
			t.ECE = true
		case 'C':
			t.CWR = true
		}
	}
}

// tcpPkt crafts a TCP segment; flags is a tcpdump-style string (S, SA, R,
// F, P, A, U, none).
func tcpPkt(tb testing.TB, src string, sport uint16, dst string, dport uint16, flags string, payload string) []byte {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 1024, Seq: 1000}
	setFlags(t, flags)
	return frame(tb, eth(), ip4(src, dst, layers.IPProtocolTCP), t, gopacket.Payload(payload))
}

func udpPkt(tb testing.TB, src string, sport uint16, dst string, dport uint16, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	return frame(tb, eth(), ip4(src, dst, layers.IPProtocolUDP), u, gopacket.Payload(payload))
}

// icmpUnreach crafts an ICMP destination unreachable from src about the
// packet quoted (an IPv4 frame's IP part).
func icmpUnreach(tb testing.TB, src, dst string, code uint8, quoted []byte) []byte {
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, code)}
	return frame(tb, eth(), ip4(src, dst, layers.IPProtocolICMPv4), ic, gopacket.Payload(quoted[14:min(len(quoted), 14+28)]))
}

func icmpEcho(tb testing.TB, src, dst string, typ uint8) []byte {
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 7, Seq: 1}
	return frame(tb, eth(), ip4(src, dst, layers.IPProtocolICMPv4), ic)
}

// run feeds frames to a sensor, one per step of gap, and returns the
// records (flushing at the end).
type rig struct {
	tb      testing.TB
	s       *Sensor
	dec     *Decoder
	now     time.Time
	records []event.Event
}

func newRig(tb testing.TB, cfg Config) *rig {
	tb.Helper()
	r := &rig{tb: tb, now: t0}
	r.s = New(cfg, event.NewSeededIDs(1), func(ev event.Event) {
		if err := ev.Validate(); err != nil {
			tb.Errorf("invalid record %s: %v", ev.AppendJSON(nil), err)
		}
		r.records = append(r.records, ev)
	}, nil)
	r.dec, _ = NewDecoder(layers.LinkTypeEthernet)
	return r
}

func (r *rig) feed(gap time.Duration, frames ...[]byte) {
	r.tb.Helper()
	var p Packet
	for _, f := range frames {
		r.now = r.now.Add(gap)
		if err := r.dec.Decode(f, r.now, len(f), &p); err != nil {
			r.tb.Fatalf("decoding a crafted frame: %v", err)
		}
		r.s.Process(&p)
	}
}

func (r *rig) of(typ string) []event.Event {
	var out []event.Event
	for _, ev := range r.records {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}
