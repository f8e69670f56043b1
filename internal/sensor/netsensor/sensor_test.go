package netsensor

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/netspec"
)

const (
	client = "192.0.2.10"
	server = "10.0.0.3"
)

// TestConnectionOutcomes covers each way an attempt ends.
func TestConnectionOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		frames  func(t *testing.T) [][]byte
		proto   string
		outcome string
		tries   int64
	}{
		{"handshake", func(t *testing.T) [][]byte {
			return [][]byte{tcpPkt(t, client, 40000, server, 80, "S", ""), tcpPkt(t, server, 80, client, 40000, "SA", ""), tcpPkt(t, client, 40000, server, 80, "A", "")}
		}, "tcp", OutcomeEstablished, 1},
		{"retransmitted then answered", func(t *testing.T) [][]byte {
			return [][]byte{tcpPkt(t, client, 40001, server, 80, "S", ""), tcpPkt(t, client, 40001, server, 80, "S", ""), tcpPkt(t, server, 80, client, 40001, "SA", "")}
		}, "tcp", OutcomeEstablished, 2},
		{"reset", func(t *testing.T) [][]byte {
			return [][]byte{tcpPkt(t, client, 40002, server, 81, "S", ""), tcpPkt(t, server, 81, client, 40002, "RA", "")}
		}, "tcp", OutcomeRefused, 1},
		{"no answer", func(t *testing.T) [][]byte {
			return [][]byte{tcpPkt(t, client, 40003, server, 82, "S", "")}
		}, "tcp", OutcomeUnanswered, 1},
		{"ECN SYN is an attempt", func(t *testing.T) [][]byte {
			return [][]byte{tcpPkt(t, client, 40004, server, 83, "SEC", "")}
		}, "tcp", OutcomeUnanswered, 1},
		{"udp answered", func(t *testing.T) [][]byte {
			return [][]byte{udpPkt(t, client, 5353, server, 123, []byte("q")), udpPkt(t, server, 123, client, 5353, []byte("a"))}
		}, "udp", OutcomeEstablished, 1},
		{"udp port unreachable", func(t *testing.T) [][]byte {
			q := udpPkt(t, client, 5354, server, 161, []byte("q"))
			return [][]byte{q, icmpUnreach(t, server, client, 3, q)}
		}, "udp", OutcomeRefused, 1},
		{"tcp host unreachable from a router", func(t *testing.T) [][]byte {
			q := tcpPkt(t, client, 40005, server, 84, "S", "")
			return [][]byte{q, icmpUnreach(t, "10.0.0.1", client, 1, q)}
		}, "tcp", OutcomeUnreachable, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{ID: "gw"})
			r.feed(10*time.Millisecond, tc.frames(t)...)
			r.s.Advance(r.now.Add(6 * time.Second)) // past the attempt timeout
			conns := r.of(TypeConn)
			if len(conns) != 1 {
				t.Fatalf("%d connection records: %v", len(conns), conns)
			}
			c := conns[0]
			if c.Str("outcome") != tc.outcome || c.Str("proto") != tc.proto || c.IP != server || c.Str("src") != client || c.Source != "gw" {
				t.Errorf("record %s", c.AppendJSON(nil))
			}
			if n, _ := c.Int("tries"); n != tc.tries {
				t.Errorf("tries %d, want %d", n, tc.tries)
			}
		})
	}
}

