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
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/pki"
)

// ClientOptions say how to reach the bus and who is connecting.
type ClientOptions struct {
	// URL lists one or more servers, comma-separated (nats://, tls://).
	// Ignored when Embedded is set.
	URL string
	// Embedded connects in-process to a server of this process, without
	// a socket.
	Embedded *Server
	// Name identifies the connection in the server's monitoring.
	Name string

	// Credentials: at most one of User (with Password), CredsFile (a
	// NATS JWT credentials file) or NKeyFile (a file holding an NKey seed).
	User, Password string
	CredsFile      string
	NKeyFile       string

	// TLS: CAFile verifies the server (system roots when empty); CertFile
	// and KeyFile present a client certificate.
	CAFile, CertFile, KeyFile, ServerName string
	// CRLFile, with CAFile the certificate of Vigil's CA, makes the
	// client admit only a server whose certificate is a monitor's of that
	// CA and not on the CRL, read again every CRLRefresh
	// (pki.DefaultCRLRefresh when zero) of Clock (the wall clock when
	// nil). Without a usable CRL no server is admitted (fail closed).
	CRLFile    string
	CRLRefresh time.Duration
	Clock      clock.Clock

	// ConnectTimeout bounds the first connection (default 5 s).
	ConnectTimeout time.Duration
	// RetryOnFailedConnect keeps trying in the background when the first
	// connection fails, instead of returning an error.
	RetryOnFailedConnect bool
	// AckWait bounds the wait for a durable publish's acknowledgement
	// (default DefaultAckWait): a bus that does not store (a full disk)
	// is an error, not a hang.
	AckWait time.Duration

	Logger *slog.Logger
}

// DefaultAckWait is how long a durable publish waits for the stream's
// acknowledgement before it fails.
const DefaultAckWait = 5 * time.Second

// Conn is a connection to the bus with JetStream.
type Conn struct {
	NC   *nats.Conn
	JS   jetstream.JetStream
	log  *slog.Logger
	user string
	// stopCRL ends the refresh of the CRL the server is checked against.
	stopCRL func()
	// role is the role of the client certificate this connection was
	// made with ("" for none).
	role pki.Role
	// denied keeps the server's refusals of this connection's publishes
	// (permissions violations), so that a publish that is then never
	// acknowledged says why.
	denied *refusals
	// ackWait bounds a durable publish's wait for its next
	// acknowledgement (Options.AckWait).
	ackWait time.Duration
	// batchesOffUntil is when, in Unix nanoseconds, this connection tries
	// a batch publish again after the stream refused one.
	batchesOffUntil atomic.Int64
	// packing is the scratch PublishPackedEvents makes packs in, kept
	// from one publish to the next (a publish beside it makes its own).
	packing atomic.Pointer[packScratch]
	// domains are the JetStream APIs of other servers' domains reached
	// through leaf nodes, made as consumers need them.
	domainsMu sync.Mutex
	domains   map[string]jetstream.JetStream
	// route, when set, is the token every observation is published
	// under, whatever it is about: a network sensor's certificate lets it
	// publish on its own id's subjects only (docs/BUS.md).
	route string
	// streamLimits are the limits EnsureStreams last made the streams
	// with (nil before): a stream found missing while a consumer is set
	// up (lost to a JetStream restart while it was being made) is made
	// again with them.
	streamLimits atomic.Pointer[StreamLimits]
	// embedded says the server is this process's own, which restarts its
	// JetStream after a write error.
	embedded bool
}

// MayMakeStreams says whether this connection's identity may be allowed
// to make streams: false for the sensors' identity (SensorIdentity),
// which the server never allows it; true otherwise, the server deciding.
// A connection made with a certificate of a role other than monitor is
// never allowed either (PermissionsFor).
func (c *Conn) MayMakeStreams() bool {
	return c.user != SensorUser && (c.role == "" || c.role == pki.RoleMonitor)
}

