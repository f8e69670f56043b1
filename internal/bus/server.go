package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/vigil-ids/vigil/internal/clock"
)

// ServerOptions configure the embedded NATS server.
type ServerOptions struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string
	// StoreDir holds JetStream's files.
	StoreDir string
	// TLS, when CertFile is set, makes clients use TLS; with ClientCAFile,
	// clients must also present a certificate signed by that CA.
	TLS ServerTLS
	// Users are the only identities allowed to connect. A server without
	// users is refused unless AllowAnonymous says otherwise.
	Users []User
	// AllowAnonymous lets a server without users accept any client: for
	// tests and benchmarks on a bus of their own, never a monitor's.
	AllowAnonymous bool
	// AllowInsecure lets a server listen on an address other machines
	// reach without mutual TLS and a CRL (the lab, inside its own network
	// namespaces). Without it such a server is refused.
	AllowInsecure bool
	// MonitorScopes narrow, by monitor name, what a monitor's certificate
	// allows (see MonitorScope).
	MonitorScopes map[string]MonitorScope
	// Clock tells the time for certificate and CRL checks and ticks the
	// CRL refresh (the wall clock when nil).
	Clock clock.Clock
	// MaxStore bounds JetStream's disk use (0: no bound beyond the streams').
	MaxStore int64
	// Logger receives the server's own log lines.
	Logger *slog.Logger
	// Name is the server's name, unique among the servers joined by leaf
	// nodes ("vigil" when empty).
	Name string
	// JetStreamDomain is this server's JetStream domain ("" for none):
	// each site joined by leaf nodes has its own, so its streams stay its
	// own and others reach them as $JS.<domain>.API.
	JetStreamDomain string
	// Leaf joins the server to others as leaf nodes (see LeafOptions).
	Leaf LeafOptions
}

// ServerTLS is the embedded server's TLS material.
//
// With ClientCAFile (mutual TLS), ClientCAFile is the certificate of
// Vigil's CA (internal/pki) and CRLFile its revocation list: every client
// on the network presents a certificate that CA issued, and that
// certificate is its identity. Its role (OU) and name (CN) give its
// permissions (PermissionsFor); a certificate that is revoked, of no known
// role, or checked while the CRL is missing or stale is refused (fail
// closed). The CRL is read again every CRLRefresh (pki.DefaultCRLRefresh
// when zero), and a connected client whose certificate is then refused
// is disconnected. Password identities (Users) remain for in-process
// connections only.
type ServerTLS struct {
	CertFile, KeyFile, ClientCAFile string
	CRLFile                         string
	CRLRefresh                      time.Duration
}

// User is one identity allowed on the embedded server.
type User struct {
	Name     string
	Password string // plain text or a bcrypt hash ("$2a$...")
	// Publish and Subscribe list the subjects the user may use; empty
	// lists allow all.
	Publish, Subscribe []string
	// AllowResponses lets the user answer a request it received (one
	// reply to the request's reply subject, within ResponseWindow) even
	// though Publish does not list that subject (NATS allow_responses).
	AllowResponses bool
}

// ResponseWindow is how long after a request a user with AllowResponses
// may answer it.
const ResponseWindow = 2 * time.Minute

// Server is a running embedded NATS server with JetStream.
type Server struct {
	// cur is the running nats-server: RestartJetStream replaces it.
	cur atomic.Pointer[server.Server]
	log *slog.Logger
	// opts are what RestartJetStream starts the server with again: the
	// options given, with the ports and JetStream limits it got at start.
	opts *server.Options
	// storeDir and jsConfig are the directory given and the JetStream
	// limits computed at start.
	storeDir string
	jsConfig server.JetStreamConfig
	// restart is held while RestartJetStream or Shutdown runs; stopped
	// says Shutdown ran, after which nothing starts the server again.
	restart sync.Mutex
	stopped bool
	// auth checks client certificates (nil without mutual TLS); stopAuth
	// ends its CRL refresh.
	auth     *certAuth
	stopAuth func()
	// domain is the JetStream domain; leafRemotes the (redacted) URLs of
	// the servers this one dials as a leaf node; leaf what its links
	// need while it runs; stopWatch ends the logging of its links.
	domain      string
	leafRemotes []string
	leaf        *leafSetup
	stopWatch   func()
}

