package monitor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// A monitor whose engines analyse system call count vectors
// (engine.VectorHandler) consumes stream VIGIL_CV with one durable
// consumer (<monitor>_cv). Each vector goes, through the main loop, to
// every such engine's queue, in stream order; once every one of them has
// handled it (or, for a message that is no vector, a duplicate or a
// misrouted one, has reached it in its queue), its message is marked done,
// and the latest done message is acknowledged (ack-all) at most
// vectorAckEvery later and when the monitor stops, after the engines have
// drained their queues: a monitor stopped in order neither loses a vector
// nor hands one twice. The bus holds the backlog: the consumer has at most
// vectorMaxPending messages unacknowledged, and the queues on the way are
// bounded, so a slow engine slows consumption instead of growing memory.

const (
	// vectorMaxPending bounds the vectors delivered and not acknowledged.
	vectorMaxPending = 1 << 15
	// vectorAckEvery is how often handled vectors are acknowledged.
	vectorAckEvery = 250 * time.Millisecond
	// vectorDedup is how many recent vector ids the monitor remembers to
	// recognise redeliveries.
	vectorDedup = 1 << 16
)

// vectorMetrics are the count-vector series.
type vectorMetrics struct {
	in, duplicates, decodeErrors, misrouted prometheus.Counter
}

func newVectorMetrics(monitor string) *vectorMetrics {
	labels := prometheus.Labels{"monitor": monitor}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	return &vectorMetrics{
		in:           c("vigil_vectors_in_total", "Distinct system call count vectors handed to the engines that analyse them."),
		duplicates:   c("vigil_vectors_duplicate_total", "Count vectors delivered again and recognised by host, pid and start."),
		decodeErrors: c("vigil_vector_decode_errors_total", "Messages on the count-vector subjects that did not decode as valid count vectors."),
		misrouted:    c("vigil_vectors_misrouted_total", "Count vectors dropped because their host is not the one their subject names (its publisher's)."),
	}
}

// vectorState is the monitor's side of count-vector consumption.
type vectorState struct {
	runners []*runner // those whose engine is an engine.VectorHandler
	src     *source
	met     *vectorMetrics
	dedup   *dedup
	count   atomic.Uint64 // distinct vectors handed to the engines
	seq     uint64        // order of the messages through the loop (loop goroutine only)

	mu     sync.Mutex
	doneN  uint64 // the latest message done (by seq), not yet acknowledged
	doneAt *bus.Msg
}

