package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// newCA makes a CA in a temporary directory on a manual clock reading the
// wall clock's time (TLS's own checks use the same clock).
func newCA(t *testing.T) (*CA, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Now())
	ca, err := Init(t.TempDir(), InitOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return ca, clk
}

// keyPair issues a certificate and returns it ready for TLS, the CA in its
// chain.
func keyPair(t *testing.T, ca *CA, role Role, name string) tls.Certificate {
	t.Helper()
	is, err := ca.Issue(role, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadKeyPair(filepath.Join(ca.Dir, IssuedDir, name+".crt"), filepath.Join(ca.Dir, IssuedDir, name+".key"), ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil || c.Leaf.SerialNumber.Cmp(is.Cert.SerialNumber) != 0 {
		t.Fatal("the key pair read back is not the certificate issued")
	}
	return c
}

// verifier returns a verifier for ca with ca's current CRL.
func verifier(t *testing.T, ca *CA, clk clock.Clock) *Verifier {
	t.Helper()
	v := NewVerifier(ca.Cert, clk)
	b, err := ca.CRLPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetCRL(b); err != nil {
		t.Fatal(err)
	}
	return v
}

// handshake runs one TLS connection over loopback between a server and a
// client configuration, and returns each side's error. The server writes
// one byte after its handshake and the client reads it, so a client
// certificate the server refuses (reported after the client's own
// handshake under TLS 1.3) shows on the client too.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, server)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = tc.Write([]byte{1})
		done <- err
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(conn, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		var b [1]byte
		_, clientErr = tc.Read(b[:])
	}
	tc.Close()
	select {
	case serverErr = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the server side did not finish its handshake within 5 s")
	}
	return serverErr, clientErr
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInitMakesAPrivateCAAndRefusesToReplaceIt(t *testing.T) {
	ca, _ := newCA(t)
	if m := mode(t, filepath.Join(ca.Dir, CAKeyFile)); m != 0o600 {
		t.Errorf("ca.key mode %04o, want 0600", m)
	}
	if !ca.Cert.IsCA || ca.Cert.PublicKeyAlgorithm != x509.ECDSA || ca.Cert.SerialNumber.BitLen() < 120 {
		t.Errorf("CA certificate: IsCA %v, algorithm %v, serial of %d bits; want a CA, ECDSA, a 128-bit random serial", ca.Cert.IsCA, ca.Cert.PublicKeyAlgorithm, ca.Cert.SerialNumber.BitLen())
	}
	if crl, err := ca.CRL(); err != nil || len(crl.RevokedCertificateEntries) != 0 || !crl.NextUpdate.After(time.Now()) {
		t.Fatalf("a new CA's CRL: %v (err %v); want an empty, current CRL", crl, err)
	}
	if _, err := Init(ca.Dir, InitOptions{}); !errors.Is(err, ErrCAExists) {
		t.Fatalf("Init over an existing CA: %v, want ErrCAExists", err)
	}
	again, err := Load(ca.Dir, nil)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("the refused Init changed the CA (load: %v)", err)
	}
	forced, err := Init(ca.Dir, InitOptions{Force: true})
	if err != nil || forced.Cert.Equal(ca.Cert) {
		t.Fatalf("Init with Force: %v; want a new CA", err)
	}
	os.Chmod(filepath.Join(ca.Dir, CAKeyFile), 0o640)
	if _, err := Load(ca.Dir, nil); err == nil {
		t.Fatal("Load accepted a CA key that its group may read")
	}
}

func TestIssuedCertificateCarriesRoleNameAndUsage(t *testing.T) {
	ca, _ := newCA(t)
	for _, tc := range []struct {
		role       Role
		name       string
		serverAuth bool
	}{
		{RoleAgent, "host-7", false},
		{RoleNetsensor, "10.0.0.3", false},
		{RoleMonitor, "mon.example.org", true},
		{RoleOperator, "alice", false},
	} {
		is, err := ca.Issue(tc.role, tc.name, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := is.Cert
		if c.Subject.CommonName != tc.name || len(c.Subject.OrganizationalUnit) != 1 || c.Subject.OrganizationalUnit[0] != string(tc.role) {
			t.Errorf("%s: subject %v, want CN %s, OU %s", tc.name, c.Subject, tc.name, tc.role)
		}
		if ip := net.ParseIP(tc.name); ip != nil {
			if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(ip) || len(c.DNSNames) != 0 {
				t.Errorf("%s: SAN IPs %v DNS %v, want the IP only", tc.name, c.IPAddresses, c.DNSNames)
			}
		} else if len(c.DNSNames) != 1 || c.DNSNames[0] != tc.name || len(c.IPAddresses) != 0 {
			t.Errorf("%s: SAN DNS %v IPs %v, want the name only", tc.name, c.DNSNames, c.IPAddresses)
		}
		hasServer := false
		for _, u := range c.ExtKeyUsage {
			hasServer = hasServer || u == x509.ExtKeyUsageServerAuth
		}
		if hasServer != tc.serverAuth {
			t.Errorf("%s (%s): server auth %v, want %v", tc.name, tc.role, hasServer, tc.serverAuth)
		}
		if c.SerialNumber.BitLen() < 120 || c.SerialNumber.Sign() <= 0 {
			t.Errorf("%s: serial of %d bits, want a positive 128-bit random serial", tc.name, c.SerialNumber.BitLen())
		}
		if m := mode(t, filepath.Join(ca.Dir, IssuedDir, tc.name+".key")); m != 0o600 {
			t.Errorf("%s.key mode %04o, want 0600", tc.name, m)
		}
	}
	for _, bad := range []string{"", "../ca", "a/b", "a..b", ".hidden", "-x", "host name", "h\x00"} {
		if _, err := ca.Issue(RoleAgent, bad, 0); err == nil {
			t.Errorf("Issue accepted the name %q", bad)
		}
	}
	if _, err := ca.Issue(Role("root"), "h", 0); err == nil {
		t.Error("Issue accepted the role root")
	}
}

func TestTLSAdmitsOnlyTheExpectedRoles(t *testing.T) {
	ca, clk := newCA(t)
	v := verifier(t, ca, clk)
	srv := keyPair(t, ca, RoleMonitor, "localhost")
	agent := keyPair(t, ca, RoleAgent, "host-7")
	operator := keyPair(t, ca, RoleOperator, "alice")

	serverCfg := v.ServerTLS(srv, RoleAgent, RoleNetsensor)
	if se, ce := handshake(t, serverCfg, v.ClientTLS(&agent, "localhost", RoleMonitor)); se != nil || ce != nil {
		t.Fatalf("an agent to a monitor: server %v, client %v; want a connection", se, ce)
	}
	se, ce := handshake(t, serverCfg, v.ClientTLS(&operator, "localhost", RoleMonitor))
	if !errors.Is(se, ErrWrongRole) || ce == nil {
		t.Fatalf("an operator where agents are expected: server %v, client %v; want ErrWrongRole and a refused client", se, ce)
	}
	// A server that is not a monitor is refused by its clients.
	impostor := keyPair(t, ca, RoleAgent, "localhost")
	if _, ce := handshake(t, v.ServerTLS(impostor, RoleAgent), v.ClientTLS(&agent, "localhost", RoleMonitor)); ce == nil {
		t.Fatal("a client accepted a server whose certificate is an agent's")
	}
	// A certificate of another CA is untrusted.
	other, _ := newCA(t)
	stranger := keyPair(t, other, RoleAgent, "host-7")
	if _, err := v.Verify([]*x509.Certificate{stranger.Leaf}, x509.ExtKeyUsageClientAuth, RoleAgent); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("another CA's certificate: %v, want ErrUntrusted", err)
	}
	if se, _ := handshake(t, serverCfg, v.ClientTLS(&stranger, "localhost", RoleMonitor)); se == nil {
		t.Fatal("the server admitted a client of another CA")
	}
}

func TestRevokedCertificateRefusedAfterOneRefresh(t *testing.T) {
	ca, clk := newCA(t)
	v := NewVerifier(ca.Cert, clk)
	r := &CRLReloader{Path: filepath.Join(ca.Dir, CRLFile), Verifier: v, Interval: 10 * time.Second, Clock: clk, Log: testutil.Quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-ended
	}()
	testutil.WaitFor(t, 5*time.Second, "the first CRL load", func() bool { return r.Loads() >= 1 })

	srv := keyPair(t, ca, RoleMonitor, "localhost")
	agent := keyPair(t, ca, RoleAgent, "host-7")
	keyPair(t, ca, RoleAgent, "host-8")
	serverCfg, clientCfg := v.ServerTLS(srv, RoleAgent), v.ClientTLS(&agent, "localhost", RoleMonitor)
	if se, ce := handshake(t, serverCfg, clientCfg); se != nil || ce != nil {
		t.Fatalf("before revocation: server %v, client %v", se, ce)
	}
	serials, err := ca.RevokeName("host-7")
	if err != nil || len(serials) != 1 || serials[0].Cmp(agent.Leaf.SerialNumber) != 0 {
		t.Fatalf("RevokeName: %v %v; want host-7's one serial", serials, err)
	}
	// Until the next refresh the verifier holds the CRL it read.
	if _, err := v.Verify([]*x509.Certificate{agent.Leaf}, x509.ExtKeyUsageClientAuth, RoleAgent); err != nil {
		t.Fatalf("before the refresh: %v", err)
	}
	loads := r.Loads()
	clk.Advance(10 * time.Second)
	testutil.WaitFor(t, 5*time.Second, "the refresh", func() bool { return r.Loads() > loads })
	if _, err := v.Verify([]*x509.Certificate{agent.Leaf}, x509.ExtKeyUsageClientAuth, RoleAgent); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after one refresh: %v, want ErrRevoked", err)
	}
	if se, _ := handshake(t, serverCfg, clientCfg); !errors.Is(se, ErrRevoked) {
		t.Fatalf("a revoked agent's connection: server %v, want ErrRevoked", se)
	}
	other, err := LoadKeyPair(filepath.Join(ca.Dir, IssuedDir, "host-8.crt"), filepath.Join(ca.Dir, IssuedDir, "host-8.key"), ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if se, ce := handshake(t, serverCfg, v.ClientTLS(&other, "localhost", RoleMonitor)); se != nil || ce != nil {
		t.Fatalf("another agent after host-7's revocation: server %v, client %v", se, ce)
	}
	// Revoking a name revokes the certificates it replaced too.
	revoked := agent.Leaf
	if _, err := ca.Issue(RoleAgent, "host-8", 0); err != nil {
		t.Fatal(err)
	}
	serials, err = ca.RevokeName("host-8")
	if err != nil || len(serials) != 2 {
		t.Fatalf("RevokeName of a name issued twice: %d serials (%v), want 2", len(serials), err)
	}
	if fresh, err := ca.Revoke(revoked.SerialNumber); err != nil || fresh {
		t.Fatalf("Revoke of a serial already revoked: new %v, err %v; want false, nil", fresh, err)
	}
}

func TestWithoutAUsableCRLEveryPeerIsRefused(t *testing.T) {
	ca, clk := newCA(t)
	agent := keyPair(t, ca, RoleAgent, "host-7")
	chain := []*x509.Certificate{agent.Leaf}
	verify := func(v *Verifier) error {
		_, err := v.Verify(chain, x509.ExtKeyUsageClientAuth, RoleAgent)
		return err
	}

	v := NewVerifier(ca.Cert, clk)
	if err := verify(v); !errors.Is(err, ErrCRLMissing) {
		t.Fatalf("a verifier never given a CRL: %v, want ErrCRLMissing", err)
	}
	srv := keyPair(t, ca, RoleMonitor, "localhost")
	if se, _ := handshake(t, v.ServerTLS(srv, RoleAgent), verifier(t, ca, clk).ClientTLS(&agent, "localhost", RoleMonitor)); !errors.Is(se, ErrCRLMissing) {
		t.Fatalf("a server without a CRL: %v, want ErrCRLMissing", se)
	}

	crlPath := filepath.Join(ca.Dir, CRLFile)
	r := &CRLReloader{Path: crlPath, Verifier: v, Clock: clk}
	if err := r.Load(); err != nil || verify(v) != nil {
		t.Fatalf("after loading the CRL: load %v, verify %v", err, verify(v))
	}
	good, _ := os.ReadFile(crlPath)
	os.Remove(crlPath)
	if err := r.Load(); !errors.Is(err, ErrCRLMissing) || !errors.Is(verify(v), ErrCRLMissing) {
		t.Fatalf("the CRL file removed: load %v, verify %v; want ErrCRLMissing for both", err, verify(v))
	}

	os.WriteFile(crlPath, []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), 0o644)
	if err := r.Load(); !errors.Is(err, ErrCRLInvalid) || !errors.Is(verify(v), ErrCRLInvalid) {
		t.Fatalf("a garbled CRL: load %v, verify %v; want ErrCRLInvalid", err, verify(v))
	}
	other, _ := newCA(t)
	foreign, _ := os.ReadFile(filepath.Join(other.Dir, CRLFile))
	os.WriteFile(crlPath, foreign, 0o644)
	if err := r.Load(); !errors.Is(err, ErrCRLInvalid) || !errors.Is(verify(v), ErrCRLInvalid) {
		t.Fatalf("another CA's CRL: load %v, verify %v; want ErrCRLInvalid", err, verify(v))
	}

	os.WriteFile(crlPath, good, 0o644)
	if err := r.Load(); err != nil || verify(v) != nil {
		t.Fatalf("the good CRL back: load %v, verify %v", err, verify(v))
	}
	clk.Advance(DefaultCRLValidity + time.Second)
	if err := verify(v); !errors.Is(err, ErrCRLStale) {
		t.Fatalf("past the CRL's next update: %v, want ErrCRLStale", err)
	}
	if err := ca.RenewCRL(0); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(); err != nil || verify(v) != nil {
		t.Fatalf("after vigil pki crl signed it again: load %v, verify %v", err, verify(v))
	}
	// The older CRL put back is refused for its number, at the load
	// (staleness counts only when a peer is verified): it may lack later
	// revocations.
	os.WriteFile(crlPath, good, 0o644)
	if err := r.Load(); !errors.Is(err, ErrCRLInvalid) || !errors.Is(verify(v), ErrCRLInvalid) {
		t.Fatalf("an older CRL put back: load %v, verify %v; want ErrCRLInvalid", err, verify(v))
	}
}

