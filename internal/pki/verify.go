package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
)

// Why a verifier refuses a peer. Every refusal wraps one of these.
var (
	// ErrUntrusted: no certificate, or one that does not chain to the CA
	// (or has expired, or may not be used for this side of a connection).
	ErrUntrusted = errors.New("certificate not trusted")
	// ErrWrongRole: the certificate's role (OU) is not one the verifier
	// admits.
	ErrWrongRole = errors.New("certificate of the wrong role")
	// ErrRevoked: the certificate's serial is on the CRL.
	ErrRevoked = errors.New("certificate revoked")
	// ErrCRLMissing: the verifier has no CRL (never loaded, or its file
	// is gone). Every peer is refused until there is one.
	ErrCRLMissing = errors.New("no CRL")
	// ErrCRLInvalid: the CRL does not parse or the CA did not sign it.
	ErrCRLInvalid = errors.New("CRL invalid")
	// ErrCRLStale: the clock is past the CRL's NextUpdate: it may not list
	// the latest revocations.
	ErrCRLStale = errors.New("CRL stale")
)

// A Verifier checks peers' certificates against a CA, a CRL and the roles
// it admits. It fails closed: without a current CRL signed by the CA it
// refuses every peer. It is safe for concurrent use.
type Verifier struct {
	ca    *x509.Certificate
	pool  *x509.CertPool
	clock clock.Clock

	mu     sync.RWMutex
	crl    *x509.RevocationList
	crlErr error    // why there is no usable CRL; ErrCRLMissing at first
	newest *big.Int // the highest CRL number seen: an older CRL is refused
}

// NewVerifier returns a verifier for certificates ca issued, telling time
// by c (the wall clock when nil). It has no CRL yet, so it refuses every
// peer until SetCRL or a CRLReloader gives it one.
func NewVerifier(ca *x509.Certificate, c clock.Clock) *Verifier {
	if c == nil {
		c = clock.Real{}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Verifier{ca: ca, pool: pool, clock: c, crlErr: ErrCRLMissing}
}

// CA returns the verifier's CA certificate.
func (v *Verifier) CA() *x509.Certificate { return v.ca }

// SetCRL parses a CRL (PEM or DER) and, when the CA signed it, makes it
// the verifier's. A CRL that does not parse or that the CA did not sign
// replaces the current one all the same, as an error: from then on every
// peer is refused (fail closed) until a valid one is set. So is a CRL
// numbered below one the verifier had before (an older CRL put back may
// lack the latest revocations). It returns that error.
func (v *Verifier) SetCRL(b []byte) error {
	crl, err := ParseCRL(b, v.ca)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err == nil && crl.Number == nil {
		err = fmt.Errorf("%w: it has no CRL number", ErrCRLInvalid)
	}
	if err == nil && v.newest != nil && crl.Number.Cmp(v.newest) < 0 {
		err = fmt.Errorf("%w: CRL number %v is older than %v, read before (an old CRL put back?)", ErrCRLInvalid, crl.Number, v.newest)
	}
	if err != nil {
		v.crl, v.crlErr = nil, err
		return err
	}
	v.crl, v.crlErr, v.newest = crl, nil, crl.Number
	return nil
}

// dropCRL forgets the CRL: every peer is refused with err.
func (v *Verifier) dropCRL(err error) {
	v.mu.Lock()
	v.crl, v.crlErr = nil, err
	v.mu.Unlock()
}

// checkCRL returns the current CRL, or why there is none usable.
func (v *Verifier) checkCRL() (*x509.RevocationList, error) {
	v.mu.RLock()
	crl, err := v.crl, v.crlErr
	v.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if now := v.clock.Now(); !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return nil, fmt.Errorf("%w: its next update was due %s (now %s)", ErrCRLStale, crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	} else if crl.NextUpdate.IsZero() {
		return nil, fmt.Errorf("%w: it has no next update", ErrCRLInvalid)
	}
	return crl, nil
}

// A Peer is a verified certificate's holder.
type Peer struct {
	Name string // the certificate's CN
	Role Role   // its OU
	Cert *x509.Certificate
}

// Verify checks a peer's certificate chain (leaf first, as TLS presents
// it): the CRL is current, the leaf chains to the CA at the clock's time
// for usage, its serial is not revoked, and its role is one of roles.
func (v *Verifier) Verify(chain []*x509.Certificate, usage x509.ExtKeyUsage, roles ...Role) (Peer, error) {
	crl, err := v.checkCRL()
	if err != nil {
		return Peer{}, err
	}
	if len(chain) == 0 {
		return Peer{}, fmt.Errorf("%w: the peer presented no certificate", ErrUntrusted)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: v.pool, Intermediates: inter, CurrentTime: v.clock.Now(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return Peer{}, fmt.Errorf("%w: %q: %v", ErrUntrusted, leaf.Subject.CommonName, err)
	}
	if revokedIn(crl.RevokedCertificateEntries, leaf.SerialNumber) {
		return Peer{}, fmt.Errorf("%w: %q (serial %s)", ErrRevoked, leaf.Subject.CommonName, serialHex(leaf.SerialNumber))
	}
	p := Peer{Name: leaf.Subject.CommonName, Cert: leaf}
	if ou := leaf.Subject.OrganizationalUnit; len(ou) == 1 {
		p.Role = Role(ou[0])
	}
	if p.Role == "" || !slices.Contains(roles, p.Role) {
		return Peer{}, fmt.Errorf("%w: %q has role %q, want one of %v", ErrWrongRole, p.Name, p.Role, roles)
	}
	return p, nil
}

// VerifyConnection returns a tls.Config VerifyConnection function that
// admits a peer only when Verify does. The side is the peer's: a server
// checks its clients (client usage), a client its server (server usage).
func (v *Verifier) VerifyConnection(isServer bool, roles ...Role) func(tls.ConnectionState) error {
	usage := x509.ExtKeyUsageServerAuth
	if isServer {
		usage = x509.ExtKeyUsageClientAuth
	}
	return func(cs tls.ConnectionState) error {
		_, err := v.Verify(cs.PeerCertificates, usage, roles...)
		return err
	}
}

// ServerTLS is a server's TLS configuration presenting cert and requiring
// every client to present a certificate that Verify admits for roles.
// The standard verification stays on (the CA is the only root); Verify
// adds the role and the CRL.
func (v *Verifier) ServerTLS(cert tls.Certificate, roles ...Role) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        v.pool,
		Time:             v.clock.Now,
		VerifyConnection: v.VerifyConnection(true, roles...),
	}
}

