package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/web"
)

// stack is a monitor with what it needs on one machine: optionally an
// embedded bus server, the bus connection, and optionally the HTTP server.
type stack struct {
	cfg       *config.ResourceObject
	engines   *engine.Registry
	dataDir   string
	embedded  bool // start the embedded bus server (cfg.Server)
	busClient config.BusClient
	listen    string // HTTP; "" for none
	// agent, when set, runs a host sensor on this machine feeding the bus.
	agent *config.Agent
	// ready, when set, is called with the URLs once everything is up.
	ready func(httpURL, busURL string)
}

// run starts the stack and runs it until ctx ends, then shuts it down:
// the HTTP server stops taking requests, the monitor drains to its store,
// the bus connection drains, and the embedded server stops last.
func (s *stack) run(ctx context.Context, e *env) error {
	if err := os.MkdirAll(s.dataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	name := s.cfg.Monitor.Name
	var srv *bus.Server
	var opts bus.ClientOptions
	if s.embedded {
		so, local, err := serverOptions(s.cfg, s.dataDir, e)
		if err != nil {
			return err
		}
		srv, err = bus.StartServer(ctx, so)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		opts = bus.ClientOptions{Embedded: srv, Name: "monitor " + name, User: local.Name, Password: local.Password}
	} else {
		var err error
		if opts, err = clientOptions(s.busClient, "monitor "+name); err != nil {
			return err
		}
		opts.RetryOnFailedConnect = false
	}
	opts.Logger = e.log
	conn, err := bus.Connect(ctx, opts)
	if err != nil {
		return err
	}
	defer conn.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub := web.NewHub()
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_live_dropped_total", Help: "Live-page messages lost because a browser was too slow.",
	}, func() float64 { return float64(hub.Dropped()) }))
	ids := event.NewRandomIDs()
	mon, err := monitor.New(ctx, monitor.Options{
		Config: s.cfg, Engines: s.engines, Conn: conn, DataDir: s.dataDir,
		IDs: ids, Logger: e.log, Registerer: reg, Observers: []monitor.Observer{hub},
	})
	if err != nil {
		return err
	}

	var httpSrv *web.Server
	if s.listen != "" {
		started := time.Now()
		httpSrv, err = web.New(web.Options{
			Listen: s.listen, Store: mon.Store(), Live: mon, Hub: hub, Gatherer: reg, IDs: ids, Logger: e.log,
			Publish: conn.PublishEvents,
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
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return mon.Run(gctx) })
	if s.agent != nil {
		a := *s.agent
		if a.SpoolDir == "" {
			a.SpoolDir = filepath.Join(s.dataDir, "agent-spool")
		}
		g.Go(func() error { return runAgentToBus(gctx, e, a, conn.PublishCompactEvents, conn.PublishCountVectors) })
	}
	if httpSrv != nil {
		g.Go(func() error { return httpSrv.Serve(gctx) })
	}
	if s.ready != nil {
		select {
		case <-mon.Ready():
		case <-gctx.Done():
			return g.Wait()
		}
		httpURL := ""
		if httpSrv != nil {
			httpURL = httpSrv.URL()
		}
		busURL := conn.NC.ConnectedUrlRedacted()
		if srv != nil {
			busURL = srv.ClientURL()
		}
		s.ready(httpURL, busURL)
	}
	return g.Wait()
}

// serverOptions builds the embedded server's options from the resource
// object. When the object names users, the process adds an identity of its
// own with a random password for its in-process connection.
func serverOptions(cfg *config.ResourceObject, dataDir string, e *env) (bus.ServerOptions, bus.User, error) {
	sc := cfg.Server
	so := bus.ServerOptions{
		Listen:   sc.Listen,
		StoreDir: filepath.Join(dataDir, "jetstream"),
		TLS: bus.ServerTLS{
			CertFile: cfg.Resolve(sc.TLS.Cert), KeyFile: cfg.Resolve(sc.TLS.Key), ClientCAFile: cfg.Resolve(sc.TLS.ClientCA),
		},
		Logger: e.log,
	}
	var local bus.User
	for _, u := range sc.Users {
		so.Users = append(so.Users, bus.User{Name: u.User, Password: u.Password, Publish: u.Publish, Subscribe: u.Subscribe})
	}
	if len(so.Users) > 0 {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return so, local, fmt.Errorf("generating the local bus identity: %w", err)
		}
		local = bus.User{Name: "vigil-local-" + cfg.Monitor.Name, Password: hex.EncodeToString(b[:])}
		so.Users = append(so.Users, local)
	}
	return so, local, nil
}
