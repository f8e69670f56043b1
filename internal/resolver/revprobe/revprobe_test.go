package revprobe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func registry(t testing.TB) *action.Registry {
	t.Helper()
	r := action.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// build loads a reverse-probe's section as a resource object would and
// builds it with clk.
func build(t testing.TB, section string, clk clock.Clock) action.Method {
	t.Helper()
	r := registry(t)
	ro, err := config.Load([]byte("monitor: {name: m}\nresponses:\n  - kind: reverse-probe\n    name: rp\n"+section), "m.yml", config.Registries{Responses: r})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Build(context.Background(), ro.Responses[0], action.Deps{Monitor: "m", Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func probeReq(addr string) action.Request {
	return action.Request{ID: "d1", Policy: "probe-back", Method: "rp", Kind: Kind, Key: "rp|addr=" + addr,
		Subject: action.Subject{Addr: netip.MustParseAddr(addr)}, Reason: "a scan", Time: t0}
}

// listener is a real TCP listener on a loopback address that counts the
// connections it accepts and, when banner is set, sends it first.
type listener struct {
	port     int
	accepted atomic.Int64
}

func listen(t testing.TB, addr, banner string) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s (a loopback address beside 127.0.0.1): %v", addr, err)
	}
	l := &listener{port: ln.Addr().(*net.TCPAddr).Port}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			if banner != "" {
				_, _ = c.Write([]byte(banner))
			}
			// Held open until the prober closes it: it reads nothing.
			go func() { _, _ = c.Read(make([]byte, 1)); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return l
}

// closedPort is a port on addr where nothing listens: a connection is
// reset.
func closedPort(t testing.TB, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// filteredPort is a port on addr that answers nothing: a listener with a
// backlog of 0 whose accept queue the test fills with one connection it
// never accepts, so the kernel drops every further SYN, as a firewall
// that drops would.
func filteredPort(t testing.TB, addr string) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	a := netip.MustParseAddr(addr).As4()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: a}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), 200*time.Millisecond)
		if err != nil {
			break // the queue is full: SYNs are dropped now
		}
		t.Cleanup(func() { c.Close() })
		if i == 8 {
			t.Skip("the kernel keeps accepting connections into a listener with a backlog of 0; no filtered port to test with")
		}
	}
	return port
}

