package firewall

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// sockDestroy is the sock_diag request that ends a socket (SOCK_DESTROY
// in linux/sock_diag.h), answered by kernels built with
// CONFIG_INET_DIAG_DESTROY.
const sockDestroy = 21

// ErrDestroyUnsupported is returned when the kernel cannot end sockets on
// request: it was built without CONFIG_INET_DIAG_DESTROY.
var ErrDestroyUnsupported = errors.New("the kernel cannot end sockets (built without CONFIG_INET_DIAG_DESTROY)")

// TCPKill ends one TCP connection held by this host, as `ss -K` does:
// the kernel closes the socket, sends the peer a reset and wakes the
// process that holds it with an error.
type TCPKill struct {
	ns  *os.File
	log *slog.Logger
}

var (
	_ action.Method = (*TCPKill)(nil)
	_ action.Closer = (*TCPKill)(nil)
)

// NewTCPKill builds a tcp-kill method.
func NewTCPKill(s TCPKillSettings, deps action.Deps) (*TCPKill, error) {
	m := &TCPKill{log: deps.Logger}
	if s.Netns != "" {
		f, err := openNetns(s.Netns)
		if err != nil {
			return nil, err
		}
		m.ns = f
	}
	return m, nil
}

// Close releases the namespace file.
func (m *TCPKill) Close() error {
	if m.ns != nil {
		return m.ns.Close()
	}
	return nil
}

// conn checks the request's connection and returns its two ends, IPv4
// ones unmapped.
func connOf(req action.Request) (local, remote netip.AddrPort, err error) {
	c := req.Subject.Conn
	if c == nil {
		return local, remote, errors.New("the subject names no connection")
	}
	local = netip.AddrPortFrom(c.Local.Addr().WithZone("").Unmap(), c.Local.Port())
	remote = netip.AddrPortFrom(c.Remote.Addr().WithZone("").Unmap(), c.Remote.Port())
	switch {
	case !local.Addr().IsValid() || !remote.Addr().IsValid():
		return local, remote, errors.New("the connection lacks an address")
	case local.Port() == 0 || remote.Port() == 0:
		return local, remote, fmt.Errorf("connection %s -> %s: port 0", local, remote)
	case local.Addr().Is4() != remote.Addr().Is4():
		return local, remote, fmt.Errorf("connection %s -> %s: the ends are of different families", local, remote)
	case local.Addr().IsUnspecified() || remote.Addr().IsUnspecified():
		return local, remote, fmt.Errorf("connection %s -> %s: an unspecified address", local, remote)
	}
	return local, remote, nil
}

// Plan implements action.Method.
func (m *TCPKill) Plan(req action.Request) (string, error) {
	l, r, err := connOf(req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("end TCP connection %s -> %s", l, r), nil
}

// Execute implements action.Method. A connection that is not there (it
// ended already, or was never open here) is no error: the outcome says so.
func (m *TCPKill) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	l, r, err := connOf(req)
	if err != nil {
		return action.Outcome{}, err
	}
	if err := ctx.Err(); err != nil {
		return action.Outcome{}, err
	}
	cfg := &netlink.Config{}
	if m.ns != nil {
		cfg.NetNS = int(m.ns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, cfg)
	if err != nil {
		return action.Outcome{}, fmt.Errorf("sock_diag: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	what := fmt.Sprintf("TCP connection %s -> %s", l, r)
	err = destroy(c, unix.AF_INET6, l, r)
	if l.Addr().Is4() && errors.Is(err, unix.ENOENT) {
		// An IPv4 connection on an IPv4 socket (one on a dual-stack
		// IPv6 socket was found above).
		err = destroy(c, unix.AF_INET, l, r)
	}
	switch {
	case err == nil:
		return action.Outcome{Detail: "ended " + what}, nil
	case errors.Is(err, unix.ENOENT):
		return action.Outcome{Detail: "no " + what + " (ended already, or never open here)"}, nil
	case errors.Is(err, unix.EOPNOTSUPP):
		return action.Outcome{}, fmt.Errorf("end %s: %w", what, ErrDestroyUnsupported)
	default:
		return action.Outcome{}, fmt.Errorf("end %s: %w", what, err)
	}
}

// destroy sends one SOCK_DESTROY request for the socket whose local end
// is l and remote end r, in family (AF_INET6 takes IPv4 ends as mapped
// addresses).
func destroy(c *netlink.Conn, family uint8, l, r netip.AddrPort) error {
	_, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: sockDestroy, Flags: netlink.Request | netlink.Acknowledge},
		Data:   diagRequest(family, unix.IPPROTO_TCP, l, r),
	})
	var oe *netlink.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// diagRequest encodes struct inet_diag_req_v2 naming one socket: family,
// protocol, extensions, padding, states; then struct inet_diag_sockid:
// ports and addresses in network order, interface, cookie (none).
func diagRequest(family, proto uint8, l, r netip.AddrPort) []byte {
	b := make([]byte, 56)
	b[0], b[1] = family, proto
	binary.NativeEndian.PutUint32(b[4:], 0xffffffff)
	binary.BigEndian.PutUint16(b[8:], l.Port())
	binary.BigEndian.PutUint16(b[10:], r.Port())
	addr := func(a netip.Addr) []byte {
		if family == unix.AF_INET6 {
			s := a.As16()
			return s[:]
		}
		s := a.As4()
		return s[:]
	}
	copy(b[12:28], addr(l.Addr()))
	copy(b[28:44], addr(r.Addr()))
	binary.NativeEndian.PutUint32(b[48:], 0xffffffff)
	binary.NativeEndian.PutUint32(b[52:], 0xffffffff)
	return b
}
