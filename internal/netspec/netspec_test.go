package netspec

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseService(t *testing.T) {
	for _, tc := range []struct {
		in, net string
		port    uint16
		proto   uint8
		err     string
	}{
		{in: "10.0.0.3:8000/tcp", net: "10.0.0.3/32", port: 8000, proto: 6},
		{in: "10.0.0.3:53/udp", net: "10.0.0.3/32", port: 53, proto: 17},
		{in: "10.0.0.0/24:80/tcp", net: "10.0.0.0/24", port: 80, proto: 6},
		{in: "10.0.0.9/24:80", net: "10.0.0.0/24", port: 80, proto: 6},
		{in: "*:53/udp", port: 53, proto: 17},
		{in: ":22", port: 22, proto: 6},
		{in: "[2001:db8::3]:443/tcp", net: "2001:db8::3/128", port: 443, proto: 6},
		{in: "::ffff:10.0.0.3:80/tcp", net: "10.0.0.3/32", port: 80, proto: 6},
		{in: "10.0.0.3:0/tcp", err: "bad port"},
		{in: "10.0.0.3:65536/tcp", err: "bad port"},
		{in: "10.0.0.3/tcp", err: "want ADDR:PORT"},
		{in: "10.0.0.300:80/tcp", err: "bad address"},
		{in: "10.0.0.3:80/sctp", err: "unknown protocol"},
	} {
		s, err := ParseService(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("%q: error %v, want one with %q naming the service", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		net := ""
		if s.Net.IsValid() {
			net = s.Net.String()
		}
		if net != tc.net || s.Port != tc.port || s.Proto != tc.proto {
			t.Errorf("%q: %+v", tc.in, s)
		}
	}
}

func TestServiceMatches(t *testing.T) {
	web, _ := ParseService("10.0.0.0/24:80/tcp")
	dns, _ := ParseService("*:53/udp")
	a := netip.MustParseAddr
	for _, tc := range []struct {
		s     Service
		addr  string
		port  uint16
		proto uint8
		want  bool
	}{
		{web, "10.0.0.7", 80, 6, true},
		{web, "10.0.1.7", 80, 6, false},
		{web, "10.0.0.7", 81, 6, false},
		{web, "10.0.0.7", 80, 17, false},
		{dns, "192.0.2.1", 53, 17, true},
		{dns, "2001:db8::1", 53, 17, true},
	} {
		if got := tc.s.Matches(a(tc.addr), tc.port, tc.proto); got != tc.want {
			t.Errorf("%+v matches %s:%d/%d = %v", tc.s, tc.addr, tc.port, tc.proto, got)
		}
	}
}

func TestParseFlagsAndProto(t *testing.T) {
	for in, want := range map[string]uint8{"SYN": 0x02, "syn+ack": 0x12, "FIN+PSH+URG": 0x29, "NONE": 0, "none": 0, "FIN + SYN": 0x03} {
		if got, err := ParseFlags(in); err != nil || got != want {
			t.Errorf("ParseFlags(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SYN+", "XMAS", "SYN,ACK"} {
		if _, err := ParseFlags(bad); err == nil {
			t.Errorf("ParseFlags(%q) accepted", bad)
		}
	}
	for in, want := range map[string]uint8{"tcp": 6, "UDP": 17, "icmp": 1, "icmpv6": 58, "47": 47} {
		if got, err := ParseProto(in); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"256", "-1", "gre", ""} {
		if _, err := ParseProto(bad); err == nil {
			t.Errorf("ParseProto(%q) accepted", bad)
		}
	}
	if p, err := ParsePrefix("10.1.2.3/8"); err != nil || p.String() != "10.0.0.0/8" {
		t.Errorf("ParsePrefix masks: %v %v", p, err)
	}
}

// FuzzParseService: any string is a service or an error naming it.
func FuzzParseService(f *testing.F) {
	for _, s := range []string{"10.0.0.3:8000/tcp", "*:53/udp", "[2001:db8::3]:443/tcp", "10.0.0.0/24:80/tcp", "::1/128:1/6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		svc, err := ParseService(s)
		if err != nil {
			if !strings.Contains(err.Error(), "service ") {
				t.Fatalf("%q: error %v does not name the service", s, err)
			}
			return
		}
		if svc.Port == 0 {
			t.Fatalf("%q: port 0 accepted", s)
		}
	})
}
