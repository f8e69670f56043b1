// Package bench measures Vigil's parts under load the way an operator would
// run them, against a baseline measured in the same run: `vigil bench bus`
// pushes synthetic host events through a real embedded NATS server into a
// real monitor that decodes and stores them, beside raw NATS publish and
// subscribe of the same message size as the ceiling.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/pki"
)

// BusOptions configure `vigil bench bus`.
type BusOptions struct {
	// Events per throughput phase (default 500,000).
	Events int
	// LatencyEvents per latency phase (default 200,000).
	LatencyEvents int
	// CoreRate and JetStreamRate are the paced rates of the latency
	// phases (default 100,000/s and 25,000/s: half the targets).
	CoreRate, JetStreamRate float64
	// Hosts is how many distinct hosts the events come from (default 200).
	Hosts int
	// Dir holds the phases' data (default: a temporary directory, removed).
	Dir    string
	Logger *slog.Logger
	// Progress receives a line per phase as it ends.
	Progress io.Writer
	// Only, when set, runs only the phases whose name contains it.
	Only string
	// TLS runs each phase twice, in plaintext and over TLS (a CA and the
	// server's certificate made for the run with internal/pki, ECDSA
	// P-256, every client verifying it), so the cost of encrypting the
	// bus is read beside its baseline in the same run. Client
	// certificates are not used: a server that requires them maps each to
	// its role's permissions (docs/BUS.md), and no role may publish the
	// bench's synthetic subjects; what they add is a handshake per
	// connection and a cached permission check per message.
	TLS bool

	tls *tlsFiles
}

// tlsFiles are the run's certificates: the CA and the server's.
type tlsFiles struct {
	ca, serverCert, serverKey string
}

