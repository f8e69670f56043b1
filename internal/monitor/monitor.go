// Package monitor wires one resource object into a running monitor (seed
// 002 section 3.1): bus sources and subscriptions feed events through the
// resource object's filters to the store and to the analysis engines; the
// engines' reports go to the resolver, which records them and disseminates
// them on the bus to parent monitors and other subscribers. The same code
// runs at the service, domain and enterprise layers; only the resource
// object differs. Replay runs the same engines offline over recorded
// events with event time as the clock.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/control"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/store"
)

// Observer watches what a monitor accepts (the live page). Its methods are
// called from the monitor's goroutines and must not block.
type Observer interface {
	ObserveEvent(*event.Event)
	ObserveReport(*event.Report)
}

// Options configure a monitor.
type Options struct {
	Config  *config.ResourceObject
	Engines *engine.Registry
	// Responses are the response method kinds the resource object may
	// name (nil: none).
	Responses *action.Registry
	// Conn is the bus connection; the monitor does not close it.
	Conn *bus.Conn
	// DataDir holds the store (DataDir/vigil.db).
	DataDir    string
	Clock      clock.Clock
	IDs        event.IDSource
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Observers  []Observer
	// DrainTimeout bounds the shutdown after the context ends (default 4 s).
	DrainTimeout time.Duration
	// Stored, when set, is called from the store's writer once an event is
	// committed (benchmarks measure end-to-end latency with it). It must
	// be quick.
	Stored func(*event.Event)
}

// Monitor is a running monitor.
type Monitor struct {
	o        Options
	cfg      *config.ResourceObject
	log      *slog.Logger
	store    *store.Store
	resolver *resolver.Resolver
	unit     *resolver.Unit
	runners  []*runner
	met      *metrics
	// vec consumes count vectors for the engines that take them
	// (vectors.go); nil when none does.
	vec   *vectorState
	dedup *dedup
	acks  *acker
	bad   *badLog
	// misrouted logs observations about another host than their
	// subject's (stampPublisher).
	misrouted *badLog
	// misreported logs reports that name another monitor than their
	// subject's (checkReporter).
	misreported *badLog

	in        chan item
	hardStop  chan struct{}
	reportsCh chan *event.Report
	subs      []*bus.Subscription
	// control answers configuration requests (control.go); stopControl
	// ends its subscription.
	control     *control.Receiver
	stopControl func()

	// hier sends heartbeats and watches the children's (hierarchy.go);
	// probes answers the parent's probes (probe.go).
	hier       atomic.Pointer[hier]
	stopProbes func()
	// floods bound the subscriptions' rates (flood.go); stopFlood ends
	// their summaries.
	floods    []*flood
	stopFlood func()

	ready      chan struct{}
	reportsOut atomic.Uint64 // reports made
	storeDrops atomic.Uint64 // at-most-once events analysed but not stored
	eventsIn   atomic.Uint64 // distinct: new to the store, or analysed and not stored
	analysed   atomic.Uint64 // handed to the engines, redeliveries included
	lastSeen   atomic.Int64  // unix ns of the last event accepted
}

// item is one message on its way through the monitor: an event, or only a
// message to acknowledge in order (a duplicate, a filtered or malformed
// message).
type item struct {
	ev  *event.Event
	msg *bus.Msg
	src *source
	// part: one of a pack's observations other than its last; msg is
	// acknowledged with the last.
	part bool
	// vector: a count-vector message, cv its vector when it is a valid
	// one (vectors.go).
	vector bool
	cv     *event.CountVector
}

// source is one consumed stream, with its filter and its counters
// resolved once.
type source struct {
	name      string
	durable   string // the durable consumer's name ("" for core delivery)
	filter    *filter
	minSev    event.Severity // for subscriptions: the least severe report kept
	reports   bool           // a subscription: its events are reports
	own       bool           // the monitor's own events (children's health): stored without loss
	in        prometheus.Counter
	filtered  prometheus.Counter
	decodeErr prometheus.Counter
	misrouted prometheus.Counter
	// flood bounds a subscription's rate (nil for other sources); flooded
	// counts the reports beyond it.
	flood   *flood
	flooded prometheus.Counter
	// inserted counts the store's verdict on one of this source's events
	// (store.Item.Inserted): made once, so the hot path allocates nothing.
	inserted func(fresh bool)
}

