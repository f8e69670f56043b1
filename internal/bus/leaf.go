package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/pki"
)

// Sites as leaf nodes
//
// A domain's bus joins the enterprise's as a NATS leaf node: the domain's
// server dials out (LeafRemote; the site opens no inbound port) and the
// enterprise's accepts (LeafOptions.Listen) with mutual TLS, the leaf's
// certificate a monitor's of Vigil's CA, not revoked. Each bus keeps its
// own JetStream domain (ServerOptions.JetStreamDomain), so its streams
// stay its own: reports published at a site are stored once, in the
// site's stream, and a monitor above consumes them there, through the
// link, with a durable consumer that lives at the site (DurableOptions.
// Domain). While the link is down the site keeps storing; when it comes
// back the consumer resumes where it was acknowledged.
//
// Across the link flow only the control, probe and heartbeat subjects,
// replies, and (from the enterprise towards the site) the site's
// JetStream API and acknowledgements: leafExports and leafImports. Data
// subjects (observations, count vectors, reports, effector and agent
// requests) never cross, so a report is not stored a second time by the
// enterprise's own stream (whose interest in vigil.report.> would
// otherwise pull the site's reports over the link).

// leafExports are the subjects a leaf (a site) may send to the server it
// joined: requests, probes and heartbeats between monitors, and replies
// (JetStream API answers and the messages of a consumer at the site
// delivered to a monitor above).
var leafExports = []string{
	PrefixCtl + ">", PrefixProbe + ">", PrefixHeartbeat + ">", "_INBOX.>",
}

// leafImports are the subjects a leaf may receive from the server it
// joined: the same, and the JetStream API of any domain (the site's own:
// $JS.<domain>.API, which the site's server maps to its local API),
// acknowledgements and flow control of the consumers at the site.
var leafImports = []string{
	PrefixCtl + ">", PrefixProbe + ">", PrefixHeartbeat + ">", "_INBOX.>",
	"$JS.*.API.>", "$JS.ACK.>", "$JS.FC.>",
}

// leafDenied are the data subjects a site's server itself refuses to send
// over or take from its link, whatever the other side allows.
var leafDenied = []string{
	PrefixObs + ">", PrefixLive + ">", PrefixCV + ">", PrefixReport + ">",
	PrefixEffect + ">", PrefixAgentCtl + ">",
}

// LeafPermissions are what a leaf connection may carry, from the leaf's
// side: Publish is what it may send, Subscribe what it may receive.
func LeafPermissions() Permissions {
	return Permissions{Publish: append([]string(nil), leafExports...), Subscribe: append([]string(nil), leafImports...)}
}

// LeafDenied are the subjects a site's server never sends over or takes
// from its leaf link.
func LeafDenied() []string { return append([]string(nil), leafDenied...) }

// LeafOptions join the embedded server to others as leaf nodes.
type LeafOptions struct {
	// Listen is host:port accepting leaf connections ("": none); port 0
	// picks a free one. It needs the server's mutual TLS (ServerTLS with
	// ClientCAFile and CRLFile), on loopback too: a leaf's certificate is
	// a monitor's of Vigil's CA.
	Listen string
	// Remotes are the servers this one dials out to, reconnecting
	// forever.
	Remotes []LeafRemote
	// ReconnectWait is the pause between attempts to reach a remote
	// (default 1 s).
	ReconnectWait time.Duration
	// PingInterval is how often each side of a link, and of every client
	// connection, checks that the other answers (default LeafPing); after
	// two unanswered the link is taken as lost and dialled again.
	PingInterval time.Duration
}

// LeafPing is how often a server with leaf nodes checks that the other
// side of each link answers.
const LeafPing = 3 * time.Second

// LeafRemote is one server a leaf connection is made to.
type LeafRemote struct {
	// URLs of the remote's leaf port: nats-leaf://host:port or
	// tls://host:port.
	URLs []string
	// CAFile is the certificate of Vigil's CA: the remote presents a
	// monitor certificate it issued, not on the CRL in CRLFile (read
	// again every CRLRefresh). CertFile and KeyFile are this site's
	// monitor certificate, presented to the remote.
	CAFile, CertFile, KeyFile, CRLFile string
	ServerName                         string
	CRLRefresh                         time.Duration
}

// LeafLink is one leaf connection as the server sees it.
type LeafLink struct {
	// Remote is the other server's name; Addr its address.
	Remote, Addr string
	// Solicited is true for a link this server dialled.
	Solicited bool
}

// leafSetup holds what leaf links need while the server runs.
type leafSetup struct {
	stops []func() // CRL reloaders of the remotes
}

func (l *leafSetup) stop() {
	if l == nil {
		return
	}
	for _, s := range l.stops {
		s()
	}
}

