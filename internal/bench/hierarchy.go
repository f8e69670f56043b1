package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/probemsg"
)

// `vigil bench hierarchy` measures the layered deployment of seed 002
// section 4 in one process on one embedded NATS server: service monitors,
// each analysing its host's observations with a signature rule that
// reports every one, feed domain monitors through durable report
// subscriptions; each domain's rule reports every report it receives, and
// an enterprise monitor subscribes to the domains. Beside it, in the same
// run and on a fresh server, the same service monitors feed one flat
// monitor subscribed to all of them. Both phases get the same offered
// rate; the result is the top monitor's reports per second and the
// latency from an observation's publication to the top monitor decoding
// the report it led to.

// HierarchyOptions configure `vigil bench hierarchy`.
type HierarchyOptions struct {
	// Services, Domains: the service monitors (default 100) and the domain
	// monitors (default 10) they are shared among; one enterprise monitor.
	Services, Domains int
	// Rate is the observations offered a second across the services
	// (each leads to one report; default 1,000), for Duration (10s).
	Rate     float64
	Duration time.Duration
	// Dir holds the stores and the bus (default: a temporary directory).
	Dir    string
	Logger *slog.Logger
	// Progress receives a line per phase.
	Progress io.Writer
	// Only runs only the phase whose name contains it ("hierarchy", "flat").
	Only string
	// HeartbeatWindow is how long the hierarchy's heartbeats are counted,
	// its monitors otherwise idle, before observations are offered
	// (default 10 s: five of the default intervals).
	HeartbeatWindow time.Duration
	// Probes is how many probes of each kind are timed on each path
	// (default 200).
	Probes int
}

// HierarchyPhase is one phase's outcome.
type HierarchyPhase struct {
	Name     string `json:"name"`
	Monitors int    `json:"monitors"`
	// Offered observations; ServiceReports the reports the services made;
	// Delivered the reports the top monitor received.
	Offered        int     `json:"offered"`
	ServiceReports int     `json:"service_reports"`
	Delivered      int     `json:"delivered"`
	Lost           int     `json:"lost"`
	Seconds        float64 `json:"seconds"`
	// Rate is the top monitor's reports a second, from the first
	// publication to the last report received.
	Rate float64 `json:"reports_per_s"`
	// Latency from an observation's publication to the top monitor
	// decoding the report it led to.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// DomainP50, DomainP99: in the hierarchy, from an observation's
	// publication to a domain monitor decoding its service's report.
	DomainP50 time.Duration `json:"domain_p50_ns,omitempty"`
	DomainP99 time.Duration `json:"domain_p99_ns,omitempty"`
	// Start is how long the phase's monitors took to start and subscribe.
	Start time.Duration `json:"start_ns"`
}

// HierarchyResult is the whole run.
type HierarchyResult struct {
	CPUs     int     `json:"cpus"`
	Go       string  `json:"go"`
	Services int     `json:"services"`
	Domains  int     `json:"domains"`
	Rate     float64 `json:"offered_per_s"`
	Duration string  `json:"duration"`
	// Phases: the hierarchy, then the flat monitor.
	Phases []HierarchyPhase `json:"phases"`
	// Ratios of the hierarchy to the flat monitor (when both ran).
	RateRatio float64 `json:"rate_hierarchy_over_flat,omitempty"`
	P50Ratio  float64 `json:"p50_hierarchy_over_flat,omitempty"`
	P99Ratio  float64 `json:"p99_hierarchy_over_flat,omitempty"`
	// Heartbeats: their load on the bus with every monitor of the
	// hierarchy sending them; Probes: round trips from the enterprise to
	// a domain and from a domain to a service, by kind.
	Heartbeats *HeartbeatCost `json:"heartbeats,omitempty"`
	Probes     []ProbeCost    `json:"probes,omitempty"`
}

// HeartbeatCost is the heartbeats' load, counted by a subscriber to
// every heartbeat subject while the hierarchy's monitors did nothing else.
type HeartbeatCost struct {
	Monitors int    `json:"monitors"`
	Interval string `json:"interval"`
	// Seconds counted; Messages and Bytes (payload and subject) seen.
	Seconds  float64 `json:"seconds"`
	Messages int     `json:"messages"`
	Bytes    int     `json:"bytes"`
	// MessagesPerS and BytesPerS; ExpectedPerS is monitors / interval.
	MessagesPerS float64 `json:"messages_per_s"`
	BytesPerS    float64 `json:"bytes_per_s"`
	ExpectedPerS float64 `json:"expected_per_s"`
	// IdleCPUShare is the whole process's CPU time over the window (every
	// monitor idle but for its heartbeats, its children's watch and its
	// tickers; the bus server included) as a share of all CPUs: an upper
	// bound of the heartbeats' cost.
	IdleCPUShare float64 `json:"idle_cpu_share"`
}

