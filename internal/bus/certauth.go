package bus

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/pki"
)

// certAuth decides who a client is on a server with mutual TLS: a client
// with a certificate is the certificate's role and name, with the
// permission table's rights for them (the server's own verify-and-map);
// one without (in-process only: on the network the TLS handshake already
// demands a certificate) is one of the password users.
type certAuth struct {
	verifier *pki.Verifier
	reloader *pki.CRLReloader
	scopes   map[string]MonitorScope
	users    map[string]*server.User
	log      *slog.Logger

	mu sync.Mutex
	// clients are the certificate clients and leaf connections admitted,
	// by connection id, checked again at every CRL refresh.
	clients map[uint64]*admitted
}

// admitted is one connection admitted with a certificate.
type admitted struct {
	chain []*x509.Certificate
	leaf  bool
	// missed counts the sweeps that did not find a leaf connection yet
	// (it is admitted before the server lists it).
	missed int
}

func newCertAuth(o ServerOptions, log *slog.Logger) (*certAuth, error) {
	if o.TLS.CRLFile == "" {
		return nil, fmt.Errorf("bus server: client CA %s without a CRL file (server.tls.crl): client certificates cannot be checked for revocation", o.TLS.ClientCAFile)
	}
	ca, err := pki.ReadCACert(o.TLS.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("bus server: client CA: %w", err)
	}
	v := pki.NewVerifier(ca, o.Clock)
	a := &certAuth{
		verifier: v,
		reloader: &pki.CRLReloader{Path: o.TLS.CRLFile, Verifier: v, Interval: o.TLS.CRLRefresh, Clock: o.Clock, Log: log},
		scopes:   o.MonitorScopes,
		users:    map[string]*server.User{},
		log:      log,
		clients:  map[uint64]*admitted{},
	}
	for _, u := range o.Users {
		if u.Name == certInboxRoot {
			return nil, fmt.Errorf("bus server: user name %q is reserved for certificate identities", u.Name)
		}
		a.users[u.Name] = natsUser(u)
	}
	return a, nil
}

// Check implements server.Authentication.
func (a *certAuth) Check(c server.ClientAuthentication) bool {
	switch c.Kind() {
	case server.CLIENT:
	case server.LEAF:
		return a.checkLeaf(c)
	default:
		return false
	}
	if cs := c.GetTLSConnectionState(); cs != nil && len(cs.PeerCertificates) > 0 {
		peer, err := a.verifier.Verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, pki.Roles...)
		if err != nil {
			a.log.Warn("bus client refused", "remote", c.RemoteAddress().String(), "err", err)
			return false
		}
		perms, err := PermissionsFor(peer.Role, peer.Name, a.scopes)
		if err != nil {
			a.log.Warn("bus client refused", "remote", c.RemoteAddress().String(), "err", err)
			return false
		}
		c.RegisterUser(&server.User{Username: CertUser(peer.Role, peer.Name), Permissions: natsPermissions(perms)})
		a.mu.Lock()
		a.clients[c.GetID()] = &admitted{chain: cs.PeerCertificates}
		a.mu.Unlock()
		return true
	}
	o := c.GetOpts()
	if o == nil {
		return false
	}
	u, ok := a.users[o.Username]
	if !ok || !passwordMatches(u.Password, o.Password) {
		return false
	}
	c.RegisterUser(u)
	return true
}

// verifyConnection refuses a TLS handshake whose client certificate the
// verifier refuses, before the client says anything.
func (a *certAuth) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // the handshake's own client-auth policy decides
	}
	_, err := a.verifier.Verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, pki.Roles...)
	return err
}

// ticker ticks at every CRL refresh of c (the wall clock when nil).
func (a *certAuth) ticker(c clock.Clock) clock.Ticker {
	if c == nil {
		c = clock.Real{}
	}
	interval := a.reloader.Interval
	if interval <= 0 {
		interval = pki.DefaultCRLRefresh
	}
	return clock.NewTicker(c, interval)
}

// forget drops the connections admitted so far: after the server
// restarted they are gone, their ids given to new connections, which are
// admitted again.
func (a *certAuth) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.clients)
}

// run reads the CRL again at every tick of t until ctx ends, and after
// each read disconnects the certificate clients the verifier now refuses.
func (a *certAuth) run(ctx context.Context, t clock.Ticker, ns func() *server.Server) {
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			_ = a.reloader.Load()
			a.sweep(ns())
		}
	}
}

// sweep disconnects the admitted certificate clients the verifier now
// refuses and forgets those that are gone.
func (a *certAuth) sweep(ns *server.Server) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, ad := range a.clients {
		if ad.leaf {
			if ns.GetLeafNode(id) == nil {
				if ad.missed++; ad.missed > 1 {
					delete(a.clients, id)
				}
				continue
			}
			ad.missed = 0
		} else if ns.GetClient(id) == nil {
			delete(a.clients, id)
			continue
		}
		if _, err := a.verifier.Verify(ad.chain, x509.ExtKeyUsageClientAuth, pki.Roles...); err != nil {
			a.log.Warn("bus client disconnected: its certificate is refused now", "client", id, "err", err)
			_ = ns.DisconnectClientByID(id)
			delete(a.clients, id)
		}
	}
}

// passwordMatches compares a password with a stored one, plain or a
// bcrypt hash, without revealing by its time how much of it matched.
func passwordMatches(stored, given string) bool {
	if strings.HasPrefix(stored, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(stored), []byte(given)) == nil
	}
	s, g := sha256.Sum256([]byte(stored)), sha256.Sum256([]byte(given))
	return stored != "" && subtle.ConstantTimeCompare(s[:], g[:]) == 1
}

// natsUser is a password user as the server holds it: an empty list
// allows every subject, except that with AllowResponses an empty publish
// list allows only the answers (as the server's own user table does).
func natsUser(u User) *server.User {
	su := &server.User{Username: u.Name, Password: u.Password}
	if len(u.Publish) == 0 && len(u.Subscribe) == 0 && !u.AllowResponses {
		return su
	}
	su.Permissions = &server.Permissions{}
	if u.AllowResponses {
		su.Permissions.Response = &server.ResponsePermission{MaxMsgs: 1, Expires: ResponseWindow}
		su.Permissions.Publish = &server.SubjectPermission{Allow: []string{}}
	}
	if len(u.Publish) > 0 {
		su.Permissions.Publish = &server.SubjectPermission{Allow: u.Publish}
	}
	if len(u.Subscribe) > 0 {
		su.Permissions.Subscribe = &server.SubjectPermission{Allow: u.Subscribe}
	}
	return su
}

// natsPermissions turns a certificate's permissions into the server's.
// An empty list is no right at all.
func natsPermissions(p Permissions) *server.Permissions {
	sp := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: p.Publish},
		Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
	}
	if len(p.Publish) == 0 {
		sp.Publish = &server.SubjectPermission{Deny: []string{">"}}
	}
	if len(p.Subscribe) == 0 {
		sp.Subscribe = &server.SubjectPermission{Deny: []string{">"}}
	}
	if p.AllowResponses {
		sp.Response = &server.ResponsePermission{MaxMsgs: 1, Expires: ResponseWindow}
	}
	return sp
}
