package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-ids/vigil/internal/auth"
	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/health"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/web"
)

// MonitorOptions describe a monitor with what it needs on one machine.
type MonitorOptions struct {
	Config  *config.ResourceObject
	Engines *engine.Registry
	// Responses are the response method kinds (default ResponseRegistry()).
	Responses *action.Registry
	DataDir   string
	// Embedded starts the embedded bus server (Config.Server); otherwise
	// the monitor connects to Bus.
	Embedded bool
	Bus      config.BusClient
	// Listen is the HTTP server's address; "" for none.
	Listen string
	// Agent, when set, runs a host sensor on this machine feeding the bus.
	Agent *config.Agent
	// Ready, when set, is called with the URLs and the (absolute) data
	// directory once everything is up.
	Ready func(httpURL, busURL, dataDir string)
	// Leaf, when set, is called before Ready with a line saying how the
	// embedded server is joined to others (its JetStream domain and leaf
	// nodes: bus.Server.LeafStatus), when it is.
	Leaf   func(status string)
	Logger *slog.Logger
}

// RunMonitor runs a monitor, and the parts o asks for, as one run group
// until ctx ends. It stops them in order: the HTTP server stops taking
// requests, the host sensor stops and delivers what it sampled, the
// monitor drains to its store, the bus connection drains, and the
// embedded server stops last.
func RunMonitor(ctx context.Context, o MonitorOptions) error {
	log := o.Logger
	var err error
	if o.DataDir, err = filepath.Abs(o.DataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	name := o.Config.Monitor.Name
	if o.Responses == nil {
		o.Responses = ResponseRegistry()
	}
	g := NewGroup(log)
	var srv *bus.Server
	var copts bus.ClientOptions
	if o.Embedded {
		so, local, err := ServerOptions(o.Config, o.DataDir, log)
		if err != nil {
			return err
		}
		if srv, err = bus.StartServer(ctx, so); err != nil {
			return err
		}
		// On a small filesystem the streams' default size would not fit.
		if want := o.Config.Server.JetStream.MaxBytes; srv.FitStreamBytes(want) != want {
			cfg := *o.Config
			cfg.Server.JetStream.MaxBytes = srv.FitStreamBytes(want)
			log.Warn("streams limited to what JetStream's storage holds", "max_bytes_per_stream", cfg.Server.JetStream.MaxBytes, "configured", want)
			o.Config = &cfg
		}
		copts = bus.ClientOptions{Embedded: srv, Name: "monitor " + name, User: local.Name, Password: local.Password}
	} else {
		var err error
		if copts, err = ClientOptions(o.Bus, "monitor "+name, DefaultIdentity(bus.MonitorIdentityFile)); err != nil {
			return err
		}
		copts.RetryOnFailedConnect = false
	}
	copts.Logger = log
	conn, err := bus.Connect(ctx, copts)
	if err != nil {
		if srv != nil {
			srv.Shutdown()
		}
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub := web.NewHub()
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_live_dropped_total", Help: "Live-page messages lost because a browser was too slow.",
	}, func() float64 { return float64(hub.Dropped()) }))
	ids := event.NewRandomIDs()
	mon, err := monitor.New(ctx, monitor.Options{
		Config: o.Config, Engines: o.Engines, Responses: o.Responses, Conn: conn, DataDir: o.DataDir,
		IDs: ids, Logger: log, Registerer: reg, Observers: []monitor.Observer{hub},
	})
	if err != nil {
		conn.Close()
		if srv != nil {
			srv.Shutdown()
		}
		return err
	}

	board := health.New(nil, log)
	reg.MustRegister(board.Collectors()...)
	// JetStream is watched once the streams are made: while one is being
	// made, the server's health check may read it as broken.
	watch := &HealthWatch{Board: board, Store: mon.Store().Stats, Server: srv, StreamsReady: mon.Ready(), Logger: log}
	g.Add(watch.Component())

	var httpSrv *web.Server
	if o.Listen != "" {
		started := time.Now()
		httpSrv, err = web.New(web.Options{
			Listen: o.Listen, Store: mon.Store(), Live: mon, Hierarchy: mon, Hub: hub, Gatherer: reg, IDs: ids, Logger: log,
			Accounts:  auth.Open(o.DataDir),
			Publish:   reportPublish(board, conn.PublishEvents),
			Responder: mon.Unit(), UndoStatus: undoStatus,
			Board: board,
			Health: func() error {
				if !conn.NC.IsConnected() {
					return errors.New("not connected to the bus")
				}
				return nil
			},
			Status: func() map[string]any {
				st := mon.Store().Stats()
				return map[string]any{
					"monitor": name, "uptime_s": int64(time.Since(started).Seconds()),
					"events_in": mon.EventsIn(), "store_lag_items": st.Queued, "store_write_errors": st.WriteErrors,
				}
			},
		})
		if err != nil {
			return errors.Join(err, closeUnstarted(ctx, mon), closeConn(conn, srv))
		}
		g.Add(Web(httpSrv))
	}
	if o.Agent != nil {
		a := *o.Agent
		if a.SpoolDir == "" {
			a.SpoolDir = filepath.Join(o.DataDir, "agent-spool")
		}
		r, err := deliver.NewAgentRun(a, conn.PublishPackedEvents, conn.PublishCountVectors, log)
		if err != nil {
			return errors.Join(err, closeUnstarted(ctx, mon), closeConn(conn, srv))
		}
		watch.SpoolDropped = r.SpoolDropped
		for _, c := range agentComponents(r) {
			g.Add(c)
		}
		g.Add(AgentControl(r.Agent(), r.HostID(), conn, log))
		// The effector of the local agent; an embedded bus server is this
		// very process.
		busPID := 0
		if srv != nil {
			busPID = os.Getpid()
		}
		eff, err := Effector(a, conn, conn.NC.ConnectedUrl(), busPID, reg, log)
		if err != nil {
			return errors.Join(err, closeUnstarted(ctx, mon), closeConn(conn, srv))
		}
		if eff != nil {
			g.Add(*eff)
		}
	}
	g.Add(Monitor(mon))
	g.Add(BusConn(conn))
	if srv != nil {
		g.Add(BusServer(srv))
	}
	if o.Ready != nil {
		g.Add(Component{Name: "ready", Run: func(cctx context.Context) error {
			select {
			case <-mon.Ready():
			case <-cctx.Done():
				return nil
			}
			httpURL, busURL := "", conn.NC.ConnectedUrlRedacted()
			if httpSrv != nil {
				httpURL = httpSrv.URL()
			}
			if srv != nil {
				busURL = srv.ClientURL()
				if o.Leaf != nil && (o.Config.Server.JetStream.Domain != "" || o.Config.Server.Leaf.Listen != "" || len(o.Config.Server.Leaf.Remotes) > 0) {
					o.Leaf(srv.LeafStatus())
				}
			}
			o.Ready(httpURL, busURL, o.DataDir)
			<-cctx.Done()
			return nil
		}})
	}
	return g.Run(ctx)
}