// configureLeaf fills opts.LeafNode from o. auth is the server's
// certificate authentication (nil without mutual TLS).
func configureLeaf(opts *server.Options, o ServerOptions, auth *certAuth, log *slog.Logger) (*leafSetup, error) {
	lo := o.Leaf
	if lo.Listen == "" && len(lo.Remotes) == 0 {
		return nil, nil
	}
	// A link that breaks silently (a cable, a firewall) is noticed
	// within a few pings rather than the default minutes.
	opts.PingInterval = lo.PingInterval
	if opts.PingInterval <= 0 {
		opts.PingInterval = LeafPing
	}
	opts.MaxPingsOut = 2
	opts.LeafNode.ReconnectInterval = lo.ReconnectWait
	if opts.LeafNode.ReconnectInterval <= 0 {
		opts.LeafNode.ReconnectInterval = time.Second
	}
	if lo.Listen != "" {
		host, portStr, err := net.SplitHostPort(lo.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus server: leaf listen address %q: %w", lo.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("bus server: leaf listen port %q: %w", portStr, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		if auth == nil || o.TLS.CertFile == "" {
			return nil, fmt.Errorf("bus server: leaf connections on %s need mutual TLS with Vigil's CA (a server certificate, the client CA and its CRL): a leaf is a monitor's certificate", lo.Listen)
		}
		tc, err := serverTLSConfig(o.TLS)
		if err != nil {
			return nil, err
		}
		tc.VerifyConnection = auth.verifyConnection
		opts.LeafNode.Host = host
		opts.LeafNode.Port = port
		opts.LeafNode.TLSConfig = tc
		opts.LeafNode.TLSTimeout = 5
		// Sites dial in; none learns the others' addresses from here.
		opts.LeafNode.NoAdvertise = true
	}
	setup := &leafSetup{}
	for i, r := range lo.Remotes {
		ro, stop, err := remoteLeaf(r, o.Clock, log)
		if err != nil {
			setup.stop()
			return nil, fmt.Errorf("bus server: leaf remote %d: %w", i+1, err)
		}
		if stop != nil {
			setup.stops = append(setup.stops, stop)
		}
		opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, ro)
	}
	return setup, nil
}

