package fwlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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

func TestParse(t *testing.T) {
	tests := []struct {
		name, line string
		typ        string
		time       time.Time
		host       string
		want       map[string]string // attributes, formatted
		absent     []string
	}{
		{
			name: "iptables drop, BSD syslog",
			line: "Nov 22 11:00:00 gw kernel: [  512.123456] DROP IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=10.0.0.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=40000 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
			typ:  TypeDrop, time: time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC), host: "gw",
			want:   map[string]string{"prefix": "DROP", "action": "drop", "in": "eth0", "src": "203.0.113.5", "dst": "10.0.0.3", "proto": "tcp", "sport": "40000", "dport": "23", "flags": "SYN", "ttl": "52", "len": "60", "df": "true"},
			absent: []string{"out"},
		},
		{
			name: "ufw block, UDP with its own LEN",
			line: "Nov 22 11:00:01 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.7 DST=10.0.0.3 LEN=48 TOS=0x00 PREC=0x00 TTL=245 ID=1234 PROTO=UDP SPT=53 DPT=161 LEN=28",
			typ:  TypeDrop, time: time.Date(2026, 11, 22, 11, 0, 1, 0, time.UTC), host: "gw",
			want: map[string]string{"prefix": "[UFW BLOCK]", "proto": "udp", "sport": "53", "dport": "161", "len": "48"},
		},
		{
			name: "nftables IPv6 echo, RFC 3339",
			line: "2026-11-22T11:00:02.123456+01:00 edge kernel: nft drop in: IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:86:dd SRC=2001:db8::5 DST=2001:db8:1::3 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1",
			typ:  TypeDrop, time: time.Date(2026, 11, 22, 10, 0, 2, 123456000, time.UTC), host: "edge",
			want: map[string]string{"prefix": "nft drop in:", "src": "2001:db8::5", "dst": "2001:db8:1::3", "proto": "icmpv6", "icmp_type": "128", "icmp_code": "0", "hoplimit": "64"},
		},
		{
			name: "reject answers with an ICMP error quoting the packet",
			line: "Nov 22 11:00:03 gw kernel: REJECT IN=eth1 OUT=eth0 SRC=10.0.0.3 DST=203.0.113.5 LEN=88 TOS=0x00 PREC=0xC0 TTL=64 ID=1 PROTO=ICMP TYPE=3 CODE=3 [SRC=203.0.113.5 DST=10.0.0.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=2 PROTO=UDP SPT=5000 DPT=9 LEN=40 ] ",
			typ:  TypeDrop, host: "gw", time: time.Date(2026, 11, 22, 11, 0, 3, 0, time.UTC),
			want:   map[string]string{"src": "10.0.0.3", "dst": "203.0.113.5", "proto": "icmp", "icmp_type": "3", "icmp_code": "3", "out": "eth0", "ttl": "64", "id": "1"},
			absent: []string{"sport", "dport"},
		},
		{
			name: "accept is pass-through traffic",
			line: "Nov 22 11:00:04 gw kernel: ACCEPT-SSH IN=eth0 OUT= SRC=192.0.2.1 DST=10.0.0.3 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=9 DF PROTO=TCP SPT=5022 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 UID=0 GID=0",
			typ:  TypePass, host: "gw", time: time.Date(2026, 11, 22, 11, 0, 4, 0, time.UTC),
			want: map[string]string{"action": "pass", "dport": "22", "uid": "0"},
		},
		{
			name: "dmesg has no wall time: the clock's",
			line: "[    7.123456] fw: IN=eth0 OUT= SRC=192.0.2.9 DST=10.0.0.3 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=TCP SPT=1 DPT=2 WINDOW=0 RES=0x00 FIN PSH URG URGP=0",
			typ:  TypeDrop, time: clock,
			want: map[string]string{"prefix": "fw:", "flags": "FIN,PSH,URG"},
		},
		{
			name: "journalctl short-iso, no prefix",
			line: "2026-11-22T11:00:06+0000 gw kernel: IN=eth0 OUT= SRC=192.0.2.9 DST=10.0.0.3 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=47",
			typ:  TypeDrop, host: "gw", time: time.Date(2026, 11, 22, 11, 0, 6, 0, time.UTC),
			want:   map[string]string{"proto": "47"},
			absent: []string{"prefix"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := parser(t, Options{}).Parse([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Normalize(event.NewSeededIDs(1), clock, "x"); err != nil {
				t.Fatalf("the event does not validate: %v", err)
			}
			if ev.Type != tc.typ || !ev.Time.Equal(tc.time) || ev.Host != tc.host || ev.IP != ev.Str("dst") {
				t.Errorf("got %s", ev.AppendJSON(nil))
			}
			for k, v := range tc.want {
				if got := ev.Str(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := ev.Attrs[k]; ok {
					t.Errorf("%s present: %v", k, ev.Attrs[k])
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	p := parser(t, Options{})
	const base = "Nov 22 11:00:00 gw kernel: DROP IN=eth0 OUT= "
	for _, tc := range []struct{ line, field string }{
		{base + "SRC=300.1.1.1 DST=10.0.0.3 PROTO=TCP SPT=1 DPT=2", "SRC"},
		{base + "SRC=10.0.0.1 DST=10.0.0.3 PROTO=TCP SPT=1 DPT=http", "DPT"},
		{base + "SRC=10.0.0.1 DST=10.0.0.3 PROTO=TCP SPT=-5 DPT=2", "SPT"},
		{base + "SRC=10.0.0.1 DST=10.0.0.3 LEN=60", "PROTO"},
		{base + "SRC=10.0.0.1 PROTO=UDP", "DST"},
	} {
		_, err := p.Parse([]byte(tc.line))
		if err == nil || errors.Is(err, ErrNotPacketLog) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %v, want one naming %s", tc.line, err, tc.field)
		}
	}
	for _, line := range []string{
		"Nov 22 11:00:05 gw sshd[123]: Accepted publickey for root from 192.0.2.1 port 5022",
		"Nov 22 11:00:05 gw kernel: e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex",
		"Nov 22 11:00:05 gw app: LOGIN=x IN=y but no source",
	} {
		if _, err := p.Parse([]byte(line)); !errors.Is(err, ErrNotPacketLog) {
			t.Errorf("%q: %v, want ErrNotPacketLog", line, err)
		}
	}
}

func TestActionPatterns(t *testing.T) {
	line := []byte("Nov 22 11:00:00 gw kernel: SITE-7 IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.3 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN")
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, TypeDrop},
		{Options{Unmatched: "pass"}, TypePass},
		{Options{PassPattern: `^SITE-\d+$`}, TypePass},
		{Options{DropPattern: `SITE`, PassPattern: `SITE`}, TypeDrop}, // drop is asked first
	} {
		ev, err := parser(t, tc.o).Parse(line)
		if err != nil || ev.Type != tc.want {
			t.Errorf("%+v: %s, %v; want %s", tc.o, ev.Type, err, tc.want)
		}
	}
	if _, err := NewParser(Options{DropPattern: "("}); err == nil || !strings.Contains(err.Error(), "drop pattern") {
		t.Errorf("a bad pattern: %v", err)
	}
	if _, err := NewParser(Options{Unmatched: "maybe"}); err == nil {
		t.Error("an unknown action was accepted")
	}
}

// TestYear puts a yearless BSD timestamp in the year before the clock's
// when it would otherwise lie in the future.
func TestYear(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		line string
		want time.Time
	}{
		{time.Date(2027, 1, 1, 0, 10, 0, 0, time.UTC), "Dec 31 23:59:00", time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)},
		{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), "Nov 22 12:30:00", time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)},
		{time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), "Feb 29 10:00:00", time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC)},
	} {
		p := parser(t, Options{Now: func() time.Time { return tc.now }})
		ev, err := p.Parse([]byte(tc.line + " gw kernel: X IN=a OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2"))
		if err != nil || !ev.Time.Equal(tc.want) {
			t.Errorf("%s at %s: %s, %v; want %s", tc.line, tc.now, ev.Time, err, tc.want)
		}
	}
}

