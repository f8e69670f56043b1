package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace a test created with `ip netns add`; it is
// deleted, with the links inside it, when the test ends. Tests that act
// on a network (firewall tables, connection tracking, sockets) act only
// inside namespaces of their own.
type Netns struct {
	// Name is the namespace's name for `ip netns`.
	Name string
	// Path is the namespace's file (/run/netns/NAME), which setns and
	// netlink sockets take.
	Path string
}

var netnsSeq atomic.Int64

// RequireNetns skips the test, with the reason, unless it runs as root
// with the ip command (iproute2) at hand.
func RequireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := ipPath(); err != nil {
		t.Skip("network namespaces need the ip command (Debian iproute2)")
	}
}

func ipPath() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("ip not found")
}

// IP runs the ip command with args, failing the test on error, and returns
// its output.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	p, err := ipPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out)
}

// NewNetns creates a network namespace with its loopback up, deleted when
// the test ends. It skips the test when namespaces cannot be made.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	RequireNetns(t)
	name := fmt.Sprintf("vt%d-%d", os.Getpid()%100000, netnsSeq.Add(1))
	IP(t, "netns", "add", name)
	t.Cleanup(func() {
		p, _ := ipPath()
		_ = exec.Command(p, "netns", "del", name).Run()
	})
	n := &Netns{Name: name, Path: "/run/netns/" + name}
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// IP runs the ip command inside the namespace (ip -n NAME args...).
func (n *Netns) IP(t testing.TB, args ...string) string {
	t.Helper()
	return IP(t, append([]string{"-n", n.Name}, args...)...)
}

// Exec runs a command inside the namespace and returns its combined
// output and error.
func (n *Netns) Exec(name string, args ...string) (string, error) {
	p, err := ipPath()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(p, append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	return string(out), err
}

// Do runs fn on an OS thread that has entered the namespace, and waits for
// it. Sockets fn creates belong to the namespace for their whole life,
// whichever goroutine uses them afterwards; goroutines fn starts do not
// run in the namespace. The thread is discarded afterwards.
func (n *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Locked and never unlocked: the thread ends with the goroutine,
		// so no other goroutine runs in the namespace by accident.
		runtime.LockOSThread()
		f, err := os.Open(n.Path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Link joins two namespaces with a veth pair, brings both ends up and
// gives each end its addresses (CIDR notation; IPv6 addresses skip
// duplicate address detection). It returns the two ends' names.
func Link(t testing.TB, a *Netns, aAddrs []string, b *Netns, bAddrs []string) (string, string) {
	t.Helper()
	seq := netnsSeq.Add(1)
	an, bn := fmt.Sprintf("va%d", seq), fmt.Sprintf("vb%d", seq)
	IP(t, "link", "add", an, "netns", a.Name, "type", "veth", "peer", "name", bn, "netns", b.Name)
	for _, side := range []struct {
		ns    *Netns
		link  string
		addrs []string
	}{{a, an, aAddrs}, {b, bn, bAddrs}} {
		for _, addr := range side.addrs {
			args := []string{"addr", "add", addr, "dev", side.link}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			side.ns.IP(t, args...)
		}
		side.ns.IP(t, "link", "set", side.link, "up")
	}
	return an, bn
}
