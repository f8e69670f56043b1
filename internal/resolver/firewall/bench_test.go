package firewall

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// addrs returns n distinct IPv4 addresses in 100.64.0.0/10, from the
// offset-th on.
func addrs(offset, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		k := offset + i
		a := netip.AddrFrom4([4]byte{100, 64 + byte(k>>16&0x3f), byte(k >> 8), byte(k)})
		out[i] = netip.PrefixFrom(a, 32)
	}
	return out
}

func benchMethod(b *testing.B, ns *testutil.Netns) *Nftables {
	b.Helper()
	requireNftablesTB(b, ns)
	s := newNftablesSettings().(*NftablesSettings)
	s.Netns = ns.Path
	m, err := NewNftables(*s, action.Deps{Clock: clock.Real{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	if _, err := m.Reconcile(b.Context(), nil); err != nil {
		b.Fatal(err)
	}
	return m
}

func flushSets(b *testing.B, m *Nftables) {
	b.Helper()
	c, err := m.conn()
	if err != nil {
		b.Fatal(err)
	}
	c.FlushSet(setDef(m.table(), Set4))
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAdd10k: adding 10,000 addresses (with a timeout) to the set in
// one batch, into an empty set and into a set holding 100,000.
func BenchmarkAdd10k(b *testing.B) {
	for _, pre := range []int{0, 100_000} {
		name := "empty"
		if pre > 0 {
			name = "with100k"
		}
		b.Run(name, func(b *testing.B) {
			ns := testutil.NewNetns(b)
			m := benchMethod(b, ns)
			batch := addrs(pre, 10_000)
			for b.Loop() {
				b.StopTimer()
				flushSets(b, m)
				if pre > 0 {
					if err := m.add(addrs(0, pre), time.Hour, false); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if err := m.add(batch, time.Hour, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/addr")
		})
	}
}

// BenchmarkApply100k: applying 100,000 blocked addresses in one batch.
func BenchmarkApply100k(b *testing.B) {
	ns := testutil.NewNetns(b)
	m := benchMethod(b, ns)
	all := addrs(0, 100_000)
	for b.Loop() {
		b.StopTimer()
		flushSets(b, m)
		b.StartTimer()
		if err := m.add(all, time.Hour, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPacketPath: UDP datagrams sent from a client namespace over a
// veth pair to a server namespace, whose input hook passes each through
// Vigil's chain: with no table, an empty set, and a set of 100,000
// addresses (none of them the client's). The veth pair delivers on the
// sender's own CPU, in its system call, so ns/op is the whole path, the
// receiver's hooks included. The server's socket is not read: once its
// buffer is full, datagrams are dropped after the hooks.
func BenchmarkPacketPath(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int // -1: no table
	}{{"no-table", -1}, {"empty-set", 0}, {"set-100k", 100_000}} {
		b.Run(c.name, func(b *testing.B) {
			client, server := testutil.NewNetns(b), testutil.NewNetns(b)
			testutil.Link(b, client, []string{"10.78.0.2/24"}, server, []string{"10.78.0.1/24"})
			if c.n >= 0 {
				m := benchMethod(b, server)
				if c.n > 0 {
					if err := m.add(addrs(0, c.n), time.Hour, false); err != nil {
						b.Fatal(err)
					}
				}
			}
			var srv *net.UDPConn
			if err := server.Do(func() (err error) {
				srv, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			var cl net.Conn
			if err := client.Do(func() (err error) {
				cl, err = net.Dial("udp4", "10.78.0.1:9")
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			msg := []byte("0123456789abcdef")
			// The first datagram waits for the neighbour's address.
			_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, _, err := srv.ReadFromUDPAddrPort(make([]byte, 64)); err != nil {
				b.Fatalf("the first datagram: %v", err)
			}
			for b.Loop() {
				if _, err := cl.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