func (m *Monitor) newSource(name string, f *filter) *source {
	src := &source{
		name: name, filter: f,
		in:        m.met.eventsIn.WithLabelValues(name),
		filtered:  m.met.filtered.WithLabelValues(name),
		decodeErr: m.met.decodeErrors.WithLabelValues(name),
		misrouted: m.met.misrouted.WithLabelValues(name),
	}
	src.inserted = func(fresh bool) {
		if fresh {
			m.countIn(src)
		} else {
			m.met.duplicates.Inc()
		}
	}
	return src
}

// countIn counts one distinct event of src.
func (m *Monitor) countIn(src *source) {
	m.eventsIn.Add(1)
	src.in.Inc()
}

// New builds a monitor: it opens the store and builds the engines; Run
// starts consuming.
func New(ctx context.Context, o Options) (*Monitor, error) {
	if o.Config == nil {
		return nil, errors.New("monitor: no resource object")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	if o.Engines == nil {
		o.Engines = engine.NewRegistry()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 4 * time.Second
	}
	cfg := o.Config
	m := &Monitor{
		o:         o,
		cfg:       cfg,
		log:       o.Logger.With("monitor", cfg.Monitor.Name),
		dedup:     newDedup(cfg.Monitor.DedupWindow),
		acks:      newAcker(),
		in:        make(chan item, 8192),
		hardStop:  make(chan struct{}),
		ready:     make(chan struct{}),
		reportsCh: make(chan *event.Report, 4096),
	}
	st, err := store.Open(ctx, store.Options{
		Path:          store.PathIn(o.DataDir),
		Retention:     cfg.Store.Retention,
		BatchSize:     cfg.Store.BatchSize,
		FlushInterval: cfg.Store.FlushInterval,
		Clock:         o.Clock,
		Logger:        o.Logger,
		AfterCommit:   m.acks.flush,
	})
	if err != nil {
		return nil, fmt.Errorf("monitor %s: %w", cfg.Monitor.Name, err)
	}
	m.store = st
	m.bad = newBadLog(m.log, o.Clock)
	m.misrouted = newBadLogText(m.log, o.Clock, "observation about another host than its publisher's; dropped")
	m.misreported = newBadLogText(m.log, o.Clock, "report naming another monitor than its publisher's; refused")
	m.met = newMetrics(o.Registerer, m)
	if err := m.buildUnit(ctx, o.Responses); err != nil {
		_ = st.Close()
		return nil, err
	}
	m.resolver = resolver.New(resolver.Options{
		Monitor:     cfg.Monitor.Name,
		Publish:     cfg.Resolver.Publish && o.Conn != nil,
		MinSeverity: cfg.Resolver.MinSeverity.Of(),
		IDs:         o.IDs,
		Clock:       o.Clock,
		Logger:      m.log,
		Record:      m.recordReport,
		Disseminate: m.disseminate,
		Decide:      m.unit.Offer,
	})
	// An engine's reports reach the engines that take them through their
	// queues (the loader rules out cycles, so a full queue only waits).
	feed := func(r *runner, w work) { r.send(w) }
	runners, err := buildRunners(ctx, cfg, o.Engines, engine.Deps{Monitor: cfg.Monitor.Name, Clock: o.Clock, Logger: m.log, Resolve: cfg.Resolve, Metrics: m.met.reg, State: st}, m.resolver, m.met, feed)
	if err != nil {
		_ = m.unit.Close()
		_ = st.Close()
		return nil, err
	}
	m.runners = runners
	m.initVectors()
	return m, nil
}

// Store is the monitor's store, for queries.
func (m *Monitor) Store() *store.Store { return m.store }

// Name is the monitor's name.
func (m *Monitor) Name() string { return m.cfg.Monitor.Name }

// Dropped is how many messages the monitor's core subscriptions lost
// because it could not keep up.
func (m *Monitor) Dropped() uint64 {
	var n uint64
	for _, s := range m.subs {
		n += s.Dropped()
	}
	return n
}

// Ready is closed once the monitor consumes all its sources.
func (m *Monitor) Ready() <-chan struct{} { return m.ready }

// EventsIn is how many distinct events the monitor has accepted: an
// event counts once the store has committed it as new (a redelivery of an
// event stored already, after a restart say, is a duplicate), or, for an
// at-most-once source, once it was analysed although the store was too
// far behind to take it.
func (m *Monitor) EventsIn() uint64 { return m.eventsIn.Load() }

// EventsAnalysed is how many events the monitor handed to its engines:
// redeliveries the de-duplication window did not recognise (those of an
// earlier run) are counted again.
func (m *Monitor) EventsAnalysed() uint64 { return m.analysed.Load() }

// Run consumes the configured sources until ctx ends, then shuts down in
// order: sources stop, events already received reach the engines and the
// store, the store commits and acknowledges, the engines and the store
// close. Everything the bus delivered is either stored and acknowledged or
// left unacknowledged for the next run.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range m.runners {
		wg.Add(1)
		go func() { defer wg.Done(); defer close(r.done); r.loop() }()
	}
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); m.publishLoop() }()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); m.loop() }()
	posCtx, stopPositions := context.WithCancel(context.WithoutCancel(ctx))
	posDone := make(chan struct{})
	go func() { defer close(posDone); m.positionLoop(posCtx) }()
	vecAckDone := make(chan struct{})
	go func() { defer close(vecAckDone); m.vectorAckLoop(posCtx) }()

	unitCtx, stopUnit := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUnit()
	unitDone := make(chan struct{})
	err := m.unit.Start(ctx)
	go func() { defer close(unitDone); _ = m.unit.Run(unitCtx) }()
	if err == nil {
		err = m.subscribe(ctx)
	}
	if err == nil {
		m.startControl()
		m.startHierarchy(ctx)
		m.stopProbes = m.startProbes()
		m.stopFlood = m.startFloodSummaries(m.floods)
		close(m.ready)
		m.log.Info("monitor running", "sources", len(m.cfg.Sources), "subscriptions", len(m.cfg.Subscriptions), "engines", len(m.runners), "count_vectors", m.vec != nil)
		<-ctx.Done()
	}

	// Shutdown.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.o.DrainTimeout)
	defer cancel()
	timer := time.AfterFunc(m.o.DrainTimeout, func() { close(m.hardStop) })
	defer timer.Stop()
	if m.stopControl != nil {
		m.stopControl()
	}
	if m.stopProbes != nil {
		m.stopProbes()
	}
	m.stopHierarchy()
	if m.stopFlood != nil {
		m.stopFlood()
	}
	for _, s := range m.subs {
		s.Stop()
	}
	close(m.in)
	<-loopDone
	// An engine's queue closes once the engines that feed it their
	// reports have finished (producers come first: no cycles).
	for _, r := range feedOrder(m.runners) {
		for _, p := range r.producers {
			<-p.done
		}
		close(r.ch)
	}
	wg.Wait()
	// Every vector received has been handled: acknowledged now.
	m.flushVectorAcks()
	// The engines are done: the decision unit stops (reports it had not
	// decided on yet are stored, not acted on) and its methods close.
	stopUnit()
	<-unitDone
	if cerr := m.unit.Close(); cerr != nil {
		m.log.Warn("closing response methods", "err", cerr)
	}
	close(m.reportsCh)
	<-pubDone
	if ferr := m.store.Flush(drainCtx); ferr != nil {
		m.log.Warn("store flush at shutdown", "err", ferr)
	}
	stopPositions()
	<-posDone
	<-vecAckDone
	m.savePositions(drainCtx)
	for _, r := range m.runners {
		if cerr := r.eng.Close(drainCtx); cerr != nil {
			m.log.Warn("closing engine", "engine", r.name, "err", cerr)
		}
	}
	if cerr := m.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	m.log.Info("monitor stopped", "events", m.eventsIn.Load())
	return err
}

