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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
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
	// Heartbeat and probe costs are measured once the monitors send
	// heartbeats and answer probes; until then this says so.
	HeartbeatTODO string `json:"heartbeat_todo,omitempty"`
}

// heartbeatTODO is what the result says of the heartbeat and probe costs.
const heartbeatTODO = "TODO(heartbeat-probe-cost): monitors do not send heartbeats or answer probes yet; their load (messages/s, bytes/s for every monitor) and a probe's round trip are not measured"

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
		Rate: o.Rate, Duration: o.Duration.String(), HeartbeatTODO: heartbeatTODO}
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
		p, err := hierarchyPhase(ctx, dir, filepath.Join(dir, name), o, flat)
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
	_, err := fmt.Fprintln(w, r.HeartbeatTODO)
	return err
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
func hierarchyPhase(ctx context.Context, rulesDir, dir string, o HierarchyOptions, flat bool) (HierarchyPhase, error) {
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
	for _, s := range svc {
		doc := fmt.Sprintf("monitor: {name: %s}\nsources: [{name: obs, subjects: [%s], delivery: core}]\nengines: [{kind: signature, name: sig, reload: 0s, rules: [%s]}]\n",
			s, bus.LiveSubject(s), filepath.Join(rulesDir, "service.yaml"))
		specs = append(specs, spec{s, doc, []monitor.Observer{reportCounter{&serviceReports}}})
	}
	subs := func(names []string) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "  - {monitor: %s}\n", n)
		}
		return b.String()
	}
	if flat {
		specs = append(specs, spec{"flat", "monitor: {name: flat}\nsubscriptions:\n" + subs(svc), []monitor.Observer{top}})
	} else {
		var doms []string
		for d := range o.Domains {
			name := fmt.Sprintf("dom-%02d", d)
			doms = append(doms, name)
			var children []string
			for i := d; i < len(svc); i += o.Domains {
				children = append(children, svc[i])
			}
			doc := fmt.Sprintf("monitor: {name: %s}\nsubscriptions:\n%sengines: [{kind: signature, name: fwd, reload: 0s, rules: [%s]}]\n",
				name, subs(children), filepath.Join(rulesDir, "domain.yaml"))
			specs = append(specs, spec{name, doc, []monitor.Observer{mid}})
		}
		specs = append(specs, spec{"ent", "monitor: {name: ent}\nsubscriptions:\n" + subs(doms), []monitor.Observer{top}})
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
