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
	var like event.CompactKey // the previous key: a sensor's records share their host
	for i, r := range recs {
		k, err := event.PeekCompactLike(r, like)
		if err != nil {
			return 0, fmt.Errorf("bus: compact event %d of %d: %w", i+1, len(recs), err)
		}
		keys[i], like = k, k
	}
	// One message, filled for each record in turn: it is published (its
	// bytes copied out) before the next is asked for. A sensor's records
	// are all of one host, so the subject is made once.
	m := &nats.Msg{Header: nats.Header{}}
	id := []string{""}
	m.Header[jetstream.MsgIDHeader] = id
	var lastHost string
	msg := func(i int) *nats.Msg {
		host := keys[i].Host
		if host == "" {
			host = keys[i].IP
		}
		if m.Subject == "" || host != lastHost {
			lastHost, m.Subject = host, ObsSubject(c.routeOf(host))
		}
		m.Data, m.Reply, id[0] = recs[i], "", keys[i].ID
		return m
	}
	what := func(i int) string { return "event " + keys[i].ID }
	return c.publishMany(ctx, len(recs), msg, what)
}