// ClientTLS is a client's TLS configuration presenting cert (none when
// cert is nil) to a server named serverName, which must present a
// certificate that Verify admits for roles.
func (v *Verifier) ClientTLS(cert *tls.Certificate, serverName string, roles ...Role) *tls.Config {
	tc := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		RootCAs:          v.pool,
		ServerName:       serverName,
		Time:             v.clock.Now,
		VerifyConnection: v.VerifyConnection(false, roles...),
	}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return tc
}

// LoadKeyPair reads a certificate and its private key for TLS, appending
// the CA certificate to the chain when given. It refuses a key file that
// group or others may read.
func LoadKeyPair(certFile, keyFile string, ca *x509.Certificate) (tls.Certificate, error) {
	if err := checkPrivate(keyFile); err != nil {
		return tls.Certificate{}, err
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// LoadX509KeyPair's errors do not quote the key.
		return c, fmt.Errorf("pki: %s / %s: %w", certFile, keyFile, err)
	}
	if ca != nil {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c, nil
}

// A CRLReloader reads a CRL file into a verifier at start and then every
// Interval of its clock, so a revocation (a new file) takes effect within
// one interval. A file that is gone or invalid at a reload makes the
// verifier refuse every peer until a good one is read (fail closed).
type CRLReloader struct {
	Path     string
	Verifier *Verifier
	Interval time.Duration // DefaultCRLRefresh when zero
	Clock    clock.Clock   // the verifier's clock's ticks; the wall clock when nil
	Log      *slog.Logger

	mu      sync.Mutex
	lastErr string
	loads   int
}

// DefaultCRLRefresh is how often a CRLReloader reads its file by default.
const DefaultCRLRefresh = 30 * time.Second

// maxCRLFile bounds what a reload reads.
const maxCRLFile = 16 << 20

// Load reads the file once into the verifier and returns what went wrong.
func (r *CRLReloader) Load() error {
	b, err := readLimited(r.Path, maxCRLFile)
	if err != nil {
		err = fmt.Errorf("%w: %s: %v", ErrCRLMissing, r.Path, err)
		r.Verifier.dropCRL(err)
	} else if err = r.Verifier.SetCRL(b); err != nil {
		err = fmt.Errorf("%s: %w", r.Path, err)
	}
	r.report(err)
	return err
}

// report logs a change of the reloader's state (not every reload).
func (r *CRLReloader) report(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.mu.Lock()
	changed := msg != r.lastErr || r.loads == 0
	r.lastErr = msg
	r.loads++
	r.mu.Unlock()
	if !changed || r.Log == nil {
		return
	}
	if err != nil {
		r.Log.Error("CRL unusable: refusing every peer", "crl", r.Path, "err", err)
	} else {
		r.Log.Info("CRL loaded", "crl", r.Path)
	}
}

// Loads is how many times the file was read (for tests and metrics).
func (r *CRLReloader) Loads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads
}

// Run loads the file, then reloads it every interval until ctx ends. A
// failed load is logged, never fatal: the verifier refuses meanwhile.
func (r *CRLReloader) Run(ctx context.Context) error {
	t := clock.NewTicker(r.clock(), r.interval())
	_ = r.Load()
	r.watch(ctx, t)
	return nil
}

// watch reloads at every tick of t until ctx ends, then stops t.
func (r *CRLReloader) watch(ctx context.Context, t clock.Ticker) {
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			_ = r.Load()
		}
	}
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// OpenVerifier reads the CA certificate in caFile and returns a verifier
// for it whose CRL a CRLReloader reads from crlFile now and every refresh
// (DefaultCRLRefresh when zero) of c until ctx ends. done is closed when
// that reloader has stopped. A CRL missing or bad at the start is not an
// error here: it is logged, and the verifier refuses every peer until the
// file is right (fail closed).
func OpenVerifier(ctx context.Context, caFile, crlFile string, refresh time.Duration, c clock.Clock, log *slog.Logger) (v *Verifier, done <-chan struct{}, err error) {
	ca, err := ReadCACert(caFile)
	if err != nil {
		return nil, nil, err
	}
	v = NewVerifier(ca, c)
	r := &CRLReloader{Path: crlFile, Verifier: v, Interval: refresh, Clock: c, Log: log}
	t := clock.NewTicker(r.clock(), r.interval())
	_ = r.Load() // before the first handshake, not one tick later
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		r.watch(ctx, t)
	}()
	return v, ch, nil
}

func (r *CRLReloader) interval() time.Duration {
	if r.Interval <= 0 {
		return DefaultCRLRefresh
	}
	return r.Interval
}

func (r *CRLReloader) clock() clock.Clock {
	if r.Clock == nil {
		return clock.Real{}
	}
	return r.Clock
}