func (m *Monitor) subscribe(ctx context.Context) error {
	conn := m.o.Conn
	if conn == nil {
		return errors.New("monitor: no bus connection")
	}
	if err := conn.EnsureStreams(ctx, bus.StreamLimits{MaxAge: m.cfg.Server.JetStream.MaxAge, MaxBytes: m.cfg.Server.JetStream.MaxBytes}); err != nil {
		return err
	}
	name := m.cfg.Monitor.Name
	for _, s := range m.cfg.Sources {
		src := m.newSource(s.Name, newFilter(s.Filter))
		h := func(msg *bus.Msg) { m.receive(src, msg) }
		var sub *bus.Subscription
		var err error
		if s.Delivery == config.DeliveryCore {
			sub, err = conn.SubscribeCore(s.Subjects, name+"_"+s.Name, h)
		} else {
			src.durable = name + "_" + s.Name
			sub, err = conn.ConsumeDurable(ctx, bus.DurableOptions{Name: src.durable, Subjects: s.Subjects, Takeover: true, Resume: m.resumeFrom(ctx, src.durable)}, h)
		}
		if err != nil {
			return fmt.Errorf("monitor %s: source %s: %w", name, s.Name, err)
		}
		m.met.watchDrops(s.Name, sub)
		m.subs = append(m.subs, sub)
	}
	for _, sc := range m.cfg.Subscriptions {
		src := m.newSource("report:"+sc.Monitor, nil)
		src.minSev = sc.MinSeverity.Of()
		src.reports = true
		rate, burst := sc.MaxRate, sc.Burst
		if rate <= 0 {
			rate = config.DefaultSubscriptionMaxRate
		}
		if burst <= 0 {
			burst = config.DefaultSubscriptionBurst
		}
		src.flood = &flood{monitor: sc.Monitor, limit: newBucket(rate, burst, m.o.Clock.Now())}
		src.flooded = m.met.flooded.WithLabelValues(sc.Monitor)
		m.floods = append(m.floods, src.flood)
		h := func(msg *bus.Msg) { m.receiveReport(src, msg) }
		src.durable = name + "_sub_" + bus.Token(sc.Monitor)
		// With a domain, the consumer lives on the child's bus, joined by
		// a leaf node: its stream keeps the reports while the link is down.
		sub, err := conn.ConsumeDurable(ctx, bus.DurableOptions{Name: src.durable, Subjects: []string{bus.ReportSubject(sc.Monitor)}, Domain: sc.Domain, Takeover: true, Resume: m.resumeFrom(ctx, src.durable)}, h)
		if err != nil {
			return fmt.Errorf("monitor %s: subscription to %s: %w", name, sc.Monitor, err)
		}
		m.subs = append(m.subs, sub)
	}
	return m.subscribeVectors(ctx)
}

