package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
)

// ParseCRL parses a CRL (PEM or DER) and checks that ca signed it. Its
// errors are ErrCRLInvalid.
func ParseCRL(b []byte, ca *x509.Certificate) (*x509.RevocationList, error) {
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "X509 CRL" {
			return nil, fmt.Errorf("%w: PEM block %q, want X509 CRL", ErrCRLInvalid, blk.Type)
		}
		der = blk.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCRLInvalid, err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("%w: not signed by the CA %q: %v", ErrCRLInvalid, ca.Subject.CommonName, err)
	}
	return crl, nil
}

// CRL reads and checks the CA's current CRL.
func (ca *CA) CRL() (*x509.RevocationList, error) {
	b, err := os.ReadFile(filepath.Join(ca.Dir, CRLFile))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return ParseCRL(b, ca.Cert)
}

// CRLPEM returns the CA's current CRL file.
func (ca *CA) CRLPEM() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(ca.Dir, CRLFile))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if _, err := ParseCRL(b, ca.Cert); err != nil {
		return nil, fmt.Errorf("pki: %s: %w", filepath.Join(ca.Dir, CRLFile), err)
	}
	return b, nil
}

// RenewCRL signs the CRL again with the same entries, current for validity
// (DefaultCRLValidity when zero) from now.
func (ca *CA) RenewCRL(validity time.Duration) error {
	crl, err := ca.CRL()
	if err != nil {
		return err
	}
	return ca.writeCRL(crl.RevokedCertificateEntries, validity)
}

// Revoke adds serial to the CRL (nothing changes but the CRL's dates when
// it is there already). It returns whether serial was new to the CRL.
func (ca *CA) Revoke(serial *big.Int) (bool, error) {
	crl, err := ca.CRL()
	if err != nil {
		return false, err
	}
	entries := crl.RevokedCertificateEntries
	for _, e := range entries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return false, ca.writeCRL(entries, DefaultCRLValidity)
		}
	}
	entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: ca.Clock.Now().UTC()})
	return true, ca.writeCRL(entries, DefaultCRLValidity)
}

// RevokeName revokes every certificate issued to name that has not expired
// (the current one and those it replaced), and returns their serials.
func (ca *CA) RevokeName(name string) ([]*big.Int, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("pki revoke: %w", err)
	}
	certs, err := ca.issuedFor(name)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("pki revoke: no certificate was issued to %q (in %s)", name, filepath.Join(ca.Dir, IssuedDir))
	}
	crl, err := ca.CRL()
	if err != nil {
		return nil, err
	}
	entries := crl.RevokedCertificateEntries
	now := ca.Clock.Now()
	var serials []*big.Int
	for _, c := range certs {
		if now.After(c.NotAfter) {
			continue // expired: refused anyway
		}
		serials = append(serials, c.SerialNumber)
		if !revokedIn(entries, c.SerialNumber) {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now.UTC()})
		}
	}
	return serials, ca.writeCRL(entries, DefaultCRLValidity)
}

func revokedIn(entries []x509.RevocationListEntry, serial *big.Int) bool {
	for _, e := range entries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return true
		}
	}
	return false
}

// writeCRL signs a CRL of entries, numbered one past the current CRL's
// number, and replaces crl.pem with it atomically.
func (ca *CA) writeCRL(entries []x509.RevocationListEntry, validity time.Duration) error {
	if validity <= 0 {
		validity = DefaultCRLValidity
	}
	number := big.NewInt(1)
	if cur, err := ca.CRL(); err == nil && cur.Number != nil {
		number.Add(cur.Number, big.NewInt(1))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		// An unreadable CRL is replaced; its number is unknown, so the new
		// one starts past any number a random 64 bits would reach soon.
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("pki crl: %w", err)
		}
		number.SetBytes(b[:])
	}
	now := ca.Clock.Now().UTC()
	tmpl := &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-backdate),
		NextUpdate:                now.Add(validity),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.key)
	if err != nil {
		return fmt.Errorf("pki crl: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	if err := WriteFileAtomic(filepath.Join(ca.Dir, CRLFile), b, 0o644); err != nil {
		return fmt.Errorf("pki crl: %w", err)
	}
	return nil
}

// KeepCRLCurrent signs the CRL again whenever less than half of its
// validity (DefaultCRLValidity) remains, checking every interval of the
// CA's clock until ctx ends, so that verifiers reading it never find it
// stale while this runs. Failures are logged and tried again.
func (ca *CA) KeepCRLCurrent(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := clock.NewTicker(ca.Clock, every)
	defer t.Stop()
	for {
		if crl, err := ca.CRL(); err != nil {
			log.Error("the CRL cannot be read; every verifier refuses every peer until it is fixed", "crl", filepath.Join(ca.Dir, CRLFile), "err", err)
		} else if ca.Clock.Now().After(crl.NextUpdate.Add(-DefaultCRLValidity / 2)) {
			if err := ca.RenewCRL(DefaultCRLValidity); err != nil {
				log.Error("signing the CRL again", "err", err)
			} else {
				log.Info("CRL signed again", "crl", filepath.Join(ca.Dir, CRLFile), "next_update", ca.Clock.Now().Add(DefaultCRLValidity).UTC().Format(time.RFC3339))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}
