package bus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one message from the bus.
type Msg struct {
	Subject string
	Data    []byte
	js      jetstream.Msg
	stream  string
	created time.Time // of the stream
	gen     *generation
}

// Position is a place in a durable stream: the message of sequence Seq in
// the stream of that name created at Created (a stream deleted and created
// again starts its sequence numbers over).
type Position struct {
	Stream  string    `json:"stream"`
	Created time.Time `json:"created"`
	Seq     uint64    `json:"seq"`
}

// Position is where a durable message is in its stream; ok is false for
// core messages.
func (m *Msg) Position() (p Position, ok bool) {
	if m.js == nil {
		return p, false
	}
	md, err := m.js.Metadata()
	if err != nil {
		return p, false
	}
	return Position{Stream: m.stream, Created: m.created, Seq: md.Sequence.Stream}, true
}

// Stream names the durable stream the message came from ("" for core).
func (m *Msg) Stream() string { return m.stream }

// Ack acknowledges a durable message and every message passed on before
// it by the same consumer. It does nothing for core messages, nor for a
// message of a consumer restarted since it was received (it is delivered
// again).
//
// A consumer in this server's JetStream uses the ack-all policy: one
// acknowledgement covers all before it. One in another domain, across a
// leaf link, acknowledges each message it passed on, one by one (the
// explicit policy): a message the domain delivered into a link that then
// failed was never passed on, and must stay unacknowledged, to be
// delivered again, whatever is acknowledged after it.
func (m *Msg) Ack() error {
	if m.js == nil || m.gen != nil && m.gen.stale.Load() {
		return nil // core, or delivered again since (a restarted consumer)
	}
	if m.gen != nil && m.gen.explicit {
		return m.gen.ackUpTo(m.js)
	}
	return m.js.Ack()
}

// Durable reports whether the message came from a durable consumer.
func (m *Msg) Durable() bool { return m.js != nil }

// Handler receives messages. For one subscription it is called from one
// goroutine at a time, in stream order; a slow handler slows delivery
// (durable) or makes the server drop messages, which are counted (core).
type Handler func(*Msg)

// Subscription is a running consumer.
type Subscription struct {
	stops   []func()
	dropped func() uint64
	once    sync.Once
}

// Stop ends delivery. Messages already being handled finish; unacknowledged
// durable messages are delivered again to the next consumer of the same
// name.
func (s *Subscription) Stop() {
	s.once.Do(func() {
		for _, stop := range s.stops {
			stop()
		}
	})
}

// Dropped is how many messages the server or client discarded because
// this subscriber was too slow (core subscriptions only).
func (s *Subscription) Dropped() uint64 {
	if s.dropped == nil {
		return 0
	}
	return s.dropped()
}

// DurableOptions configure a durable consumer.
type DurableOptions struct {
	// Name is the durable name; a consumer of the same name resumes where
	// the last one stopped.
	Name string
	// Subjects to consume; they may span several streams.
	Subjects []string
	// MaxAckPending bounds unacknowledged messages (default 65536).
	MaxAckPending int
	// AckWait is how long before an unacknowledged message is redelivered
	// (default 30 s).
	AckWait time.Duration
	// Batch is how many messages are fetched at once (default 8192).
	Batch int
	// Takeover declares that this process is the consumer's only user and
	// that any earlier user is gone (a restarted monitor): messages the
	// earlier user received but did not acknowledge are delivered again at
	// once, instead of after AckWait.
	Takeover bool
	// Domain is the JetStream domain of the bus whose streams are
	// consumed, when it is another server's joined by a leaf node ("":
	// this server's). The consumer lives there: while the link is down
	// that server keeps storing, and consumption resumes where it was
	// acknowledged when the link is back.
	Domain string
	// Resume, when set, tells where the caller already has every message
	// of a stream up to (a store's checkpoint); it is used only when the
	// consumer has to be created while its stream holds messages (see
	// planConsumer).
	Resume func(stream string) (Position, bool)
}

