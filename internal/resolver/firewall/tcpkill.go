package firewall

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

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
	netns
	log *slog.Logger
}

var (
	_ action.Method = (*TCPKill)(nil)
	_ action.Closer = (*TCPKill)(nil)
)

// NewTCPKill builds a tcp-kill method.
func NewTCPKill(s TCPKillSettings, deps action.Deps) (*TCPKill, error) {
	m := &TCPKill{log: deps.Logger}
	if err := m.open(s.Netns); err != nil {
		return nil, err
	}
	return m, nil
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
	// The socket is found by a dump first, and destroyed by its cookie:
	// a destroy naming only addresses would, for a connection that is
	// gone, fall through to the listening socket on the port and close
	// it.
	var found []diagSocket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := dumpTCP(c, family)
		if err != nil {
			return action.Outcome{}, fmt.Errorf("end %s: list sockets: %w", what, err)
		}
		for _, s := range socks {
			if s.local == l && s.remote == r {
				found = append(found, s)
			}
		}
	}
	if len(found) == 0 {
		return action.Outcome{Detail: "no " + what + " (ended already, or never open here)"}, nil
	}
	for _, s := range found {
		err := destroy(c, s)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EOPNOTSUPP):
			return action.Outcome{}, fmt.Errorf("end %s: %w", what, ErrDestroyUnsupported)
		default:
			return action.Outcome{}, fmt.Errorf("end %s: %w", what, err)
		}
	}
	return action.Outcome{Detail: "ended " + what}, nil
}

// TCP states (linux/tcp_states.h) a connection to end may be in: all but
// LISTEN (a listener is never ended), TIME_WAIT and CLOSE (nothing left
// to end) and NEW_SYN_RECV (a request, not yet a socket).
const killStates = 0xfff &^ (1<<10 | 1<<6 | 1<<7)

// diagSocket is one socket of a sock_diag dump.
type diagSocket struct {
	family        uint8
	state         uint8
	local, remote netip.AddrPort // IPv4 ends unmapped
	id            []byte         // struct inet_diag_sockid as the kernel sent it
}

// dumpTCP lists the family's TCP sockets in killStates.
func dumpTCP(c *netlink.Conn, family uint8) ([]diagSocket, error) {
	req := make([]byte, 56)
	req[0], req[1] = family, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[4:], killStates)
	binary.NativeEndian.PutUint32(req[48:], 0xffffffff)
	binary.NativeEndian.PutUint32(req[52:], 0xffffffff)
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
		Data:   req,
	})
	if err != nil {
		return nil, err
	}
	out := make([]diagSocket, 0, len(msgs))
	for _, m := range msgs {
		s, err := parseDiagMsg(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseDiagMsg decodes the head of a struct inet_diag_msg: family, state,
// timer, retransmits, then struct inet_diag_sockid (ports and addresses
// in network order, interface, cookie).
func parseDiagMsg(b []byte) (diagSocket, error) {
	if len(b) < 52 {
		return diagSocket{}, fmt.Errorf("sock_diag: a socket message of %d bytes", len(b))
	}
	s := diagSocket{family: b[0], state: b[1], id: append([]byte(nil), b[4:52]...)}
	addr := func(off int) (netip.Addr, error) {
		switch s.family {
		case unix.AF_INET:
			return netip.AddrFrom4([4]byte(b[off : off+4])), nil
		case unix.AF_INET6:
			return netip.AddrFrom16([16]byte(b[off : off+16])).Unmap(), nil
		}
		return netip.Addr{}, fmt.Errorf("sock_diag: address family %d", s.family)
	}
	la, err := addr(8)
	if err != nil {
		return s, err
	}
	ra, err := addr(24)
	if err != nil {
		return s, err
	}
	s.local = netip.AddrPortFrom(la, binary.BigEndian.Uint16(b[4:]))
	s.remote = netip.AddrPortFrom(ra, binary.BigEndian.Uint16(b[6:]))
	return s, nil
}

// destroy sends SOCK_DESTROY for one socket of a dump, named by its
// full id, cookie included.
func destroy(c *netlink.Conn, s diagSocket) error {
	req := make([]byte, 8, 56)
	req[0], req[1] = s.family, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[4:], killStates)
	req = append(req, s.id...)
	_, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: sockDestroy, Flags: netlink.Request | netlink.Acknowledge},
		Data:   req,
	})
	var oe *netlink.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
