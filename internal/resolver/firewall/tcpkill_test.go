package firewall

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// serverEnd returns the server's end of the connection whose client end
// is local.
func (l *netLab) serverEnd(t *testing.T, client net.Conn) netip.AddrPort {
	t.Helper()
	want := client.LocalAddr().(*net.TCPAddr).AddrPort()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.accepted {
		if r := c.RemoteAddr().(*net.TCPAddr).AddrPort(); netip.AddrPortFrom(r.Addr().Unmap(), r.Port()) == want {
			a := c.LocalAddr().(*net.TCPAddr).AddrPort()
			return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		}
	}
	t.Fatalf("the server holds no connection from %s", want)
	return netip.AddrPort{}
}

// tcp-kill ends one established connection on the host that holds it
// (here the server's namespace): its peer sees the connection reset or
// closed, and another connection from the same address carries on.
func TestTCPKillEndsOneConnection(t *testing.T) {
	l := newNetLab(t)
	s := TCPKillSettings{Netns: l.server.Path}
	m, err := NewTCPKill(s, action.Deps{Name: "kill", Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, from := range []netip.Addr{blockV4, blockV6} {
		t.Run(from.String(), func(t *testing.T) {
			victim, err := l.dial(from)
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close()
			bystander, err := l.dial(from)
			if err != nil {
				t.Fatal(err)
			}
			defer bystander.Close()

			conn := &action.Conn{Local: l.serverEnd(t, victim), Remote: victim.LocalAddr().(*net.TCPAddr).AddrPort()}
			req := action.Request{ID: "d1", Method: "kill", Kind: KindTCPKill, Key: "k", Subject: action.Subject{Conn: conn}}
			plan, err := m.Plan(req)
			if err != nil || plan != "end TCP connection "+conn.Local.String()+" -> "+conn.Remote.String() {
				t.Errorf("plan %q, %v", plan, err)
			}
			out, err := m.Execute(context.Background(), req)
			if errors.Is(err, ErrDestroyUnsupported) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.Detail, "ended TCP connection") {
				t.Errorf("detail %q", out.Detail)
			}
			_ = victim.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = victim.Read(make([]byte, 1))
			var ne net.Error
			if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
				t.Fatalf("the peer of the ended connection read %v, want a reset or end of stream", err)
			}
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("the peer saw %v, want a reset or end of stream", err)
			}
			if err := echo(bystander); err != nil {
				t.Errorf("the other connection from %s was hit: %v", from, err)
			}

			again, err := m.Execute(context.Background(), req)
			if err != nil || !strings.HasPrefix(again.Detail, "no TCP connection") {
				t.Errorf("ending it again: %q, %v", again.Detail, err)
			}
			// The listener on the port is never taken for the
			// connection that is gone.
			l.mustReach(t, from)
		})
	}
}