// ConsumeDurable starts a durable consumer per stream the subjects fall in
// and passes every message to h. It resumes from the consumers' last
// acknowledged position. A consumer left in any state by an earlier run
// (killed, stopped, or with its stream deleted and recreated) is reused or
// recreated as planConsumer decides.
func (c *Conn) ConsumeDurable(ctx context.Context, o DurableOptions, h Handler) (*Subscription, error) {
	if o.Name == "" {
		return nil, errors.New("bus: durable consumer without a name")
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = 1 << 16
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 32768
	}
	byStream := map[string][]string{}
	for _, s := range o.Subjects {
		st := streamFor(s)
		if st == "" {
			return nil, fmt.Errorf("bus: subject %q is in no durable stream", s)
		}
		byStream[st] = append(byStream[st], s)
	}
	streams := make([]string, 0, len(byStream))
	for st := range byStream {
		streams = append(streams, st)
	}
	sort.Strings(streams)
	js, err := c.jetStream(o.Domain)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{}
	ackPolicy := jetstream.AckAllPolicy
	if o.Domain != "" && o.Takeover {
		ackPolicy = jetstream.AckExplicitPolicy // see streamConsumer
	}
	for _, st := range streams {
		cc := jetstream.ConsumerConfig{
			Durable:       o.Name,
			AckPolicy:     ackPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       o.AckWait,
			MaxAckPending: o.MaxAckPending,
			MaxDeliver:    -1,
		}
		if subj := byStream[st]; len(subj) == 1 {
			cc.FilterSubject = subj[0]
		} else {
			cc.FilterSubjects = subj
		}
		sc := &streamConsumer{c: c, js: js, stream: st, cc: cc, o: o, h: h}
		if sc.checked() {
			sc.restart, sc.quit, sc.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		}
		if !sc.checked() {
			if err := sc.start(ctx, o.Takeover, false); err != nil {
				sub.Stop()
				return nil, err
			}
			sub.stops = append(sub.stops, sc.stop)
			continue
		}
		// Another domain may not answer now (its link down, its bus not
		// up yet): that never keeps this process from starting; the
		// consumer starts once it answers.
		sctx, cancel := context.WithTimeout(ctx, domainTimeout)
		err := sc.start(sctx, o.Takeover, false)
		cancel()
		sc.watch(ctx)
		if err != nil {
			c.log.Warn("durable consumer: its domain does not answer yet; consuming once it does",
				"stream", st, "domain", o.Domain, "consumer", o.Name, "err", err)
			sc.signal()
		}
		sub.stops = append(sub.stops, sc.stop)
	}
	return sub, nil
}

