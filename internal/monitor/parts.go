package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver"
)

// work is one thing for an engine to do: an event, count vectors, or a
// tick. done, when set, is called once it is done (count vectors: then
// acknowledged); a work with done and nothing else only marks its place.
type work struct {
	ev   *event.Event
	vecs []*event.CountVector
	tick time.Time
	done func()
}

// runner runs one engine on its own goroutine, fed through a channel, so a
// slow engine holds back only its own queue until that queue fills.
type runner struct {
	name string
	eng  engine.Engine
	// vec is eng as a handler of count vectors, nil when it is not one.
	vec  engine.VectorHandler
	ch   chan work
	emit engine.Emit
	met  *metrics
	// producers are the engines whose reports this one receives; done
	// closes when its loop has ended.
	producers []*runner
	done      chan struct{}
	// mu is held while the engine works, so that the live views
	// (live.go) never run beside it; ended is set once the loop is over.
	mu    sync.Mutex
	ended bool
}

// feedOrder orders runners so that every engine comes after those that
// feed it reports.
func feedOrder(rs []*runner) []*runner {
	var out []*runner
	seen := map[*runner]bool{}
	var visit func(r *runner)
	visit = func(r *runner) {
		if seen[r] {
			return
		}
		seen[r] = true
		for _, p := range r.producers {
			visit(p)
		}
		out = append(out, r)
	}
	for _, r := range rs {
		visit(r)
	}
	return out
}

func buildRunners(ctx context.Context, cfg *config.ResourceObject, reg *engine.Registry, deps engine.Deps, res *resolver.Resolver, met *metrics, feed func(*runner, work)) ([]*runner, error) {
	var out []*runner
	byName := map[string]*runner{}
	for _, spec := range cfg.Engines {
		e, err := reg.Build(ctx, spec, deps)
		if err != nil {
			for _, r := range out {
				_ = r.eng.Close(ctx)
			}
			return nil, err
		}
		name := spec.Name
		r := &runner{name: name, eng: e, ch: make(chan work, 4096), met: met, done: make(chan struct{})}
		out = append(out, r)
		byName[name] = r
	}
	// Engines that receive another's reports (reports_from; the loader
	// rules out cycles).
	consumers := map[string][]*runner{}
	for i, spec := range cfg.Engines {
		for _, from := range spec.ReportsFrom {
			consumers[from] = append(consumers[from], out[i])
			if p := byName[from]; p != nil {
				out[i].producers = append(out[i].producers, p)
			}
		}
	}
	for _, r := range out {
		name, to := r.name, consumers[r.name]
		r.emit = func(rep event.Report) {
			final, err := res.Handle(name, rep)
			if err != nil {
				met.engineErrors.WithLabelValues(name).Inc()
				deps.Logger.Warn("invalid report", "engine", name, "err", err)
				return
			}
			for _, c := range to {
				ev := final.Event()
				feed(c, work{ev: &ev})
			}
		}
	}
	return out, nil
}

func (r *runner) send(w work) { r.ch <- w }

// trySend hands w over unless the engine's queue is full, in which case it
// counts the loss.
func (r *runner) trySend(w work) {
	select {
	case r.ch <- w:
	default:
		r.met.engineDropped.WithLabelValues(r.name).Inc()
	}
}

func (r *runner) loop() {
	for w := range r.ch {
		r.do(context.Background(), w)
	}
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
}

func (r *runner) do(ctx context.Context, w work) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	switch {
	case w.ev != nil:
		err = r.eng.Handle(ctx, w.ev, r.emit)
	case w.vecs != nil:
		err = r.vec.HandleVectors(ctx, w.vecs, r.emit)
	case w.done == nil:
		err = r.eng.Tick(ctx, w.tick, r.emit)
	}
	if w.done != nil {
		w.done()
	}
	if err != nil {
		r.met.engineErrors.WithLabelValues(r.name).Inc()
	}
}

// filter is a source's event filter.
type filter struct {
	types, exclude []string // exact types, or prefixes ending in '.' or '' for '*'
	prefix         []bool
	exPrefix       []bool
	hosts          map[string]bool
}

func newFilter(f config.Filter) *filter {
	out := &filter{}
	out.types, out.prefix = compilePatterns(f.Types)
	out.exclude, out.exPrefix = compilePatterns(f.ExcludeTypes)
	if len(f.Hosts) > 0 {
		out.hosts = map[string]bool{}
		for _, h := range f.Hosts {
			out.hosts[h] = true
		}
	}
	return out
}

func compilePatterns(pats []string) ([]string, []bool) {
	var vals []string
	var prefix []bool
	for _, p := range pats {
		if v, ok := strings.CutSuffix(p, "*"); ok {
			vals, prefix = append(vals, v), append(prefix, true)
		} else {
			vals, prefix = append(vals, p), append(prefix, false)
		}
	}
	return vals, prefix
}

func matchAny(t string, vals []string, prefix []bool) bool {
	for i, v := range vals {
		if prefix[i] && strings.HasPrefix(t, v) || !prefix[i] && t == v {
			return true
		}
	}
	return false
}

func (f *filter) keep(ev *event.Event) bool {
	if len(f.types) > 0 && !matchAny(ev.Type, f.types, f.prefix) {
		return false
	}
	if matchAny(ev.Type, f.exclude, f.exPrefix) {
		return false
	}
	if f.hosts != nil && !f.hosts[ev.Host] && !f.hosts[ev.IP] {
		return false
	}
	return true
}

// dedup remembers the last n event ids. It is used from one goroutine.
type dedup struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newDedup(n int) *dedup {
	if n <= 0 {
		return &dedup{}
	}
	return &dedup{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// seen reports whether id was seen among the last n, and remembers it.
func (d *dedup) seen(id string) bool {
	if d.ring == nil {
		return false
	}
	if _, ok := d.set[id]; ok {
		return true
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.set, old)
	}
	d.ring[d.next] = id
	d.set[id] = struct{}{}
	d.next = (d.next + 1) % len(d.ring)
	return false
}

// acker acknowledges durable messages once the store has committed them:
// per consumer, only the latest committed message (the consumers use the
// ack-all policy).
type acker struct {
	mu     sync.Mutex
	latest map[consumerKey]*bus.Msg
	// committed holds the latest committed message of each consumer
	// whose position is not yet saved (positions.go).
	committed map[consumerKey]*bus.Msg
}

// consumerKey names one durable consumer: a source reads one per stream.
type consumerKey struct {
	src    *source
	stream string
}

func newAcker() *acker {
	return &acker{latest: map[consumerKey]*bus.Msg{}, committed: map[consumerKey]*bus.Msg{}}
}

// doneFunc returns the store callback for msg, or nil when there is
// nothing to acknowledge.
func (a *acker) doneFunc(src *source, msg *bus.Msg) func() {
	if msg == nil || !msg.Durable() {
		return nil
	}
	key := consumerKey{src, msg.Stream()}
	return func() {
		a.mu.Lock()
		a.latest[key] = msg
		a.mu.Unlock()
	}
}

// flush acknowledges the latest committed message of every consumer.
func (a *acker) flush() {
	a.mu.Lock()
	msgs := make([]*bus.Msg, 0, len(a.latest))
	for k, m := range a.latest {
		msgs = append(msgs, m)
		a.committed[k] = m
		delete(a.latest, k)
	}
	a.mu.Unlock()
	for _, m := range msgs {
		_ = m.Ack()
	}
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// contentID derives a stable id from an event's bytes.
func contentID(data []byte) string {
	sum := sha256.Sum256(data)
	return "J" + idEncoding.EncodeToString(sum[:])[:event.IDLen-1]
}