// StartServer starts the embedded server and waits until it accepts
// connections.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("bus server: listen address %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bus server: listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	loopback := isLoopback(host)
	if !loopback && !o.AllowInsecure && (o.TLS.CertFile == "" || o.TLS.ClientCAFile == "" || o.TLS.CRLFile == "") {
		return nil, fmt.Errorf("bus server: %s is reachable from other machines: it needs mutual TLS with Vigil's CA (a server certificate, the client CA and its CRL)", o.Listen)
	}
	if len(o.Users) == 0 && !o.AllowAnonymous {
		return nil, errors.New("bus server: no identities: a server without users would accept any local process")
	}
	if o.StoreDir == "" {
		return nil, errors.New("bus server: no JetStream store directory")
	}
	if err := os.MkdirAll(o.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("bus server: store directory: %w", err)
	}
	name := o.Name
	if name == "" {
		name = "vigil"
	}
	opts := &server.Options{
		ServerName:            name,
		JetStreamDomain:       o.JetStreamDomain,
		Host:                  host,
		Port:                  port,
		JetStream:             true,
		StoreDir:              o.StoreDir,
		JetStreamMaxStore:     o.MaxStore,
		NoSigs:                true,
		MaxPayload:            4 << 20,
		DisableShortFirstPing: true,
		// Monitors ack in batches; let slow consumers lag rather than be cut.
		MaxPending: 256 << 20,
	}
	if o.TLS.CertFile != "" {
		tc, err := serverTLSConfig(o.TLS)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
		opts.TLS = true
		opts.TLSTimeout = 5
		opts.TLSVerify = o.TLS.ClientCAFile != ""
	}
	var auth *certAuth
	if o.TLS.ClientCAFile != "" {
		if auth, err = newCertAuth(o, o.Logger.With("component", "bus-auth")); err != nil {
			return nil, err
		}
		if err := auth.reloader.Load(); err != nil {
			if !loopback {
				return nil, fmt.Errorf("bus server: listening on %s, reachable from other machines, without a usable CRL: %w", o.Listen, err)
			}
			if h, _, _ := net.SplitHostPort(o.Leaf.Listen); o.Leaf.Listen != "" && !isLoopback(h) {
				return nil, fmt.Errorf("bus server: accepting leaf nodes on %s, reachable from other machines, without a usable CRL: %w", o.Leaf.Listen, err)
			}
		}
		opts.TLSConfig.VerifyConnection = auth.verifyConnection
		opts.CustomClientAuthentication = auth
	} else {
		for _, u := range o.Users {
			opts.Users = append(opts.Users, natsUser(u))
		}
	}
	leaf, err := configureLeaf(opts, o, auth, o.Logger.With("component", "bus-leaf"))
	if err != nil {
		return nil, err
	}
	deadline := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	lg := o.Logger.With("component", "nats")
	ns, err := startNATS(opts, lg, deadline)
	if err != nil {
		leaf.stop()
		return nil, err
	}
	srv := &Server{log: lg, storeDir: o.StoreDir, jsConfig: *ns.JetStreamConfig(), domain: o.JetStreamDomain, leaf: leaf, auth: auth}
	srv.cur.Store(ns)
	srv.opts = restartOptions(opts, ns, srv.jsConfig)
	for _, r := range opts.LeafNode.Remotes {
		for _, u := range r.URLs {
			srv.leafRemotes = append(srv.leafRemotes, u.Redacted())
		}
	}
	if leaf != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		t := clock.NewTicker(clockOr(o.Clock), LeafWatchInterval)
		go func() {
			defer close(done)
			srv.watchLeafs(ctx, t)
		}()
		srv.stopWatch = func() { cancel(); <-done }
	}
	if auth != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		t := auth.ticker(o.Clock)
		go func() {
			defer close(done)
			auth.run(ctx, t, srv.nats)
		}()
		srv.stopAuth = func() { cancel(); <-done }
	}
	return srv, nil
}

