// Package pki is Vigil's small certificate authority: it creates a CA
// (ECDSA P-256), issues certificates to the parts of a deployment (an
// agent, a network sensor, a monitor, an operator) with the part's role in
// the certificate's OU and its name in CN and SAN, revokes them in a CRL,
// and verifies a peer's certificate for a TLS connection: its chain to the
// CA, its role, and the CRL, refusing whenever the CRL is missing, invalid
// or stale (it fails closed). It also keeps single-use enrolment tokens and
// serves the enrolment endpoint through which a new host sends a
// certificate request and receives its certificate (enroll.go).
//
// A PKI directory holds:
//
//	ca.crt               the CA certificate (PEM), 0644
//	ca.key               the CA private key (PKCS#8 PEM), 0600
//	crl.pem              the CA's current revocation list (PEM), 0644
//	tokens.json          enrolment tokens, SHA-256 hashed, 0600
//	issued/<name>.crt    the latest certificate issued to a name
//	issued/<name>.key    its private key, 0600 (absent when the key was
//	                     made by the enrolled host itself)
//	issued/archive/<serial>.crt  certificates a newer one for the same
//	                     name replaced (kept so revoking the name revokes
//	                     them too)
//
// Private keys are written with mode 0600 and never logged.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
)

// A Role is what a certificate's holder may be: it is the certificate's
// OU, and a verifier admits only the roles it expects.
type Role string

// The roles.
const (
	RoleAgent     Role = "agent"
	RoleNetsensor Role = "netsensor"
	RoleMonitor   Role = "monitor"
	RoleOperator  Role = "operator"
)

// Roles lists the roles in order.
var Roles = []Role{RoleAgent, RoleNetsensor, RoleMonitor, RoleOperator}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if slices.Contains(Roles, Role(s)) {
		return Role(s), nil
	}
	return "", fmt.Errorf("role %q is not agent, netsensor, monitor or operator", s)
}

// extKeyUsage is what a role's certificate is used for: a monitor serves
// (the bus, the enrolment endpoint, the web API) and connects to other
// monitors; the others only connect.
func (r Role) extKeyUsage() []x509.ExtKeyUsage {
	if r == RoleMonitor {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
}

// Files in a PKI directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CRLFile    = "crl.pem"
	TokensFile = "tokens.json"
	IssuedDir  = "issued"
	archiveDir = "archive"
)

// Defaults.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
	// DefaultCRLValidity is how long a CRL stays current (its NextUpdate):
	// a CRL is signed again (vigil pki crl, or any revocation) before then,
	// or every verifier refuses every peer.
	DefaultCRLValidity = 7 * 24 * time.Hour
	// backdate is how far before now a certificate's NotBefore lies, for
	// clocks slightly behind the issuer's.
	backdate = 5 * time.Minute
)

// ErrCAExists is returned by Init when the directory already has a CA.
var ErrCAExists = errors.New("a CA already exists")

// A CA is a loaded certificate authority: its certificate and key, and
// the directory it keeps its files in.
type CA struct {
	Dir   string
	Cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	Clock clock.Clock
}

// InitOptions are the settings of a new CA.
type InitOptions struct {
	Name     string        // the CA's common name ("Vigil CA" when empty)
	Validity time.Duration // DefaultCAValidity when zero
	Force    bool          // replace an existing CA (every certificate it issued stops verifying)
	Clock    clock.Clock   // the wall clock when nil
}

// Init creates a CA in dir (made 0700 when missing): its key, its
// self-signed certificate and an empty CRL. It refuses a directory that
// already has a CA unless opts.Force.
func Init(dir string, opts InitOptions) (*CA, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Name == "" {
		opts.Name = "Vigil CA"
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultCAValidity
	}
	if err := os.MkdirAll(filepath.Join(dir, IssuedDir, archiveDir), 0o700); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	if !opts.Force {
		for _, f := range []string{CACertFile, CAKeyFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return nil, fmt.Errorf("pki init: %s: %w (use --force to replace it and invalidate everything it issued)", filepath.Join(dir, f), ErrCAExists)
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := opts.Clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.Name, Organization: []string{"Vigil"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	// The key first: a certificate without its key would look like a CA.
	if err := WriteFileAtomic(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, CACertFile), encodeCert(der), 0o644); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	ca := &CA{Dir: dir, Cert: cert, key: key, Clock: opts.Clock}
	if err := ca.writeCRL(nil, DefaultCRLValidity); err != nil {
		return nil, err
	}
	return ca, nil
}

// Load reads the CA in dir. c is its clock (the wall clock when nil).
func Load(dir string, c clock.Clock) (*CA, error) {
	if c == nil {
		c = clock.Real{}
	}
	cert, err := ReadCACert(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, CAKeyFile)
	if err := checkPrivate(keyPath); err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, err := decodeKey(kb)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("pki: %s is not the key of %s", keyPath, filepath.Join(dir, CACertFile))
	}
	return &CA{Dir: dir, Cert: cert, key: key, Clock: c}, nil
}

// ReadCACert reads a CA certificate file (PEM, one certificate).
func ReadCACert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := ParseCertPEM(b)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", path)
	}
	return cert, nil
}