// TestProbes covers transport-management probes and their answers.
func TestProbes(t *testing.T) {
	for _, tc := range []struct {
		flags, want, answer string
		reply               bool
	}{
		{"F", "F", "rst", true},
		{"", "none", "none", false},
		{"FPU", "FPU", "rst", true},
		{"SF", "SF", "none", false},
	} {
		t.Run(tc.want, func(t *testing.T) {
			r := newRig(t, Config{ID: "gw"})
			r.feed(time.Millisecond, tcpPkt(t, client, 50000, server, 22, tc.flags, ""))
			if tc.reply {
				r.feed(time.Millisecond, tcpPkt(t, server, 22, client, 50000, "RA", ""))
			}
			r.s.Flush()
			probes := r.of(TypeProbe)
			if len(probes) != 1 || probes[0].Str("flags") != tc.want || probes[0].Str("answer") != tc.answer {
				t.Fatalf("probes %v", probes)
			}
			if len(r.of(TypeConn)) != 0 {
				t.Error("a probe was taken for a connection attempt")
			}
		})
	}
	// A packet in the middle of an older connection is neither.
	r := newRig(t, Config{ID: "gw"})
	r.feed(time.Millisecond, tcpPkt(t, client, 50001, server, 443, "PA", "data"), tcpPkt(t, server, 443, client, 50001, "A", ""))
	r.s.Flush()
	if len(r.of(TypeProbe))+len(r.of(TypeConn)) != 0 {
		t.Errorf("mid-stream traffic recorded as %v", r.records)
	}
}

func TestICMPRecords(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	r.feed(time.Millisecond, icmpEcho(t, client, server, 8), icmpEcho(t, server, client, 0))
	icmps := r.of(TypeICMP)
	if len(icmps) != 2 || icmps[0].Str("icmp_name") != "echo-request" || icmps[0].IP != server || icmps[1].Str("icmp_name") != "echo-reply" {
		t.Fatalf("icmp records %v", icmps)
	}
	q := udpPkt(t, client, 5000, server, 9, []byte("x"))
	r.feed(time.Millisecond, q, icmpUnreach(t, server, client, 3, q))
	last := r.of(TypeICMP)[2]
	if last.Str("icmp_name") != "port-unreachable" || last.Str("quoted_dst") != server || last.Str("quoted_dport") != "9" {
		t.Errorf("unreachable %s", last.AppendJSON(nil))
	}
}