// startNATS starts a nats-server with opts and waits until it accepts
// connections with JetStream on.
func startNATS(opts *server.Options, lg *slog.Logger, deadline time.Duration) (*server.Server, error) {
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus server: %w", err)
	}
	ns.SetLoggerV2(&natsLogger{lg}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, fmt.Errorf("bus server: not ready to accept connections on %s:%d within %v", opts.Host, opts.Port, deadline)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, errors.New("bus server: JetStream did not start")
	}
	return ns, nil
}

// restartOptions are the options a server started with opts is started
// with again: on the ports it got (a random port stays the one chosen,
// so that clients reconnect to it) and with the JetStream limits computed
// at start (a limit computed again from a disk just filled would shrink).
func restartOptions(opts *server.Options, ns *server.Server, js server.JetStreamConfig) *server.Options {
	again := opts.Clone()
	if a, ok := ns.Addr().(*net.TCPAddr); ok {
		again.Port = a.Port
	}
	if v, err := ns.Varz(nil); err == nil && v.LeafNode.Port != 0 {
		again.LeafNode.Port = v.LeafNode.Port
	}
	again.JetStreamMaxStore = js.MaxStore
	again.JetStreamMaxMemory = js.MaxMemory
	return again
}

// nats is the running nats-server.
func (s *Server) nats() *server.Server { return s.cur.Load() }

// inProcess gives this process's clients a connection to whichever
// nats-server is running, so that they reconnect in process after
// RestartJetStream.
type inProcess struct{ s *Server }

// InProcessConn implements nats.InProcessConnProvider.
func (p inProcess) InProcessConn() (net.Conn, error) { return p.s.nats().InProcessConn() }

// ClientURL is the URL clients use to reach the server.
func (s *Server) ClientURL() string { return s.nats().ClientURL() }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.nats().Addr() }

// Shutdown stops the server and waits until it has stopped; JetStream
// flushes its files.
func (s *Server) Shutdown() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	s.restart.Lock()
	ns := s.nats()
	s.stopped = true
	s.restart.Unlock()
	ns.Shutdown()
	ns.WaitForShutdown()
	if s.stopAuth != nil {
		s.stopAuth()
	}
	s.leaf.stop()
}

func clockOr(c clock.Clock) clock.Clock {
	if c == nil {
		return clock.Real{}
	}
	return c
}

// SlowConsumers is how many times the server cut off a client that could
// not keep up.
func (s *Server) SlowConsumers() int64 {
	v, err := s.nats().Varz(nil)
	if err != nil {
		return 0
	}
	return v.SlowConsumers
}

// NumClients returns the number of connected clients.
func (s *Server) NumClients() int { return s.nats().NumClients() }

// isLoopback says whether a listen host is reachable from this machine
// only ("" and unspecified addresses listen everywhere).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func serverTLSConfig(t ServerTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("bus server: TLS certificate %s / key %s: %w", t.CertFile, t.KeyFile, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pool, err := loadPool(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("bus server: client CA: %w", err)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// natsLogger sends the server's log lines to slog.
type natsLogger struct{ l *slog.Logger }

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Debug(trim(format, v)) }
func (n *natsLogger) Warnf(format string, v ...any)   { n.l.Warn(trim(format, v)) }
func (n *natsLogger) Fatalf(format string, v ...any)  { n.l.Error(trim(format, v)) }
func (n *natsLogger) Errorf(format string, v ...any)  { n.l.Error(trim(format, v)) }
func (n *natsLogger) Debugf(format string, v ...any)  { n.l.Debug(trim(format, v)) }
func (n *natsLogger) Tracef(format string, v ...any)  { n.l.Debug(trim(format, v)) }

func trim(format string, v []any) string { return strings.TrimSpace(fmt.Sprintf(format, v...)) }
