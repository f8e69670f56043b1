package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/pki"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestPKIAndEnrolment runs the CA's verbs and an enrolment as an operator
// and a host would: vigil pki init, issue, token, serve-enroll; vigil
// enroll (once only, and never to a server of another CA); vigil pki
// revoke.
func TestPKIAndEnrolment(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "pki")
	out, code := run(t, "", "pki", "init", "--dir", ca)
	fp := regexp.MustCompile(`fingerprint (sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if code != 0 || fp == nil {
		t.Fatalf("pki init: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "pki", "init", "--dir", ca); code != 2 || !strings.Contains(out, "--force") {
		t.Fatalf("pki init over a CA: exit %d, want 2 and a word of --force\n%s", code, out)
	}
	if out, code := run(t, "", "pki", "issue", "--dir", ca, "--role", "monitor", "--name", "127.0.0.1"); code != 0 {
		t.Fatalf("pki issue: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "pki", "issue", "--dir", ca, "--role", "root", "--name", "x"); code != 2 || !strings.Contains(out, "role") {
		t.Fatalf("pki issue of the role root: exit %d\n%s", code, out)
	}
	out, code = run(t, "", "pki", "token", "--dir", ca, "--role", "agent", "--name", "host-7", "--log-level", "error")
	tok := regexp.MustCompile(`(?m)^token (\S+)$`).FindStringSubmatch(out)
	if code != 0 || tok == nil || !strings.Contains(out, fp[1]) {
		t.Fatalf("pki token: exit %d, want the token and the CA's fingerprint\n%s", code, out)
	}
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(tok[1]+"\n"), 0o600)

	port := testutil.FreePort(t)
	srv := start(t, "pki", "serve-enroll", "--dir", ca, "--name", "127.0.0.1", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	testutil.WaitFor(t, 10*time.Second, "the enrolment server to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// A server of another CA is refused before anything is sent.
	other := filepath.Join(dir, "other")
	run(t, "", "pki", "init", "--dir", other)
	otherCA, err := pki.ReadCACert(filepath.Join(other, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(dir, "host")
	if out, code := run(t, "", "enroll", "--server", server, "--token-file", tokenFile, "--ca-fingerprint", pki.Fingerprint(otherCA), "--name", "host-7", "--dir", host); code != 2 || !strings.Contains(out, "pinned") {
		t.Fatalf("enroll pinning another CA: exit %d, want 2 and a pin mismatch\n%s", code, out)
	}

	out, code = run(t, "", "enroll", "--server", server, "--token-file", tokenFile, "--ca-fingerprint", fp[1], "--name", "host-7", "--dir", host)
	if code != 0 || !strings.Contains(out, "enrolled as host-7 (role agent)") {
		t.Fatalf("enroll: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(filepath.Join(host, "host-7.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the enrolled key: %v, mode %v; want 0600", err, fi.Mode())
	}
	if out, code := run(t, "", "enroll", "--server", server, "--token", tok[1], "--ca-fingerprint", fp[1], "--name", "host-7", "--dir", filepath.Join(dir, "again")); code != 2 || !strings.Contains(out, "already used") {
		t.Fatalf("the token used again: exit %d, want 2, refused as used\n%s", code, out)
	}
	testutil.WaitFor(t, 5*time.Second, "the server's log of the refusal", func() bool {
		return strings.Contains(srv.Out.String(), "enrolment refused")
	})
	if strings.Contains(srv.Out.String(), tok[1]) {
		t.Fatal("the enrolment server logged the token")
	}

	// Revoked, the host's certificate is refused by a verifier reading
	// the CA's CRL.
	crt, err := os.ReadFile(filepath.Join(host, "host-7.crt"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.ParseCertPEM(crt)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := pki.ReadCACert(filepath.Join(host, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	v := pki.NewVerifier(caCert, nil)
	r := &pki.CRLReloader{Path: filepath.Join(ca, pki.CRLFile), Verifier: v}
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify([]*x509.Certificate{leaf}, x509.ExtKeyUsageClientAuth, pki.RoleAgent); err != nil {
		t.Fatalf("the enrolled certificate before revocation: %v", err)
	}
	if out, code := run(t, "", "pki", "revoke", "--dir", ca, "--name", "host-7"); code != 0 || !strings.Contains(out, fmt.Sprintf("%x", leaf.SerialNumber)) {
		t.Fatalf("pki revoke: exit %d, want host-7's serial\n%s", code, out)
	}
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify([]*x509.Certificate{leaf}, x509.ExtKeyUsageClientAuth, pki.RoleAgent); !errors.Is(err, pki.ErrRevoked) {
		t.Fatalf("the enrolled certificate after pki revoke: %v, want ErrRevoked", err)
	}
	if out, code := run(t, "", "pki", "crl", "--dir", ca); code != 0 || !strings.Contains(out, "1 revoked") {
		t.Fatalf("pki crl: exit %d\n%s", code, out)
	}
	if _, err := srv.Stop(t, 5*time.Second); err != nil {
		t.Fatalf("serve-enroll on SIGTERM: %v", err)
	}
}
