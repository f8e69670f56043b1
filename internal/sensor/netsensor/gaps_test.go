package netsensor

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/event"
)

// ACK and window scans: a bare ACK met by a reset is a probe from the
// ACK's sender, whichever side has the lower port; an ACK that starts a
// real exchange stays a flow.
func TestACKProbe(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	// nmap -sA from a high port to 80, and from port 53 to 8080 (its
	// source port lower than the target's: the flow is first filed the
	// wrong way round).
	r.feed(time.Millisecond,
		tcpPkt(t, "203.0.113.5", 41000, "10.0.0.3", 80, "A", ""),
		tcpPkt(t, "10.0.0.3", 80, "203.0.113.5", 41000, "R", ""),
		tcpPkt(t, "203.0.113.5", 53, "10.0.0.3", 8080, "A", ""),
		tcpPkt(t, "203.0.113.5", 53, "10.0.0.3", 8080, "A", ""), // a retry
		tcpPkt(t, "10.0.0.3", 8080, "203.0.113.5", 53, "R", ""))
	// A connection older than the sensor: ACK, then data, then a reset.
	r.feed(time.Millisecond,
		tcpPkt(t, "198.51.100.9", 50000, "10.0.0.3", 22, "A", ""),
		tcpPkt(t, "10.0.0.3", 22, "198.51.100.9", 50000, "PA", "SSH-2.0-x\r\n"),
		tcpPkt(t, "198.51.100.9", 50000, "10.0.0.3", 22, "R", ""))
	// An ACK with data answered by a reset: not a probe either.
	r.feed(time.Millisecond,
		tcpPkt(t, "198.51.100.9", 50001, "10.0.0.3", 25, "PA", "QUIT\r\n"),
		tcpPkt(t, "10.0.0.3", 25, "198.51.100.9", 50001, "R", ""))
	// An ACK nobody answers: a mid-stream flow, as before.
	r.feed(time.Millisecond, tcpPkt(t, "203.0.113.5", 41000, "10.0.0.3", 135, "A", ""))
	// One side of a connection whose other side takes another path: bare
	// ACKs, again and again, then a reset; no probe.
	for range 6 {
		r.feed(time.Millisecond, tcpPkt(t, "198.51.100.9", 50002, "10.0.0.3", 443, "A", ""))
	}
	r.feed(time.Millisecond, tcpPkt(t, "10.0.0.3", 443, "198.51.100.9", 50002, "R", ""))
	// An ACK a firewall rejects with an ICMP unreachable.
	ack := tcpPkt(t, "203.0.113.5", 41000, "10.0.0.3", 445, "A", "")
	r.feed(time.Millisecond, ack, icmpUnreach(t, "10.0.0.1", "203.0.113.5", 13, ack))
	r.s.Flush()

	probes := r.of(TypeProbe)
	got := map[string]event.Event{}
	for _, p := range probes {
		got[p.Str("dport")] = p
	}
	if len(probes) != 3 {
		t.Fatalf("%d probes, want 3 (80, 8080, 445): %v", len(probes), probes)
	}
	for port, answer := range map[string]string{"80": "rst", "8080": "rst", "445": "icmp-unreachable"} {
		p, ok := got[port]
		if !ok {
			t.Errorf("no probe to port %s", port)
			continue
		}
		if p.Str("src") != "203.0.113.5" || p.Str("dst") != "10.0.0.3" || p.IP != "10.0.0.3" || p.Str("flags") != "A" || p.Str("answer") != answer {
			t.Errorf("probe %s: want A from 203.0.113.5 to 10.0.0.3 answered %s", p.AppendJSON(nil), answer)
		}
	}
	p8080, p80 := got["8080"], got["80"]
	if n, _ := p8080.Int("tries"); n != 2 {
		t.Errorf("probe to 8080: %d tries, want 2", n)
	}
	if w, ok := p80.Int("window"); !ok || w != 1024 {
		t.Errorf("probe to 80: the reset's window %d (%v), want 1024", w, ok)
	}
	flows := map[string]bool{}
	for _, f := range r.of(TypeFlow) {
		flows[f.Str("dport")] = true
	}
	for _, port := range []string{"22", "25", "135", "443"} {
		if !flows[port] {
			t.Errorf("no flow record for port %s: %v", port, r.of(TypeFlow))
		}
	}
	for _, port := range []string{"80", "8080", "445", "53"} {
		if flows[port] {
			t.Errorf("a flow record for the probe to %s", port)
		}
	}
}