// TestApplication reads HTTP, FTP, SMTP and DNS.
func TestApplication(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	hs := func(cport, sport uint16) {
		r.feed(time.Millisecond, tcpPkt(t, client, cport, server, sport, "S", ""), tcpPkt(t, server, sport, client, cport, "SA", ""), tcpPkt(t, client, cport, server, sport, "A", ""))
	}
	hs(41000, 8000)
	r.feed(time.Millisecond,
		tcpPkt(t, client, 41000, server, 8000, "PA", "GET /index.html?q=<x> HTTP/1.1\r\nHost: web-3\r\nUser-Agent: t\r\n\r\n"),
		tcpPkt(t, server, 8000, client, 41000, "PA", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
		tcpPkt(t, client, 41000, server, 8000, "PA", "POST /login HTTP/1.1\r\nHost: web-3\r\n\r\nuser=a"),
	)
	hs(41001, 21)
	r.feed(time.Millisecond,
		tcpPkt(t, server, 21, client, 41001, "PA", "220 ProFTPD ready\r\n"),
		tcpPkt(t, client, 41001, server, 21, "PA", "USER anonymous\r\n"),
		tcpPkt(t, server, 21, client, 41001, "PA", "331 Anonymous login ok\r\n"),
		tcpPkt(t, client, 41001, server, 21, "PA", "PASS guest@example.org\r\n"),
		tcpPkt(t, server, 21, client, 41001, "PA", "230 Welcome\r\n"),
		tcpPkt(t, client, 41001, server, 21, "PA", "RETR /etc/passwd\r\n"),
		tcpPkt(t, server, 21, client, 41001, "PA", "550 No such file\r\n"),
	)
	hs(41002, 25)
	r.feed(time.Millisecond,
		tcpPkt(t, server, 25, client, 41002, "PA", "220 mail ESMTP\r\n"),
		tcpPkt(t, client, 41002, server, 25, "PA", "EHLO x\r\n"),
		tcpPkt(t, server, 25, client, 41002, "PA", "250-mail\r\n250 8BITMIME\r\n"),
		tcpPkt(t, client, 41002, server, 25, "PA", "VRFY root\r\n"),
		tcpPkt(t, server, 25, client, 41002, "PA", "252 Cannot VRFY\r\n"),
		tcpPkt(t, client, 41002, server, 25, "PA", "EXPN staff\r\n"),
		tcpPkt(t, server, 25, client, 41002, "PA", "502 No\r\n"),
		tcpPkt(t, client, 41002, server, 25, "PA", "DATA\r\n"),
		tcpPkt(t, server, 25, client, 41002, "PA", "354 Go ahead\r\n"),
		tcpPkt(t, client, 41002, server, 25, "PA", "HELO not a command\r\n.\r\n"),
		tcpPkt(t, server, 25, client, 41002, "PA", "250 Queued\r\n"),
		tcpPkt(t, client, 41002, server, 25, "PA", "QUIT\r\n"),
		tcpPkt(t, server, 25, client, 41002, "PA", "221 Bye\r\n"),
	)
	dnsQ := &layers.DNS{ID: 77, RD: true, Questions: []layers.DNSQuestion{{Name: []byte("evil.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	dnsR := &layers.DNS{ID: 77, QR: true, ResponseCode: layers.DNSResponseCodeNXDomain, Questions: dnsQ.Questions}
	r.feed(time.Millisecond,
		frame(t, eth(), ip4(client, server, layers.IPProtocolUDP), &layers.UDP{SrcPort: 33333, DstPort: 53}, dnsQ),
		frame(t, eth(), ip4(server, client, layers.IPProtocolUDP), &layers.UDP{SrcPort: 53, DstPort: 33333}, dnsR),
	)
	r.s.Flush()

	https := r.of(TypeHTTP)
	if len(https) != 2 || https[0].Str("method") != "GET" || https[0].Str("path") != "/index.html?q=<x>" || https[0].Str("status") != "404" || https[0].Str("http_host") != "web-3" {
		t.Errorf("http %v", https)
	}
	if len(https) == 2 && (https[1].Str("method") != "POST" || https[1].Attrs["status_seen"] != false) {
		t.Errorf("unanswered request %s", https[1].AppendJSON(nil))
	}
	ftps := r.of(TypeFTP)
	want := []string{"USER anonymous 331", "PASS guest@example.org 230", "RETR /etc/passwd 550"}
	if len(ftps) != len(want) {
		t.Fatalf("ftp %v", ftps)
	}
	for i, w := range want {
		if got := ftps[i].Str("command") + " " + ftps[i].Str("argument") + " " + ftps[i].Str("reply"); got != w {
			t.Errorf("ftp %d: %q, want %q", i, got, w)
		}
	}
	if ftps[1].Attrs["anonymous_login"] != true {
		t.Errorf("anonymous login not flagged: %s", ftps[1].AppendJSON(nil))
	}
	var smtp []string
	for _, ev := range r.of(TypeSMTP) {
		smtp = append(smtp, ev.Str("command")+" "+ev.Str("reply"))
	}
	if got := strings.Join(smtp, ", "); got != "EHLO 250, VRFY 252, EXPN 502, DATA 354, QUIT 221" {
		t.Errorf("smtp %s", got)
	}
	dns := r.of(TypeDNS)
	if len(dns) != 1 || dns[0].Str("query") != "evil.example" || dns[0].Str("rcode") != "NXDOMAIN" || dns[0].Str("qtype") != "A" {
		t.Errorf("dns %v", dns)
	}
}

// TestUnassignedBanner records the first bytes of a service on a port
// that is not the site's, and tags the unassigned stream.
func TestUnassignedBanner(t *testing.T) {
	svc, _ := netspec.ParseService(server + ":80/tcp")
	r := newRig(t, Config{ID: "gw", Services: []netspec.Service{svc}, Streams: []Stream{{Name: "rogue", Unassigned: true}, {Name: "web", Ports: []uint16{80}}}})
	r.feed(time.Millisecond,
		tcpPkt(t, client, 42000, server, 2222, "S", ""), tcpPkt(t, server, 2222, client, 42000, "SA", ""),
		tcpPkt(t, server, 2222, client, 42000, "PA", "SSH-2.0-OpenSSH_9.2\r\n\x00\xff"),
		tcpPkt(t, client, 42001, server, 80, "S", ""), tcpPkt(t, server, 80, client, 42001, "SA", ""),
		tcpPkt(t, server, 80, client, 42001, "PA", "HTTP/1.1 200 OK\r\n\r\n"),
	)
	r.s.Flush()
	b := r.of(TypeBanner)
	if len(b) != 1 || b[0].Str("guess") != "ssh" || b[0].Str("from") != "server" || b[0].Str("banner") != `SSH-2.0-OpenSSH_9.2\r\n\x00\xff` || b[0].Str("dport") != "2222" {
		t.Fatalf("banners %v", b)
	}
	for _, c := range r.of(TypeConn) {
		streams := c.Str("streams")
		if c.Str("dport") == "2222" && (streams != "rogue" || c.Attrs["unassigned"] != true) || c.Str("dport") == "80" && streams != "web" {
			t.Errorf("streams of %s", c.AppendJSON(nil))
		}
	}
}

// TestBannerEachSide records the first bytes of each side of a flow to an
// unassigned port, the answer marked as a reply, and nothing after: a
// bind shell's client sends a command, the shell answers with its output.
func TestBannerEachSide(t *testing.T) {
	svc, _ := netspec.ParseService(server + ":80/tcp")
	r := newRig(t, Config{ID: "gw", Services: []netspec.Service{svc}})
	r.feed(time.Millisecond,
		tcpPkt(t, client, 42000, server, 4445, "S", ""), tcpPkt(t, server, 4445, client, 42000, "SA", ""),
		tcpPkt(t, client, 42000, server, 4445, "PA", "id\n"),
		tcpPkt(t, server, 4445, client, 42000, "PA", "uid=0(root) gid=0(root) groups=0(root)\n"),
		tcpPkt(t, client, 42000, server, 4445, "PA", "cat /etc/shadow\n"),
		tcpPkt(t, server, 4445, client, 42000, "PA", "root:*:19000:0:99999:7:::\n"),
	)
	r.s.Flush()
	b := r.of(TypeBanner)
	if len(b) != 2 {
		t.Fatalf("%d banners, want 2 (one per side): %v", len(b), b)
	}
	if b[0].Str("from") != "client" || b[0].Str("banner") != `id\n` || b[0].Attrs["reply"] != nil {
		t.Errorf("first banner %s: want the client's command, not a reply", b[0].AppendJSON(nil))
	}
	if b[1].Str("from") != "server" || b[1].Str("banner") != `uid=0(root) gid=0(root) groups=0(root)\n` || b[1].Attrs["reply"] != true || b[1].Str("guess") != "unknown" {
		t.Errorf("second banner %s: want the server's answer, a reply", b[1].AppendJSON(nil))
	}
}

// TestStreams tags records with every stream whose criteria they meet,
// one criterion of seed 004 section 3 per stream, and sums each stream.
func TestStreams(t *testing.T) {
	pf := func(s string) []netip.Prefix { p, _ := netspec.ParsePrefix(s); return []netip.Prefix{p} }
	fin, _ := netspec.ParseFlags("FIN")
	syn, _ := netspec.ParseFlags("SYN")
	const office = "198.51.100.20"
	cfg := Config{ID: "gw", Internal: pf("10.0.0.0/8"), SummaryInterval: time.Minute, Streams: []Stream{
		{Name: "icmp", Protocols: []uint8{ProtoICMP}},
		{Name: "office", Src: pf(office + "/32")},
		{Name: "web-3", Dst: pf(server + "/32")},
		{Name: "stealth", Flags: []uint8{fin}},
		{Name: "syn", Flags: []uint8{syn}},
		{Name: "pass-through", Direction: DirInbound},
		{Name: "outbound", Direction: DirOutbound},
		{Name: "http", Apps: []string{"http"}},
	}}
	r := newRig(t, cfg)
	r.feed(time.Millisecond,
		icmpEcho(t, client, server, 8),
		tcpPkt(t, office, 41000, server, 80, "S", ""), tcpPkt(t, server, 80, office, 41000, "SA", ""),
		tcpPkt(t, office, 41000, server, 80, "PA", "GET / HTTP/1.0\r\n\r\n"), tcpPkt(t, server, 80, office, 41000, "PA", "HTTP/1.0 200 OK\r\n\r\n"),
		tcpPkt(t, client, 41001, "10.0.0.9", 7, "F", ""),
		tcpPkt(t, server, 41002, "203.0.113.1", 443, "S", ""),
	)
	r.s.Flush()
	got := map[string]string{}
	for _, ev := range r.records {
		if ev.Type == TypeSummary {
			continue
		}
		k := ev.Type + " " + ev.Str("dst") + ":" + ev.Str("dport")
		got[k] = ev.Str("streams") + " / " + ev.Str("direction")
	}
	want := map[string]string{
		"NET.ICMP " + server + ":":   "icmp,web-3,pass-through / inbound",
		"NET.CONN " + server + ":80": "office,web-3,syn,pass-through / inbound",
		"NET.HTTP " + server + ":80": "office,web-3,syn,pass-through,http / inbound",
		// A flow's end carries its transport-level streams.
		"NET.FLOW " + server + ":80": "office,web-3,syn,pass-through / inbound",
		"NET.PROBE 10.0.0.9:7":       "stealth,pass-through / inbound",
		"NET.CONN 203.0.113.1:443":   "syn,outbound / outbound",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("streams\n got %v\nwant %v", got, want)
	}
	sums := map[string]int64{}
	for _, ev := range r.of(TypeSummary) {
		if ev.Str("kind") == "stream" {
			sums[ev.Str("subject")], _ = ev.Int("packets")
		}
	}
	wantSums := map[string]int64{"icmp": 1, "office": 4, "web-3": 5, "stealth": 1, "syn": 5, "pass-through": 6, "outbound": 1}
	if fmt.Sprint(sums) != fmt.Sprint(wantSums) {
		t.Errorf("stream summaries: packets %v, want %v", sums, wantSums)
	}
}

// TestSummaries checks an interval's measures against what was sent.
func TestSummaries(t *testing.T) {
	r := newRig(t, Config{ID: "gw", SummaryInterval: 10 * time.Second})
	for i := range 30 { // a scan of 30 ports, 3 of them open
		port := uint16(1000 + i)
		r.feed(10*time.Millisecond, tcpPkt(t, client, 50000, server, port, "S", ""))
		if i%10 == 0 {
			r.feed(time.Millisecond, tcpPkt(t, server, port, client, 50000, "SA", ""))
		} else {
			r.feed(time.Millisecond, tcpPkt(t, server, port, client, 50000, "RA", ""))
		}
	}
	r.feed(time.Millisecond, icmpEcho(t, "198.51.100.7", server, 8))
	r.s.Advance(t0.Add(20 * time.Second))
	var dst, src, gw map[string]any
	for _, ev := range r.of(TypeSummary) {
		switch ev.Str("kind") {
		case "dst":
			if ev.IP == server {
				dst = ev.Attrs
			}
		case "src":
			if ev.IP == client {
				src = ev.Attrs
			}
		case "gateway":
			gw = ev.Attrs
		}
	}
	if dst == nil || src == nil || gw == nil {
		t.Fatalf("summaries %v", r.of(TypeSummary))
	}
	for name, want := range map[string]int64{"conn_attempts": 30, "established": 3, "refused": 27, "distinct_ports": 30, "distinct_peers": 2, "packets": 61, "syn": 30, "rst": 27, "icmp": 1, "echo_requests": 1} {
		if got, _ := dst[name].(int64); got != want {
			t.Errorf("dst %s = %v, want %d", name, dst[name], want)
		}
	}
	if src["distinct_ports"] != int64(30) || src["distinct_peers"] != int64(1) || gw["packets"] != int64(61) {
		t.Errorf("src %v gateway %v", src, gw)
	}
}

// TestRecordBudget caps a destination's activity records per interval.
func TestRecordBudget(t *testing.T) {
	r := newRig(t, Config{ID: "gw", RecordBudget: 10})
	for i := range 50 {
		r.feed(time.Millisecond, tcpPkt(t, client, uint16(30000+i), server, 80, "S", ""), tcpPkt(t, server, 80, client, uint16(30000+i), "RA", ""))
	}
	r.s.Flush()
	if n := len(r.of(TypeConn)); n != 10 {
		t.Errorf("%d records past a budget of 10", n)
	}
	if r.s.Stats().Suppressed != 40 {
		t.Errorf("suppressed %d", r.s.Stats().Suppressed)
	}
	for _, ev := range r.of(TypeSummary) {
		if ev.Str("kind") == "dst" && ev.IP == server && ev.Str("records_suppressed") != "40" {
			t.Errorf("summary does not count the suppressed: %s", ev.AppendJSON(nil))
		}
	}
}

// TestFloodBound sends a million SYNs from distinct spoofed sources: the
// flow table stays within its bound, the evictions are counted, and the
// summaries fold the single-packet sources.
func TestFloodBound(t *testing.T) {
	if testing.Short() {
		t.Skip("a million packets")
	}
	records := 0
	s := New(Config{ID: "gw", MaxFlows: 10000}, nil, func(event.Event) { records++ }, nil)
	dst := netip.MustParseAddr(server)
	rng := rand.New(rand.NewPCG(1, 2))
	p := Packet{Proto: ProtoTCP, Dst: dst, DstPort: 80, Flags: FlagSYN, Length: 60}
	maxFlows := 0
	for i := range 1_000_000 {
		p.Time = t0.Add(time.Duration(i) * time.Microsecond)
		p.Src = netip.AddrFrom4([4]byte{byte(rng.IntN(223) + 1), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		p.SrcPort = uint16(rng.Uint32())
		s.Process(&p)
		if i%1000 == 0 {
			maxFlows = max(maxFlows, s.Stats().Flows)
		}
	}
	st := s.Stats()
	if maxFlows > 10000 || st.Flows > 10000 {
		t.Fatalf("flow table grew to %d past its bound of 10000", maxFlows)
	}
	if st.FlowsEvicted < 900_000 {
		t.Errorf("evicted %d", st.FlowsEvicted)
	}
	if st.Packets != 1_000_000 {
		t.Errorf("packets %d", st.Packets)
	}
	t.Logf("%d flows at most, %d evicted, %d records (%d suppressed)", maxFlows, st.FlowsEvicted, records, st.Suppressed)
}

// TestFlowIndex checks the open-addressed index against a map under random
// inserts and deletes.
func TestFlowIndex(t *testing.T) {
	tab := newFlowTable(1<<20, time.Second, time.Second, time.Second)
	ref := map[flowKey]*flow{}
	rng := rand.New(rand.NewPCG(3, 4))
	keys := make([]flowKey, 0, 5000)
	for i := range 5000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		keys = append(keys, makeKey(ProtoTCP, a, uint16(i), netip.MustParseAddr(server), 80))
	}
	for range 200_000 {
		k := keys[rng.IntN(len(keys))]
		if f := ref[k]; f != nil && rng.IntN(2) == 0 {
			tab.delete(f)
			delete(ref, k)
			continue
		}
		if ref[k] == nil {
			f := tab.add(k, func(*flow) {})
			f.state = stOpen
			f.proto = ProtoTCP
			tab.place(f)
			ref[k] = f
		}
		for j := 0; j < 3; j++ {
			kk := keys[rng.IntN(len(keys))]
			if got := tab.get(kk); got != ref[kk] {
				t.Fatalf("index and map disagree on %v", kk)
			}
		}
	}
	if tab.len() != len(ref) {
		t.Fatalf("index holds %d, map %d", tab.len(), len(ref))
	}
}

func TestFlagString(t *testing.T) {
	for f, want := range map[uint8]string{0: "none", FlagSYN: "S", FlagSYN | FlagACK: "SA", FlagFIN | FlagPSH | FlagURG: "FPU", FlagRST | FlagACK: "RA"} {
		if got := FlagString(f); got != want {
			t.Errorf("FlagString(%#x) = %q, want %q", f, got, want)
		}
	}
	if isProbe(FlagSYN) || !isProbe(FlagFIN) || !isProbe(0) || isProbe(FlagACK|FlagPSH) || !isProbe(FlagSYN|FlagFIN) || isProbe(FlagSYN|FlagECE|FlagCWR) {
		t.Error("isProbe")
	}
}

// TestFragments counts later IPv4 fragments towards their hosts' volume
// without taking them for transport traffic.
func TestFragments(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	ip := ip4(client, server, layers.IPProtocolUDP)
	ip.FragOffset, ip.Id = 185, 7
	frag := frame(t, eth(), ip, gopacket.Payload(make([]byte, 64)))
	r.feed(time.Millisecond, frag, frag)
	r.s.Flush()
	if n := len(r.records) - len(r.of(TypeSummary)); n != 0 {
		t.Errorf("%d activity records from fragments", n)
	}
	found := false
	for _, ev := range r.of(TypeSummary) {
		if ev.Str("kind") == "dst" && ev.IP == server {
			found = true
			if ev.Str("fragments") != "2" || ev.Str("packets") != "2" || ev.Str("udp") != "" {
				t.Errorf("summary %s", ev.AppendJSON(nil))
			}
		}
	}
	if !found {
		t.Error("no summary of the fragments' destination")
	}
}

// TestIPRecords reports source-routed packets and tunnels once per
// interval, and tells whether an ICMP error answers a known flow.
func TestIPRecords(t *testing.T) {
	r := newRig(t, Config{ID: "gw", SummaryInterval: time.Minute})
	lsrr := ip4(client, server, layers.IPProtocolUDP)
	lsrr.Options = []layers.IPv4Option{{OptionType: 131, OptionLength: 7, OptionData: []byte{4, 10, 0, 0, 1}}, {OptionType: 0, OptionLength: 1}}
	routed := frame(t, eth(), lsrr, &layers.UDP{SrcPort: 5000, DstPort: 53}, gopacket.Payload("x"))
	gre := frame(t, eth(), ip4(client, server, layers.IPProtocolGRE), gopacket.Payload(make([]byte, 24)))
	// IP in IP: the record names the tunnel's endpoints, not the inner
	// packet's addresses.
	ipip := frame(t, eth(), ip4("203.0.113.7", server, layers.IPProtocolIPv4), ip4("172.16.99.2", "172.16.99.1", layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40000, DstPort: 22, SYN: true, Window: 1024})
	r.feed(time.Millisecond, routed, routed, gre, gre, ipip)
	// An unreachable about a flow nobody here started, and one about ours.
	mine := udpPkt(t, client, 5001, server, 161, []byte("q"))
	stray := udpPkt(t, server, 7777, "198.51.100.9", 53, []byte("q"))
	r.feed(time.Millisecond, mine, icmpUnreach(t, server, client, 3, mine), icmpUnreach(t, "198.51.100.9", server, 3, stray))
	ips := r.of(TypeIP)
	if len(ips) != 3 {
		t.Fatalf("NET.IP records %v, want one for the routed packets, one for GRE, one for IP in IP", ips)
	}
	if ips[0].Str("ip_options") != "lsrr" || ips[0].Str("proto") != "udp" || ips[1].Str("proto") != "gre" || ips[1].Str("ip_proto") != "47" {
		t.Errorf("records %s %s", ips[0].AppendJSON(nil), ips[1].AppendJSON(nil))
	}
	if ips[2].Str("proto") != "ipip" || ips[2].Str("src") != "203.0.113.7" || ips[2].Str("dst") != server {
		t.Errorf("IP in IP record %s", ips[2].AppendJSON(nil))
	}
	for _, c := range r.of(TypeConn) {
		if c.Str("dst") == "172.16.99.1" {
			t.Errorf("the tunnelled packet was analysed as the gateway's own traffic: %s", c.AppendJSON(nil))
		}
	}
	icmps := r.of(TypeICMP)
	if len(icmps) != 2 || icmps[0].Attrs["quoted_flow_known"] != true || icmps[1].Attrs["quoted_flow_known"] != false {
		t.Errorf("icmp records %v", icmps)
	}
}

// TestTypesKnown keeps the event package's list of Vigil's own types in
// step with the records this sensor makes.
func TestTypesKnown(t *testing.T) {
	for _, typ := range []string{TypeConn, TypeProbe, TypeICMP, TypeHTTP, TypeFTP, TypeSMTP, TypeDNS, TypeBanner, TypeSummary, TypeIP} {
		if !event.KnownType(typ) {
			t.Errorf("%s is not in event.KnownType", typ)
		}
	}
}

// TestFlowEnd checks the flow-end record: an answered TCP flow closed by
// FIN is recorded with the payload bytes and packets each way and how it
// ended; a UDP exchange still open at the capture's end says so; a refused
// attempt carries nothing to record.
func TestFlowEnd(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	req, resp := "GET /big HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\n"+strings.Repeat("x", 1000)
	r.feed(time.Millisecond,
		tcpPkt(t, "198.51.100.7", 41000, "10.0.0.3", 80, "S", ""), tcpPkt(t, "10.0.0.3", 80, "198.51.100.7", 41000, "SA", ""),
		tcpPkt(t, "198.51.100.7", 41000, "10.0.0.3", 80, "A", ""),
		tcpPkt(t, "198.51.100.7", 41000, "10.0.0.3", 80, "PA", req), tcpPkt(t, "10.0.0.3", 80, "198.51.100.7", 41000, "PA", resp),
		tcpPkt(t, "10.0.0.3", 80, "198.51.100.7", 41000, "FA", ""), tcpPkt(t, "198.51.100.7", 41000, "10.0.0.3", 80, "FA", ""),
		udpPkt(t, "198.51.100.7", 40001, "10.0.0.2", 53, []byte("0123456789")), udpPkt(t, "10.0.0.2", 53, "198.51.100.7", 40001, []byte("01234567890123456789")),
		tcpPkt(t, "198.51.100.7", 41001, "10.0.0.3", 81, "S", ""), tcpPkt(t, "10.0.0.3", 81, "198.51.100.7", 41001, "RA", ""),
	)
	r.s.Flush()
	flows := map[string]event.Event{}
	for _, ev := range r.of(TypeFlow) {
		flows[ev.Str("proto")+":"+ev.Str("dport")] = ev
	}
	if len(flows) != 2 {
		t.Fatalf("flow records %v, want the TCP and the UDP flow", flows)
	}
	cases := []struct {
		key                            string
		toServer, toClient, pktS, pktC int64
		end                            string
	}{
		{"tcp:80", int64(len(req)), int64(len(resp)), 4, 3, "closed"},
		{"udp:53", 10, 20, 1, 1, "open"},
	}
	for _, c := range cases {
		ev := flows[c.key]
		got := []any{ev.Attrs["bytes_to_server"], ev.Attrs["bytes_to_client"], ev.Attrs["packets_to_server"], ev.Attrs["packets_to_client"], ev.Str("end")}
		want := []any{c.toServer, c.toClient, c.pktS, c.pktC, c.end}
		if fmt.Sprint(got) != fmt.Sprint(want) || ev.Attrs["bytes"] != c.toServer+c.toClient {
			t.Errorf("%s: %v (bytes %v), want %v", c.key, got, ev.Attrs["bytes"], want)
		}
	}
}