func ports(ps ...int) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// TestProbeSaysWhatEachPortAnswered: a probe of 127.0.0.2 connects to a
// port that sends a banner (with control characters: it stays quoted
// text), one that sends nothing, one where nothing listens and one that
// drops SYNs, and reports them open with the banner, open, closed and
// filtered, in the order configured.
func TestProbeSaysWhatEachPortAnswered(t *testing.T) {
	const addr = "127.0.0.2"
	ssh := listen(t, addr, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x1b[31mred")
	quiet := listen(t, addr, "")
	closed := closedPort(t, addr)
	filtered := filteredPort(t, addr)
	m := build(t, "    allow: [127.0.0.2/32]\n    ports: "+ports(ssh.port, quiet.port, closed, filtered)+
		"\n    timeout: 300ms\n    banner_bytes: 64\n    banner_wait: 200ms\n", clock.NewManual(t0))
	plan, err := m.Plan(probeReq(addr))
	want := "connect over TCP to 127.0.0.2 ports " + strings.Trim(ports(ssh.port, quiet.port, closed, filtered), "[]") +
		" from this monitor's host, each within 300ms, reading up to 64 bytes of what an open port sends first within 200ms, sending nothing; report each port open, closed or filtered (at most 20 probes per 1h0m0s)"
	if err != nil || plan != want {
		t.Errorf("Plan = %q, %v\nwant %q", plan, err, want)
	}
	out, err := m.Execute(context.Background(), probeReq(addr))
	if err != nil {
		t.Fatal(err)
	}
	want = "probed 127.0.0.2: " +
		strconv.Itoa(ssh.port) + `/tcp open "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x1b[31mred", ` +
		strconv.Itoa(quiet.port) + "/tcp open, " +
		strconv.Itoa(closed) + "/tcp closed, " +
		strconv.Itoa(filtered) + "/tcp filtered (no answer within 300ms)"
	if out.Detail != want {
		t.Errorf("outcome\n%q\nwant\n%q", out.Detail, want)
	}
	if strings.ContainsAny(out.Detail, "\r\n\x1b") {
		t.Error("a control character of the banner reached the outcome")
	}
	if ssh.accepted.Load() != 1 || quiet.accepted.Load() != 1 {
		t.Errorf("connections accepted: %d and %d, want one each", ssh.accepted.Load(), quiet.accepted.Load())
	}
}

// TestOnlyAllowedAddressesAreProbed: an address outside the allow ranges,
// and any address when none are configured (the default), is refused by
// Plan and by Execute, and no connection reaches it; a range subject is
// never probed.
func TestOnlyAllowedAddressesAreProbed(t *testing.T) {
	outside := listen(t, "127.0.0.3", "hello")
	inside := listen(t, "127.0.0.2", "")
	m := build(t, "    allow: [127.0.0.2/32, 192.0.2.128/25]\n    ports: "+ports(outside.port, inside.port)+"\n", clock.NewManual(t0))
	if _, err := m.Plan(probeReq("127.0.0.3")); err == nil || !strings.Contains(err.Error(), "127.0.0.3 is outside the ranges that may be probed (127.0.0.2/32, 192.0.2.128/25)") {
		t.Errorf("Plan of an address outside: %v", err)
	}
	if _, err := m.Execute(context.Background(), probeReq("127.0.0.3")); !errors.Is(err, action.ErrRefused) {
		t.Errorf("Execute of an address outside: %v, want a refusal", err)
	}
	none := build(t, "    ports: "+ports(inside.port)+"\n", clock.NewManual(t0))
	if _, err := none.Plan(probeReq("127.0.0.2")); err == nil || !strings.Contains(err.Error(), "no allow ranges are configured") {
		t.Errorf("Plan without allow ranges: %v", err)
	}
	if _, err := none.Execute(context.Background(), probeReq("127.0.0.2")); !errors.Is(err, action.ErrRefused) {
		t.Errorf("Execute without allow ranges: %v, want a refusal", err)
	}
	rangeReq := probeReq("127.0.0.2")
	rangeReq.Subject = action.Subject{Prefix: netip.MustParsePrefix("127.0.0.2/32")}
	if _, err := m.Plan(rangeReq); err == nil || !strings.Contains(err.Error(), "only single addresses are probed") {
		t.Errorf("Plan of a range: %v", err)
	}
	for _, a := range []string{"0.0.0.0", "224.0.0.1", "255.255.255.255"} {
		if _, err := m.Plan(probeReq(a)); err == nil {
			t.Errorf("Plan of %s: no error", a)
		}
	}
	if n := outside.accepted.Load() + inside.accepted.Load(); n != 0 {
		t.Errorf("%d connections reached addresses that were refused", n)
	}
}

// TestBudgetBoundsProbes: beyond its own budget the method refuses
// (ErrBudget, a refusal) and connects to nothing, until the window has
// passed on the injected clock.
func TestBudgetBoundsProbes(t *testing.T) {
	l := listen(t, "127.0.0.2", "")
	clk := clock.NewManual(t0)
	m := build(t, "    allow: [127.0.0.0/8]\n    ports: "+ports(l.port)+"\n    budget: {count: 2, per: 1m}\n", clk)
	for i := range 2 {
		if _, err := m.Execute(context.Background(), probeReq("127.0.0.2")); err != nil {
			t.Fatalf("probe %d: %v", i+1, err)
		}
		clk.Advance(10 * time.Second)
	}
	_, err := m.Execute(context.Background(), probeReq("127.0.0.2"))
	if !errors.Is(err, ErrBudget) || !errors.Is(err, action.ErrRefused) || !strings.Contains(err.Error(), "2 probes per 1m0s (the next is allowed in 40s)") {
		t.Errorf("third probe within the minute: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "the 2 connections of the probes within the budget", func() bool { return l.accepted.Load() == 2 })
	clk.Advance(40 * time.Second)
	if _, err := m.Execute(context.Background(), probeReq("127.0.0.2")); err != nil {
		t.Errorf("a probe once the first left the window: %v", err)
	}
}

// TestDeadlineBoundsTheProbe: the decision unit's deadline for an action
// ends a probe whose ports would take longer.
func TestDeadlineBoundsTheProbe(t *testing.T) {
	filtered := filteredPort(t, "127.0.0.2")
	m := build(t, "    allow: [127.0.0.2]\n    ports: "+ports(filtered)+"\n    timeout: 5s\n", clock.NewManual(t0))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	out, err := m.Execute(ctx, probeReq("127.0.0.2"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("outcome %q, error %v, want the deadline", out.Detail, err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the probe took %v past a 200ms deadline", took)
	}
}