// TestGolden parses testdata/kern.log, a gateway's kernel log with packet
// lines of each form among other messages, into
// testdata/kern.golden.jsonl (go test -update rewrites it).
func TestGolden(t *testing.T) {
	in, err := os.Open(filepath.Join("testdata", "kern.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p := parser(t, Options{})
	lr := event.NewLineReader(in, 0)
	ids := event.NewSeededIDs(7)
	var out bytes.Buffer
	for {
		line, err := lr.Next()
		if err != nil {
			break
		}
		ev, err := p.Parse(line)
		if errors.Is(err, ErrNotPacketLog) {
			continue
		}
		if err != nil {
			out.WriteString("line " + strconv.Itoa(lr.Line()) + ": " + err.Error() + "\n")
			continue
		}
		if err := ev.Normalize(ids, clock, "fw"); err != nil {
			t.Fatal(err)
		}
		out.Write(ev.AppendJSON(nil))
		out.WriteByte('\n')
	}
	golden := filepath.Join("testdata", "kern.golden.jsonl")
	testutil.Golden(t, golden, out.Bytes())
}

// FuzzParse: any line gives an event that validates, ErrNotPacketLog, or
// an error; never a panic.
func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("testdata", "kern.log"))
	for _, l := range bytes.Split(data, []byte("\n")) {
		f.Add(l)
	}
	p := parser(f, Options{})
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := p.Parse(line)
		if err != nil {
			return
		}
		if err := ev.Normalize(event.NewSeededIDs(1), clock, "fw"); err != nil {
			// Only the host field comes through unchecked: a line can
			// name a host no event may carry; the ingest reports it.
			var fe *event.FieldError
			if !errors.As(err, &fe) || fe.Field != "host" {
				t.Fatalf("%q: an event that does not validate: %v", line, err)
			}
		}
	})
}

// TestTypesKnown keeps the event package's list of Vigil's own types in
// step with the events this parser makes.
func TestTypesKnown(t *testing.T) {
	for _, typ := range []string{TypeDrop, TypePass} {
		if !event.KnownType(typ) {
			t.Errorf("%s is not in event.KnownType", typ)
		}
	}
}
