package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
)

// PublishCompactEvents publishes events already in compact form (a
// sensor's spool) durably as they are: no decoding, no encoding. Each goes,
// as PublishEvents would send the decoded event, on its host's (else its
// IP's) observation subject with its id as the JetStream message id, read
// with event.PeekCompact; a record that cannot be read so is an error
// before anything is published. It returns how many were acknowledged, in
// order: on an error, recs[:n] are stored and recs[n:] may not be. The
// records must not change until it returns.
func (c *Conn) PublishCompactEvents(ctx context.Context, recs [][]byte) (int, error) {
	keys := make([]event.CompactKey, len(recs))
	for i, r := range recs {
		k, err := event.PeekCompact(r)
		if err != nil {
			return 0, fmt.Errorf("bus: compact event %d of %d: %w", i+1, len(recs), err)
		}
		keys[i] = k
	}
	msg := func(i int) *nats.Msg {
		host := keys[i].Host
		if host == "" {
			host = keys[i].IP
		}
		m := nats.NewMsg(ObsSubject(c.routeOf(host)))
		m.Data = recs[i]
		m.Header.Set(jetstream.MsgIDHeader, keys[i].ID)
		return m
	}
	what := func(i int) string { return "event " + keys[i].ID }
	return c.publishMany(ctx, len(recs), msg, what)
}