func TestKeepCRLCurrentSignsTheCRLBeforeItGoesStale(t *testing.T) {
	ca, clk := newCA(t)
	first, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { ca.KeepCRLCurrent(ctx, time.Hour, testutil.Quiet()); close(ended) }()
	defer func() { cancel(); <-ended }()
	v := NewVerifier(ca.Cert, clk)
	r := &CRLReloader{Path: filepath.Join(ca.Dir, CRLFile), Verifier: v}
	agent := keyPair(t, ca, RoleAgent, "host-7")
	// Day by day for three weeks: the verifier never finds the CRL stale.
	for day := 1; day <= 21; day++ {
		clk.Advance(24 * time.Hour)
		testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("a current CRL on day %d", day), func() bool {
			crl, err := ca.CRL()
			return err == nil && crl.NextUpdate.After(clk.Now().Add(DefaultCRLValidity/2-time.Hour))
		})
		if err := r.Load(); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify([]*x509.Certificate{agent.Leaf}, x509.ExtKeyUsageClientAuth, RoleAgent); err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
	}
	if last, _ := ca.CRL(); last.Number.Cmp(first.Number) <= 0 {
		t.Fatalf("CRL number %v after renewals, first %v: want it to grow", last.Number, first.Number)
	}
}

func TestOpenVerifierReadsTheCRLAtOnceAndOnEveryRefresh(t *testing.T) {
	ca, clk := newCA(t)
	agent := keyPair(t, ca, RoleAgent, "host-7")
	crlPath := filepath.Join(ca.Dir, CRLFile)
	good, _ := os.ReadFile(crlPath)
	os.Remove(crlPath)
	ctx, cancel := context.WithCancel(context.Background())
	v, done, err := OpenVerifier(ctx, filepath.Join(ca.Dir, CACertFile), crlPath, time.Minute, clk, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	verify := func() error {
		_, err := v.Verify([]*x509.Certificate{agent.Leaf}, x509.ExtKeyUsageClientAuth, RoleAgent)
		return err
	}
	if err := verify(); !errors.Is(err, ErrCRLMissing) {
		t.Fatalf("opened without a CRL file: %v, want ErrCRLMissing", err)
	}
	os.WriteFile(crlPath, good, 0o644)
	clk.Advance(time.Minute)
	testutil.WaitFor(t, 5*time.Second, "the CRL read at the refresh", func() bool { return verify() == nil })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reloader did not stop with its context")
	}
	if _, _, err := OpenVerifier(context.Background(), filepath.Join(ca.Dir, "nope.crt"), crlPath, 0, clk, nil); err == nil {
		t.Fatal("OpenVerifier without a CA certificate")
	}
}
