package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/pki"
)

func pkiCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Run Vigil's certificate authority: make it, issue and revoke certificates, make enrolment tokens, serve enrolment",
		Long:  help("pki"),
	}
	cmd.AddCommand(pkiInitCmd(e), pkiIssueCmd(e), pkiRevokeCmd(e), pkiCRLCmd(e), pkiTokenCmd(e), pkiServeEnrollCmd(e))
	return cmd
}

func pkiDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "dir", config.DefaultPKIDir, "the PKI directory")
}

func roleFlag(cmd *cobra.Command, role *string) {
	cmd.Flags().StringVar(role, "role", "", "agent, netsensor, monitor or operator")
	_ = cmd.MarkFlagRequired("role")
}

func pkiInitCmd(e *env) *cobra.Command {
	var dir, name string
	var validity time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Make a CA (ECDSA P-256), its key (mode 0600) and an empty CRL",
		Long:  help("pki-init"),
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ca, err := pki.Init(dir, pki.InitOptions{Name: name, Validity: validity, Force: force})
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "CA %q in %s\nvalid until %s\nfingerprint %s\n", ca.Cert.Subject.CommonName, dir, ca.Cert.NotAfter.UTC().Format(time.RFC3339), pki.Fingerprint(ca.Cert))
			return nil
		},
	}
	pkiDirFlag(cmd, &dir)
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "Vigil CA", "the CA's common name")
	fs.DurationVar(&validity, "validity", pki.DefaultCAValidity, "how long the CA certificate is valid")
	fs.BoolVar(&force, "force", false, "replace an existing CA (nothing it issued verifies any more)")
	return cmd
}

func pkiIssueCmd(e *env) *cobra.Command {
	var dir, role, name string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "issue --role ROLE --name NAME",
		Short: "Issue a key (mode 0600) and a certificate for a role and a host or monitor name",
		Long:  help("pki-issue"),
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return fail(fmt.Errorf("--role: %w", err))
			}
			ca, err := pki.Load(dir, nil)
			if err != nil {
				return fail(err)
			}
			is, err := ca.Issue(r, name, validity)
			if err != nil {
				return fail(err)
			}
			base := filepath.Join(dir, pki.IssuedDir, name)
			fmt.Fprintf(e.stdout, "certificate %s.crt\nkey %s.key\nrole %s, serial %x, valid until %s\n", base, base, r, is.Cert.SerialNumber, is.Cert.NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	pkiDirFlag(cmd, &dir)
	roleFlag(cmd, &role)
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "the host's or monitor's name (a host name or an IP address): CN and SAN")
	fs.DurationVar(&validity, "validity", pki.DefaultLeafValidity, "how long the certificate is valid")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func pkiRevokeCmd(e *env) *cobra.Command {
	var dir, name, serial string
	cmd := &cobra.Command{
		Use:   "revoke (--name NAME | --serial HEX)",
		Short: "Revoke a name's certificates or one serial, and sign the CRL again",
		Long:  help("pki-revoke"),
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if (name == "") == (serial == "") {
				return fail(fmt.Errorf("give one of --name and --serial"))
			}
			ca, err := pki.Load(dir, nil)
			if err != nil {
				return fail(err)
			}
			if serial != "" {
				n, err := pki.ParseSerial(serial)
				if err != nil {
					return fail(fmt.Errorf("--serial: %w", err))
				}
				fresh, err := ca.Revoke(n)
				if err != nil {
					return fail(err)
				}
				state := "revoked"
				if !fresh {
					state = "was already revoked"
				}
				fmt.Fprintf(e.stdout, "serial %x %s\n", n, state)
				e.log.Info("certificate revoked", "serial", fmt.Sprintf("%x", n))
				return nil
			}
			serials, err := ca.RevokeName(name)
			if err != nil {
				return fail(err)
			}
			for _, n := range serials {
				fmt.Fprintf(e.stdout, "serial %x revoked (%s)\n", n, name)
			}
			if len(serials) == 0 {
				fmt.Fprintf(e.stdout, "%s has no certificate that has not expired\n", name)
			}
			e.log.Info("certificates revoked", "name", name, "count", len(serials))
			return nil
		},
	}
	pkiDirFlag(cmd, &dir)
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "revoke every certificate issued to this name")
	fs.StringVar(&serial, "serial", "", "revoke the certificate of this serial number (hex)")
	return cmd
}

func pkiCRLCmd(e *env) *cobra.Command {
	var dir string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Sign the CRL again, current for --validity (before its next update is due, or every verifier refuses)",
		Long:  help("pki-crl"),
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ca, err := pki.Load(dir, nil)
			if err != nil {
				return fail(err)
			}
			if err := ca.RenewCRL(validity); err != nil {
				return fail(err)
			}
			crl, err := ca.CRL()
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "%s: %d revoked, next update %s\n", filepath.Join(dir, pki.CRLFile), len(crl.RevokedCertificateEntries), crl.NextUpdate.UTC().Format(time.RFC3339))
			return nil
		},
	}
	pkiDirFlag(cmd, &dir)
	cmd.Flags().DurationVar(&validity, "validity", pki.DefaultCRLValidity, "how long the CRL stays current")
	return cmd
}