// undoStatus maps the decision unit's undo errors to HTTP statuses.
func undoStatus(err error) int {
	switch {
	case errors.Is(err, resolver.ErrUnknownDecision):
		return http.StatusNotFound
	case errors.Is(err, resolver.ErrNotActive):
		return http.StatusConflict
	case errors.Is(err, resolver.ErrBadRequest):
		return http.StatusBadRequest
	}
	return 0
}

// closeUnstarted closes a monitor whose group never ran.
func closeUnstarted(ctx context.Context, mon *monitor.Monitor) error {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	return mon.Run(cctx)
}

func closeConn(conn *bus.Conn, srv *bus.Server) error {
	conn.Close()
	if srv != nil {
		srv.Shutdown()
	}
	return nil
}

// ServerOptions builds the embedded server's options from the resource
// object. The server never takes anonymous clients: besides the users the
// object names, it has the monitor's and the sensors' identities, made at
// first start in <data>/bus (bus.LocalIdentities); the process connects
// in-process with the monitor's.
func ServerOptions(cfg *config.ResourceObject, dataDir string, log *slog.Logger) (bus.ServerOptions, bus.User, error) {
	sc := cfg.Server
	so := bus.ServerOptions{
		Listen:   sc.Listen,
		StoreDir: filepath.Join(dataDir, "jetstream"),
		TLS: bus.ServerTLS{
			CertFile: cfg.Resolve(sc.TLS.Cert), KeyFile: cfg.Resolve(sc.TLS.Key), ClientCAFile: cfg.Resolve(sc.TLS.ClientCA),
			CRLFile: cfg.Resolve(sc.TLS.CRL), CRLRefresh: sc.TLS.CRLRefresh,
		},
		AllowInsecure:   sc.AllowInsecure,
		Logger:          log,
		JetStreamDomain: sc.JetStream.Domain,
		Leaf:            LeafOptions(cfg),
	}
	if sc.Leaf.Listen != "" || len(sc.Leaf.Remotes) > 0 {
		// Servers joined by leaf nodes tell each other apart by name.
		so.Name = "vigil-" + cfg.Monitor.Name
	}
	for _, m := range sc.Monitors {
		if so.MonitorScopes == nil {
			so.MonitorScopes = map[string]bus.MonitorScope{}
		}
		so.MonitorScopes[m.Name] = bus.MonitorScope{Children: m.Children, Peers: m.Peers, Hosts: m.Hosts}
	}
	for _, u := range sc.Users {
		if u.User == bus.MonitorUser || u.User == bus.SensorUser {
			return so, bus.User{}, fmt.Errorf("server.users: %q is the name of an identity the server makes itself", u.User)
		}
		so.Users = append(so.Users, bus.User{Name: u.User, Password: u.Password, Publish: u.Publish, Subscribe: u.Subscribe, AllowResponses: u.AllowResponses})
	}
	mon, sen, err := bus.LocalIdentities(IdentityDir(dataDir))
	if err != nil {
		return so, bus.User{}, err
	}
	local := bus.MonitorIdentity(mon)
	so.Users = append(so.Users, local, bus.SensorIdentity(sen))
	return so, local, nil
}

