package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func newNftables(t *testing.T, ns *testutil.Netns, clk clock.Clock, edit func(*NftablesSettings)) *Nftables {
	t.Helper()
	s := newNftablesSettings().(*NftablesSettings)
	s.Netns = ns.Path
	if edit != nil {
		edit(s)
	}
	m, err := NewNftables(*s, action.Deps{Name: "block", Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func blockReq(id string, a netip.Addr, now time.Time, ttl time.Duration) action.Request {
	req := action.Request{ID: id, Method: "block", Kind: KindNftables, Key: "block " + a.String(),
		Subject: action.Subject{Addr: a}, Time: now}
	if ttl > 0 {
		req.Expires = now.Add(ttl)
	}
	return req
}

// A block drops new connections from the address at once, leaves other
// addresses alone, ends the address's tracked connections, and lifts by
// itself when the element's timeout passes (the kernel's own clock).
func TestNftablesBlockDropsAndExpires(t *testing.T) {
	l := newNetLab(t)
	l.trackConnections(t)
	m := newNftables(t, l.server, clock.Real{}, nil)
	ctx := context.Background()

	l.mustReach(t, blockV4)
	l.mustReach(t, otherV4)
	held, err := l.dial(blockV4)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if len(l.flowsOf(t, blockV4)) == 0 {
		t.Fatal("the held connection should be tracked before the block")
	}

	now := time.Now()
	out, err := m.Execute(ctx, blockReq("d1", blockV4, now, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Detail, "add 10.77.0.2 to inet vigil/block4 for 2s") || !strings.Contains(out.Detail, "; ended ") || strings.Contains(out.Detail, "ended 0 ") {
		t.Errorf("detail %q", out.Detail)
	}
	if d := out.Expires.Sub(now.Add(2 * time.Second)); d < -50*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("outcome expires %v, want about %v", out.Expires, now.Add(2*time.Second))
	}
	if got := elementsIn(t, l.server, "vigil", Set4); !slices.Equal(got, []string{"10.77.0.2"}) {
		t.Errorf("block4 holds %v", got)
	}
	if flows := l.flowsOf(t, blockV4); len(flows) != 0 {
		t.Errorf("tracked flows of the blocked address remain: %v", flows)
	}
	l.mustNotReach(t, blockV4)
	l.mustReach(t, otherV4)
	if err := echoWithin(held, 500*time.Millisecond); err == nil {
		t.Error("the held connection still carries traffic after the block")
	}

	testutil.WaitFor(t, 5*time.Second, "the block to expire", func() bool { return l.reaches(blockV4) })
	if got := elementsIn(t, l.server, "vigil", Set4); len(got) != 0 {
		t.Errorf("block4 holds %v after expiry", got)
	}
}

// IPv6 blocks work alike; Undo lifts a block at once, and undoing it again
// is no error.
func TestNftablesIPv6BlockAndUndo(t *testing.T) {
	l := newNetLab(t)
	m := newNftables(t, l.server, clock.Real{}, nil)
	ctx := context.Background()

	l.mustReach(t, blockV6)
	req := blockReq("d1", blockV6, time.Now(), 0)
	out, err := m.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Expires.IsZero() || !strings.Contains(out.Detail, "add fd77::2 to inet vigil/block6 with no timeout") {
		t.Errorf("outcome %+v", out)
	}
	l.mustNotReach(t, blockV6)
	l.mustReach(t, otherV6)
	l.mustReach(t, otherV4)

	if err := m.Undo(ctx, req, out); err != nil {
		t.Fatal(err)
	}
	l.mustReach(t, blockV6)
	if got := elementsIn(t, l.server, "vigil", Set6); len(got) != 0 {
		t.Errorf("block6 holds %v after undo", got)
	}
	if err := m.Undo(ctx, req, out); err != nil {
		t.Errorf("undoing what is gone: %v", err)
	}
}

// A range is one element; the same decision executed twice acts once
// (the second renews the timeout); an address inside a blocked range is
// refused with a clear error.
func TestNftablesPrefixAndIdempotence(t *testing.T) {
	l := newNetLab(t)
	m := newNftables(t, l.server, clock.Real{}, func(s *NftablesSettings) { s.Conntrack = false })
	ctx := context.Background()
	now := time.Now()
	req := action.Request{ID: "d1", Method: "block", Kind: KindNftables, Key: "net",
		Subject: action.Subject{Prefix: netip.MustParsePrefix("10.77.0.2/31")}, Time: now, Expires: now.Add(time.Hour)}
	if _, err := m.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.Expires = now.Add(2 * time.Hour)
	out, err := m.Execute(ctx, req)
	if err != nil {
		t.Fatalf("the same decision twice: %v", err)
	}
	if !strings.Contains(out.Detail, "10.77.0.2/31") {
		t.Errorf("detail %q", out.Detail)
	}
	if got := elementsIn(t, l.server, "vigil", Set4); !slices.Equal(got, []string{"10.77.0.2/31"}) {
		t.Errorf("block4 holds %v", got)
	}
	l.mustNotReach(t, blockV4)
	l.mustNotReach(t, otherV4)
	l.mustReach(t, blockV6)

	_, err = m.Execute(ctx, blockReq("d2", otherV4, now, time.Hour))
	if err == nil || !strings.Contains(err.Error(), "overlaps a range already in the set") {
		t.Errorf("an address inside a blocked range: %v", err)
	}
	if nft, err := exec.LookPath("nft"); err == nil {
		// What an operator sees with the nft command.
		out, err := l.server.Exec(nft, "list", "table", "inet", "vigil")
		if err != nil {
			t.Fatalf("nft list: %v: %s", err, out)
		}
		for _, want := range []string{"set block4", "flags interval,timeout", "10.77.0.2/31 timeout 1h59m5", "hook input priority filter - 10; policy accept;",
			"hook forward priority filter - 10; policy accept;", "ip saddr @block4", "ip6 saddr @block6", "drop"} {
			if !strings.Contains(out, want) {
				t.Errorf("nft list table inet vigil lacks %q:\n%s", want, out)
			}
		}
	}
}

// Reconcile removes elements no active action accounts for (orphans left
// by a crash) and restores active actions whose element is missing, with
// the time they have left; it says what it changed.
func TestNftablesReconcile(t *testing.T) {
	l := newNetLab(t)
	clk := clock.NewManual(time.Now())
	m := newNftables(t, l.server, clk, nil)
	ctx := context.Background()
	now := clk.Now()

	orphan := blockReq("d1", blockV4, now, time.Hour)
	if _, err := m.Execute(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	kept := blockReq("d2", blockV6, now, time.Hour)
	keptOut, err := m.Execute(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	missing := blockReq("d3", otherV4, now, time.Hour)
	expired := blockReq("d4", otherV6, now.Add(-2*time.Hour), time.Hour)
	other := blockReq("d5", netip.MustParseAddr("10.77.0.9"), now, time.Hour)
	other.Method = "another-table"

	clk.Advance(10 * time.Minute)
	detail, err := m.Reconcile(ctx, []action.Active{
		{Request: kept, Outcome: keptOut},
		{Request: missing},
		{Request: expired},
		{Request: other},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"inet vigil: 1 block(s) in place", "removed 1 orphan(s): 10.77.0.2", "restored 1: 10.77.0.3 for 50m0s"} {
		if !strings.Contains(detail, want) {
			t.Errorf("reconcile said %q, lacking %q", detail, want)
		}
	}
	if got := elementsIn(t, l.server, "vigil", Set4); !slices.Equal(got, []string{"10.77.0.3"}) {
		t.Errorf("block4 holds %v", got)
	}
	if got := elementsIn(t, l.server, "vigil", Set6); !slices.Equal(got, []string{"fd77::2"}) {
		t.Errorf("block6 holds %v", got)
	}
	l.mustReach(t, blockV4)
	l.mustNotReach(t, otherV4)
	l.mustReach(t, otherV6)

	detail, err = m.Reconcile(ctx, []action.Active{{Request: kept, Outcome: keptOut}, {Request: missing}})
	if err != nil || !strings.Contains(detail, "nothing changed") {
		t.Errorf("a second reconcile: %q, %v", detail, err)
	}
}

// Only a hook the settings ask for gets a chain: with forward off, a
// reconfigured method removes the forward chain it made before.
func TestNftablesHooksFollowSettings(t *testing.T) {
	l := newNetLab(t)
	ctx := context.Background()
	m := newNftables(t, l.server, clock.Real{}, nil)
	if _, err := m.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	m2 := newNftables(t, l.server, clock.Real{}, func(s *NftablesSettings) { s.Forward = false; s.Priority = -20 })
	if _, err := m2.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c, err := m2.conn()
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range chains {
		if ch.Table.Name == "vigil" {
			got = append(got, fmt.Sprintf("%s@%d", ch.Name, *ch.Priority))
		}
	}
	if !slices.Equal(got, []string{"input@-20"}) {
		t.Errorf("chains of inet vigil: %v, want only input at priority -20", got)
	}
}

// A batch larger than one netlink attribute holds (its length is 16 bits)
// lands whole: every range is in the set afterwards.
func TestNftablesLargeBatchLandsWhole(t *testing.T) {
	ns := testutil.NewNetns(t)
	requireNftables(t, ns)
	m := newNftables(t, ns, clock.Real{}, nil)
	if err := m.add(addrs(0, 20_000), time.Hour, true); err != nil {
		t.Fatal(err)
	}
	if got := len(elementsIn(t, ns, "vigil", Set4)); got != 20_000 {
		t.Errorf("block4 holds %d ranges, want 20000", got)
	}
	detail, err := m.Reconcile(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "removed 20000 orphan(s): 100.64.0.0, 100.64.0.1,") || !strings.HasSuffix(detail, "and 19980 more") {
		t.Errorf("reconcile said %q", detail)
	}
	if got := len(elementsIn(t, ns, "vigil", Set4)); got != 0 {
		t.Errorf("block4 holds %d ranges after reconciling with nothing active", got)
	}
}

// A table deleted by hand while the method runs is made again by the next
// block.
func TestNftablesRemakesADeletedTable(t *testing.T) {
	l := newNetLab(t)
	m := newNftables(t, l.server, clock.Real{}, nil)
	ctx := context.Background()
	if _, err := m.Execute(ctx, blockReq("d1", blockV4, time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, err := m.conn()
	if err != nil {
		t.Fatal(err)
	}
	c.DelTable(m.table())
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	l.mustReach(t, blockV4)
	if _, err := m.Execute(ctx, blockReq("d2", otherV4, time.Now(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	l.mustNotReach(t, otherV4)
	l.mustReach(t, blockV4)
}

// A later decision that ends sooner never shortens a block; one that ends
// later extends it.
func TestNftablesNeverShortensABlock(t *testing.T) {
	ns := testutil.NewNetns(t)
	requireNftables(t, ns)
	m := newNftables(t, ns, clock.Real{}, func(s *NftablesSettings) { s.Conntrack = false })
	ctx := context.Background()
	a := netip.MustParseAddr("192.0.2.7")
	expiry := func() time.Duration {
		t.Helper()
		c, err := m.conn()
		if err != nil {
			t.Fatal(err)
		}
		elems, err := c.GetSetElements(setDef(m.table(), Set4))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range elems {
			if !e.IntervalEnd {
				return e.Expires
			}
		}
		t.Fatal("no element")
		return 0
	}
	now := time.Now()
	if _, err := m.Execute(ctx, blockReq("d1", a, now, time.Hour)); err != nil {
		t.Fatal(err)
	}
	out, err := m.Execute(ctx, blockReq("d2", a, now, 10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Detail, "192.0.2.7 is blocked already in inet vigil/block4 for 59m") || out.Expires.Before(now.Add(59*time.Minute)) {
		t.Errorf("a shorter decision: %+v", out)
	}
	if e := expiry(); e < 59*time.Minute {
		t.Errorf("the element expires in %v after a shorter decision", e)
	}
	out, err = m.Execute(ctx, blockReq("d3", a, now, 2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Detail, "add 192.0.2.7 to inet vigil/block4 for 1h59m") {
		t.Errorf("a longer decision: %q", out.Detail)
	}
	if e := expiry(); e < 119*time.Minute {
		t.Errorf("the element expires in %v after a longer decision", e)
	}
}