// A streamConsumer consumes one stream with one durable consumer.
//
// A consumer in another domain, reached through a leaf link, that is this
// process's alone (Takeover), is also restarted when the link fails:
// messages the domain's server had sent into a link that then broke are
// lost in transit, still counted as delivered. They are also delivered
// late to pull requests of a run given up on: a link that stalls (a
// cable pulled and put back) holds the requests this process sent into
// it, and hands them to the domain when it comes back, where they take
// messages for nobody, even after a new run has started and read the
// consumer's delivered count. So such a consumer acknowledges each
// message it received, never a range (the explicit policy, not ack-all:
// with ack-all the acknowledgement of a later message would acknowledge
// the lost ones too, and they would never come), and when a message's
// delivery sequence shows deliveries missing before it,
// or the consumer stops answering (no heartbeat, no responders: the link
// is down), consumption stops, and once the domain answers again the
// consumer is brought back from its acknowledgement floor (planConsumer,
// takeover): the messages lost in transit are delivered again at once.
// Acknowledgements of messages received before a restart are not sent
// (their messages are delivered again after it), so that they cannot move
// the new consumer's floor.
type streamConsumer struct {
	c      *Conn
	js     jetstream.JetStream
	stream string
	cc     jetstream.ConsumerConfig
	o      DurableOptions
	h      Handler

	mu   sync.Mutex
	cctx jetstream.ConsumeContext
	gen  *generation
	// restart is signalled when the link failed; quit ends watch.
	restart chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

// generation is one run of a consumer between restarts: messages of an
// older one are dropped and their acknowledgements not sent.
type generation struct {
	stale   atomic.Bool
	lastSeq atomic.Uint64 // delivery (consumer) sequence of the last message passed on
	// explicit: the consumer acknowledges message by message; unacked
	// holds the messages passed on and not acknowledged yet, in order.
	explicit bool
	mu       sync.Mutex
	unacked  []jetstream.Msg
}

// passed notes a message passed on, to be acknowledged (explicit policy).
func (g *generation) passed(m jetstream.Msg) {
	g.mu.Lock()
	g.unacked = append(g.unacked, m)
	g.mu.Unlock()
}

// ackUpTo acknowledges m and every message passed on before it not yet
// acknowledged, each by its own acknowledgement (explicit policy).
func (g *generation) ackUpTo(m jetstream.Msg) error {
	g.mu.Lock()
	n := -1
	for i, u := range g.unacked {
		if u == m {
			n = i + 1
			break
		}
	}
	if n < 0 {
		g.mu.Unlock()
		return nil // acknowledged already
	}
	batch := make([]jetstream.Msg, n)
	copy(batch, g.unacked[:n])
	g.unacked = append(g.unacked[:0], g.unacked[n:]...)
	g.mu.Unlock()
	var first error
	for _, u := range batch {
		if err := u.Ack(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// checked says whether the consumer is watched for a failing link: one
// in another domain that is this process's alone.
func (sc *streamConsumer) checked() bool { return sc.o.Domain != "" && sc.o.Takeover }

// start reconciles the consumer and starts consuming it; relink: after
// the link to the consumer's domain failed (planConsumer).
func (sc *streamConsumer) start(ctx context.Context, takeover, relink bool) error {
	var cons jetstream.Consumer
	var created time.Time
	reconcile := func() (err error) {
		cons, created, err = sc.c.reconcileConsumer(ctx, sc.js, sc.stream, sc.cc, takeover, relink, sc.o.Resume)
		return err
	}
	var err error
	if sc.o.Domain != "" {
		// Another domain's consumer is retried by watch.
		err = reconcile()
	} else {
		// A stream is made again only when this connection made the
		// streams; for another, a missing stream is not its to wait for.
		lim := sc.c.streamLimits.Load()
		retry := func(err error) bool {
			return sc.c.restarting(ctx, err) && (lim != nil || !errors.Is(err, jetstream.ErrStreamNotFound))
		}
		err = sc.c.settleIf(ctx, "durable consumer "+sc.cc.Durable+" on "+sc.stream, retry, func() error {
			err := reconcile()
			if lim != nil && errors.Is(err, jetstream.ErrStreamNotFound) {
				// Lost to a JetStream restart while it was being made:
				// made again as it was.
				if serr := sc.c.EnsureStreams(ctx, *lim); serr != nil {
					return errors.Join(err, serr)
				}
				err = reconcile()
			}
			return err
		})
	}
	if err != nil {
		if sc.o.Domain != "" {
			return fmt.Errorf("%w (JetStream domain %s)", err, sc.o.Domain)
		}
		return err
	}
	gen := &generation{explicit: sc.cc.AckPolicy == jetstream.AckExplicitPolicy}
	if ci := cons.CachedInfo(); ci != nil {
		gen.lastSeq.Store(ci.Delivered.Consumer)
	}
	stream, o := sc.stream, sc.o
	cctx, err := cons.Consume(func(m jetstream.Msg) {
		if gen.stale.Load() {
			return
		}
		if sc.checked() {
			md, err := m.Metadata()
			if err == nil {
				if want := gen.lastSeq.Load() + 1; md.Sequence.Consumer != want {
					sc.c.log.Warn("durable consumer: deliveries lost in transit; resuming from the last acknowledged message",
						"stream", stream, "domain", o.Domain, "consumer", o.Name, "delivery", md.Sequence.Consumer, "expected", want)
					gen.stale.Store(true)
					sc.signal()
					return
				}
				gen.lastSeq.Store(md.Sequence.Consumer)
			}
		}
		if gen.explicit {
			gen.passed(m)
		}
		sc.h(&Msg{Subject: m.Subject(), Data: m.Data(), js: m, stream: stream, created: created, gen: gen})
	}, jetstream.PullMaxMessages(o.Batch), jetstream.PullExpiry(pullExpiry), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		linkDown := errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrNoResponders)
		if sc.checked() && linkDown {
			if !gen.stale.Swap(true) {
				sc.c.log.Warn("durable consumer: its domain does not answer (leaf link down?); resuming from the last acknowledged message once it does",
					"stream", stream, "domain", o.Domain, "consumer", o.Name, "err", err)
				sc.signal()
			}
			return
		}
		if !errors.Is(err, jetstream.ErrNoHeartbeat) && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, jetstream.ErrServerShutdown) && !gen.stale.Load() {
			sc.c.log.Warn("durable consumer", "stream", stream, "domain", o.Domain, "consumer", o.Name, "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("bus: consuming %s%s as %s: %w", sc.stream, inDomain(sc.o.Domain), sc.o.Name, err)
	}
	sc.mu.Lock()
	sc.cctx, sc.gen = cctx, gen
	sc.mu.Unlock()
	return nil
}

func (sc *streamConsumer) signal() {
	if sc.restart == nil {
		return
	}
	select {
	case sc.restart <- struct{}{}:
	default:
	}
}

// domainTimeout bounds each attempt to start a consumer in another
// domain.
const domainTimeout = 5 * time.Second

// restartEvery is how often a consumer whose domain does not answer is
// tried again.
const restartEvery = time.Second

// watch restarts the consumer whenever signalled, until stop or the end
// of ctx.
func (sc *streamConsumer) watch(ctx context.Context) {
	go func() {
		defer close(sc.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sc.quit:
				return
			case <-sc.restart:
			}
			sc.halt()
			for {
				rctx, cancel := context.WithTimeout(ctx, domainTimeout)
				err := sc.start(rctx, true, true)
				cancel()
				if err == nil {
					sc.c.log.Info("durable consumer resumed", "stream", sc.stream, "domain", sc.o.Domain, "consumer", sc.o.Name)
					break
				}
				sc.c.log.Debug("durable consumer: its domain still does not answer", "stream", sc.stream, "domain", sc.o.Domain, "consumer", sc.o.Name, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-sc.quit:
					return
				case <-time.After(restartEvery):
				}
			}
		}
	}()
}

// halt stops the current run at once, its later messages dropped.
func (sc *streamConsumer) halt() {
	sc.mu.Lock()
	cctx, gen := sc.cctx, sc.gen
	sc.cctx = nil
	sc.mu.Unlock()
	if gen != nil {
		gen.stale.Store(true)
	}
	if cctx != nil {
		cctx.Stop()
	}
}

// stop ends consumption: the restarts first, then the current run drains.
func (sc *streamConsumer) stop() {
	if sc.quit != nil {
		close(sc.quit)
		<-sc.done
	}
	sc.mu.Lock()
	cctx := sc.cctx
	sc.mu.Unlock()
	if cctx == nil {
		return
	}
	cctx.Drain()
	select {
	case <-cctx.Closed():
	case <-time.After(5 * time.Second):
		cctx.Stop()
	}
}

// pullExpiry is how long a pull request lasts: the server sends
// heartbeats at half of it, and a consumer that misses two pulls again.
// After JetStream restarts (a full disk, see RestartJetStream) the pull
// requests of the old JetStream are gone: this bounds how long
// consumption waits to resume.
const pullExpiry = 5 * time.Second

// SubscribeCore subscribes to subjects on core NATS. With a queue name,
// subscribers sharing it split the messages between them.
func (c *Conn) SubscribeCore(subjects []string, queue string, h Handler) (*Subscription, error) {
	var subs []*nats.Subscription
	out := &Subscription{}
	for _, s := range subjects {
		cb := func(m *nats.Msg) { h(&Msg{Subject: m.Subject, Data: m.Data}) }
		var ns *nats.Subscription
		var err error
		if queue != "" {
			ns, err = c.NC.QueueSubscribe(s, queue, cb)
		} else {
			ns, err = c.NC.Subscribe(s, cb)
		}
		if err != nil {
			out.Stop()
			return nil, fmt.Errorf("bus: subscribing to %s: %w", s, err)
		}
		if err := ns.SetPendingLimits(1<<20, 512<<20); err != nil {
			_ = ns.Unsubscribe()
			out.Stop()
			return nil, fmt.Errorf("bus: pending limits on %s: %w", s, err)
		}
		subs = append(subs, ns)
		closed := ns.StatusChanged(nats.SubscriptionClosed)
		out.stops = append(out.stops, func() {
			if err := ns.Drain(); err != nil {
				return
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				_ = ns.Unsubscribe()
			}
		})
	}
	out.dropped = func() uint64 {
		var n uint64
		for _, s := range subs {
			if d, err := s.Dropped(); err == nil && d > 0 {
				n += uint64(d)
			}
		}
		return n
	}
	return out, nil
}

// jetStream is the JetStream API of domain ("": this server's), made once
// per domain.
func (c *Conn) jetStream(domain string) (jetstream.JetStream, error) {
	if domain == "" {
		return c.JS, nil
	}
	c.domainsMu.Lock()
	defer c.domainsMu.Unlock()
	if js, ok := c.domains[domain]; ok {
		return js, nil
	}
	js, err := jetstream.NewWithDomain(c.NC, domain)
	if err != nil {
		return nil, fmt.Errorf("bus: JetStream of domain %q: %w", domain, err)
	}
	if c.domains == nil {
		c.domains = map[string]jetstream.JetStream{}
	}
	c.domains[domain] = js
	return js, nil
}

// inDomain names a JetStream domain in a message (nothing for this
// server's).
func inDomain(domain string) string {
	if domain == "" {
		return ""
	}
	return " in JetStream domain " + domain
}