// receive decodes one message of a source (called on the bus's goroutine
// for that consumer) and hands it to the main loop: its observation, or
// each of a pack's (event.SplitPacked), in order.
func (m *Monitor) receive(src *source, msg *bus.Msg) {
	if !event.IsPacked(msg.Data) {
		ev, err := m.decode(msg.Data)
		m.push(m.observation(src, msg, msg.Data, ev, err))
		return
	}
	recs, err := event.SplitPacked(msg.Data, nil)
	for i, rec := range recs {
		ev, derr := event.DecodeCompact(rec)
		it := m.observation(src, msg, rec, ev, derr)
		// The message is acknowledged with its last observation, once
		// all of them are stored.
		it.part = i < len(recs)-1 || err != nil
		m.push(it)
	}
	if err != nil {
		// The observations before the break are kept.
		src.decodeErr.Inc()
		m.bad.note(src.name, msg.Subject, msg.Data, err)
		m.push(item{msg: msg, src: src})
	}
}

// observation is the item for ev, decoded (with err) from data, msg's
// payload or one observation of its pack.
func (m *Monitor) observation(src *source, msg *bus.Msg, data []byte, ev event.Event, err error) item {
	if err != nil {
		src.decodeErr.Inc()
		m.bad.note(src.name, msg.Subject, data, err)
		return item{msg: msg, src: src}
	}
	if err := stampPublisher(msg.Subject, &ev); err != nil {
		src.misrouted.Inc()
		m.misrouted.note(src.name, msg.Subject, data, err)
		return item{msg: msg, src: src}
	}
	if src.filter != nil && !src.filter.keep(&ev) {
		src.filtered.Inc()
		return item{msg: msg, src: src}
	}
	return item{ev: &ev, msg: msg, src: src}
}

