package monitor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// buildUnit builds the response methods of the resource object and the
// decision unit that runs them (docs/RESPONSES.md).
func (m *Monitor) buildUnit(ctx context.Context, reg *action.Registry) error {
	cfg := m.cfg
	if reg == nil {
		reg = action.NewRegistry()
	}
	deps := action.Deps{Monitor: cfg.Monitor.Name, Clock: m.o.Clock, Logger: m.log, Resolve: cfg.Resolve}
	if m.o.Conn != nil {
		deps.Request = m.o.Conn.Request // effector requests to the agents of this monitor's hosts
	}
	deps.Children = childMonitors(cfg)
	methods, err := resolver.BuildMethods(ctx, reg, cfg.Responses, deps)
	if err != nil {
		return fmt.Errorf("monitor %s: %w", cfg.Monitor.Name, err)
	}
	unit, err := resolver.NewUnit(resolver.UnitOptions{
		Monitor: cfg.Monitor.Name, Config: cfg.Resolver, Methods: methods, Audit: m.store,
		Protected: m.ownAddresses(), Emit: m.emitResponse,
		Clock: m.o.Clock, IDs: m.o.IDs, Logger: m.log,
	})
	if err != nil {
		_ = resolver.CloseMethods(methods)
		return fmt.Errorf("monitor %s: %w", cfg.Monitor.Name, err)
	}
	m.unit = unit
	for _, st := range resolver.Statuses {
		m.o.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vigil_resolver_decisions_total", Help: "Decisions of the resolver by status (expired and undone: decisions that ended so).",
			ConstLabels: prometheus.Labels{"monitor": cfg.Monitor.Name, "status": st},
		}, func() float64 { return float64(unit.Decisions(st)) }))
	}
	m.o.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_resolver_dropped_total", Help: "Reports the decision unit could not take in time (stored, not decided on).",
		ConstLabels: prometheus.Labels{"monitor": cfg.Monitor.Name},
	}, func() float64 { return float64(unit.Dropped()) }))
	return nil
}

// Unit is the monitor's decision unit (decisions, undo).
func (m *Monitor) Unit() *resolver.Unit { return m.unit }

// emitResponse publishes a response event as an observation, so that it
// reaches the engines (this monitor's, through its sources) and the store
// like any other.
func (m *Monitor) emitResponse(ev event.Event) {
	if m.o.Conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.o.Conn.PublishEvents(ctx, []event.Event{ev}); err != nil {
		m.log.Warn("response event not published", "id", ev.ID, "err", err)
	}
}

// ownAddresses are the addresses the decision unit never acts on besides
// the configured ones: this machine's own and its default gateways, the
// bus servers it connects to, and the address the embedded server listens
// on.
func (m *Monitor) ownAddresses() []netip.Prefix {
	var out []netip.Prefix
	add := func(a netip.Addr) {
		if a.IsValid() && !a.IsUnspecified() {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	out = append(out, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				add(p.Addr())
			}
		}
	}
	hostAddrs := func(host string) {
		if a, err := netip.ParseAddr(host); err == nil {
			add(a)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host); err == nil {
			for _, a := range ips {
				add(a)
			}
		}
	}
	proc := m.cfg.Agent.Proc
	if proc == "" {
		proc = config.DefaultProc
	}
	for _, gw := range defaultGateways(proc) {
		add(gw)
	}
	for _, u := range strings.Split(m.cfg.Bus.URL, ",") {
		if pu, err := url.Parse(strings.TrimSpace(u)); err == nil && pu.Hostname() != "" {
			hostAddrs(pu.Hostname())
		}
	}
	if host, _, err := net.SplitHostPort(m.cfg.Server.Listen); err == nil && host != "" {
		hostAddrs(host)
	}
	if c := m.o.Conn; c != nil && c.NC != nil {
		if host, _, err := net.SplitHostPort(c.NC.ConnectedAddr()); err == nil {
			hostAddrs(host)
		}
		for _, u := range c.NC.DiscoveredServers() {
			if pu, err := url.Parse(u); err == nil {
				hostAddrs(pu.Hostname())
			}
		}
	}
	return out
}

// childMonitors are the monitors one layer down: those monitor.children
// declares, else those the monitor subscribes to, in the order written.
func childMonitors(cfg *config.ResourceObject) []string {
	if len(cfg.Monitor.Children) > 0 {
		return slices.Clone(cfg.Monitor.Children)
	}
	var out []string
	for _, s := range cfg.Subscriptions {
		if s.Monitor != "" && !slices.Contains(out, s.Monitor) {
			out = append(out, s.Monitor)
		}
	}
	return out
}