// initVectors notes the engines that take count vectors.
func (m *Monitor) initVectors() {
	var rs []*runner
	for _, r := range m.runners {
		if vh, ok := r.eng.(engine.VectorHandler); ok {
			r.vec = vh
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return
	}
	vs := &vectorState{runners: rs, met: newVectorMetrics(m.cfg.Monitor.Name), dedup: newDedup(vectorDedup)}
	vs.src = m.newSource("vectors", nil)
	vs.src.durable = m.cfg.Monitor.Name + "_cv"
	m.met.reg.MustRegister(vs.met.in, vs.met.duplicates, vs.met.decodeErrors, vs.met.misrouted)
	m.vec = vs
}

// VectorsIn is how many distinct count vectors the monitor handed to its
// engines.
func (m *Monitor) VectorsIn() uint64 {
	if m.vec == nil {
		return 0
	}
	return m.vec.count.Load()
}

// subscribeVectors starts the count-vector consumer, when an engine wants
// vectors.
func (m *Monitor) subscribeVectors(ctx context.Context) error {
	vs := m.vec
	if vs == nil {
		return nil
	}
	sub, err := m.o.Conn.ConsumeDurable(ctx, bus.DurableOptions{Name: vs.src.durable, Subjects: []string{bus.PrefixCV + ">"},
		MaxAckPending: vectorMaxPending, Batch: 4096, Takeover: true, Resume: m.resumeFrom(ctx, vs.src.durable)},
		func(msg *bus.Msg) { m.receiveVector(msg) })
	if err != nil {
		return fmt.Errorf("monitor %s: count vectors: %w", m.cfg.Monitor.Name, err)
	}
	m.subs = append(m.subs, sub)
	return nil
}

// receiveVector decodes one count-vector message (on the bus's goroutine)
// and hands it to the main loop.
func (m *Monitor) receiveVector(msg *bus.Msg) {
	vs := m.vec
	v, err := decodeVector(msg.Data)
	if err == nil {
		err = checkVectorHost(msg.Subject, &v)
		if err != nil {
			vs.met.misrouted.Inc()
			m.misrouted.note(vs.src.name, msg.Subject, msg.Data, err)
			m.push(item{msg: msg, src: vs.src, vector: true})
			return
		}
	}
	if err != nil {
		vs.met.decodeErrors.Inc()
		m.bad.note(vs.src.name, msg.Subject, msg.Data, err)
		m.push(item{msg: msg, src: vs.src, vector: true})
		return
	}
	m.push(item{cv: &v, msg: msg, src: vs.src, vector: true})
}

// decodeVector reads a count vector in its compact or JSON form.
func decodeVector(data []byte) (event.CountVector, error) {
	if len(data) > 0 && data[0] == '{' {
		return event.DecodeCountVectorJSON(data)
	}
	return event.DecodeCountVectorCompact(data)
}

// checkVectorHost refuses a vector about another host than the one its
// subject (vigil.cv.<token>) names: an agent speaks for its own host.
func checkVectorHost(subject string, v *event.CountVector) error {
	token, ok := strings.CutPrefix(subject, bus.PrefixCV)
	if !ok {
		return fmt.Errorf("subject %q is not a count-vector subject", subject)
	}
	if got := bus.Token(v.Host); got != token {
		return fmt.Errorf("the vector's host %q (token %q) is not the publisher's %q", v.Host, got, token)
	}
	return nil
}

// handleVector passes one count-vector message to the engines that take
// vectors (main loop).
func (m *Monitor) handleVector(it item) {
	vs := m.vec
	vs.seq++
	done := vs.doneFunc(it.msg, vs.seq, len(vs.runners))
	var vecs []*event.CountVector
	switch {
	case it.cv == nil:
	case vs.dedup.seen(bus.CountVectorID(it.cv)):
		vs.met.duplicates.Inc()
	default:
		vecs = []*event.CountVector{it.cv}
		vs.met.in.Inc()
		vs.count.Add(1)
	}
	// Each engine's queue is in order; what is not a vector to analyse
	// still goes through the queues, so that it is acknowledged after the
	// vectors before it.
	for _, r := range vs.runners {
		r.send(work{vecs: vecs, done: done})
	}
}

// doneFunc returns what the n-th message calls once each of the engines
// that take vectors has handled it.
func (vs *vectorState) doneFunc(msg *bus.Msg, n uint64, engines int) func() {
	var left atomic.Int32
	left.Store(int32(engines))
	return func() {
		if left.Add(-1) != 0 {
			return
		}
		vs.mu.Lock()
		if n > vs.doneN {
			vs.doneN, vs.doneAt = n, msg
		}
		vs.mu.Unlock()
	}
}

// flushVectorAcks acknowledges the latest message done and notes it as
// the consumer's committed position.
func (m *Monitor) flushVectorAcks() {
	vs := m.vec
	if vs == nil {
		return
	}
	vs.mu.Lock()
	msg := vs.doneAt
	vs.doneAt = nil
	vs.mu.Unlock()
	if msg == nil || !msg.Durable() {
		return
	}
	_ = msg.Ack()
	m.acks.mu.Lock()
	m.acks.committed[consumerKey{vs.src, msg.Stream()}] = msg
	m.acks.mu.Unlock()
}

// vectorAckLoop acknowledges handled vectors every vectorAckEvery until
// ctx ends.
func (m *Monitor) vectorAckLoop(ctx context.Context) {
	if m.vec == nil {
		return
	}
	t := clock.NewTicker(m.o.Clock, vectorAckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			m.flushVectorAcks()
		}
	}
}
