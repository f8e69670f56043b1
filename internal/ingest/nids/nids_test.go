package nids

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

var clock = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func parser(t testing.TB, o Options) *Parser {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return clock }
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	p, err := NewParser(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// want is an expected event: everything but the id.
type want struct {
	time   time.Time
	host   string
	ip     string
	source string
	attrs  map[string]any
}

func check(t *testing.T, ev event.Event, w want) {
	t.Helper()
	if err := ev.Normalize(event.NewSeededIDs(1), clock, "x"); err != nil {
		t.Fatalf("the event does not validate: %v", err)
	}
	if ev.Type != event.TypeNIDSAlert || !ev.Time.Equal(w.time) || ev.Host != w.host || ev.IP != w.ip || ev.Source != w.source {
		t.Errorf("got %s\nwant time %s host %q ip %s source %s", ev.AppendJSON(nil), w.time.Format(time.RFC3339Nano), w.host, w.ip, w.source)
	}
	if !reflect.DeepEqual(ev.Attrs, w.attrs) {
		t.Errorf("attrs\n got %#v\nwant %#v", ev.Attrs, w.attrs)
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseEVE(t *testing.T) {
	tests := []struct {
		name, line string
		want       want
	}{
		{
			name: "Suricata 7 alert with sensor host, interface, community id",
			line: `{"timestamp":"2026-11-22T11:00:00.123456+0100","flow_id":1234567890123456,"in_iface":"eth1","event_type":"alert","src_ip":"203.0.113.5","src_port":40000,"dest_ip":"10.0.0.3","dest_port":80,"proto":"TCP","community_id":"1:Qk4o=","alert":{"action":"allowed","gid":1,"signature_id":2024217,"rev":3,"signature":"ET WEB_SERVER SQL Injection","category":"Web Application Attack","severity":1,"metadata":{"x":["y"]}},"app_proto":"http","http":{"url":"/"},"host":"sensor-1"}`,
			want: want{time: at("2026-11-22T10:00:00.123456Z"), host: "sensor-1", ip: "10.0.0.3", source: "suricata", attrs: map[string]any{
				"src": "203.0.113.5", "dst": "10.0.0.3", "sport": int64(40000), "dport": int64(80), "proto": "tcp",
				"gid": int64(1), "sid": int64(2024217), "rev": int64(3), "msg": "ET WEB_SERVER SQL Injection",
				"classification": "Web Application Attack", "priority": int64(1), "action": "allowed",
				"flow_id": int64(1234567890123456), "in_iface": "eth1", "community_id": "1:Qk4o=", "app_proto": "http",
			}},
		},
		{
			name: "IPv6 ICMP without ports, blocked, uncanonical address",
			line: `{"timestamp":"2026-11-22T10:00:01.000001Z","flow_id":18446744073709551615,"event_type":"alert","src_ip":"2001:0db8:0000:0000:0000:0000:0000:0005","dest_ip":"2001:db8:1::3","proto":"IPv6-ICMP","icmp_type":128,"icmp_code":0,"alert":{"action":"blocked","gid":1,"signature_id":2100366,"rev":8,"signature":"GPL ICMP_INFO PING *NIX","category":"Misc activity","severity":3}}`,
			want: want{time: at("2026-11-22T10:00:01.000001Z"), ip: "2001:db8:1::3", source: "suricata", attrs: map[string]any{
				"src": "2001:db8::5", "dst": "2001:db8:1::3", "proto": "icmpv6", "icmp_type": int64(128), "icmp_code": int64(0),
				"gid": int64(1), "sid": int64(2100366), "rev": int64(8), "msg": "GPL ICMP_INFO PING *NIX",
				"classification": "Misc activity", "priority": int64(3), "action": "blocked",
				"flow_id": "18446744073709551615", // beyond int64: kept as text
			}},
		},
		{
			name: "old EVE: no offset, no action, empty category, IPv4-mapped",
			line: `{"timestamp":"2026-11-22T11:00:02.5","event_type":"alert","src_ip":"::ffff:198.51.100.7","src_port":53,"dest_ip":"10.0.0.3","dest_port":161,"proto":"UDP","alert":{"signature_id":2,"signature":"test","category":"","severity":3}}`,
			want: want{time: at("2026-11-22T11:00:02.5Z"), ip: "10.0.0.3", source: "suricata", attrs: map[string]any{
				"src": "198.51.100.7", "dst": "10.0.0.3", "sport": int64(53), "dport": int64(161), "proto": "udp",
				"gid": int64(1), "sid": int64(2), "msg": "test", "priority": int64(3),
			}},
		},
		{
			name: "numbered protocol",
			line: `{"timestamp":"2026-11-22T10:00:04Z","event_type":"alert","src_ip":"192.0.2.1","dest_ip":"10.0.0.3","proto":"047","alert":{"gid":3,"signature_id":20001,"rev":2,"signature":"GRE","severity":1}}`,
			want: want{time: at("2026-11-22T10:00:04Z"), ip: "10.0.0.3", source: "suricata", attrs: map[string]any{
				"src": "192.0.2.1", "dst": "10.0.0.3", "proto": "47", "gid": int64(3), "sid": int64(20001), "rev": int64(2), "msg": "GRE", "priority": int64(1),
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := parser(t, Options{}).ParseEVE([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			check(t, ev, tc.want)
		})
	}
}

func TestParseFast(t *testing.T) {
	tests := []struct {
		name, line string
		want       want
	}{
		{
			name: "Suricata, four-digit year",
			line: "07/13/2016-22:42:07.573103  [**] [1:2100498:7] GPL ATTACK_RESPONSE id check returned root [**] [Classification: Potentially Bad Traffic] [Priority: 2] {TCP} 82.165.177.154:80 -> 10.16.1.11:54186",
			want: want{time: at("2016-07-13T22:42:07.573103Z"), ip: "10.16.1.11", source: "snort", attrs: map[string]any{
				"src": "82.165.177.154", "dst": "10.16.1.11", "sport": int64(80), "dport": int64(54186), "proto": "tcp",
				"gid": int64(1), "sid": int64(2100498), "rev": int64(7), "msg": "GPL ATTACK_RESPONSE id check returned root",
				"classification": "Potentially Bad Traffic", "priority": int64(2),
			}},
		},
		{
			name: "Suricata drop, ICMP type and code as ports",
			line: "11/22/2026-11:00:01.000000  [Drop] [**] [1:2100366:8] GPL ICMP_INFO PING *NIX [**] [Classification: Misc activity] [Priority: 3] {ICMP} 203.0.113.5:8 -> 10.0.0.3:0",
			want: want{time: at("2026-11-22T11:00:01Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "203.0.113.5", "dst": "10.0.0.3", "icmp_type": int64(8), "icmp_code": int64(0), "proto": "icmp", "action": "drop",
				"gid": int64(1), "sid": int64(2100366), "rev": int64(8), "msg": "GPL ICMP_INFO PING *NIX",
				"classification": "Misc activity", "priority": int64(3),
			}},
		},
		{
			name: "Suricata IPv6 with ports, no brackets",
			line: "11/22/2026-11:00:02.000000  [**] [1:2001219:20] ET SCAN Potential SSH Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} 2001:db8::5:51000 -> 2001:db8:1::3:22",
			want: want{time: at("2026-11-22T11:00:02Z"), ip: "2001:db8:1::3", source: "snort", attrs: map[string]any{
				"src": "2001:db8::5", "dst": "2001:db8:1::3", "sport": int64(51000), "dport": int64(22), "proto": "tcp",
				"gid": int64(1), "sid": int64(2001219), "rev": int64(20), "msg": "ET SCAN Potential SSH Scan",
				"classification": "Attempted Information Leak", "priority": int64(2),
			}},
		},
		{
			name: "Snort 2: no year, no classification, ICMP without ports",
			line: "11/22-11:00:04.000100  [**] [1:1000001:1] local test rule [**] [Priority: 0] {ICMP} 192.0.2.1 -> 10.0.0.3",
			want: want{time: at("2026-11-22T11:00:04.0001Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "192.0.2.1", "dst": "10.0.0.3", "proto": "icmp",
				"gid": int64(1), "sid": int64(1000001), "rev": int64(1), "msg": "local test rule", "priority": int64(0),
			}},
		},
		{
			name: "Snort 2: IPv6 ICMP without ports",
			line: "11/22-11:00:05.5  [**] [1:1000002:1] ipv6 ping [**] [Classification: Misc activity] [Priority: 3] {IPV6-ICMP} 2001:db8::5 -> 2001:db8:1::3",
			want: want{time: at("2026-11-22T11:00:05.5Z"), ip: "2001:db8:1::3", source: "snort", attrs: map[string]any{
				"src": "2001:db8::5", "dst": "2001:db8:1::3", "proto": "icmpv6",
				"gid": int64(1), "sid": int64(1000002), "rev": int64(1), "msg": "ipv6 ping", "classification": "Misc activity", "priority": int64(3),
			}},
		},
		{
			name: "Snort 3: action, quoted message, AppID",
			line: `11/22-11:00:06.000007 [would_drop] [**] [1:1000003:2] "SERVER-WEBAPP command injection attempt" [**] [Classification: Web Application Attack] [Priority: 1] [AppID: HTTP] {TCP} 192.0.2.9:50284 -> 10.0.0.3:80`,
			want: want{time: at("2026-11-22T11:00:06.000007Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "192.0.2.9", "dst": "10.0.0.3", "sport": int64(50284), "dport": int64(80), "proto": "tcp", "action": "would_drop",
				"gid": int64(1), "sid": int64(1000003), "rev": int64(2), "msg": "SERVER-WEBAPP command injection attempt",
				"classification": "Web Application Attack", "priority": int64(1), "app_proto": "http",
			}},
		},
		{
			name: "Snort 3: interface before the message",
			line: `11/22-11:00:08.000000 [**] [1:1000004:1]  <eth1> "an interface rule" [**] [Priority: 2] {UDP} 192.0.2.9:5353 -> 10.0.0.3:53`,
			want: want{time: at("2026-11-22T11:00:08Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "192.0.2.9", "dst": "10.0.0.3", "sport": int64(5353), "dport": int64(53), "proto": "udp", "in_iface": "eth1",
				"gid": int64(1), "sid": int64(1000004), "rev": int64(1), "msg": "an interface rule", "priority": int64(2),
			}},
		},
		{
			name: "Snort -y: two-digit year; bracketed IPv6",
			line: "11/22/26-11:00:07.000000  [**] [129:12:1] small segments [**] [Priority: 2] {TCP} [2001:db8::5]:443 -> [2001:db8:1::3]:51000",
			want: want{time: at("2026-11-22T11:00:07Z"), ip: "2001:db8:1::3", source: "snort", attrs: map[string]any{
				"src": "2001:db8::5", "dst": "2001:db8:1::3", "sport": int64(443), "dport": int64(51000), "proto": "tcp",
				"gid": int64(129), "sid": int64(12), "rev": int64(1), "msg": "small segments", "priority": int64(2),
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := parser(t, Options{}).ParseFast([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			check(t, ev, tc.want)
		})
	}
}

func TestParseSnortJSON(t *testing.T) {
	tests := []struct {
		name, line string
		want       want
	}{
		{
			name: "the default fields",
			line: `{ "timestamp" : "11/22-11:00:00.000001", "pkt_num" : 12, "proto" : "TCP", "pkt_gen" : "raw", "pkt_len" : 60, "dir" : "C2S", "src_ap" : "203.0.113.5:40000", "dst_ap" : "10.0.0.3:23", "rule" : "1:1000010:1", "action" : "allow" }`,
			want: want{time: at("2026-11-22T11:00:00.000001Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "203.0.113.5", "dst": "10.0.0.3", "sport": int64(40000), "dport": int64(23), "proto": "tcp",
				"gid": int64(1), "sid": int64(1000010), "rev": int64(1), "action": "allow",
			}},
		},
		{
			name: "separate fields, message, class, interface, service",
			line: `{ "timestamp" : "11/22-11:00:01.500000", "proto" : "UDP", "src_addr" : "198.51.100.7", "src_port" : 53, "dst_addr" : "10.0.0.3", "dst_port" : 161, "gid" : 1, "sid" : 1000011, "rev" : 2, "msg" : "PROTOCOL-SNMP public access udp", "class" : "Attempted Information Leak", "priority" : 2, "action" : "would_drop", "iface" : "eth1", "service" : "snmp" }`,
			want: want{time: at("2026-11-22T11:00:01.5Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "198.51.100.7", "dst": "10.0.0.3", "sport": int64(53), "dport": int64(161), "proto": "udp",
				"gid": int64(1), "sid": int64(1000011), "rev": int64(2), "msg": "PROTOCOL-SNMP public access udp",
				"classification": "Attempted Information Leak", "priority": int64(2), "action": "would_drop", "in_iface": "eth1", "app_proto": "snmp",
			}},
		},
		{
			name: "ICMP: the address-port pairs carry port 0",
			line: `{ "timestamp" : "11/22-11:00:02.000000", "proto" : "ICMP4", "src_ap" : "192.0.2.1:0", "dst_ap" : "10.0.0.3:0", "rule" : "1:384:8", "msg" : "PROTOCOL-ICMP PING", "class" : "none", "priority" : 3, "icmp_type" : 8, "icmp_code" : 0 }`,
			want: want{time: at("2026-11-22T11:00:02Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "192.0.2.1", "dst": "10.0.0.3", "proto": "icmp", "icmp_type": int64(8), "icmp_code": int64(0),
				"gid": int64(1), "sid": int64(384), "rev": int64(8), "msg": "PROTOCOL-ICMP PING", "priority": int64(3),
			}},
		},
		{
			name: "IPv6 address-port pairs",
			line: `{ "timestamp" : "11/22-11:00:03.000000", "proto" : "TCP", "src_ap" : "2001:db8::5:51000", "dst_ap" : "2001:db8:1::3:22", "rule" : "1:1000012:1", "action" : "block" }`,
			want: want{time: at("2026-11-22T11:00:03Z"), ip: "2001:db8:1::3", source: "snort", attrs: map[string]any{
				"src": "2001:db8::5", "dst": "2001:db8:1::3", "sport": int64(51000), "dport": int64(22), "proto": "tcp",
				"gid": int64(1), "sid": int64(1000012), "rev": int64(1), "action": "block",
			}},
		},
		{
			name: "seconds instead of the timestamp",
			line: `{ "seconds" : 1795345204, "proto" : "TCP", "src_addr" : "192.0.2.9", "dst_addr" : "10.0.0.3", "sid" : 5 }`,
			want: want{time: at("2026-11-22T11:00:04Z"), ip: "10.0.0.3", source: "snort", attrs: map[string]any{
				"src": "192.0.2.9", "dst": "10.0.0.3", "proto": "tcp", "gid": int64(1), "sid": int64(5),
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := parser(t, Options{}).ParseSnortJSON([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			check(t, ev, tc.want)
		})
	}
}

func TestOptions(t *testing.T) {
	line := []byte(`11/22-11:00:04.5  [**] [1:1:1] x [**] {TCP} 192.0.2.1:1 -> 10.0.0.3:2`)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	ev, err := parser(t, Options{Source: "ids-7", Location: berlin}).ParseFast(line)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source != "ids-7" || !ev.Time.Equal(at("2026-11-22T10:00:04.5Z")) {
		t.Errorf("source %q time %s", ev.Source, ev.Time)
	}
	if _, err := NewParser(Options{Source: "bad\x01"}); err == nil {
		t.Error("a source with a control character was accepted")
	}
}

func TestRejects(t *testing.T) {
	p := parser(t, Options{})
	for _, tc := range []struct {
		parse func([]byte) (event.Event, error)
		line  string
		says  string
	}{
		{p.ParseEVE, `{"event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.300","alert":{"signature_id":1}}`, "dest_ip"},
		{p.ParseEVE, `{"event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.3","src_port":"80","alert":{"signature_id":1}}`, "src_port"},
		{p.ParseEVE, `{"event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.3","src_port":70000,"alert":{"signature_id":1}}`, "src_port"},
		{p.ParseEVE, `{"event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.3","alert":{"gid":1}}`, "signature_id"},
		{p.ParseEVE, `{"event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.3"}`, "alert object"},
		{p.ParseEVE, `{"event_type":"alert","dest_ip":"10.0.0.3","alert":{"signature_id":1}}`, "src_ip"},
		{p.ParseEVE, `{"event_type":"alert","timestamp":"noon","src_ip":"1.2.3.4","dest_ip":"10.0.0.3","alert":{"signature_id":1}}`, "timestamp"},
		{p.ParseEVE, `{"event_type":"alert","host":"a\u0001b","src_ip":"1.2.3.4","dest_ip":"10.0.0.3","alert":{"signature_id":1}}`, "host"},
		{p.ParseEVE, `{"event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.3","alert":{"signature_id":-1}}`, "negative"},
		{p.ParseEVE, `{"event_type":"alert",`, "malformed JSON"},
		{p.ParseEVE, `[1,2]`, "want an object"},
		{p.ParseEVE, `{"src_ip":"1.2.3.4"}`, "event_type"},
		{p.ParseFast, `11/22/2026-11:00:10.000000  [**] [1:5:1] x [**] [Priority: 1] {TCP} 192.0.2.1:1 10.0.0.3:2`, "SRC -> DST"},
		{p.ParseFast, `13/45/2026-11:00:11.000000  [**] [1:6:1] x [**] {TCP} 192.0.2.1:1 -> 10.0.0.3:2`, "timestamp"},
		{p.ParseFast, `02/30-11:00:11.000000  [**] [1:6:1] x [**] {TCP} 192.0.2.1:1 -> 10.0.0.3:2`, "timestamp"},
		{p.ParseFast, `11/22/2026-11:00:12.000000  [**] [1:abc:1] x [**] {TCP} 192.0.2.1:1 -> 10.0.0.3:2`, "gid:sid:rev"},
		{p.ParseFast, `11/22/2026-11:00:13.000000  [**] [1:7:1] x [**] {TCP} 192.0.2.1:1 -> 10.0.0.300:2`, "destination"},
		{p.ParseFast, `11/22/2026-11:00:13.000000  [**] [1:7:1] x [**] {TCP} 192.0.2.1:99999 -> 10.0.0.3:2`, "source"},
		{p.ParseFast, `11/22/2026-11:00:14.000000  [**] [1:8:1] x [**] [Priority: high] {TCP} 192.0.2.1:1 -> 10.0.0.3:2`, "priority"},
		{p.ParseFast, `11/22/2026-11:00:15.000000  [**] [1:8:1] x [**] [Priority: 1] 192.0.2.1:1 -> 10.0.0.3:2`, "{protocol}"},
		{p.ParseFast, `11/22/2026-11:00:15.000000  oops [**] [1:8:1] x [**] {TCP} 192.0.2.1:1 -> 10.0.0.3:2`, "[action]"},
		{p.ParseFast, `11/22/2026-11:00:15.000000  [**] [1:8:1] x {TCP} 192.0.2.1:1 -> 10.0.0.3:2`, "after the message"},
		{p.ParseFast, `a line of text`, "not an alert_fast line"},
		{p.ParseSnortJSON, `{ "timestamp" : "11/22-11:00:05.000000", "proto" : "TCP",`, "malformed JSON"},
		{p.ParseSnortJSON, `{ "proto" : "TCP", "src_ap" : "192.0.2.9:1", "dst_ap" : "10.0.0.3:2" }`, "signature id"},
		{p.ParseSnortJSON, `{ "proto" : "TCP", "src_ap" : "192.0.2.9:1", "dst_ap" : "10.0.0.3", "rule" : "1:2:3" }`, "dst_ap"},
		{p.ParseSnortJSON, `{ "src_addr" : "192.0.2.9", "dst_addr" : "10.0.0.3", "sid" : "1000" }`, "sid"},
		{p.ParseSnortJSON, `{ "src_addr" : "192.0.2.9", "dst_addr" : "10.0.0.3", "sid" : 1, "priority" : -1 }`, "priority"},
		{p.ParseSnortJSON, `{ "timestamp" : "yesterday", "src_addr" : "192.0.2.9", "dst_addr" : "10.0.0.3", "sid" : 1 }`, "timestamp"},
		{p.ParseSnortJSON, `{ "src_addr" : "192.0.2.9", "sid" : 1 }`, "destination"},
	} {
		_, err := tc.parse([]byte(tc.line))
		if err == nil || errors.Is(err, ErrNotAlert) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %v, want one saying %q", tc.line, err, tc.says)
		}
	}
	for _, line := range []string{
		`{"timestamp":"2026-11-22T10:00:00Z","event_type":"dns","src_ip":"10.0.0.3","dest_ip":"10.0.0.1","dns":{"type":"query"}}`,
		`{"timestamp":"2026-11-22T10:00:00Z","event_type":"stats","stats":{"uptime":1}}`,
		// Other records are skipped even when a field an alert would
		// need has another type.
		`{"event_type":"flow","src_port":"x","flow":{}}`,
	} {
		if _, err := p.ParseEVE([]byte(line)); !errors.Is(err, ErrNotAlert) {
			t.Errorf("%s: %v, want ErrNotAlert", line, err)
		}
	}
}

// TestYear puts a yearless Snort timestamp in the year that makes it
// nearest before the clock's now.
func TestYear(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		ts   string
		want time.Time
	}{
		{time.Date(2027, 1, 1, 0, 10, 0, 0, time.UTC), "12/31-23:59:00.250000", time.Date(2026, 12, 31, 23, 59, 0, 250e6, time.UTC)},
		{time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "01/01-00:00:30.000000", time.Date(2027, 1, 1, 0, 0, 30, 0, time.UTC)}, // a fast clock
		{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), "11/22-12:30:00.000000", time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)},
		{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), "11/24-12:30:00.000000", time.Date(2025, 11, 24, 12, 30, 0, 0, time.UTC)},
		{time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC), "02/29-10:00:00.000000", time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC)},
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), "02/29-10:00:00.000000", time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC)},
	} {
		p := parser(t, Options{Now: func() time.Time { return tc.now }})
		ev, err := p.ParseFast([]byte(tc.ts + " [**] [1:1:1] x [**] {UDP} 10.0.0.1:1 -> 10.0.0.2:2"))
		if err != nil || !ev.Time.Equal(tc.want) {
			t.Errorf("%s at %s: %s, %v; want %s", tc.ts, tc.now, ev.Time, err, tc.want)
		}
	}
}

// TestGolden parses testdata/eve.json, fast.log and alert_json.txt, with
// alerts of each form among other records and malformed lines, into
// testdata/*.golden.jsonl (go test -update rewrites them).
func TestGolden(t *testing.T) {
	p := parser(t, Options{})
	for _, tc := range []struct {
		file  string
		parse func([]byte) (event.Event, error)
	}{
		{"eve.json", p.ParseEVE},
		{"fast.log", p.ParseFast},
		{"alert_json.txt", p.ParseSnortJSON},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			lr := event.NewLineReader(in, MaxLineBytes)
			ids := event.NewSeededIDs(7)
			var out bytes.Buffer
			skipped := 0
			for {
				line, err := lr.Next()
				if err != nil {
					break
				}
				ev, err := tc.parse(line)
				if errors.Is(err, ErrNotAlert) {
					skipped++
					continue
				}
				if err != nil {
					fmt.Fprintf(&out, "line %d: %v\n", lr.Line(), err)
					continue
				}
				if err := ev.Normalize(ids, clock, "x"); err != nil {
					t.Fatalf("line %d: %v", lr.Line(), err)
				}
				out.Write(ev.AppendJSON(nil))
				out.WriteByte('\n')
			}
			fmt.Fprintf(&out, "%d records that are not alerts\n", skipped)
			golden := filepath.Join("testdata", strings.TrimSuffix(tc.file, filepath.Ext(tc.file))+".golden.jsonl")
			testutil.Golden(t, golden, out.Bytes())
		})
	}
}