// Connect opens a connection. It reconnects forever after a loss; loss and
// recovery are logged.
func Connect(ctx context.Context, o ClientOptions) (*Conn, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	lg := o.Logger.With("component", "bus")
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < o.ConnectTimeout {
		o.ConnectTimeout = max(time.Until(d), time.Millisecond)
	}
	denied := &refusals{}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(o.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
		nats.PingInterval(20 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				lg.Warn("disconnected from the bus", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { lg.Info("reconnected to the bus", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				lg.Warn("bus subscription error", "subject", sub.Subject, "err", err)
				return
			}
			denied.note(err)
			lg.Warn("bus error", "err", err)
		}),
	}
	if o.RetryOnFailedConnect {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	if o.Embedded != nil {
		opts = append(opts, nats.InProcessServer(inProcess{o.Embedded}))
	}
	n := 0
	if o.User != "" {
		// Replies come below the user's own prefix, which an identity
		// limited to it (SensorIdentity) may subscribe to.
		opts = append(opts, nats.UserInfo(o.User, o.Password), nats.CustomInboxPrefix(InboxPrefix(o.User)))
		n++
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
		n++
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("bus: NKey seed %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
		n++
	}
	if n > 1 {
		return nil, errors.New("bus: give one of user/password, a credentials file or an NKey seed")
	}
	var role pki.Role
	var route string
	stopCRL := func() {}
	if o.CRLFile != "" && o.CAFile == "" {
		return nil, fmt.Errorf("bus: CRL %s without the CA certificate that signed it", o.CRLFile)
	}
	if o.CertFile != "" && o.CRLFile == "" && o.Embedded == nil {
		if host := offLoopback(o.URL); host != "" {
			return nil, fmt.Errorf("bus: a client certificate for %s without the CA's CRL (--bus-crl, bus.tls.crl): off loopback the server's certificate must be checked for revocation, so nothing connects without it", host)
		}
	}
	if o.CAFile != "" || o.CertFile != "" || o.ServerName != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
		if o.CAFile != "" {
			pool, err := loadPool(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("bus: CA: %w", err)
			}
			tc.RootCAs = pool
		}
		if o.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("bus: client certificate %s / key %s: %w", o.CertFile, o.KeyFile, err)
			}
			tc.Certificates = []tls.Certificate{cert}
			// On a server that maps certificates to identities, the
			// replies of a certificate of Vigil's CA come below a prefix
			// of its role and name, the only inbox it may read.
			if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
				if ou := leaf.Subject.OrganizationalUnit; len(ou) == 1 {
					if r, err := pki.ParseRole(ou[0]); err == nil && leaf.Subject.CommonName != "" {
						role = r
						if r == pki.RoleNetsensor {
							route = leaf.Subject.CommonName
						}
						opts = append(opts, nats.CustomInboxPrefix(CertInboxPrefix(r, leaf.Subject.CommonName)))
					}
				}
			}
		}
		if o.CRLFile != "" {
			vctx, cancel := context.WithCancel(context.Background())
			v, done, err := pki.OpenVerifier(vctx, o.CAFile, o.CRLFile, o.CRLRefresh, o.Clock, lg)
			if err != nil {
				cancel()
				return nil, fmt.Errorf("bus: %w", err)
			}
			stopCRL = func() { cancel(); <-done }
			tc.VerifyConnection = v.VerifyConnection(false, pki.RoleMonitor)
		}
		opts = append(opts, nats.Secure(tc))
	}
	url := o.URL
	if o.Embedded != nil {
		// In-process: no socket, so no TLS even when the server's
		// listener requires it (its URL would be tls://).
		url = "nats://" + o.Embedded.Addr().String()
	}
	if url == "" {
		stopCRL()
		return nil, errors.New("bus: no URL to connect to")
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		stopCRL()
		return nil, fmt.Errorf("bus: connecting to %s: %w", redact(url), err)
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192), jetstream.WithPublishAsyncTimeout(o.AckWait))
	if err != nil {
		nc.Close()
		stopCRL()
		return nil, fmt.Errorf("bus: JetStream: %w", err)
	}
	return &Conn{NC: nc, JS: js, log: lg, user: o.User, role: role, route: route, denied: denied, ackWait: o.AckWait, stopCRL: stopCRL, embedded: o.Embedded != nil}, nil
}

// Close drains subscriptions and closes the connection.
func (c *Conn) Close() {
	if c == nil || c.NC == nil {
		return
	}
	if c.stopCRL != nil {
		defer c.stopCRL()
	}
	done := make(chan struct{})
	c.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := c.NC.Drain(); err != nil {
		c.NC.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		c.NC.Close()
	}
}

// Request sends data on subject and returns the reply's data, waiting
// until ctx ends (core NATS request/reply). It is what a monitor gives its
// response methods to reach other parts (action.Deps.Request).
func (c *Conn) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := c.NC.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// StreamLimits bound the durable streams.
type StreamLimits struct {
	MaxAge   time.Duration // observations; count vectors keep a tenth, reports ten times
	MaxBytes int64         // per stream
	Replicas int           // for clustered JetStream; 0 or 1 on one server
}