// LeafOptions are the embedded server's leaf nodes from the resource
// object (files resolved against its directory).
func LeafOptions(cfg *config.ResourceObject) bus.LeafOptions {
	l := cfg.Server.Leaf
	lo := bus.LeafOptions{Listen: l.Listen}
	for _, r := range l.Remotes {
		var urls []string
		for _, u := range strings.Split(r.URL, ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
		lo.Remotes = append(lo.Remotes, bus.LeafRemote{
			URLs: urls, CAFile: cfg.Resolve(r.TLS.CA), CertFile: cfg.Resolve(r.TLS.Cert), KeyFile: cfg.Resolve(r.TLS.Key),
			CRLFile: cfg.Resolve(r.TLS.CRL), ServerName: r.TLS.ServerName, CRLRefresh: cfg.Server.TLS.CRLRefresh,
		})
	}
	return lo
}

// IdentityDir is where a monitor with an embedded server keeps the bus
// identities (bus.LocalIdentities) under its data directory.
func IdentityDir(dataDir string) string { return filepath.Join(dataDir, "bus") }

// ClientOptions turns a bus section into connection options. A section
// without credentials uses the identity file defaultIdentity when it
// exists (the identity a monitor on this machine wrote under the default
// data directory); "" for none.
func ClientOptions(c config.BusClient, name, defaultIdentity string) (bus.ClientOptions, error) {
	o := bus.ClientOptions{
		URL: c.URL, Name: name, User: c.User, Password: c.Password, CredsFile: c.Creds, NKeyFile: c.NKey,
		CAFile: c.TLS.CA, CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, ServerName: c.TLS.ServerName, CRLFile: c.TLS.CRL,
	}
	if c.PasswordFile != "" {
		pw, err := bus.ReadPassword(c.PasswordFile)
		if err != nil {
			return o, err
		}
		o.Password = pw
	}
	identity := c.Identity
	if identity == "" && c.User == "" && c.Creds == "" && c.NKey == "" && defaultIdentity != "" {
		if _, err := os.Stat(defaultIdentity); err == nil {
			identity = defaultIdentity
		}
	}
	if identity != "" {
		if c.User != "" || c.Creds != "" || c.NKey != "" {
			return o, errors.New("bus: give one of an identity file, user/password, a credentials file or an NKey seed")
		}
		id, err := bus.ReadIdentity(identity)
		if err != nil {
			return o, err
		}
		o.User, o.Password = id.User, id.Password
	}
	return o, nil
}

// DefaultIdentity is the identity file of role (bus.SensorIdentityFile or
// bus.MonitorIdentityFile) that a monitor with the default data directory
// writes.
func DefaultIdentity(role string) string {
	return filepath.Join(IdentityDir(config.DefaultDataDir), role)
}
