package action

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/config"
)

// Path makes a path from a method's settings absolute: with the monitor's
// resolver when there is one, else against base (the directory of the
// resource object the settings came from). Empty stays empty.
func (d Deps) Path(base, p string) string {
	if p == "" {
		return ""
	}
	if d.Resolve != nil {
		return d.Resolve(p)
	}
	if base != "" && !filepath.IsAbs(p) {
		return filepath.Join(base, p)
	}
	return p
}

// ClientTLS is a client TLS configuration that always verifies the
// server: against the system roots, or only against the certificates in
// caFile when one is given. serverName, when set, is the name checked.
func ClientTLS(caFile, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", caFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// CheckCAFile adds a problem at path unless file (a ca_file setting,
// already made absolute) is empty or holds a PEM certificate.
func CheckCAFile(p *config.Problems, path, file string) {
	if file == "" {
		return
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		p.Addf(path, "%v", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		p.Addf(path, "%s holds no PEM certificate", file)
	}
}

// Clip shortens s to at most n bytes on a rune boundary, for messages.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