func pkiTokenCmd(e *env) *cobra.Command {
	var dir, role, name string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --role ROLE --name NAME",
		Short: "Make a single-use enrolment token and print it with the CA's fingerprint",
		Long:  help("pki-token"),
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return fail(fmt.Errorf("--role: %w", err))
			}
			ca, err := pki.Load(dir, nil)
			if err != nil {
				return fail(err)
			}
			text, tok, err := pki.Tokens(dir, nil).Create(r, name, ttl)
			if err != nil {
				return fail(err)
			}
			fp := pki.Fingerprint(ca.Cert)
			fmt.Fprintf(e.stdout, "token %s\nca-fingerprint %s\nrole %s, name %s, expires %s\nenrol with: vigil enroll --server https://HOST:PORT --name %s --ca-fingerprint %s --token-file FILE\n",
				text, fp, r, name, tok.Expires.Format(time.RFC3339), name, fp)
			e.log.Info("enrolment token made", "token", tok.ID(), "role", r, "name", name, "expires", tok.Expires.Format(time.RFC3339))
			return nil
		},
	}
	pkiDirFlag(cmd, &dir)
	roleFlag(cmd, &role)
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "the name the enrolled certificate will carry (the host's)")
	fs.DurationVar(&ttl, "ttl", pki.DefaultTokenTTL, "how long the token may be used")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func pkiServeEnrollCmd(e *env) *cobra.Command {
	var dir, listen, name, certFile, keyFile string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "serve-enroll --name NAME",
		Short: "Serve enrolment over HTTPS (and the CA's CRL), keeping the CRL current",
		Long:  help("pki-serve-enroll"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := pki.Load(dir, nil)
			if err != nil {
				return fail(err)
			}
			if certFile == "" {
				certFile = filepath.Join(dir, pki.IssuedDir, name+".crt")
			}
			if keyFile == "" {
				keyFile = filepath.Join(dir, pki.IssuedDir, name+".key")
			}
			cert, err := pki.LoadKeyPair(certFile, keyFile, ca.Cert)
			if err != nil {
				return fail(fmt.Errorf("the server's certificate (make one with vigil pki issue --role monitor --name %s): %w", name, err))
			}
			if ou := cert.Leaf.Subject.OrganizationalUnit; len(ou) != 1 || ou[0] != string(pki.RoleMonitor) {
				return fail(fmt.Errorf("%s: the enrolment server's certificate must be a monitor's (role %v); enrolling hosts refuse any other", certFile, ou))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fail(fmt.Errorf("--listen: %w", err))
			}
			e.log.Info("enrolment server listening", "addr", ln.Addr().String(), "name", name, "ca_fingerprint", pki.Fingerprint(ca.Cert))
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			kept := make(chan struct{})
			go func() { ca.KeepCRLCurrent(ctx, time.Hour, e.log); close(kept) }()
			srv := &pki.EnrollServer{CA: ca, Tokens: pki.Tokens(dir, nil), Validity: validity, Log: e.log}
			err = srv.Serve(ctx, ln, cert)
			cancel()
			<-kept
			return failed(err)
		},
	}
	pkiDirFlag(cmd, &dir)
	fs := cmd.Flags()
	host, _ := os.Hostname()
	fs.StringVar(&listen, "listen", config.DefaultEnrollListen, "address to serve enrolment on")
	fs.StringVar(&name, "name", host, "the server's name: its certificate is issued/NAME.crt (role monitor), the name enrolling hosts dial")
	fs.StringVar(&certFile, "cert", "", "the server's certificate (default: issued/NAME.crt)")
	fs.StringVar(&keyFile, "key", "", "the server's key (default: issued/NAME.key)")
	fs.DurationVar(&validity, "validity", pki.DefaultLeafValidity, "how long enrolled certificates are valid")
	return cmd
}

func enrollCmd(e *env) *cobra.Command {
	var server, token, tokenFile, fingerprint, dir, name string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "enroll --server URL --ca-fingerprint SHA256 (--token-file FILE | --token T)",
		Short: "Get this host's certificate from an enrolment server with a single-use token",
		Long:  help("enroll"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (token == "") == (tokenFile == "") {
				return fail(fmt.Errorf("give one of --token-file and --token"))
			}
			if tokenFile != "" {
				t, err := readToken(tokenFile)
				if err != nil {
					return fail(err)
				}
				token = t
			}
			got, err := pki.Enroll(cmd.Context(), pki.EnrollOptions{Server: server, Token: token, Fingerprint: fingerprint, Name: name, Timeout: timeout})
			if err != nil {
				return fail(err)
			}
			if err := pki.WriteEnrolled(dir, name, got); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "enrolled as %s (role %s), certificate valid until %s\nkey %s (mode 0600)\ncertificate %s\nCA %s\nCRL %s\n",
				name, strings.Join(got.Cert.Subject.OrganizationalUnit, ","), got.Cert.NotAfter.UTC().Format(time.RFC3339),
				filepath.Join(dir, name+".key"), filepath.Join(dir, name+".crt"), filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CRLFile))
			return nil
		},
	}
	fs := cmd.Flags()
	host, _ := os.Hostname()
	fs.StringVar(&server, "server", "", "the enrolment server, https://HOST:PORT")
	fs.StringVar(&token, "token", "", "the enrolment token (visible to other local users in the process list: prefer --token-file)")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the enrolment token (- : standard input)")
	fs.StringVar(&fingerprint, "ca-fingerprint", "", "the CA's SHA-256 fingerprint, as vigil pki token printed it")
	fs.StringVar(&dir, "dir", config.DefaultTLSDir, "directory to write the key, certificate, CA and CRL into")
	fs.StringVar(&name, "name", host, "this host's name, as the token names it")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the server")
	_ = cmd.MarkFlagRequired("server")
	_ = cmd.MarkFlagRequired("ca-fingerprint")
	return cmd
}

// readToken reads a token from a file or standard input ("-").
func readToken(path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 1024))
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