// ParseCertPEM parses the first certificate in PEM data.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// Fingerprint is the SHA-256 fingerprint of a certificate, as enrolment
// pins it: "sha256:" and 64 lower-case hex digits.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint normalises a fingerprint as a user may write it (with
// or without "sha256:", upper or lower case, colons between bytes or not)
// to Fingerprint's form.
func ParseFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA fingerprint %q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return "sha256:" + h, nil
}

// ValidateName checks a certificate holder's name: a host name (letters,
// digits, '-', '_' and '.' between labels) or an IP address, at most 253
// characters. A name is also a file name under issued/, so nothing else is
// allowed.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("the name is empty")
	}
	if len(name) > 253 {
		return fmt.Errorf("name %.40q...: longer than 253 characters", name)
	}
	if net.ParseIP(name) != nil {
		return nil // digits, '.', ':' and hex letters: never a path
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("name %q: empty or over-long label (want a host name or an IP address)", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("name %q: character %q is not allowed (want a host name or an IP address)", name, r)
			}
		}
		if label[0] == '-' {
			return fmt.Errorf("name %q: a label starts with '-'", name)
		}
	}
	return nil
}

// An Issued certificate, with its key when the CA made the key.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte // nil when the holder made its own key
}

// Issue makes a key pair and a certificate for name in role, valid for
// validity (DefaultLeafValidity when zero), and writes both under
// issued/.
func (ca *CA) Issue(role Role, name string, validity time.Duration) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki issue: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return ca.issue(role, name, &key.PublicKey, keyPEM, validity)
}

// IssueFor makes a certificate for name in role for a public key the
// holder made (from a certificate request).
func (ca *CA) IssueFor(role Role, name string, pub crypto.PublicKey, validity time.Duration) (*Issued, error) {
	return ca.issue(role, name, pub, nil, validity)
}

func (ca *CA) issue(role Role, name string, pub crypto.PublicKey, keyPEM []byte, validity time.Duration) (*Issued, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return nil, fmt.Errorf("pki issue: %w", err)
	}
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("pki issue: %w", err)
	}
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := ca.Clock.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, OrganizationalUnit: []string{string(role)}, Organization: []string{"Vigil"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           role.extKeyUsage(),
		BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki issue %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki issue %s: %w", name, err)
	}
	is := &Issued{Cert: cert, CertPEM: encodeCert(der), KeyPEM: keyPEM}
	if err := ca.record(name, is); err != nil {
		return nil, err
	}
	return is, nil
}

// record writes an issued certificate (and its key) under issued/, moving
// the name's previous certificate to the archive.
func (ca *CA) record(name string, is *Issued) error {
	dir := filepath.Join(ca.Dir, IssuedDir)
	if err := os.MkdirAll(filepath.Join(dir, archiveDir), 0o700); err != nil {
		return fmt.Errorf("pki issue: %w", err)
	}
	certPath := filepath.Join(dir, name+".crt")
	keyPath := filepath.Join(dir, name+".key")
	if old, err := os.ReadFile(certPath); err == nil {
		if oc, err := ParseCertPEM(old); err == nil {
			if err := WriteFileAtomic(filepath.Join(dir, archiveDir, serialHex(oc.SerialNumber)+".crt"), old, 0o644); err != nil {
				return fmt.Errorf("pki issue: archiving %s: %w", certPath, err)
			}
		}
	}
	if is.KeyPEM != nil {
		if err := WriteFileAtomic(keyPath, is.KeyPEM, 0o600); err != nil {
			return fmt.Errorf("pki issue: %w", err)
		}
	} else if err := os.Remove(keyPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pki issue: removing the previous key: %w", err)
	}
	if err := WriteFileAtomic(certPath, is.CertPEM, 0o644); err != nil {
		return fmt.Errorf("pki issue: %w", err)
	}
	return nil
}

// issuedFor returns the certificates issued to name, the current one and
// the archived ones.
func (ca *CA) issuedFor(name string) ([]*x509.Certificate, error) {
	dir := filepath.Join(ca.Dir, IssuedDir)
	var out []*x509.Certificate
	if b, err := os.ReadFile(filepath.Join(dir, name+".crt")); err == nil {
		if c, err := ParseCertPEM(b); err == nil {
			out = append(out, c)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pki: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, archiveDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pki: %w", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, archiveDir, e.Name()))
		if err != nil {
			continue
		}
		if c, err := ParseCertPEM(b); err == nil && c.Subject.CommonName == name {
			out = append(out, c)
		}
	}
	return out, nil
}

func randomSerial() (*big.Int, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	b[0] &= 0x7f // positive as DER reads it
	if b[0] == 0 {
		b[0] = 1 // keep 128 bits' worth of length
	}
	return new(big.Int).SetBytes(b[:]), nil
}

func serialHex(n *big.Int) string { return fmt.Sprintf("%032x", n) }

// ParseSerial reads a serial number in hex (colons allowed).
func ParseSerial(s string) (*big.Int, error) {
	h := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"), ":", "")
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("serial %q is not a positive hex number", s)
	}
	return n, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// decodeKey reads an ECDSA private key; its errors never quote the file.
func decodeKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 private key")
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	return ek, nil
}

// checkPrivate refuses a key file that group or others may read.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("pki: %s: mode %04o lets others read the private key; run chmod 600 %s", path, m, path)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory (created with mode perm, synced, then renamed over path), so a
// reader sees the old file or the new one, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