// remoteLeaf builds one remote's options: the site's certificate, the
// remote's checked against the CA and its CRL.
func remoteLeaf(r LeafRemote, c clock.Clock, log *slog.Logger) (*server.RemoteLeafOpts, func(), error) {
	if len(r.URLs) == 0 {
		return nil, nil, errors.New("no URL")
	}
	ro := &server.RemoteLeafOpts{DenyExports: LeafDenied(), DenyImports: LeafDenied(), NoRandomize: true, FirstInfoTimeout: 5 * time.Second}
	offLoop := ""
	for _, s := range r.URLs {
		u, err := ParseLeafURL(s)
		if err != nil {
			return nil, nil, err
		}
		if !isLoopback(u.Hostname()) && offLoop == "" {
			offLoop = u.Hostname()
		}
		ro.URLs = append(ro.URLs, u)
	}
	if r.CertFile == "" || r.KeyFile == "" || r.CAFile == "" {
		return nil, nil, fmt.Errorf("%s: a leaf connection presents this site's monitor certificate (cert, key) and checks the remote's against Vigil's CA (ca)", redactURL(r.URLs[0]))
	}
	if offLoop != "" && r.CRLFile == "" {
		return nil, nil, fmt.Errorf("%s is off loopback: the remote's certificate must be checked against the CA's CRL (crl)", offLoop)
	}
	cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %s / key %s: %w", r.CertFile, r.KeyFile, err)
	}
	pool, err := loadPool(r.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("CA: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: r.ServerName}
	var stop func()
	if r.CRLFile != "" {
		vctx, cancel := context.WithCancel(context.Background())
		v, done, err := pki.OpenVerifier(vctx, r.CAFile, r.CRLFile, r.CRLRefresh, c, log)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		stop = func() { cancel(); <-done }
		tc.VerifyConnection = v.VerifyConnection(false, pki.RoleMonitor)
	}
	ro.TLS = true
	ro.TLSConfig = tc
	ro.TLSTimeout = 5
	return ro, stop, nil
}

// ParseLeafURL checks the URL of a remote's leaf port: nats-leaf:// or
// tls:// with a host and a port, without credentials (a leaf is its
// certificate).
func ParseLeafURL(s string) (*neturl.URL, error) {
	u, err := neturl.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad leaf URL %q (want nats-leaf://host:port or tls://host:port)", s)
	}
	switch u.Scheme {
	case "nats-leaf", "tls":
	default:
		return nil, fmt.Errorf("leaf URL %q: scheme %q (want nats-leaf or tls)", redactURL(s), u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("leaf URL %q: credentials in the URL (a leaf authenticates with its certificate)", redactURL(s))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("leaf URL %q: no host", s)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("leaf URL %q: no port (the remote's leaf port, e.g. 7422)", s)
	}
	if _, err := strconv.ParseUint(u.Port(), 10, 16); err != nil {
		return nil, fmt.Errorf("leaf URL %q: bad port %q", s, u.Port())
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("leaf URL %q: a leaf URL has no path or query", s)
	}
	return u, nil
}

func redactURL(s string) string {
	if u, err := neturl.Parse(s); err == nil {
		return u.Redacted()
	}
	return redact(s)
}

// LeafURL is the URL other servers' leaf connections reach this one at
// ("" without a leaf listener).
func (s *Server) LeafURL() string {
	v, err := s.nats().Varz(nil)
	if err != nil || v.LeafNode.Port == 0 {
		return ""
	}
	host := v.LeafNode.Host
	if host == "" {
		host = "0.0.0.0"
	}
	return "nats-leaf://" + net.JoinHostPort(host, strconv.Itoa(v.LeafNode.Port))
}

// LeafLinks are the leaf connections up now, sorted by remote.
func (s *Server) LeafLinks() []LeafLink {
	lz, err := s.nats().Leafz(nil)
	if err != nil || lz == nil {
		return nil
	}
	out := make([]LeafLink, 0, len(lz.Leafs))
	for _, l := range lz.Leafs {
		// A link this server dialled is the spoke's side of it (the
		// remotes never declare themselves hubs).
		out = append(out, LeafLink{Remote: l.Name, Addr: net.JoinHostPort(l.IP, strconv.Itoa(l.Port)), Solicited: l.IsSpoke})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Remote < out[j].Remote || out[i].Remote == out[j].Remote && out[i].Addr < out[j].Addr
	})
	return out
}

// JetStreamDomain is the server's JetStream domain ("" for none).
func (s *Server) JetStreamDomain() string { return s.domain }

// LeafStatus says in a line how the server is joined to others: its
// JetStream domain, its leaf listener and its links, for a startup
// banner.
func (s *Server) LeafStatus() string {
	var parts []string
	if s.domain != "" {
		parts = append(parts, "JetStream domain "+s.domain)
	}
	in, out := 0, 0
	for _, l := range s.LeafLinks() {
		if l.Solicited {
			out++
		} else {
			in++
		}
	}
	if u := s.LeafURL(); u != "" {
		parts = append(parts, fmt.Sprintf("accepting leaf nodes on %s (%d joined)", u, in))
	}
	if n := len(s.leafRemotes); n > 0 {
		state := "up"
		if out == 0 {
			state = "not connected yet; dialling until it is"
		}
		parts = append(parts, fmt.Sprintf("leaf node of %s (%s)", strings.Join(s.leafRemotes, ", "), state))
	}
	if len(parts) == 0 {
		return "no leaf nodes"
	}
	return strings.Join(parts, "; ")
}

// watchLeafs logs every leaf link that comes up or goes down, checking
// every tick of t until ctx ends.
func (s *Server) watchLeafs(ctx context.Context, t clock.Ticker) {
	defer t.Stop()
	up := map[string]LeafLink{}
	check := func() {
		now := map[string]LeafLink{}
		for _, l := range s.LeafLinks() {
			now[l.Remote+"@"+l.Addr] = l
		}
		for k, l := range now {
			if _, ok := up[k]; !ok {
				s.log.Info("leaf link up", "remote", l.Remote, "addr", l.Addr, "dialled", l.Solicited)
			}
		}
		for k, l := range up {
			if _, ok := now[k]; !ok {
				s.log.Warn("leaf link lost", "remote", l.Remote, "addr", l.Addr, "dialled", l.Solicited)
			}
		}
		up = now
	}
	check()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			check()
		}
	}
}

// LeafWatchInterval is how often the server checks its leaf links to log
// those lost and back.
const LeafWatchInterval = time.Second

// checkLeaf admits a leaf connection whose certificate is a monitor's of
// Vigil's CA, not revoked, with the leaf permissions (LeafPermissions).
func (a *certAuth) checkLeaf(c server.ClientAuthentication) bool {
	cs := c.GetTLSConnectionState()
	if cs == nil || len(cs.PeerCertificates) == 0 {
		a.log.Warn("leaf connection refused: no certificate", "remote", c.RemoteAddress().String())
		return false
	}
	peer, err := a.verifier.Verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, pki.RoleMonitor)
	if err != nil {
		a.log.Warn("leaf connection refused", "remote", c.RemoteAddress().String(), "err", err)
		return false
	}
	c.RegisterUser(&server.User{Username: "leaf:" + peer.Name, Permissions: natsPermissions(LeafPermissions())})
	a.mu.Lock()
	a.clients[c.GetID()] = &admitted{chain: cs.PeerCertificates, leaf: true}
	a.mu.Unlock()
	a.log.Info("leaf connection admitted", "remote", c.RemoteAddress().String(), "monitor", peer.Name)
	return true
}