// ProbeCost is the round trip of one kind of probe on one path.
type ProbeCost struct {
	From string `json:"from"`
	// Via is the monitor that relayed the probe to To (its child), when
	// From is To's grandparent.
	Via    string        `json:"via,omitempty"`
	To     string        `json:"to"`
	Kind   string        `json:"kind"`
	N      int           `json:"n"`
	Failed int           `json:"failed"`
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

func (o *HierarchyOptions) defaults() {
	if o.Services <= 0 {
		o.Services = 100
	}
	if o.Domains <= 0 {
		o.Domains = 10
	}
	if o.Domains > o.Services {
		o.Domains = o.Services
	}
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.HeartbeatWindow <= 0 {
		o.HeartbeatWindow = 10 * time.Second
	}
	if o.Probes <= 0 {
		o.Probes = 200
	}
}

// The rules: a service reports each observation of its host; a domain
// reports each report it receives (its subject and time kept, so the
// enterprise's copy carries the observation's time).
const (
	serviceRules = `rules:
  - id: bench-service
    severity: yellow
    match: {type: SYS.CPU}
    suppress: 0s
    suppress_by: []
    fields: [seq]
    report: "observation {seq} of {host}"
`
	domainRules = `rules:
  - id: bench-domain
    severity: yellow
    match: {type: REPORT, where: {model: bench-service}}
    suppress: 0s
    suppress_by: []
    report: "a service reported {host}"
`
)

// RunHierarchy runs the hierarchy phase and the flat phase.
func RunHierarchy(ctx context.Context, o HierarchyOptions) (HierarchyResult, error) {
	o.defaults()
	res := HierarchyResult{CPUs: runtime.NumCPU(), Go: runtime.Version(), Services: o.Services, Domains: o.Domains,
		Rate: o.Rate, Duration: o.Duration.String()}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-bench-hierarchy-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rules := map[string]string{"service.yaml": serviceRules, "domain.yaml": domainRules}
	for name, text := range rules {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(o.Progress, "%d service monitors, %d domain monitors, 1 enterprise; %.0f observations/s for %s; %d CPUs, %s\n",
		o.Services, o.Domains, o.Rate, o.Duration, res.CPUs, res.Go)
	for _, flat := range []bool{false, true} {
		name := "hierarchy"
		if flat {
			name = "flat"
		}
		if o.Only != "" && !strings.Contains(name, o.Only) {
			continue
		}
		p, err := hierarchyPhase(ctx, dir, filepath.Join(dir, name), o, flat, &res)
		if err != nil {
			return res, fmt.Errorf("bench hierarchy, %s phase: %w", name, err)
		}
		p.Name = name
		res.Phases = append(res.Phases, p)
		fmt.Fprintln(o.Progress, p.String())
	}
	if len(res.Phases) == 2 {
		h, f := res.Phases[0], res.Phases[1]
		if f.Rate > 0 {
			res.RateRatio = h.Rate / f.Rate
		}
		if f.P50 > 0 {
			res.P50Ratio = float64(h.P50) / float64(f.P50)
		}
		if f.P99 > 0 {
			res.P99Ratio = float64(h.P99) / float64(f.P99)
		}
	}
	return res, nil
}

func (p HierarchyPhase) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	s := fmt.Sprintf("%-10s %4d monitors  %7d offered  %7d service reports  %7d at the top  %8.0f reports/s  p50 %v  p99 %v  max %v  (started in %v)",
		p.Name, p.Monitors, p.Offered, p.ServiceReports, p.Delivered, p.Rate, r(p.P50), r(p.P99), r(p.Max), p.Start.Round(time.Millisecond))
	if p.DomainP50 > 0 {
		s += fmt.Sprintf("  (at the domains: p50 %v  p99 %v)", r(p.DomainP50), r(p.DomainP99))
	}
	if p.Lost > 0 {
		s += fmt.Sprintf("  lost %d", p.Lost)
	}
	return s
}

// WriteSummary writes the hierarchy's ratios to the flat monitor.
func (r HierarchyResult) WriteSummary(w io.Writer) error {
	if r.RateRatio > 0 {
		fmt.Fprintf(w, "hierarchy / flat: reports/s %.2f, p50 latency %.2f, p99 latency %.2f\n", r.RateRatio, r.P50Ratio, r.P99Ratio)
	}
	if h := r.Heartbeats; h != nil {
		fmt.Fprintf(w, "heartbeats: %d monitors every %s: %.1f messages/s (expected %.1f), %.0f bytes/s over %.1f s; idle process CPU %.2f%% of %d CPUs\n",
			h.Monitors, h.Interval, h.MessagesPerS, h.ExpectedPerS, h.BytesPerS, h.Seconds, 100*h.IdleCPUShare, r.CPUs)
	}
	for _, p := range r.Probes {
		path := p.From + " -> " + p.To
		if p.Via != "" {
			path = p.From + " -> " + p.Via + " -> " + p.To
		}
		fmt.Fprintf(w, "probe %-7s %s: %d probes, p50 %v  p99 %v  max %v", p.Kind, path, p.N, p.P50.Round(time.Microsecond), p.P99.Round(time.Microsecond), p.Max.Round(time.Microsecond))
		if p.Failed > 0 {
			fmt.Fprintf(w, "  failed %d", p.Failed)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// benchMonitor is one running monitor of a phase.
type benchMonitor struct {
	mon  *monitor.Monitor
	conn *bus.Conn
	stop context.CancelFunc
	done chan error
}

// topObserver counts the reports the top monitor receives and their
// latency from the observation's publication.
type topObserver struct {
	lat  *latencies
	n    atomic.Int64
	last atomic.Int64 // unix ns of the last report
}

func (o *topObserver) ObserveEvent(ev *event.Event) {
	if ev.Type != event.TypeReport {
		return
	}
	o.lat.add(time.Since(ev.Time))
	o.n.Add(1)
	o.last.Store(time.Now().UnixNano())
}

func (o *topObserver) ObserveReport(*event.Report) {}

// reportCounter counts the reports a service monitor makes.
type reportCounter struct{ n *atomic.Int64 }

func (c reportCounter) ObserveEvent(*event.Event)   {}
func (c reportCounter) ObserveReport(*event.Report) { c.n.Add(1) }

// hierarchyPhase starts a bus and the phase's monitors, offers the
// observations and waits for their reports at the top.
func hierarchyPhase(ctx context.Context, rulesDir, dir string, o HierarchyOptions, flat bool, res *HierarchyResult) (HierarchyPhase, error) {
	var p HierarchyPhase
	srv, err := bus.StartServer(ctx, bus.ServerOptions{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "jetstream"), AllowAnonymous: true, Logger: o.Logger})
	if err != nil {
		return p, err
	}
	defer srv.Shutdown()
	reg := engine.NewRegistry()
	if err := reg.Register(signature.Factory()); err != nil {
		return p, err
	}
	offered := int(o.Rate * o.Duration.Seconds())
	top := &topObserver{lat: newLatencies(offered)}
	mid := &topObserver{lat: newLatencies(offered)}
	var serviceReports atomic.Int64

	svc := make([]string, o.Services)
	for i := range svc {
		svc[i] = fmt.Sprintf("svc-%03d", i)
	}
	type spec struct {
		name, doc string
		obs       []monitor.Observer
	}
	var specs []spec
	for i, s := range svc {
		parent := "flat"
		if !flat {
			parent = fmt.Sprintf("dom-%02d", i%o.Domains)
		}
		doc := fmt.Sprintf("monitor: {name: %s, parent: %s}\nsources: [{name: obs, subjects: [%s], delivery: core}]\nengines: [{kind: signature, name: sig, reload: 0s, rules: [%s]}]\n",
			s, parent, bus.LiveSubject(s), filepath.Join(rulesDir, "service.yaml"))
		specs = append(specs, spec{s, doc, []monitor.Observer{reportCounter{&serviceReports}}})
	}
	// Subscriptions take any rate the bench offers: it measures the
	// message system, not the flood bound (docs/HIERARCHY.md).
	subs := func(names []string) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "  - {monitor: %s, max_rate: %g, burst: %d}\n", n, config.MaxSubscriptionMaxRate, config.MaxSubscriptionBurst)
		}
		return b.String()
	}
	if flat {
		specs = append(specs, spec{"flat", "monitor: {name: flat, layer: domain}\nsubscriptions:\n" + subs(svc), []monitor.Observer{top}})
	} else {
		var doms []string
		for d := range o.Domains {
			name := fmt.Sprintf("dom-%02d", d)
			doms = append(doms, name)
			var children []string
			for i := d; i < len(svc); i += o.Domains {
				children = append(children, svc[i])
			}
			doc := fmt.Sprintf("monitor: {name: %s, layer: domain, parent: ent}\nsubscriptions:\n%sengines: [{kind: signature, name: fwd, reload: 0s, rules: [%s]}]\n",
				name, subs(children), filepath.Join(rulesDir, "domain.yaml"))
			specs = append(specs, spec{name, doc, []monitor.Observer{mid}})
		}
		specs = append(specs, spec{"ent", "monitor: {name: ent, layer: enterprise}\nsubscriptions:\n" + subs(doms), []monitor.Observer{top}})
	}
	p.Monitors = len(specs)

	// Start every monitor, each on its own connection, and wait until all
	// have subscribed.
	started := time.Now()
	var mons []*benchMonitor
	defer func() {
		for _, m := range mons {
			m.stop()
		}
		for _, m := range mons {
			<-m.done
			m.conn.Close()
		}
	}()
	for _, s := range specs {
		cfg, err := config.Load([]byte(s.doc), filepath.Join(dir, s.name+".yaml"), config.Registries{Engines: reg})
		if err != nil {
			return p, fmt.Errorf("monitor %s: %w", s.name, err)
		}
		conn, err := bus.Connect(ctx, bus.ClientOptions{URL: srv.ClientURL(), Name: s.name, Logger: o.Logger})
		if err != nil {
			return p, err
		}
		mdir := filepath.Join(dir, s.name)
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			conn.Close()
			return p, err
		}
		mon, err := monitor.New(ctx, monitor.Options{Config: cfg, Engines: reg, Conn: conn, DataDir: mdir, Logger: o.Logger,
			Registerer: prometheus.NewRegistry(), Observers: s.obs})
		if err != nil {
			conn.Close()
			return p, fmt.Errorf("monitor %s: %w", s.name, err)
		}
		mctx, stop := context.WithCancel(ctx)
		bm := &benchMonitor{mon: mon, conn: conn, stop: stop, done: make(chan error, 1)}
		go func() { bm.done <- mon.Run(mctx) }()
		mons = append(mons, bm)
	}
	for _, m := range mons {
		select {
		case <-m.mon.Ready():
		case err := <-m.done:
			m.done <- err
			return p, fmt.Errorf("monitor %s stopped: %v", m.mon.Name(), err)
		case <-ctx.Done():
			return p, ctx.Err()
		}
		if err := m.conn.NC.Flush(); err != nil {
			return p, err
		}
	}
	p.Start = time.Since(started)
	if !flat {
		hb, err := heartbeatCost(ctx, srv.ClientURL(), o, len(mons))
		if err != nil {
			return p, err
		}
		res.Heartbeats = &hb
		fmt.Fprintf(o.Progress, "heartbeats: %.1f messages/s, %.0f bytes/s\n", hb.MessagesPerS, hb.BytesPerS)
		probes, err := probeCosts(ctx, srv.ClientURL(), o, "ent", "dom-00", svc[0])
		if err != nil {
			return p, err
		}
		res.Probes = probes
	}

	// Offer the observations, paced, round robin over the services.
	pub, err := bus.Connect(ctx, bus.ClientOptions{URL: srv.ClientURL(), Name: "bench publisher", Logger: o.Logger})
	if err != nil {
		return p, err
	}
	defer pub.Close()
	ids := event.NewRandomIDs()
	subjects := make([]string, len(svc))
	for i, s := range svc {
		subjects[i] = bus.LiveSubject(s)
	}
	start := time.Now()
	sent := 0
	for sent < offered {
		due := min(offered, int(o.Rate*time.Since(start).Seconds()))
		if due <= sent {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		for ; sent < due; sent++ {
			now := time.Now()
			i := sent % len(svc)
			ev := event.Event{ID: ids.NewID(now), Time: now, Type: event.TypeSysCPU, Host: svc[i], Source: "agent",
				Attrs: map[string]any{"seq": int64(sent), "cpu_pct": 12.5}}
			if err := pub.PublishEventCore(&ev); err != nil {
				return p, err
			}
		}
		if err := ctx.Err(); err != nil {
			return p, err
		}
	}
	if err := pub.NC.Flush(); err != nil {
		return p, err
	}
	got, _, err := waitCount(ctx, offered, func() int { return int(top.n.Load()) }, 10*time.Second)
	if err != nil {
		return p, err
	}
	end := time.Unix(0, top.last.Load())
	if got == 0 {
		end = time.Now()
	}
	p.Offered, p.Delivered, p.Lost = offered, got, offered-got
	p.ServiceReports = int(serviceReports.Load())
	p.Seconds = end.Sub(start).Seconds()
	if p.Seconds > 0 {
		p.Rate = float64(got) / p.Seconds
	}
	p.P50, p.P99, p.Max = top.lat.quantiles()
	if !flat {
		p.DomainP50, p.DomainP99, _ = mid.lat.quantiles()
	}
	return p, nil
}