// AttrPublishedBy is the attribute in which the monitor records who
// published an observation: the host token of its subject
// (vigil.obs.<token>, vigil.live.<token>), which on a bus with mutual TLS
// only the certificate of that name may publish to.
const AttrPublishedBy = "published_by"

// stampPublisher checks an observation received on subject against the
// subject's host token, its publisher's: an observation about another
// host is refused (an agent speaks for its own host only). A matching one
// gets AttrPublishedBy, whatever its payload said, as does one with no
// host (a network record about an address). Subjects outside the
// observation spaces are left alone.
func stampPublisher(subject string, ev *event.Event) error {
	var token string
	switch {
	case strings.HasPrefix(subject, bus.PrefixObs):
		token = subject[len(bus.PrefixObs):]
	case strings.HasPrefix(subject, bus.PrefixLive):
		token = subject[len(bus.PrefixLive):]
	default:
		return nil
	}
	// A record about an address only (a network sensor's) names no host
	// to check; it is stamped all the same.
	if ev.Host != "" {
		if got := bus.Token(ev.Host); got != token {
			return fmt.Errorf("the event's host %q (token %q) is not the publisher's %q", ev.Host, got, token)
		}
	}
	if ev.Attrs == nil {
		ev.Attrs = map[string]any{}
	}
	// An event at the attribute limit without the attribute is left
	// without it (adding one would make it invalid); one that carries it
	// always has it replaced.
	if _, claimed := ev.Attrs[AttrPublishedBy]; claimed || len(ev.Attrs) < event.MaxAttrs {
		ev.Attrs[AttrPublishedBy] = token
	}
	return nil
}

// checkReporter checks a report received on subject (vigil.report.<X>)
// against the monitor the subject names, its publisher's: the report must
// name X as its monitor, compared by token. A monitor disseminates only its
// own reports, under its own name (a domain's engines conclude from its
// children's reports, and its reports name the domain, with the children's
// reports among their evidence), so a report naming another monitor is a
// child speaking for another and is refused.
func checkReporter(subject string, rep *event.Report) error {
	token, ok := strings.CutPrefix(subject, bus.PrefixReport)
	if !ok {
		return fmt.Errorf("subject %q is not a report subject", subject)
	}
	if got := bus.Token(rep.Monitor); got != token {
		return fmt.Errorf("the report's monitor %q (token %q) is not the publisher's %q", rep.Monitor, got, token)
	}
	return nil
}

// receiveReport takes a subscribed monitor's report.
//
// A subscription beyond its rate (a child flooding reports) has its
// reports acknowledged before they are even decoded: they cost the
// monitor next to nothing, and the other subscriptions' keep flowing.
func (m *Monitor) receiveReport(src *source, msg *bus.Msg) {
	if !m.admit(src) {
		m.push(item{msg: msg, src: src})
		return
	}
	ev, err := m.decode(msg.Data)
	if err != nil {
		src.decodeErr.Inc()
		m.bad.note(src.name, msg.Subject, msg.Data, err)
		m.push(item{msg: msg, src: src})
		return
	}
	rep, err := event.ReportFromEvent(&ev)
	if err != nil {
		src.decodeErr.Inc()
		m.bad.note(src.name, msg.Subject, msg.Data, err)
		m.push(item{msg: msg, src: src})
		return
	}
	if err := checkReporter(msg.Subject, &rep); err != nil {
		src.misrouted.Inc()
		m.misreported.note(src.name, msg.Subject, msg.Data, err)
		m.push(item{msg: msg, src: src})
		return
	}
	if rep.Severity < src.minSev {
		src.filtered.Inc()
		m.push(item{msg: msg, src: src})
		return
	}
	m.push(item{ev: &ev, msg: msg, src: src})
}

func (m *Monitor) push(it item) {
	select {
	case m.in <- it:
	case <-m.hardStop:
		// Shutdown overran its time: leave the message unacknowledged;
		// the next run receives it again.
	}
}

