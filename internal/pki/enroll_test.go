package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
)

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type enrolEnv struct {
	ca     *CA
	clk    *clock.Manual
	tokens *TokenStore
	url    string
	log    *logBuffer
}

// startEnrolment runs an enrolment server over HTTPS on a random loopback
// port, presenting a monitor's certificate for 127.0.0.1.
func startEnrolment(t *testing.T) *enrolEnv {
	t.Helper()
	ca, clk := newCA(t)
	cert := keyPair(t, ca, RoleMonitor, "127.0.0.1")
	e := &enrolEnv{ca: ca, clk: clk, tokens: Tokens(ca.Dir, clk), log: &logBuffer{}}
	srv := &EnrollServer{CA: ca, Tokens: e.tokens, Log: slog.New(slog.NewTextHandler(e.log, nil))}
	e.url = serveTLS(t, srv, cert)
	return e
}

func serveTLS(t *testing.T, srv *EnrollServer, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- srv.Serve(ctx, ln, cert) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("enrolment server: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the enrolment server did not stop within 5 s of its context")
		}
	})
	return "https://" + ln.Addr().String()
}

func (e *enrolEnv) token(t *testing.T, role Role, name string, ttl time.Duration) string {
	t.Helper()
	text, _, err := e.tokens.Create(role, name, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func (e *enrolEnv) enroll(token, name string) (*Enrolled, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Enroll(ctx, EnrollOptions{Server: e.url, Token: token, Fingerprint: Fingerprint(e.ca.Cert), Name: name})
}

func TestEnrolmentIssuesOnceForTheTokensRoleAndName(t *testing.T) {
	e := startEnrolment(t)
	tok := e.token(t, RoleAgent, "host-7", 0)
	got, err := e.enroll(tok, "host-7")
	if err != nil {
		t.Fatalf("enrolment with a fresh token: %v", err)
	}
	if got.Cert.Subject.CommonName != "host-7" || fmt.Sprint(got.Cert.Subject.OrganizationalUnit) != "[agent]" {
		t.Fatalf("issued subject %v, want CN host-7, OU agent", got.Cert.Subject)
	}
	// What the host received verifies as an agent with the CRL it received.
	ca, err := ParseCertPEM(got.CA)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(ca, e.clk)
	if err := v.SetCRL(got.CRL); err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify([]*x509.Certificate{got.Cert}, x509.ExtKeyUsageClientAuth, RoleAgent); err != nil || p.Name != "host-7" {
		t.Fatalf("the enrolled certificate: %+v %v", p, err)
	}
	dir := filepath.Join(t.TempDir(), "pki")
	if err := WriteEnrolled(dir, "host-7", got); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Join(dir, "host-7.key")); m != 0o600 {
		t.Errorf("the enrolled key's mode %04o, want 0600", m)
	}
	if _, err := LoadKeyPair(filepath.Join(dir, "host-7.crt"), filepath.Join(dir, "host-7.key"), nil); err != nil {
		t.Errorf("the files written do not make a key pair: %v", err)
	}

	_, err = e.enroll(tok, "host-7")
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("the token used again: %v, want a refusal saying it was used", err)
	}
	logs := e.log.String()
	if !strings.Contains(logs, "enrolment refused") || !strings.Contains(logs, "already used") {
		t.Errorf("the replay was not logged as refused:\n%s", logs)
	}
	if strings.Contains(logs, tok) {
		t.Error("the server logged the token")
	}
	if b, _ := os.ReadFile(e.tokens.Path); bytes.Contains(b, []byte(tok)) {
		t.Error("the token file holds the token itself")
	}
	if m := mode(t, e.tokens.Path); m != 0o600 {
		t.Errorf("the token file's mode %04o, want 0600", m)
	}
}

func TestEnrolmentRefusesExpiredUnknownAndMismatchedTokens(t *testing.T) {
	e := startEnrolment(t)
	expired := e.token(t, RoleAgent, "host-1", time.Hour)
	e.clk.Advance(time.Hour)
	if _, err := e.enroll(expired, "host-1"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("a token an hour old with a one-hour TTL: %v, want refused as expired", err)
	}
	unknown := strings.Repeat("A", tokenLen)
	if _, err := e.enroll(unknown, "host-1"); err == nil || !strings.Contains(err.Error(), "unknown token") {
		t.Fatalf("an unknown token: %v, want refused", err)
	}
	tok := e.token(t, RoleAgent, "host-2", 0)
	if _, err := e.enroll(tok, "host-3"); err == nil || !strings.Contains(err.Error(), "CN") {
		t.Fatalf("a request for another name than the token's: %v, want refused", err)
	}
	// That refusal did not use the token up.
	if _, err := e.enroll(tok, "host-2"); err != nil {
		t.Fatalf("the token after a refused request: %v", err)
	}
	for _, want := range []string{"expired", "unknown", "CN"} {
		if !strings.Contains(e.log.String(), want) {
			t.Errorf("no log line of the %s refusal:\n%s", want, e.log.String())
		}
	}
	for _, tok := range []string{expired, unknown, tok} {
		if strings.Contains(e.log.String(), tok) {
			t.Fatal("the server logged a token")
		}
	}
}

