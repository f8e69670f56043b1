package bus

import (
	"context"
	"fmt"

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
	futures := make([]jetstream.PubAckFuture, 0, min(len(events), publishWindow))
	acked := 0 // events[:acked] are acknowledged; futures[i] is events[acked+i]
	wait := func() error {
		f := futures[0]
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("bus: event %s not stored: %w", events[acked].ID, err)
		case <-ctx.Done():
			return ctx.Err()
		}
		futures = futures[1:]
		acked++
		return nil
	}
	for i := range events {
		if len(futures) == publishWindow {
			if err := wait(); err != nil {
				return acked, err
			}
		}
		ev := &events[i]
		f, err := c.JS.PublishMsgAsync(eventMsg(ObsSubject(subjectHost(ev)), ev))
		if err != nil {
			return acked, fmt.Errorf("bus: publishing event %s: %w", ev.ID, err)
		}
		futures = append(futures, f)
	}
	for len(futures) > 0 {
		if err := wait(); err != nil {
			return acked, err
		}
	}
	return acked, nil
}

// PublishEventCore publishes an event at most once on its host's live
// subject (core NATS): no acknowledgement, no stream, the lowest latency.
func (c *Conn) PublishEventCore(ev *event.Event) error {
	data := ev.AppendCompact(make([]byte, 0, 256))
	if err := c.NC.Publish(LiveSubject(subjectHost(ev)), data); err != nil {
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