// fuzzDecoder checks one decoder: any line gives an event that validates
// once normalised, ErrNotAlert or an error; never a panic.
func fuzzDecoder(f *testing.F, seeds string, parse func(*Parser) func([]byte) (event.Event, error)) {
	data, _ := os.ReadFile(filepath.Join("testdata", seeds))
	for _, l := range bytes.Split(data, []byte("\n")) {
		f.Add(l)
	}
	decode := parse(parser(f, Options{}))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := decode(line)
		if err != nil {
			return
		}
		if err := ev.Normalize(event.NewSeededIDs(1), clock, "x"); err != nil {
			t.Fatalf("%q: an event that does not validate: %v", line, err)
		}
		if n := len(ev.AppendJSON(nil)); n > event.MaxEventBytes {
			t.Fatalf("%q: an event of %d bytes", line, n)
		}
	})
}

func FuzzParseEVE(f *testing.F) {
	fuzzDecoder(f, "eve.json", func(p *Parser) func([]byte) (event.Event, error) { return p.ParseEVE })
}

func FuzzParseFast(f *testing.F) {
	fuzzDecoder(f, "fast.log", func(p *Parser) func([]byte) (event.Event, error) { return p.ParseFast })
}

func FuzzParseSnortJSON(f *testing.F) {
	fuzzDecoder(f, "alert_json.txt", func(p *Parser) func([]byte) (event.Event, error) { return p.ParseSnortJSON })
}

// TestTypesKnown keeps the event package's list of Vigil's own types in
// step with the events this package makes.
func TestTypesKnown(t *testing.T) {
	if !event.KnownType(event.TypeNIDSAlert) {
		t.Errorf("%s is not in event.KnownType", event.TypeNIDSAlert)
	}
}
