package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// EnrollPath is the enrolment endpoint; CRLPath serves the CA's current
// CRL (public, signed) so enrolled hosts can fetch new ones.
const (
	EnrollPath = "/v1/enroll"
	CRLPath    = "/v1/crl"
)

// MaxEnrollRequest bounds an enrolment request's body.
const MaxEnrollRequest = 16 << 10

// An EnrollRequest is what an enrolling host sends: its token and a
// certificate request (PEM) for its own key.
type EnrollRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"`
}

// An EnrollResponse is what it gets back: its certificate, the CA's
// certificate and the CA's current CRL (PEM each).
type EnrollResponse struct {
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
	CRL         string `json:"crl"`
}

// ErrBadRequest wraps every reason DecodeEnrollRequest refuses a request.
var ErrBadRequest = errors.New("bad enrolment request")

// DecodeEnrollRequest decodes an enrolment request strictly: one JSON
// object of exactly the two string members "token" and "csr" (no other
// member, none twice, nothing after it), at most MaxEnrollRequest bytes;
// a token of the form tokens have; and a CSR of one PEM CERTIFICATE
// REQUEST block, signed by its own key (ECDSA P-256 or Ed25519), whose CN
// is a valid name. Its errors never quote the token.
func DecodeEnrollRequest(b []byte) (EnrollRequest, *x509.CertificateRequest, error) {
	var req EnrollRequest
	bad := func(format string, args ...any) (EnrollRequest, *x509.CertificateRequest, error) {
		return EnrollRequest{}, nil, fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
	}
	if len(b) > MaxEnrollRequest {
		return bad("larger than %d bytes", MaxEnrollRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return bad("offset %d: %v", dec.InputOffset(), syntaxOnly(err))
		}
		key, _ := kt.(string)
		var dst *string
		switch key {
		case "token":
			dst = &req.Token
		case "csr":
			dst = &req.CSR
		default:
			return bad("an unknown member (only %q and %q are allowed; its name is not repeated here, as it may be a secret)", "token", "csr")
		}
		if seen[key] {
			return bad("member %q twice", key)
		}
		seen[key] = true
		if err := dec.Decode(dst); err != nil {
			return bad("member %q: not a string (offset %d)", key, dec.InputOffset())
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return bad("the object does not end (offset %d)", dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the object (offset %d)", dec.InputOffset())
	}
	if !seen["token"] || !seen["csr"] {
		return bad("needs both %q and %q", "token", "csr")
	}
	if !validTokenText(req.Token) {
		return bad("the token is not %d base64url characters", tokenLen)
	}
	blk, rest := pem.Decode([]byte(req.CSR))
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return bad("csr: no PEM CERTIFICATE REQUEST block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return bad("csr: data after the PEM block")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return bad("csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return bad("csr: its signature does not verify: %v", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return bad("csr: ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return bad("csr: a %T key, want ECDSA P-256 or Ed25519", csr.PublicKey)
	}
	if err := ValidateName(csr.Subject.CommonName); err != nil {
		return bad("csr: CN: %v", err)
	}
	return req, csr, nil
}

// syntaxOnly keeps a decoder error's kind, not the input it quotes.
func syntaxOnly(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "not JSON"
	}
	return "not a JSON object of strings"
}

func validTokenText(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// An EnrollServer answers enrolment requests: it redeems the token (once),
// checks that the request's CN is the token's name, and issues a
// certificate for the token's role and name. What the request asks for
// otherwise (an OU, SANs, extensions) is ignored.
type EnrollServer struct {
	CA       *CA
	Tokens   *TokenStore
	Validity time.Duration // of issued certificates; DefaultLeafValidity when zero
	Log      *slog.Logger
}

// Handler serves EnrollPath and CRLPath.
func (s *EnrollServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+EnrollPath, s.enroll)
	mux.HandleFunc("GET "+CRLPath, func(w http.ResponseWriter, _ *http.Request) {
		b, err := s.CA.CRLPEM()
		if err != nil {
			s.Log.Error("serving the CRL", "err", err)
			http.Error(w, "no CRL", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(b)
	})
	return mux
}

// errCSRName: the request's CN is not the token's name.
var errCSRName = errors.New("the request's CN is not the token's name")

func (s *EnrollServer) enroll(w http.ResponseWriter, r *http.Request) {
	remote := r.RemoteAddr
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnrollRequest))
	if err != nil {
		s.Log.Warn("enrolment refused", "remote", remote, "reason", "request too large or unreadable")
		http.Error(w, fmt.Sprintf("request larger than %d bytes or unreadable", MaxEnrollRequest), http.StatusRequestEntityTooLarge)
		return
	}
	req, csr, err := DecodeEnrollRequest(body)
	if err != nil {
		s.Log.Warn("enrolment refused", "remote", remote, "reason", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var issued *Issued
	tok, err := s.Tokens.Redeem(req.Token, func(t Token) error {
		if csr.Subject.CommonName != t.Name {
			return fmt.Errorf("%w: CN %q, token for %q", errCSRName, csr.Subject.CommonName, t.Name)
		}
		is, err := s.CA.IssueFor(t.Role, t.Name, csr.PublicKey, s.Validity)
		issued = is
		return err
	})
	switch {
	case errors.Is(err, ErrTokenUnknown), errors.Is(err, ErrTokenExpired), errors.Is(err, ErrTokenUsed):
		s.Log.Warn("enrolment refused", "remote", remote, "reason", err)
		http.Error(w, "enrolment refused: "+tokenReason(err), http.StatusForbidden)
		return
	case errors.Is(err, errCSRName):
		s.Log.Warn("enrolment refused", "remote", remote, "token", tok.ID(), "reason", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		s.Log.Error("enrolment failed", "remote", remote, "token", tok.ID(), "name", tok.Name, "err", err)
		http.Error(w, "enrolment failed on the server", http.StatusInternalServerError)
		return
	}
	crl, err := s.CA.CRLPEM()
	if err != nil {
		s.Log.Error("enrolment: reading the CRL", "err", err)
	}
	resp := EnrollResponse{
		Certificate: string(issued.CertPEM),
		CA:          string(encodeCert(s.CA.Cert.Raw)),
		CRL:         string(crl),
	}
	s.Log.Info("enrolled", "remote", remote, "token", tok.ID(), "name", tok.Name, "role", tok.Role, "serial", serialHex(issued.Cert.SerialNumber), "not_after", issued.Cert.NotAfter.UTC().Format(time.RFC3339))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func tokenReason(err error) string {
	switch {
	case errors.Is(err, ErrTokenUsed):
		return "the token was already used"
	case errors.Is(err, ErrTokenExpired):
		return "the token has expired"
	}
	return "unknown token"
}

// Serve serves the enrolment endpoint over TLS on ln, presenting cert,
// until ctx ends.
func (s *EnrollServer) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		case <-done:
		}
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("enrolment server: %w", err)
	}
	return nil
}

// EnrollOptions are an enrolling host's settings.
type EnrollOptions struct {
	Server      string // https://host:port of the enrolment server
	Token       string
	Fingerprint string // the CA's SHA-256 fingerprint, as vigil pki token printed it
	Name        string // the name the token is for (the CSR's CN)
	Timeout     time.Duration
}

// ErrPinMismatch: the server's chain does not include a CA with the
// pinned fingerprint; nothing was sent.
var ErrPinMismatch = errors.New("the server's CA does not match the pinned fingerprint")

// An Enrolled host's material, PEM each.
type Enrolled struct {
	Key, Certificate, CA, CRL []byte
	Cert                      *x509.Certificate
}

// Enroll makes a key pair, sends a certificate request for it with the
// token, and returns the key and what the server answered. The server is
// trusted only when its certificate chains to a CA it presents whose
// SHA-256 fingerprint is the pinned one, and names the server's host, and
// is a monitor's: the system's roots play no part and no check is skipped.
func Enroll(ctx context.Context, o EnrollOptions) (*Enrolled, error) {
	pin, err := ParseFingerprint(o.Fingerprint)
	if err != nil {
		return nil, err
	}
	if err := ValidateName(o.Name); err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	if !validTokenText(o.Token) {
		return nil, fmt.Errorf("enrol: the token is not %d base64url characters", tokenLen)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Server, nil)
	if err != nil {
		return nil, fmt.Errorf("enrol: server %q: %w", o.Server, err)
	}
	if req.URL.Scheme != "https" || req.URL.Hostname() == "" {
		return nil, fmt.Errorf("enrol: server %q: want https://HOST:PORT", o.Server)
	}
	req.URL.Path = EnrollPath
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: o.Name}}, key)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	body, _ := json.Marshal(EnrollRequest{Token: o.Token, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))})
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")

	var pinned *x509.Certificate
	host := req.URL.Hostname()
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// The standard verification needs roots known beforehand; here the
		// root is known only by its fingerprint, so VerifyConnection does
		// the whole verification itself, against that root only.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			ca, err := verifyPinned(cs, pin, host)
			pinned = ca
			return err
		},
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil, ForceAttemptHTTP2: false, TLSHandshakeTimeout: 10 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the enrolment server redirected; refused")
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("enrol: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("enrol: the server answered %s: %s", resp.Status, bytes.TrimSpace(printable(rb, 300)))
	}
	var er EnrollResponse
	dec := json.NewDecoder(bytes.NewReader(rb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&er); err != nil {
		return nil, fmt.Errorf("enrol: the answer is not an enrolment response")
	}
	ca, err := ParseCertPEM([]byte(er.CA))
	if err != nil || !ca.Equal(pinned) {
		return nil, fmt.Errorf("enrol: the answer's CA is not the pinned one")
	}
	cert, err := ParseCertPEM([]byte(er.Certificate))
	if err != nil {
		return nil, fmt.Errorf("enrol: the answer's certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("enrol: the answer's certificate is not the CA's: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) || cert.Subject.CommonName != o.Name {
		return nil, fmt.Errorf("enrol: the answer's certificate is not for this key and name %q", o.Name)
	}
	if _, err := ParseCRL([]byte(er.CRL), ca); err != nil {
		return nil, fmt.Errorf("enrol: the answer's CRL: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Enrolled{Key: keyPEM, Certificate: []byte(er.Certificate), CA: []byte(er.CA), CRL: []byte(er.CRL), Cert: cert}, nil
}

// verifyPinned verifies a server's chain against the CA in it whose
// fingerprint is pin: the leaf must chain to it, be valid now for server
// authentication, name the host dialled (a name or an IP address: the
// state's ServerName is empty for an IP), and be a monitor's.
func verifyPinned(cs tls.ConnectionState, pin, host string) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%w: the server presented no certificate", ErrUntrusted)
	}
	var ca *x509.Certificate
	for _, c := range cs.PeerCertificates[1:] {
		if c.IsCA && Fingerprint(c) == pin {
			ca = c
		}
	}
	if ca == nil {
		return nil, ErrPinMismatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	if ou := leaf.Subject.OrganizationalUnit; len(ou) != 1 || ou[0] != string(RoleMonitor) {
		return nil, fmt.Errorf("%w: the enrolment server's certificate is not a monitor's (OU %v)", ErrWrongRole, ou)
	}
	return ca, nil
}

// printable keeps at most n bytes of b, every byte outside printable
// ASCII written as \xNN.
func printable(b []byte, n int) []byte {
	var out bytes.Buffer
	for i, c := range b {
		if i >= n {
			out.WriteString("...")
			break
		}
		if c >= 0x20 && c < 0x7f && c != '\\' {
			out.WriteByte(c)
		} else {
			fmt.Fprintf(&out, "\\x%02x", c)
		}
	}
	return out.Bytes()
}

// WriteEnrolled writes an enrolled host's files into dir (made 0700 when
// missing): <name>.key (0600), <name>.crt, ca.crt and crl.pem, each
// replaced atomically, the key first.
func WriteEnrolled(dir, name string, e *Enrolled) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{name + ".key", e.Key, 0o600},
		{name + ".crt", e.Certificate, 0o644},
		{CACertFile, e.CA, 0o644},
		{CRLFile, e.CRL, 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("enrol: %w", err)
		}
	}
	return nil
}