// EnsureStreams creates the durable streams that do not exist yet. Existing
// streams are left as they are (another monitor may have sized them).
func (c *Conn) EnsureStreams(ctx context.Context, lim StreamLimits) error {
	if lim.MaxAge <= 0 {
		lim.MaxAge = 24 * time.Hour
	}
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = 1 << 30
	}
	if lim.Replicas <= 0 {
		lim.Replicas = 1
	}
	streams := []jetstream.StreamConfig{
		// Sensors publish their observations in batches (publish_batch.go).
		{Name: StreamObs, Subjects: []string{PrefixObs + ">"}, MaxAge: lim.MaxAge, Description: "observations", AllowBatchPublish: true},
		{Name: StreamCV, Subjects: []string{PrefixCV + ">"}, MaxAge: max(lim.MaxAge/10, time.Hour), Description: "system-call count vectors"},
		{Name: StreamReports, Subjects: []string{PrefixReport + ">"}, MaxAge: lim.MaxAge * 10, Description: "monitor reports"},
	}
	c.streamLimits.Store(&lim)
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Retention = jetstream.LimitsPolicy
		sc.Discard = jetstream.DiscardOld
		sc.MaxBytes = lim.MaxBytes
		sc.Replicas = lim.Replicas
		sc.Duplicates = 2 * time.Minute
		if err := c.settle(ctx, "making stream "+sc.Name, func() error { return c.ensureStream(ctx, sc) }); err != nil {
			return err
		}
	}
	return nil
}

// ensureStream makes the stream sc unless it exists. An existing stream
// is left as it is, except that it is made to take batch publishes where
// sc does (a stream made by an earlier version).
func (c *Conn) ensureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	if st, err := c.JS.Stream(ctx, sc.Name); err == nil {
		if cfg := st.CachedInfo().Config; sc.AllowBatchPublish && !cfg.AllowBatchPublish {
			cfg.AllowBatchPublish = true
			if _, err := c.JS.UpdateStream(ctx, cfg); err != nil {
				// Publishes then go message by message, as before.
				c.log.Warn("could not let a stream take batch publishes", "stream", sc.Name, "err", err)
			}
		}
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bus: looking up stream %s: %w%s", sc.Name, err, StorageHint(err))
	}
	if _, err := c.JS.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("bus: creating stream %s: %w%s", sc.Name, err, StorageHint(err))
	}
	return nil
}

// JetStreamSettle is how long making streams and consumers keeps retrying
// while JetStream is being restarted (the monitor's health watch restarts
// it, with the bus server in its process, after a write error): it
// answers "not enabled" or nothing while it is off, and a stream that was
// being made when it went off may be gone after it.
const JetStreamSettle = 20 * time.Second

// restarting reports whether err is what JetStream answers while it is
// being restarted, or what a stream lost to the restart gives. A request
// in flight when JetStream went off gets no answer at all: with this
// process's own server, a request that timed out (while ctx still runs)
// is one too; with another's, it says that server does not answer, which
// retrying would only hide for longer.
func (c *Conn) restarting(ctx context.Context, err error) bool {
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrServerShutdown) ||
		errors.Is(err, jetstream.ErrStreamNotFound) {
		return true
	}
	return c.embedded && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
}

// settle runs fn, and again while it fails as JetStream does while it is
// being restarted, for up to JetStreamSettle; it returns fn's last error.
func (c *Conn) settle(ctx context.Context, what string, fn func() error) error {
	return c.settleIf(ctx, what, func(err error) bool { return c.restarting(ctx, err) }, fn)
}

// settleIf is settle retrying the errors retry says.
func (c *Conn) settleIf(ctx context.Context, what string, retry func(error) bool, fn func() error) error {
	deadline := time.Now().Add(JetStreamSettle)
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !retry(err) || !time.Now().Add(wait).Before(deadline) {
			return err
		}
		c.log.Warn("JetStream is not ready (being restarted?); retrying", "what", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func redact(url string) string {
	parts := strings.Split(url, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// ReadPassword reads a password file, trimming the line end.
func ReadPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("bus: password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// offLoopback returns the first host of a server URL list that is not on
// this machine's loopback ("" when all are).
func offLoopback(urls string) string {
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		host := u
		if parsed, err := neturl.Parse(u); err == nil && parsed.Host != "" {
			host = parsed.Hostname()
		} else if h, _, err := net.SplitHostPort(u); err == nil {
			host = h
		}
		if !isLoopback(host) {
			return host
		}
	}
	return ""
}
