// Package bustest runs Vigil's embedded bus (internal/bus) for tests: a
// NATS server with JetStream that listens on port 0, so the kernel picks a
// free port and the server reports the one it bound, and clients connected
// to it. It is separate from testutil because internal/bus depends on
// packages whose tests use testutil.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// Start starts an embedded bus server, shut down when the test ends. Zero
// fields of o get test defaults: Listen 127.0.0.1:0 (a random port; read it
// back with Server.Addr or Server.ClientURL), StoreDir a temporary
// directory, Logger a quiet one.
func Start(t testing.TB, o bus.ServerOptions) *bus.Server {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = testutil.Quiet()
	}
	// A test's own bus; a monitor's never takes anonymous clients.
	o.AllowAnonymous = len(o.Users) == 0
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := bus.StartServer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Connect connects a client named name to s, with Vigil's streams in place,
// closed when the test ends.
func Connect(t testing.TB, s *bus.Server, name string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(context.Background(), bus.ClientOptions{URL: s.ClientURL(), Name: name, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.EnsureStreams(context.Background(), bus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// StartLocal starts an embedded bus server with the identities a monitor
// makes for itself (bus.LocalIdentities: the monitor's, with no limits,
// and the sensors', with theirs), and returns them.
func StartLocal(t testing.TB) (s *bus.Server, monitor, sensor bus.Identity) {
	t.Helper()
	monitor, sensor, err := bus.LocalIdentities(t.TempDir() + "/bus")
	if err != nil {
		t.Fatal(err)
	}
	s = Start(t, bus.ServerOptions{Users: []bus.User{bus.MonitorIdentity(monitor), bus.SensorIdentity(sensor)}})
	return s, monitor, sensor
}

// ConnectAs connects a client named name to s with identity id, without
// making streams, closed when the test ends.
func ConnectAs(t testing.TB, s *bus.Server, id bus.Identity, name string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(context.Background(), bus.ClientOptions{URL: s.ClientURL(), Name: name, User: id.User, Password: id.Password, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
