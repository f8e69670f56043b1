package firewall

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// The network the tests act on: a client namespace with two addresses of
// each family (one to block, one that must keep working) joined by a
// veth pair to a server namespace that runs an echo server and holds the
// monitor's table. Nothing outside these namespaces is touched.

var (
	serverV4 = netip.MustParseAddr("10.77.0.1")
	blockV4  = netip.MustParseAddr("10.77.0.2")
	otherV4  = netip.MustParseAddr("10.77.0.3")
	serverV6 = netip.MustParseAddr("fd77::1")
	blockV6  = netip.MustParseAddr("fd77::2")
	otherV6  = netip.MustParseAddr("fd77::3")
)

type netLab struct {
	client, server *testutil.Netns
	port           uint16

	mu       sync.Mutex
	accepted []net.Conn
}

// newNetLab builds the namespaces and the echo server; it skips the test
// when it is not root or the kernel lacks nftables.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	testutil.RequireNetns(t)
	l := &netLab{client: testutil.NewNetns(t), server: testutil.NewNetns(t)}
	requireNftables(t, l.server)
	testutil.Link(t,
		l.client, []string{"10.77.0.2/24", "10.77.0.3/24", "fd77::2/64", "fd77::3/64"},
		l.server, []string{"10.77.0.1/24", "fd77::1/64"})
	var ln net.Listener
	if err := l.server.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	defer func() {
		// The first packets wait for neighbour discovery (a second for
		// IPv6's first solicitation): let it happen before the test
		// times its connections.
		for _, a := range []netip.Addr{blockV4, otherV4, blockV6, otherV6} {
			testutil.WaitFor(t, 5*time.Second, "a connection from "+a.String(), func() bool { return l.reaches(a) })
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.accepted = append(l.accepted, c)
			l.mu.Unlock()
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.accepted {
			c.Close()
		}
	})
	return l
}

// requireNftables skips the test when the kernel has no nftables.
func requireNftables(t *testing.T, ns *testutil.Netns) { t.Helper(); requireNftablesTB(t, ns) }

func openNS(t *testing.T, ns *testutil.Netns) interface{ Fd() uintptr } {
	t.Helper()
	f, err := openNetns(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func serverFor(from netip.Addr) netip.Addr {
	if from.Is4() {
		return serverV4
	}
	return serverV6
}

// dial connects from the client namespace, from address from, to the
// echo server, and checks that a line comes back.
func (l *netLab) dial(from netip.Addr) (net.Conn, error) { return l.dialWithin(from, 3*time.Second) }

// dialWithin is dial with a limit on connecting.
func (l *netLab) dialWithin(from netip.Addr, limit time.Duration) (net.Conn, error) {
	var c net.Conn
	err := l.client.Do(func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: limit}
		c, err = d.Dial("tcp", netip.AddrPortFrom(serverFor(from), l.port).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := echo(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func echo(c net.Conn) error { return echoWithin(c, 3*time.Second) }

// echoWithin sends a line and waits at most limit for it to come back.
func echoWithin(c net.Conn, limit time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(limit))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping\n" {
		return fmt.Errorf("echo: %q", buf)
	}
	return nil
}

// reaches says whether a new connection from from gets through within
// half a second (for polling).
func (l *netLab) reaches(from netip.Addr) bool {
	c, err := l.dialWithin(from, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (l *netLab) mustReach(t *testing.T, from netip.Addr) {
	t.Helper()
	c, err := l.dial(from)
	if err != nil {
		t.Fatalf("a connection from %s should get through: %v", from, err)
	}
	c.Close()
}

func (l *netLab) mustNotReach(t *testing.T, from netip.Addr) {
	t.Helper()
	c, err := l.dialWithin(from, 500*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatalf("a connection from %s got through a block", from)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a connection from %s should time out (packets dropped), got %v", from, err)
	}
}

// trackConnections makes the server namespace track connections, as a
// host with a stateful firewall does (a rule with a ct expression, in a
// table of the test's own).
func (l *netLab) trackConnections(t *testing.T) {
	t.Helper()
	f := openNS(t, l.server)
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	tab := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "host"})
	ch := c.AddChain(&nftables.Chain{Name: "in", Table: tab, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Counter{},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("host table: %v", err)
	}
}

// flowsOf returns the server namespace's tracked flows from or to a.
func (l *netLab) flowsOf(t *testing.T, a netip.Addr) []conntrack.Flow {
	t.Helper()
	f := openNS(t, l.server)
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatalf("conntrack: %v", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		t.Fatalf("conntrack dump: %v", err)
	}
	var out []conntrack.Flow
	for _, fl := range flows {
		if flowTouches(fl, netip.PrefixFrom(a, a.BitLen())) {
			out = append(out, fl)
		}
	}
	return out
}

// elementsIn lists the ranges in one of the table's sets.
func elementsIn(t *testing.T, ns *testutil.Netns, table, set string) []string {
	t.Helper()
	f := openNS(t, ns)
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	elems, err := c.GetSetElements(setDef(&nftables.Table{Family: nftables.TableFamilyINet, Name: table}, set))
	if err != nil {
		t.Fatalf("list %s/%s: %v", table, set, err)
	}
	var out []string
	for _, r := range ranges(elems) {
		out = append(out, r.String())
	}
	return out
}

// requireNftablesTB is requireNftables for benchmarks.
func requireNftablesTB(tb testing.TB, ns *testutil.Netns) {
	tb.Helper()
	f, err := openNetns(ns.Path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err == nil {
		_, err = c.ListTables()
	}
	if err != nil {
		tb.Skipf("nftables unavailable in this kernel: %v", err)
	}
}