// FTP PORT and EPRT name the data connection's address; the transfer
// commands that use it carry it too; logins say how they went.
func TestFTPDataTargetAndLogins(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	c, s := "203.0.113.7", "10.0.0.4"
	open := func(cp uint16) {
		r.feed(time.Millisecond, tcpPkt(t, c, cp, s, 21, "S", ""), tcpPkt(t, s, 21, c, cp, "SA", ""), tcpPkt(t, c, cp, s, 21, "A", ""))
	}
	cmd := func(cp uint16, line, reply string) {
		r.feed(time.Millisecond, tcpPkt(t, c, cp, s, 21, "PA", line+"\r\n"), tcpPkt(t, s, 21, c, cp, "PA", reply+"\r\n"))
	}
	open(40000)
	cmd(40000, "USER admin", "331 Please specify the password.")
	cmd(40000, "PASS letmein", "530 Login incorrect.")
	cmd(40000, "USER admin", "331 Please specify the password.")
	cmd(40000, "PASS s3cret", "230 Login successful.")
	cmd(40000, "PORT 10,0,0,3,0,22", "200 PORT command successful.")
	cmd(40000, "LIST", "425 Failed to establish connection.")
	cmd(40000, "EPRT |2|2001:db8::5|6000|", "200 EPRT command successful.")
	cmd(40000, "RETR x", "150 Opening.")
	cmd(40000, "PORT 10,0,0,3,1,0", "500 Illegal PORT command.")
	cmd(40000, "NLST", "425 Use PORT or PASV first.")
	cmd(40000, "PORT 1,2,3", "501 Syntax error.")
	r.s.Flush()
	type rec struct{ cmd, login, target string }
	var got []rec
	for _, ev := range r.of(TypeFTP) {
		got = append(got, rec{ev.Str("command"), ev.Str("login"), ev.Str("data_target")})
		if ev.Str("command") == "PASS" && strings.Contains(ev.Str("argument"), "s3cret") {
			t.Errorf("a password in a record: %s", ev.AppendJSON(nil))
		}
	}
	want := []rec{{"USER", "", ""}, {"PASS", "failed", ""}, {"USER", "", ""}, {"PASS", "succeeded", ""},
		{"PORT", "", "10.0.0.3:22"}, {"LIST", "", "10.0.0.3:22"}, {"EPRT", "", "[2001:db8::5]:6000"}, {"RETR", "", "[2001:db8::5]:6000"},
		{"PORT", "", "10.0.0.3:256"}, {"NLST", "", ""}, {"PORT", "", ""}}
	if len(got) != len(want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %v, want %v", i, got[i], want[i])
		}
	}
	for _, ev := range r.of(TypeFTP) {
		if ev.Str("command") == "PORT" && ev.Str("data_addr") == "10.0.0.3" {
			if n, _ := ev.Int("data_port"); n != 22 && n != 256 {
				t.Errorf("data_port %d in %s", n, ev.AppendJSON(nil))
			}
		}
	}
}