func TestEnrolmentIgnoresTheRoleARequestAsksFor(t *testing.T) {
	e := startEnrolment(t)
	tok := e.token(t, RoleNetsensor, "sensor-1", 0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "sensor-1", OrganizationalUnit: []string{"monitor"}},
		DNSNames: []string{"sensor-1", "mon.example.org"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(EnrollRequest{Token: tok, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Post(e.url+EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er EnrollResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	cert, err := ParseCertPEM([]byte(er.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cert.Subject.OrganizationalUnit) != "[netsensor]" || fmt.Sprint(cert.DNSNames) != "[sensor-1]" {
		t.Fatalf("issued OU %v SAN %v; want the token's role netsensor and its name only", cert.Subject.OrganizationalUnit, cert.DNSNames)
	}
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth {
			t.Fatal("a netsensor's certificate may authenticate a server")
		}
	}
	// Oversized and loosely formed requests are refused before any token
	// is looked at.
	for name, b := range map[string][]byte{
		"oversized":     bytes.Repeat([]byte(" "), MaxEnrollRequest+1),
		"unknown field": []byte(`{"token":"x","csr":"y","role":"monitor"}`),
	} {
		resp, err := c.Post(e.url+EnrollPath, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s request: status %d, want a 4xx refusal", name, resp.StatusCode)
		}
	}
}

func TestEnrolmentClientTrustsOnlyThePinnedCA(t *testing.T) {
	e := startEnrolment(t)
	tok := e.token(t, RoleAgent, "host-7", 0)
	other, _ := newCA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Enroll(ctx, EnrollOptions{Server: e.url, Token: tok, Fingerprint: Fingerprint(other.Cert), Name: "host-7"})
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("a server whose CA is not the pinned one: %v, want ErrPinMismatch", err)
	}
	// Nothing was sent: the token is still unused.
	if _, err := e.enroll(tok, "host-7"); err != nil {
		t.Fatalf("the token after the refused server: %v", err)
	}

	// A server that presents the pinned CA but a certificate another CA
	// signed is refused too.
	forged := keyPair(t, other, RoleMonitor, "127.0.0.1")
	forged.Certificate = append(forged.Certificate[:1], e.ca.Cert.Raw)
	url := serveTLS(t, &EnrollServer{CA: e.ca, Tokens: e.tokens, Log: slog.New(slog.DiscardHandler)}, forged)
	tok2 := e.token(t, RoleAgent, "host-8", 0)
	_, err = Enroll(ctx, EnrollOptions{Server: url, Token: tok2, Fingerprint: Fingerprint(e.ca.Cert), Name: "host-8"})
	if !errors.Is(err, ErrUntrusted) {
		t.Fatalf("a server certificate not signed by the pinned CA: %v, want ErrUntrusted", err)
	}
	// A certificate of the pinned CA that is not a monitor's is refused.
	agentCert := keyPair(t, e.ca, RoleAgent, "127.0.0.1")
	url = serveTLS(t, &EnrollServer{CA: e.ca, Tokens: e.tokens, Log: slog.New(slog.DiscardHandler)}, agentCert)
	if _, err = Enroll(ctx, EnrollOptions{Server: url, Token: tok2, Fingerprint: Fingerprint(e.ca.Cert), Name: "host-8"}); err == nil {
		t.Fatal("the client enrolled with a server whose certificate is an agent's")
	}
	if _, err := Enroll(ctx, EnrollOptions{Server: strings.Replace(e.url, "https", "http", 1), Token: tok2, Fingerprint: Fingerprint(e.ca.Cert), Name: "host-8"}); err == nil {
		t.Fatal("the client sent a token over plain HTTP")
	}
}

func TestTokenStoreKeepsHashesAndSurvivesConcurrentRedeems(t *testing.T) {
	clk := clock.NewManual(time.Now())
	s := Tokens(t.TempDir(), clk)
	text, tok, err := s.Create(RoleAgent, "host-7", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expires.Equal(tok.Created.Add(DefaultTokenTTL)) || len(text) != tokenLen {
		t.Fatalf("token %+v (text of %d characters): want a one-hour TTL and %d characters", tok, len(text), tokenLen)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other := Tokens(filepath.Dir(s.Path), clk) // as another process would
			if _, err := other.Redeem(text, func(Token) error { return nil }); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent redeems of one token succeeded, want 1", wins)
	}
	if _, _, err := s.Create(Role("root"), "x", 0); err == nil {
		t.Fatal("a token for the role root")
	}
	if _, _, err := s.Create(RoleAgent, "../x", 0); err == nil {
		t.Fatal("a token for the name ../x")
	}
}
