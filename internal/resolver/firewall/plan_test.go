package firewall

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

func planner(t *testing.T, clk clock.Clock) *Nftables {
	t.Helper()
	s := newNftablesSettings().(*NftablesSettings)
	m, err := NewNftables(*s, action.Deps{Name: "block", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Plan says exactly what would be added, and touches nothing.
func TestNftablesPlanSaysWhatItWouldAdd(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := planner(t, clock.NewManual(now))
	for _, c := range []struct {
		subject action.Subject
		expires time.Time
		want    string
	}{
		{action.Subject{Addr: netip.MustParseAddr("192.0.2.7")}, now.Add(10 * time.Minute),
			"add 192.0.2.7 to inet vigil/block4 for 10m0s; end its tracked connections"},
		{action.Subject{Addr: netip.MustParseAddr("::ffff:192.0.2.7")}, time.Time{},
			"add 192.0.2.7 to inet vigil/block4 with no timeout; end its tracked connections"},
		{action.Subject{Addr: netip.MustParseAddr("2001:db8::7%eth0")}, now.Add(time.Hour),
			"add 2001:db8::7 to inet vigil/block6 for 1h0m0s; end its tracked connections"},
		{action.Subject{Prefix: netip.MustParsePrefix("198.51.100.0/24")}, now.Add(time.Second),
			"add 198.51.100.0/24 to inet vigil/block4 for 1s; end its tracked connections"},
		{action.Subject{Prefix: netip.MustParsePrefix("2001:db8:1::/48")}, time.Time{},
			"add 2001:db8:1::/48 to inet vigil/block6 with no timeout; end its tracked connections"},
		{action.Subject{Addr: netip.MustParseAddr("192.0.2.7"), Prefix: netip.MustParsePrefix("192.0.2.0/24")}, time.Time{},
			"add 192.0.2.7 to inet vigil/block4 with no timeout; end its tracked connections"},
	} {
		got, err := m.Plan(action.Request{Subject: c.subject, Time: now, Expires: c.expires})
		if err != nil || got != c.want {
			t.Errorf("plan %+v: %q, %v; want %q", c.subject, got, err, c.want)
		}
	}
}

// Malformed and unspecified addresses, addresses that are never blocked,
// ranges wider than the minimum and expired requests are refused, each
// with an error naming what is wrong.
func TestNftablesPlanRefuses(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := planner(t, clock.NewManual(now))
	for _, c := range []struct {
		name    string
		subject action.Subject
		expires time.Time
		want    string
	}{
		{"nothing", action.Subject{Host: "web1"}, time.Time{}, "names no address or prefix"},
		{"unspecified v4", action.Subject{Addr: netip.IPv4Unspecified()}, time.Time{}, "address 0.0.0.0 is in 0.0.0.0/8, which is never blocked"},
		{"unspecified v6", action.Subject{Addr: netip.IPv6Unspecified()}, time.Time{}, "address :: is in ::/128"},
		{"loopback", action.Subject{Addr: netip.MustParseAddr("127.0.0.1")}, time.Time{}, "127.0.0.0/8, which is never blocked"},
		{"loopback v6", action.Subject{Addr: netip.IPv6Loopback()}, time.Time{}, "::1/128"},
		{"multicast", action.Subject{Addr: netip.MustParseAddr("224.0.0.1")}, time.Time{}, "224.0.0.0/4"},
		{"broadcast", action.Subject{Addr: netip.MustParseAddr("255.255.255.255")}, time.Time{}, "never blocked"},
		{"everything", action.Subject{Prefix: netip.MustParsePrefix("0.0.0.0/0")}, time.Time{}, "0.0.0.0/0 is wider than the shortest allowed, /16"},
		{"wide v4", action.Subject{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, time.Time{}, "wider than the shortest allowed, /16"},
		{"wide v6", action.Subject{Prefix: netip.MustParsePrefix("2001:db8::/32")}, time.Time{}, "wider than the shortest allowed, /48"},
		{"all v6", action.Subject{Prefix: netip.MustParsePrefix("::/0")}, time.Time{}, "/48"},
		{"host bits", action.Subject{Prefix: netip.MustParsePrefix("192.0.2.7/24")}, time.Time{}, "has host bits set (the range is 192.0.2.0/24)"},
		{"loopback range", action.Subject{Prefix: netip.MustParsePrefix("127.0.0.0/16")}, time.Time{}, "overlaps 127.0.0.0/8"},
		{"mapped wide", action.Subject{Prefix: netip.MustParsePrefix("::ffff:0.0.0.0/80")}, time.Time{}, "wider than IPv4 itself"},
		{"expired", action.Subject{Addr: netip.MustParseAddr("192.0.2.7")}, now.Add(-time.Second), "the block of 192.0.2.7 expired at 2026-01-02T03:04:04Z"},
	} {
		_, err := m.Plan(action.Request{Subject: c.subject, Time: now, Expires: c.expires})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
			continue // the method here is in the test's own namespace: never execute
		}
		if _, err2 := m.Execute(context.Background(), action.Request{Subject: c.subject, Time: now, Expires: c.expires}); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: execute said %v, plan %v", c.name, err2, err)
		}
	}
}

// The minimum prefix lengths are settings.
func TestNftablesMinimumPrefixIsASetting(t *testing.T) {
	s := newNftablesSettings().(*NftablesSettings)
	s.MinPrefix4 = 24
	m, err := NewNftables(*s, action.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Plan(action.Request{Subject: action.Subject{Prefix: netip.MustParsePrefix("198.51.0.0/16")}}); err == nil || !strings.Contains(err.Error(), "/24") {
		t.Errorf("a /16 with a minimum of /24: %v", err)
	}
	if _, err := m.Plan(action.Request{Subject: action.Subject{Prefix: netip.MustParsePrefix("198.51.100.0/24")}}); err != nil {
		t.Error(err)
	}
}

func TestTCPKillPlanRefuses(t *testing.T) {
	m, err := NewTCPKill(TCPKillSettings{}, action.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		conn *action.Conn
		want string
	}{
		{nil, "names no connection"},
		{&action.Conn{Local: ap("192.0.2.1:80")}, "lacks an address"},
		{&action.Conn{Local: ap("192.0.2.1:80"), Remote: ap("198.51.100.7:0")}, "port 0"},
		{&action.Conn{Local: ap("192.0.2.1:80"), Remote: ap("[2001:db8::7]:5555")}, "different families"},
		{&action.Conn{Local: ap("0.0.0.0:80"), Remote: ap("198.51.100.7:5555")}, "unspecified"},
	} {
		_, err := m.Plan(action.Request{Subject: action.Subject{Conn: c.conn}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.conn, err, c.want)
		}
	}
	got, err := m.Plan(action.Request{Subject: action.Subject{Conn: &action.Conn{Local: ap("[::ffff:192.0.2.1]:80"), Remote: ap("198.51.100.7:5555")}}})
	if err != nil || got != "end TCP connection 192.0.2.1:80 -> 198.51.100.7:5555" {
		t.Errorf("plan %q, %v", got, err)
	}
}

func TestSettingsValidate(t *testing.T) {
	var p config.Problems
	good := newNftablesSettings().(*NftablesSettings)
	good.Validate(&p, "responses[0]")
	(&TCPKillSettings{Netns: "/run/netns/gw"}).Validate(&p, "responses[1]")
	if p.Len() != 0 {
		t.Fatalf("defaults: %v", p.List())
	}
	bad := &NftablesSettings{Table: "vigil; flush ruleset", Priority: 1000, Netns: "run/netns/x", MinPrefix4: 0, MinPrefix6: 129}
	bad.Validate(&p, "responses[0]")
	(&TCPKillSettings{Netns: "gw"}).Validate(&p, "responses[1]")
	var got []string
	for _, pr := range p.List() {
		got = append(got, pr.Path+": "+pr.Msg)
	}
	for _, want := range []string{
		`responses[0].table: table name "vigil; flush ruleset"`,
		"responses[0]: input and forward are both off",
		"responses[0].priority: priority 1000 outside -400..400",
		`responses[0].netns: netns "run/netns/x": an absolute path`,
		"responses[0].min_prefix4: min_prefix4 0 outside 1..32",
		"responses[0].min_prefix6: min_prefix6 129 outside 1..128",
		`responses[1].netns: netns "gw"`,
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("no problem %q among %q", want, got)
		}
	}
}

func TestRegister(t *testing.T) {
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	if got := r.Kinds(); !slices.Equal(got, []string{KindNftables, KindTCPKill}) {
		t.Errorf("kinds %v", got)
	}
	f, _ := r.Factory(KindNftables)
	if !f.Undoable || !slices.Equal(f.Needs, []string{"addr"}) {
		t.Errorf("nftables factory %+v", f)
	}
	f, _ = r.Factory(KindTCPKill)
	if f.Undoable || !slices.Equal(f.Needs, []string{"conn"}) {
		t.Errorf("tcp-kill factory %+v", f)
	}
	m, err := r.Build(context.Background(), config.PluginSpec{Name: "block", Kind: KindNftables}, action.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(action.Reconciler); !ok {
		t.Error("an nftables method reconciles")
	}
	if _, err := r.Build(context.Background(), config.PluginSpec{Name: "x", Kind: KindTCPKill,
		Settings: &TCPKillSettings{Netns: "/nonexistent/netns"}}, action.Deps{}); err == nil {
		t.Error("a namespace file that does not exist was accepted")
	}
	if err := Register(r); err == nil {
		t.Error("registering twice")
	}
}

// A set's listing pairs into the ranges that were added, whatever order
// the kernel lists elements in; a range that is no prefix is kept as a
// range (and deleted by Reconcile as not Vigil's).
func TestRangesFromElements(t *testing.T) {
	el := func(a string, end bool) nftables.SetElement {
		return nftables.SetElement{Key: netip.MustParseAddr(a).AsSlice(), IntervalEnd: end}
	}
	got := ranges([]nftables.SetElement{
		el("10.0.0.8", true), el("10.0.0.7", false), // 10.0.0.7
		el("0.0.0.0", true),                          // a lone end, as some tools add
		el("10.1.0.0", true), el("10.0.0.10", false), // 10.0.0.10 - 10.0.255.255: no prefix
		el("192.168.0.0", false), el("192.169.0.0", true), // 192.168.0.0/16
		el("255.255.0.0", false), // to the top: 255.255.0.0/16
	})
	var s []string
	for _, r := range got {
		s = append(s, r.String())
	}
	want := []string{"10.0.0.7", "10.0.0.10-10.0.255.255", "192.168.0.0/16", "255.255.0.0/16"}
	if !slices.Equal(s, want) {
		t.Errorf("ranges %q, want %q", s, want)
	}
	if e := elements(netip.MustParsePrefix("255.255.0.0/16"), time.Minute); len(e) != 1 || e[0].Timeout != time.Minute {
		t.Errorf("a range to the top has one element: %+v", e)
	}
	if e := elements(netip.MustParsePrefix("2001:db8::/48"), 0); len(e) != 2 || netip.AddrFrom16([16]byte(e[1].Key)) != netip.MustParseAddr("2001:db8:1::") || !e[1].IntervalEnd {
		t.Errorf("elements of 2001:db8::/48: %+v", e)
	}
}

func TestDecodeUndoRefusesWhatExecuteNeverWrites(t *testing.T) {
	for _, b := range []string{
		`{"table":"vigil","set":"block4","prefix":"192.0.2.7/32"}`,
		`{"table":"vigil","set":"block6","prefix":"2001:db8::/48"}`,
	} {
		if _, err := decodeUndo([]byte(b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	for _, b := range []string{``, `[]`, `{"table":"x y","set":"block4","prefix":"192.0.2.7/32"}`,
		`{"table":"vigil","set":"block6","prefix":"192.0.2.7/32"}`, `{"table":"vigil","set":"block4","prefix":"192.0.2.7/24"}`,
		`{"table":"vigil","set":"block4"}`} {
		if _, err := decodeUndo([]byte(b)); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}

func FuzzDecodeUndo(f *testing.F) {
	f.Add([]byte(`{"table":"vigil","set":"block4","prefix":"192.0.2.7/32"}`))
	f.Add([]byte(`{"table":"vigil","set":"block6","prefix":"::/0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUndo(b)
		if err != nil {
			return
		}
		if !tableName.MatchString(u.Table) || u.Prefix.Masked() != u.Prefix || u.Set != setFor(u.Prefix) {
			t.Fatalf("accepted %+v", u)
		}
	})
}

func diagMsg(family, state uint8, l, r netip.AddrPort) []byte {
	b := make([]byte, 72)
	b[0], b[1] = family, state
	binary.BigEndian.PutUint16(b[4:], l.Port())
	binary.BigEndian.PutUint16(b[6:], r.Port())
	if family == unix.AF_INET {
		a, c := l.Addr().As4(), r.Addr().As4()
		copy(b[8:], a[:])
		copy(b[24:], c[:])
	} else {
		a, c := l.Addr().As16(), r.Addr().As16()
		copy(b[8:], a[:])
		copy(b[24:], c[:])
	}
	return b
}

func TestParseDiagMsg(t *testing.T) {
	l, r := netip.MustParseAddrPort("192.0.2.1:80"), netip.MustParseAddrPort("198.51.100.7:5555")
	s, err := parseDiagMsg(diagMsg(unix.AF_INET, 1, l, r))
	if err != nil || s.local != l || s.remote != r || len(s.id) != 48 {
		t.Errorf("v4: %+v, %v", s, err)
	}
	ml := netip.AddrPortFrom(netip.AddrFrom16(l.Addr().As16()), 80)
	s, err = parseDiagMsg(diagMsg(unix.AF_INET6, 1, ml, netip.AddrPortFrom(netip.AddrFrom16(r.Addr().As16()), 5555)))
	if err != nil || s.local != l || s.remote != r {
		t.Errorf("v4 on a v6 socket: %+v, %v", s, err)
	}
	if _, err := parseDiagMsg(make([]byte, 20)); err == nil {
		t.Error("a short message")
	}
	if _, err := parseDiagMsg(diagMsg(99, 1, l, r)); err == nil {
		t.Error("an unknown family")
	}
}

func FuzzParseDiagMsg(f *testing.F) {
	f.Add(diagMsg(unix.AF_INET, 1, netip.MustParseAddrPort("192.0.2.1:80"), netip.MustParseAddrPort("198.51.100.7:5555")))
	f.Add(diagMsg(unix.AF_INET6, 1, netip.MustParseAddrPort("[2001:db8::1]:80"), netip.MustParseAddrPort("[2001:db8::7]:5555")))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseDiagMsg(b)
		if err != nil {
			return
		}
		if !s.local.Addr().IsValid() || !s.remote.Addr().IsValid() || len(s.id) != 48 {
			t.Fatalf("accepted %+v", s)
		}
	})
}