// SMTP AUTH: the user is recorded, credentials never; the lines that
// carry them are not commands.
func TestSMTPAuth(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	c, s := "198.51.100.30", "10.0.0.5"
	b64 := func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
	conv := func(cp uint16, lines ...string) {
		r.feed(time.Millisecond, tcpPkt(t, c, cp, s, 25, "S", ""), tcpPkt(t, s, 25, c, cp, "SA", ""), tcpPkt(t, c, cp, s, 25, "A", ""))
		for i := 0; i+1 < len(lines); i += 2 {
			r.feed(time.Millisecond, tcpPkt(t, c, cp, s, 25, "PA", lines[i]+"\r\n"), tcpPkt(t, s, 25, c, cp, "PA", lines[i+1]+"\r\n"))
		}
	}
	conv(41000, "EHLO x", "250 ok", "AUTH LOGIN", "334 VXNlcm5hbWU6", b64("admin"), "334 UGFzc3dvcmQ6", b64("HELO"), "535 5.7.8 failed", "QUIT", "221 bye")
	conv(41001, "AUTH PLAIN "+b64("\x00bob\x00hunter2"), "235 2.7.0 ok")
	conv(41002, "AUTH PLAIN", "334 ", b64("\x00carol\x00pw"), "535 5.7.8 failed")
	conv(41003, "AUTH CRAM-MD5", "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", b64("dave b913a602c7eda7a495b4e6e7334d3890"), "235 ok")
	r.s.Flush()
	type rec struct{ cmd, arg, user, login string }
	var got []rec
	for _, ev := range r.of(TypeSMTP) {
		got = append(got, rec{ev.Str("command"), ev.Str("argument"), ev.Str("user"), ev.Str("login")})
		if b := ev.AppendJSON(nil); strings.Contains(string(b), b64("\x00bob\x00hunter2")) || strings.Contains(string(b), "hunter2") {
			t.Errorf("credentials in a record: %s", b)
		}
	}
	want := []rec{{"EHLO", "x", "", ""}, {"AUTH", "LOGIN", "admin", "failed"}, {"QUIT", "", "", ""},
		{"AUTH", "PLAIN", "bob", "succeeded"}, {"AUTH", "PLAIN", "carol", "failed"}, {"AUTH", "CRAM-MD5", "dave", "succeeded"}}
	if len(got) != len(want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// NET.IP records say how much the packet carries: a protocol scan's
// probes carry nothing, a tunnel's packets carry packets.
func TestIPPayloadBytes(t *testing.T) {
	r := newRig(t, Config{ID: "gw"})
	inner := tcpPkt(t, "172.16.0.1", 4000, "172.16.0.2", 22, "S", "")[14:]
	r.feed(time.Millisecond,
		frame(t, eth(), ip4("203.0.113.9", "10.0.0.3", layers.IPProtocolIPv4)),
		frame(t, eth(), ip4("203.0.113.9", "10.0.0.3", layers.IPProtocolGRE)),
		frame(t, eth(), ip4("10.0.0.42", "198.51.100.77", layers.IPProtocolIPv4), gopacket.Payload(inner)))
	got := map[string]int64{}
	for _, ev := range r.of(TypeIP) {
		n, ok := ev.Int("payload_bytes")
		if !ok {
			t.Errorf("no payload_bytes: %s", ev.AppendJSON(nil))
		}
		got[ev.Str("src")+"/"+ev.Str("proto")] = n
	}
	want := map[string]int64{"203.0.113.9/ipip": 0, "203.0.113.9/gre": 0, "10.0.0.42/ipip": int64(len(inner))}
	for k, v := range want {
		if n, ok := got[k]; !ok || n != v {
			t.Errorf("%s: payload_bytes %d (%v), want %d; all %v", k, n, ok, v, got)
		}
	}
}

func TestParseDataTarget(t *testing.T) {
	for _, tc := range []struct {
		eprt bool
		arg  string
		want string // "" for an error
	}{
		{false, "10,0,0,3,0,22", "10.0.0.3:22"},
		{false, " 192,168,1,2,195,80 ", "192.168.1.2:50000"},
		{false, "10,0,0,3,0", ""},
		{false, "10,0,0,3,0,256", ""},
		{false, "10,0,0,x,0,1", ""},
		{false, "", ""},
		{true, "|1|132.235.1.2|6275|", "132.235.1.2:6275"},
		{true, "|2|1080::8:800:200C:417A|5282|", "[1080::8:800:200c:417a]:5282"},
		{true, "!1!10.0.0.3!21!", "10.0.0.3:21"},
		{true, "|2|::ffff:10.0.0.3|21|", "10.0.0.3:21"},
		{true, "|1|1080::1|21|", ""},
		{true, "|3|10.0.0.3|21|", ""},
		{true, "|1|10.0.0.3|70000|", ""},
		{true, "|1|10.0.0.3|21", ""},
		{true, "|", ""},
	} {
		parse := parsePORT
		if tc.eprt {
			parse = parseEPRT
		}
		addr, port, ok := parse(tc.arg)
		got := ""
		if ok {
			got = dataFields(addr, port)["data_target"].(string)
		}
		if got != tc.want {
			t.Errorf("parse(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
}

// FuzzLoginParsers feeds the FTP data-target and SASL readers anything:
// no panic, and a user name is valid, bounded text.
func FuzzLoginParsers(f *testing.F) {
	for _, s := range []string{"10,0,0,3,0,22", "|1|10.0.0.3|21|", "|2|::1|21|", "AGJvYgBwdw==", "ZGF2ZSBhYmM=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = parsePORT(s)
		_, _, _ = parseEPRT(s)
		for _, mech := range []string{"LOGIN", "PLAIN", "CRAM-MD5", "X"} {
			u := authUser(mech, []byte(s))
			if len(u) > maxField+3 {
				t.Fatalf("user of %d bytes", len(u))
			}
		}
		a := &appState{proto: appSMTP}
		smtpAuthStart(a, s)
		smtpAuthLine(a, []byte(s))
	})
}

// FuzzSensorGaps runs the whole sensor over mutations of ACK probes, FTP
// PORT/EPRT and logins and SMTP AUTH exchanges (the FuzzSensorStream
// format: a length byte, then a frame): records stay valid, flows
// bounded.
func FuzzSensorGaps(f *testing.F) {
	var seed []byte
	add := func(fr []byte) {
		if len(fr) < 256 {
			seed = append(seed, byte(len(fr)))
			seed = append(seed, fr...)
		}
	}
	c, s := "203.0.113.7", "10.0.0.4"
	add(tcpPkt(f, c, 53, s, 8080, "A", ""))
	add(tcpPkt(f, s, 8080, c, 53, "R", ""))
	ack := tcpPkt(f, c, 41000, s, 445, "A", "")
	add(ack)
	add(icmpUnreach(f, "10.0.0.1", c, 13, ack))
	add(tcpPkt(f, c, 40000, s, 21, "S", ""))
	add(tcpPkt(f, s, 21, c, 40000, "SA", ""))
	for _, l := range []string{"USER admin", "331 x", "PASS x", "530 x", "PORT 10,0,0,3,0,22", "200 x", "LIST", "425 x", "EPRT |2|::1|21|", "200 x"} {
		if l[0] >= '0' && l[0] <= '9' {
			add(tcpPkt(f, s, 21, c, 40000, "PA", l+"\r\n"))
		} else {
			add(tcpPkt(f, c, 40000, s, 21, "PA", l+"\r\n"))
		}
	}
	add(tcpPkt(f, c, 40001, s, 25, "S", ""))
	add(tcpPkt(f, s, 25, c, 40001, "SA", ""))
	for _, l := range []string{"AUTH LOGIN", "334 VXNlcm5hbWU6", "YWRtaW4=", "334 x", "cGFzcw==", "535 x", "AUTH PLAIN AGJvYgBwdw==", "235 x"} {
		if l[0] >= '0' && l[0] <= '9' {
			add(tcpPkt(f, s, 25, c, 40001, "PA", l+"\r\n"))
		} else {
			add(tcpPkt(f, c, 40001, s, 25, "PA", l+"\r\n"))
		}
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, _ := NewDecoder(layers.LinkTypeEthernet)
		const bound = 8
		sn := New(Config{ID: "gw", MaxFlows: bound, RecordBudget: 16, MaxSubjects: 8, SummaryInterval: time.Second}, event.NewSeededIDs(1), func(ev event.Event) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid record %s: %v", ev.AppendJSON(nil), err)
			}
		}, nil)
		now := t0
		var p Packet
		for len(data) > 0 {
			n := min(int(data[0]), len(data)-1)
			fr := data[1 : 1+n]
			data = data[1+n:]
			now = now.Add(100 * time.Millisecond)
			if dec.Decode(fr, now, len(fr), &p) == nil {
				sn.Process(&p)
			}
			if fl := sn.Stats().Flows; fl > bound {
				t.Fatalf("%d flows in a table bounded at %d", fl, bound)
			}
		}
		sn.Flush()
	})
}