// heartbeatCost counts every heartbeat on the bus for o.HeartbeatWindow,
// and the process's CPU time meanwhile.
func heartbeatCost(ctx context.Context, url string, o HierarchyOptions, monitors int) (HeartbeatCost, error) {
	interval := config.DefaultHeartbeatInterval
	hb := HeartbeatCost{Monitors: monitors, Interval: interval.String(), ExpectedPerS: float64(monitors) / interval.Seconds()}
	conn, err := bus.Connect(ctx, bus.ClientOptions{URL: url, Name: "bench heartbeat counter", Logger: o.Logger})
	if err != nil {
		return hb, err
	}
	defer conn.Close()
	var msgs, size atomic.Int64
	sub, err := conn.NC.Subscribe(bus.PrefixHeartbeat+"*", func(m *nats.Msg) {
		msgs.Add(1)
		size.Add(int64(len(m.Subject) + len(m.Data)))
	})
	if err != nil {
		return hb, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := conn.NC.Flush(); err != nil {
		return hb, err
	}
	cpu0 := processCPU()
	start := time.Now()
	select {
	case <-time.After(o.HeartbeatWindow):
	case <-ctx.Done():
		return hb, ctx.Err()
	}
	if err := conn.NC.Flush(); err != nil {
		return hb, err
	}
	hb.Seconds = time.Since(start).Seconds()
	cpu := processCPU() - cpu0
	hb.Messages, hb.Bytes = int(msgs.Load()), int(size.Load())
	hb.MessagesPerS = float64(hb.Messages) / hb.Seconds
	hb.BytesPerS = float64(hb.Bytes) / hb.Seconds
	hb.IdleCPUShare = cpu.Seconds() / hb.Seconds / float64(runtime.NumCPU())
	return hb, nil
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// probeCosts times o.Probes probes of the status and tracks kinds, one at
// a time, from ent to dom and from dom to svc (each the other's parent),
// and from ent to svc relayed by dom.
func probeCosts(ctx context.Context, url string, o HierarchyOptions, ent, dom, svc string) ([]ProbeCost, error) {
	conn, err := bus.Connect(ctx, bus.ClientOptions{URL: url, Name: "bench prober", Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []ProbeCost
	for _, path := range []ProbeCost{{From: ent, To: dom}, {From: dom, To: svc}, {From: ent, Via: dom, To: svc}} {
		for _, kind := range []string{probemsg.KindStatus, probemsg.KindTracks} {
			c := path
			c.Kind, c.N = kind, o.Probes
			lat := newLatencies(o.Probes)
			for i := range o.Probes {
				req := probemsg.Request{ID: fmt.Sprintf("bench-%s-%d", kind, i), Kind: kind}
				target := c.To
				if c.Via != "" {
					target, req.Via = c.Via, []string{c.To}
				}
				t0 := time.Now()
				rep, err := probemsg.Probe(ctx, conn.NC, target, c.From, req, 5*time.Second)
				if err != nil || rep.Status != probemsg.StatusOK || rep.Monitor != c.To {
					c.Failed++
					if err := ctx.Err(); err != nil {
						return out, err
					}
					continue
				}
				lat.add(time.Since(t0))
			}
			c.P50, c.P99, c.Max = lat.quantiles()
			out = append(out, c)
			fmt.Fprintf(o.Progress, "probe %s %s -> %s (via %q): p50 %v p99 %v (%d failed)\n", kind, c.From, c.To, c.Via, c.P50, c.P99, c.Failed)
		}
	}
	return out, nil
}