// decode reads an event off the bus. A JSON event from a third-party
// publisher may lack an id; it gets one derived from its bytes, so a
// redelivery gets the same id and is recognised as a duplicate.
func (m *Monitor) decode(data []byte) (event.Event, error) {
	if len(data) == 0 || data[0] != '{' {
		// The compact form is complete and validated by its decoder.
		return event.DecodeCompact(data)
	}
	ev, err := event.DecodeJSON(data)
	if err != nil {
		return ev, err
	}
	if ev.ID == "" {
		ev.ID = contentID(data)
	}
	if err := ev.Normalize(m.o.IDs, m.o.Clock.Now(), "bus"); err != nil {
		return ev, err
	}
	return ev, nil
}

// loop is the monitor's main goroutine: de-duplication, recording,
// dispatch to the engines, and the engines' clock.
func (m *Monitor) loop() {
	tick := clock.NewTicker(m.o.Clock, time.Second)
	defer tick.Stop()
	ctx := context.Background()
	for {
		select {
		case it, ok := <-m.in:
			if !ok {
				return
			}
			m.handle(ctx, it)
		case <-tick.C():
			now := m.o.Clock.Now()
			for _, r := range m.runners {
				r.send(work{tick: now})
			}
		}
	}
}

func (m *Monitor) handle(ctx context.Context, it item) {
	if it.vector {
		m.handleVector(it)
		return
	}
	var done func()
	if !it.part {
		done = m.acks.doneFunc(it.src, it.msg)
	}
	if it.ev == nil || m.dedup.seen(it.ev.ID) {
		if it.ev != nil {
			m.met.duplicates.Inc()
		}
		if done != nil {
			// Acknowledge in order, after what came before is stored.
			_ = m.store.Enqueue(ctx, store.Item{Done: done})
		}
		return
	}
	ev := it.ev
	m.analysed.Add(1)
	if it.src.reports {
		// A subscribed monitor's report: the decision unit weighs it
		// beside this monitor's own (seed 002: a resolver correlates
		// the results of the monitors it subscribes to).
		if rep, err := event.ReportFromEvent(ev); err == nil {
			m.unit.Offer(rep)
		}
	}
	m.lastSeen.Store(ev.Time.UnixNano())
	for _, o := range m.o.Observers {
		o.ObserveEvent(ev)
	}
	if stored := m.o.Stored; stored != nil {
		ack := done
		done = func() {
			stored(ev)
			if ack != nil {
				ack()
			}
		}
	}
	// A durable source waits for the store and the engines (the bus holds
	// the backlog, nothing is lost); an at-most-once source never waits,
	// so the bus never drops for us, and what the store or an engine
	// could not take is counted instead.
	lossy := !it.src.own && (it.msg == nil || !it.msg.Durable())
	sit := store.Item{Event: ev, Done: done, Inserted: it.src.inserted}
	var err error
	if lossy {
		err = m.store.TryEnqueue(sit)
	} else {
		err = m.store.Enqueue(ctx, sit)
	}
	if errors.Is(err, store.ErrFull) {
		m.met.storeDropped.Inc()
		m.storeDrops.Add(1)
		m.countIn(it.src) // analysed, distinct by the window only
	} else if err != nil {
		m.log.Error("store refused event", "id", ev.ID, "err", err)
	}
	for _, r := range m.runners {
		if lossy {
			r.trySend(work{ev: ev})
		} else {
			r.send(work{ev: ev})
		}
	}
}

func (m *Monitor) recordReport(r *event.Report) {
	m.met.reports.WithLabelValues(r.Engine, r.Severity.String()).Inc()
	m.reportsOut.Add(1)
	cp := *r
	if err := m.store.Enqueue(context.Background(), store.Item{Report: &cp}); err != nil {
		m.log.Error("store refused report", "id", r.ID, "err", err)
	}
	for _, o := range m.o.Observers {
		o.ObserveReport(&cp)
	}
}

func (m *Monitor) disseminate(r *event.Report) {
	cp := *r
	m.reportsCh <- &cp
}

// publishLoop disseminates reports on the bus, retrying a few times before
// counting one as lost for subscribers (it stays in the store).
func (m *Monitor) publishLoop() {
	for r := range m.reportsCh {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = m.o.Conn.PublishReport(ctx, m.cfg.Monitor.Name, r)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			m.met.publishErrors.Inc()
			m.log.Warn("report not disseminated", "id", r.ID, "err", err)
		}
	}
}