// makeTLS makes a CA in dir and a certificate for the server
// (127.0.0.1).
func makeTLS(dir string) (*tlsFiles, error) {
	ca, err := pki.Init(filepath.Join(dir, "ca"), pki.InitOptions{Name: "Vigil bench CA"})
	if err != nil {
		return nil, err
	}
	f := &tlsFiles{ca: filepath.Join(dir, "ca", pki.CACertFile)}
	for _, c := range []struct {
		name      string
		cert, key *string
	}{{"127.0.0.1", &f.serverCert, &f.serverKey}} {
		is, err := ca.Issue(pki.RoleMonitor, c.name, 0)
		if err != nil {
			return nil, err
		}
		*c.cert, *c.key = filepath.Join(dir, c.name+".crt"), filepath.Join(dir, c.name+".key")
		if err := os.WriteFile(*c.cert, is.CertPEM, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(*c.key, is.KeyPEM, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Phase is the outcome of one measurement.
type Phase struct {
	Name    string  `json:"name"`
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"events_per_s"`
	// Paced is the offered rate of a latency phase (0 for throughput).
	Paced float64 `json:"paced_rate,omitempty"`
	// Latencies of a latency phase: from publish to the phase's point
	// (decoded for core NATS, committed to the store for JetStream), and
	// both points separately.
	P50          time.Duration `json:"p50_ns,omitempty"`
	P99          time.Duration `json:"p99_ns,omitempty"`
	Max          time.Duration `json:"max_ns,omitempty"`
	DecodedP50   time.Duration `json:"decoded_p50_ns,omitempty"`
	DecodedP99   time.Duration `json:"decoded_p99_ns,omitempty"`
	CommittedP50 time.Duration `json:"committed_p50_ns,omitempty"`
	CommittedP99 time.Duration `json:"committed_p99_ns,omitempty"`
	// Lost counts messages that never arrived (core NATS drops).
	Lost int `json:"lost"`
	// ClientDrops are messages the monitor's client discarded; SlowConsumers
	// the times the server cut the monitor off for being slow.
	ClientDrops   uint64 `json:"client_drops"`
	SlowConsumers int64  `json:"slow_consumers"`
	// Stored is how many events the store held at the end (monitor phases).
	Stored int `json:"stored"`
	// VsPlain is, for a phase over TLS, its rate over the same
	// phase's in plaintext just before it.
	VsPlain float64 `json:"vs_plaintext,omitempty"`
}

// BusResult is the whole run.
type BusResult struct {
	MsgBytes int     `json:"msg_bytes"`
	CPUs     int     `json:"cpus"`
	Go       string  `json:"go"`
	Phases   []Phase `json:"phases"`
}

func (o *BusOptions) defaults() {
	if o.Events <= 0 {
		o.Events = 500_000
	}
	if o.LatencyEvents <= 0 {
		o.LatencyEvents = 200_000
	}
	if o.CoreRate <= 0 {
		o.CoreRate = 100_000
	}
	if o.JetStreamRate <= 0 {
		o.JetStreamRate = 25_000
	}
	if o.Hosts <= 0 {
		o.Hosts = 200
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// RunBus runs every phase of the bus benchmark.
func RunBus(ctx context.Context, o BusOptions) (BusResult, error) {
	o.defaults()
	res := BusResult{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	gen := newGenerator(o.Hosts)
	sample := gen.next(time.Now())
	res.MsgBytes = len(sample.AppendCompact(nil))
	fmt.Fprintf(o.Progress, "%d-byte events from %d hosts, %d CPUs, %s\n", res.MsgBytes, o.Hosts, res.CPUs, res.Go)

	phases := []struct {
		name string
		run  func(context.Context, string, BusOptions) (Phase, error)
	}{
		{"raw core pub/sub (ceiling)", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return rawCore(ctx, d, o, res.MsgBytes)
		}},
		{"monitor decode+store via core NATS", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return monitorPhase(ctx, d, o, gen, config.DeliveryCore, o.Events, 0)
		}},
		{"raw JetStream publish (ceiling)", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return rawJetStream(ctx, d, o, res.MsgBytes)
		}},
		{"raw JetStream publish+consume (ceiling)", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return rawJetStreamConsume(ctx, d, o, res.MsgBytes)
		}},
		{"monitor stored via JetStream", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return monitorPhase(ctx, d, o, gen, config.DeliveryDurable, o.Events, 0)
		}},
		{"latency via core NATS", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return monitorPhase(ctx, d, o, gen, config.DeliveryCore, o.LatencyEvents, o.CoreRate)
		}},
		{"latency via JetStream", func(ctx context.Context, d string, o BusOptions) (Phase, error) {
			return monitorPhase(ctx, d, o, gen, config.DeliveryDurable, o.LatencyEvents, o.JetStreamRate)
		}},
	}
	var files *tlsFiles
	if o.TLS {
		var err error
		if files, err = makeTLS(filepath.Join(dir, "tls")); err != nil {
			return res, fmt.Errorf("bench: making the run's certificates: %w", err)
		}
	}
	for i, ph := range phases {
		if o.Only != "" && !strings.Contains(ph.name, o.Only) {
			continue
		}
		plain := -1
		for j, tf := range []*tlsFiles{nil, files} {
			if j == 1 && tf == nil {
				break
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
			po := o
			po.tls = tf
			name := ph.name
			if tf != nil {
				name += " TLS"
			}
			p, err := ph.run(ctx, filepath.Join(dir, fmt.Sprintf("phase%d-%d", i, j)), po)
			if err != nil {
				return res, fmt.Errorf("bench %s: %w", name, err)
			}
			p.Name = name
			res.Phases = append(res.Phases, p)
			line := p.String()
			if tf != nil && plain >= 0 && res.Phases[plain].Rate > 0 {
				p.VsPlain = p.Rate / res.Phases[plain].Rate
				res.Phases[len(res.Phases)-1] = p
				line += fmt.Sprintf("  (%.2f of plaintext)", p.VsPlain)
			}
			plain = len(res.Phases) - 1
			fmt.Fprintln(o.Progress, line)
		}
	}
	return res, nil
}

func (p Phase) String() string {
	s := fmt.Sprintf("%-38s %9d events %7.2f s %10.0f events/s", p.Name, p.Events, p.Seconds, p.Rate)
	if p.Paced > 0 {
		r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
		s += fmt.Sprintf("  offered %.0f/s  p50 %v  p99 %v  max %v  (decoded p50 %v p99 %v; committed p50 %v p99 %v)",
			p.Paced, r(p.P50), r(p.P99), r(p.Max), r(p.DecodedP50), r(p.DecodedP99), r(p.CommittedP50), r(p.CommittedP99))
	}
	if p.Stored > 0 && p.Stored < p.Events {
		s += fmt.Sprintf("  (stored %d; the store was behind for the rest, which is counted as dropped)", p.Stored)
	}
	if p.Lost > 0 {
		s += fmt.Sprintf("  lost %d (client drops %d, slow-consumer cut-offs %d)", p.Lost, p.ClientDrops, p.SlowConsumers)
	}
	return s
}

// generator makes host events like the host sensor's.
type generator struct {
	ids   event.IDSource
	hosts []string
	ips   []string
	n     int
}

func newGenerator(hosts int) *generator {
	g := &generator{ids: event.NewRandomIDs()}
	for i := range hosts {
		g.hosts = append(g.hosts, fmt.Sprintf("host-%03d", i))
		g.ips = append(g.ips, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	return g
}

var benchTypes = event.HostTypes()

func (g *generator) next(now time.Time) event.Event {
	i := g.n
	g.n++
	h := i % len(g.hosts)
	return event.Event{
		ID: g.ids.NewID(now), Time: now, Type: benchTypes[i%len(benchTypes)], Host: g.hosts[h], IP: g.ips[h], Source: "agent",
		Attrs: map[string]any{
			"name": "httpd", "pid": int64(1000 + i%5000), "state": "S", "parent_name": "httpd",
			"ppid": int64(999), "cpu_pct": float64(i%1000) / 10,
		},
	}
}

// rig is a fresh embedded bus with a publishing and a receiving
// connection, each over TCP as a remote sensor's and monitor's would be.
type rig struct {
	srv      *bus.Server
	pub, sub *bus.Conn
}

func newRig(ctx context.Context, dir string, o BusOptions) (*rig, error) {
	so := bus.ServerOptions{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "jetstream"), AllowAnonymous: true, Logger: o.Logger}
	co := bus.ClientOptions{Logger: o.Logger}
	if t := o.tls; t != nil {
		so.TLS = bus.ServerTLS{CertFile: t.serverCert, KeyFile: t.serverKey}
		co.CAFile = t.ca
	}
	srv, err := bus.StartServer(ctx, so)
	if err != nil {
		return nil, err
	}
	r := &rig{srv: srv}
	for _, c := range []struct {
		dst  **bus.Conn
		name string
	}{{&r.pub, "bench publisher"}, {&r.sub, "bench receiver"}} {
		cc := co
		cc.URL, cc.Name = srv.ClientURL(), c.name
		conn, err := bus.Connect(ctx, cc)
		if err != nil {
			r.close()
			return nil, err
		}
		if o.tls != nil {
			// The phase measures mutual TLS only if it is what runs.
			st, err := conn.NC.TLSConnectionState()
			if err != nil || !st.HandshakeComplete {
				conn.Close()
				r.close()
				return nil, fmt.Errorf("%s: not connected over TLS: %v", c.name, err)
			}
		}
		*c.dst = conn
	}
	return r, nil
}

func (r *rig) close() {
	if r.pub != nil {
		r.pub.Close()
	}
	if r.sub != nil {
		r.sub.Close()
	}
	r.srv.Shutdown()
}

// throughput makes the phase of n received out of want between start and
// end.
func throughput(n, want int, start, end time.Time) Phase {
	el := end.Sub(start)
	return Phase{Events: n, Seconds: el.Seconds(), Rate: float64(n) / el.Seconds(), Lost: want - n}
}

// waitCount polls until count reaches n or stops moving for stall. It
// returns the count and when it last moved, so a stall is not counted as
// work.
func waitCount(ctx context.Context, n int, count func() int, stall time.Duration) (int, time.Time, error) {
	last, lastMove := -1, time.Now()
	for {
		c := count()
		if c >= n {
			return c, time.Now(), nil
		}
		if c != last {
			last, lastMove = c, time.Now()
		} else if time.Since(lastMove) > stall {
			return c, lastMove, nil
		}
		select {
		case <-ctx.Done():
			return c, lastMove, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// rawCore is the ceiling: publish and subscribe of same-size messages on
// core NATS, without decoding.
func rawCore(ctx context.Context, dir string, o BusOptions, size int) (Phase, error) {
	r, err := newRig(ctx, dir, o)
	if err != nil {
		return Phase{}, err
	}
	defer r.close()
	pub, sub := r.pub, r.sub
	var got atomic.Int64
	s, err := sub.NC.Subscribe("bench.raw", func(*nats.Msg) { got.Add(1) })
	if err != nil {
		return Phase{}, err
	}
	_ = s.SetPendingLimits(-1, -1)
	if err := sub.NC.Flush(); err != nil {
		return Phase{}, err
	}
	payload := make([]byte, size)
	start := time.Now()
	for range o.Events {
		if err := pub.NC.Publish("bench.raw", payload); err != nil {
			return Phase{}, err
		}
	}
	if err := pub.NC.Flush(); err != nil {
		return Phase{}, err
	}
	n, end, err := waitCount(ctx, o.Events, func() int { return int(got.Load()) }, 5*time.Second)
	return throughput(n, o.Events, start, end), err
}

// rawJetStream is the durable ceiling: asynchronous JetStream publishes of
// same-size messages, each acknowledged by the stream.
func rawJetStream(ctx context.Context, dir string, o BusOptions, size int) (Phase, error) {
	r, err := newRig(ctx, dir, o)
	if err != nil {
		return Phase{}, err
	}
	defer r.close()
	pub := r.pub
	stream, err := pub.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		return Phase{}, err
	}
	payload := make([]byte, size)
	start := time.Now()
	for range o.Events {
		if _, err := pub.JS.PublishAsync("bench.js", payload); err != nil {
			return Phase{}, err
		}
	}
	select {
	case <-pub.JS.PublishAsyncComplete():
	case <-ctx.Done():
		return Phase{}, ctx.Err()
	}
	end := time.Now()
	// Count what the stream holds: a publish the server refused is lost.
	info, err := stream.Info(ctx)
	if err != nil {
		return Phase{}, err
	}
	return throughput(int(info.State.Msgs), o.Events, start, end), nil
}

// rawJetStreamConsume is the ceiling of the durable path: a publisher
// sending same-size messages to the observation stream while a durable
// consumer, configured as a monitor's, receives and acknowledges them
// without decoding or storing.
func rawJetStreamConsume(ctx context.Context, dir string, o BusOptions, size int) (Phase, error) {
	r, err := newRig(ctx, dir, o)
	if err != nil {
		return Phase{}, err
	}
	defer r.close()
	pub, sub := r.pub, r.sub
	if err := sub.EnsureStreams(ctx, bus.StreamLimits{}); err != nil {
		return Phase{}, err
	}
	var got atomic.Int64
	cons, err := sub.ConsumeDurable(ctx, bus.DurableOptions{Name: "raw", Subjects: []string{bus.AllObs}}, func(m *bus.Msg) {
		if got.Add(1)%1024 == 0 {
			_ = m.Ack()
		}
	})
	if err != nil {
		return Phase{}, err
	}
	defer cons.Stop()
	payload := make([]byte, size)
	start := time.Now()
	for i := range o.Events {
		if _, err := pub.JS.PublishAsync(bus.ObsSubject(fmt.Sprintf("host-%03d", i%o.Hosts)), payload); err != nil {
			return Phase{}, err
		}
	}
	select {
	case <-pub.JS.PublishAsyncComplete():
	case <-ctx.Done():
		return Phase{}, ctx.Err()
	}
	n, end, err := waitCount(ctx, o.Events, func() int { return int(got.Load()) }, 5*time.Second)
	return throughput(n, o.Events, start, end), err
}

// monitorPhase runs a real monitor on a fresh bus and store and publishes n
// events to it: as fast as possible when rate is 0 (throughput: the rate is
// events decoded per second for core NATS, events stored per second for
// JetStream), or paced at rate (latency from publish to decode for core
// NATS, from publish to commit for JetStream).
func monitorPhase(ctx context.Context, dir string, o BusOptions, gen *generator, delivery string, n int, rate float64) (Phase, error) {
	r, err := newRig(ctx, dir, o)
	if err != nil {
		return Phase{}, err
	}
	defer r.close()
	srv, pub, monConn := r.srv, r.pub, r.sub

	cfg := config.Default()
	cfg.Monitor.Name = "bench"
	subject := bus.AllObs
	if delivery == config.DeliveryCore {
		subject = bus.AllLive
	}
	cfg.Sources = []config.Source{{Name: "obs", Subjects: []string{subject}, Delivery: delivery}}
	decoded, committed := newLatencies(n), newLatencies(n)
	durable := delivery == config.DeliveryDurable
	obs := &latencyObserver{lat: decoded}
	var stored atomic.Int64
	mon, err := monitor.New(ctx, monitor.Options{
		Config: cfg, Conn: monConn, DataDir: dir, Logger: o.Logger, Registerer: prometheus.NewRegistry(),
		Observers: []monitor.Observer{obs},
		Stored: func(ev *event.Event) {
			stored.Add(1)
			committed.add(time.Since(ev.Time))
		},
	})
	if err != nil {
		return Phase{}, err
	}
	mctx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- mon.Run(mctx) }()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-runErr
		}
	}()
	// The monitor subscribes asynchronously; wait until its consumer is
	// there before publishing (core messages sent earlier would go nowhere).
	select {
	case <-mon.Ready():
	case err := <-runErr:
		return Phase{}, fmt.Errorf("monitor stopped: %v", err)
	case <-ctx.Done():
		return Phase{}, ctx.Err()
	}
	if err := monConn.NC.Flush(); err != nil {
		return Phase{}, err
	}

	start := time.Now()
	size := 16384 // as fast as possible: large batches keep the publish window full
	if rate > 0 {
		size = 1024
	}
	batch := make([]event.Event, 0, size)
	sent := 0
	for sent < n {
		if rate > 0 {
			due := int(rate * time.Since(start).Seconds())
			if due <= sent {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			batch = batch[:0]
			for sent+len(batch) < min(due, n) && len(batch) < cap(batch) {
				batch = append(batch, gen.next(time.Now()))
			}
		} else {
			batch = batch[:0]
			now := time.Now()
			for sent+len(batch) < n && len(batch) < cap(batch) {
				batch = append(batch, gen.next(now))
			}
		}
		if durable {
			if k, err := pub.PublishEvents(ctx, batch); err != nil {
				return Phase{}, fmt.Errorf("published %d: %w", sent+k, err)
			}
		} else {
			for i := range batch {
				if err := pub.PublishEventCore(&batch[i]); err != nil {
					return Phase{}, err
				}
			}
		}
		sent += len(batch)
	}
	if err := pub.NC.Flush(); err != nil {
		return Phase{}, err
	}
	var count func() int
	if durable {
		count = func() int { return int(stored.Load()) }
	} else {
		count = func() int { return int(mon.EventsAnalysed()) }
	}
	got, end, err := waitCount(ctx, n, count, 5*time.Second)
	p := throughput(got, n, start, end)
	p.Paced, p.ClientDrops, p.SlowConsumers = rate, mon.Dropped(), srv.SlowConsumers()
	// Stop the monitor (it commits what it holds) and count what was stored.
	stop()
	stopped = true
	if rerr := <-runErr; rerr != nil && err == nil {
		err = rerr
	}
	p.Stored = int(stored.Load())
	if rate > 0 {
		p.DecodedP50, p.DecodedP99, _ = decoded.quantiles()
		p.CommittedP50, p.CommittedP99, _ = committed.quantiles()
		if durable {
			p.P50, p.P99, p.Max = committed.quantiles()
		} else {
			p.P50, p.P99, p.Max = decoded.quantiles()
		}
	}
	return p, err
}

// latencies collects samples from one goroutine at a time.
type latencies struct {
	samples []time.Duration
	n       atomic.Int64
}

func newLatencies(n int) *latencies { return &latencies{samples: make([]time.Duration, n)} }

func (l *latencies) add(d time.Duration) {
	i := l.n.Add(1) - 1
	if int(i) < len(l.samples) {
		l.samples[i] = d
	}
}

func (l *latencies) quantiles() (p50, p99, max time.Duration) {
	n := min(int(l.n.Load()), len(l.samples))
	if n == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(l.samples[:n])
	slices.Sort(s)
	return s[n/2], s[min(n-1, n*99/100)], s[n-1]
}

// latencyObserver records publish-to-decode latency.
type latencyObserver struct{ lat *latencies }

func (o *latencyObserver) ObserveEvent(ev *event.Event) { o.lat.add(time.Since(ev.Time)) }

func (o *latencyObserver) ObserveReport(*event.Report) {}
