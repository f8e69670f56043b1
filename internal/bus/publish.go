package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
)

// publishWindow is how many durable publishes may await acknowledgement.
const publishWindow = 4096

// PublishEvents publishes events durably, each on its host's observation
// subject with its id as the JetStream message id (so a repeated publish
// within the stream's duplicate window is stored once), and returns once
// the stream has acknowledged them. Up to publishWindow publishes are in
// flight at once. It returns how many were acknowledged, in order: on an
// error, events[:n] are stored and events[n:] may not be. Events must be
// valid (normalised).
func (c *Conn) PublishEvents(ctx context.Context, events []event.Event) (int, error) {
	return c.publishAcked(ctx, len(events),
		func(i int) *nats.Msg { return eventMsg(ObsSubject(c.routeOf(subjectHost(&events[i]))), &events[i]) },
		func(i int) string { return "event " + events[i].ID })
}

// PublishEventCore publishes an event at most once on its host's live
// subject (core NATS): no acknowledgement, no stream, the lowest latency.
func (c *Conn) PublishEventCore(ev *event.Event) error {
	data := ev.AppendCompact(make([]byte, 0, 256))
	if err := c.NC.Publish(LiveSubject(c.routeOf(subjectHost(ev))), data); err != nil {
		return fmt.Errorf("bus: publishing event %s: %w", ev.ID, err)
	}
	return nil
}

// PublishReport disseminates a report of monitor durably, as an event of
// type REPORT on vigil.report.<monitor>.
func (c *Conn) PublishReport(ctx context.Context, monitor string, r *event.Report) error {
	ev := r.Event()
	if _, err := c.JS.PublishMsg(ctx, eventMsg(ReportSubject(monitor), &ev)); err != nil {
		return fmt.Errorf("bus: publishing report %s: %w", r.ID, err)
	}
	return nil
}

// ErrRefused is wrapped by the error of a publish the bus server refused:
// the connection's identity may not publish on that subject (docs/BUS.md).
var ErrRefused = errors.New("refused by the bus: this identity may not publish there")

// routeOf is the subject token of an observation about host: host, or the
// connection's own route when it has one.
func (c *Conn) routeOf(host string) string {
	if c.route != "" {
		return c.route
	}
	return host
}

// subjectHost is the entity an event routes by: its host, else its IP.
func subjectHost(ev *event.Event) string {
	if ev.Host != "" {
		return ev.Host
	}
	return ev.IP
}

func eventMsg(subject string, ev *event.Event) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = ev.AppendCompact(make([]byte, 0, 256))
	m.Header.Set(jetstream.MsgIDHeader, ev.ID)
	return m
}

// PublishCountVectors publishes system call count vectors durably on their
// host's count-vector subject (stream VIGIL_CV), each with the id
// host/pid/start so a repeated publish is stored once, and returns how
// many were acknowledged before the first error.
func (c *Conn) PublishCountVectors(ctx context.Context, vs []event.CountVector) (int, error) {
	return c.publishAcked(ctx, len(vs),
		func(i int) *nats.Msg {
			v := &vs[i]
			m := nats.NewMsg(CVSubject(v.Host))
			m.Data = v.AppendCompact(make([]byte, 0, 64+8*len(v.Counts)))
			m.Header.Set(jetstream.MsgIDHeader, CountVectorID(v))
			return m
		},
		func(i int) string { return fmt.Sprintf("count vector of %s pid %d", vs[i].Host, vs[i].PID) })
}

// CountVectorID is a count vector's de-duplication id: host, pid and the
// interval's start.
func CountVectorID(v *event.CountVector) string {
	return v.Host + "/" + strconv.Itoa(int(v.PID)) + "/" + strconv.FormatInt(v.Start.UnixNano(), 10)
}
