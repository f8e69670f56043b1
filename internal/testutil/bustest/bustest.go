// Package bustest runs Vigil's embedded bus (internal/bus) for tests: a
// NATS server with JetStream that listens on port 0, so the kernel picks a
// free port and the server reports the one it bound, and clients connected
// to it. It is separate from testutil because internal/bus depends on
// packages whose tests use testutil.
package bustest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/pki"
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

// LeafPair is an enterprise's bus and a site's joined by a leaf node, as
// the hierarchy runs them: the site's (JetStream domain Domain) dials the
// hub's (domain "ent") with a monitor certificate of a test CA; the hub
// takes leaf connections with mutual TLS. Connect connects in-process to
// either, with Vigil's streams in place.
type LeafPair struct {
	Hub, Site *bus.Server
	Domain    string
}

// leafUser is the in-process identity of both servers of a LeafPair.
var leafUser = bus.User{Name: "local", Password: "local-secret"}

// StartLeafPair starts a LeafPair whose site has domain domain and waits
// until the link is up.
func StartLeafPair(t testing.TB, domain string) *LeafPair {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.Init(filepath.Join(dir, "ca"), pki.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string) (string, string) {
		is, err := ca.Issue(pki.RoleMonitor, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(dir, name)
		if err := os.WriteFile(base+".crt", is.CertPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+".key", is.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		return base + ".crt", base + ".key"
	}
	caFile, crlFile := filepath.Join(ca.Dir, pki.CACertFile), filepath.Join(ca.Dir, pki.CRLFile)
	hubCert, hubKey := issue("127.0.0.1")
	hub := Start(t, bus.ServerOptions{
		Name: "vigil-ent", JetStreamDomain: "ent", Users: []bus.User{leafUser},
		TLS:  bus.ServerTLS{CertFile: hubCert, KeyFile: hubKey, ClientCAFile: caFile, CRLFile: crlFile},
		Leaf: bus.LeafOptions{Listen: "127.0.0.1:0"},
	})
	siteCert, siteKey := issue(domain)
	site := Start(t, bus.ServerOptions{
		Name: "vigil-" + domain, JetStreamDomain: domain, Users: []bus.User{leafUser},
		Leaf: bus.LeafOptions{ReconnectWait: 100 * time.Millisecond, Remotes: []bus.LeafRemote{{
			URLs: []string{hub.LeafURL()}, CAFile: caFile, CertFile: siteCert, KeyFile: siteKey, CRLFile: crlFile,
		}}},
	})
	testutil.WaitFor(t, 15*time.Second, "the leaf link", func() bool { return len(hub.LeafLinks()) > 0 && len(site.LeafLinks()) > 0 })
	return &LeafPair{Hub: hub, Site: site, Domain: domain}
}

// Connect connects a client named name in-process to s (the pair's hub
// or site), with Vigil's streams in place, closed when the test ends.
func (p *LeafPair) Connect(t testing.TB, s *bus.Server, name string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(context.Background(), bus.ClientOptions{Embedded: s, Name: name, User: leafUser.Name, Password: leafUser.Password, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.EnsureStreams(context.Background(), bus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	return c
}
