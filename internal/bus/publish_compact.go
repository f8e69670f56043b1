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
	keys, err := peekKeys(recs)
	if err != nil {
		return 0, err
	}
	// One message, filled for each record in turn: it is published (its
	// bytes copied out) before the next is asked for. A sensor's records
	// are all of one host, so the subject is made once.
	m := &nats.Msg{Header: nats.Header{}}
	id := []string{""}
	m.Header[jetstream.MsgIDHeader] = id
	subjects := c.subjects()
	msg := func(i int) *nats.Msg {
		m.Subject = subjects(keys[i])
		m.Data, m.Reply, id[0] = recs[i], "", keys[i].ID
		return m
	}
	what := func(i int) string { return "event " + keys[i].ID }
	return c.publishMany(ctx, len(recs), msg, what)
}

// Packs: how many events, and how many bytes of them, one message holds
// at most (a single event over packBytes goes alone).
const (
	packEvents = 128
	packBytes  = 64 << 10
)

// PublishPackedEvents is PublishCompactEvents with consecutive records of
// one host packed into a message of several (event.AppendPacked): at most
// packEvents records and packBytes of them a message. A record with no
// neighbour of its host goes alone, as PublishCompactEvents sends it. A
// pack's JetStream message id is its first record's id and its last's
// ("FIRST.LAST"): a publish repeated within the duplicate window stores
// it once, and one whose records were grouped differently stores them
// again (consumers know events by their ids: a monitor stores each once).
// It returns how many records were acknowledged, in order: on an error,
// recs[:n] are stored and recs[n:] may not be. The records must not change
// until it returns.
func (c *Conn) PublishPackedEvents(ctx context.Context, recs [][]byte) (int, error) {
	// The scratch of the last publish: a fresh one for every publish
	// cost more than the packing (growing it, and the faults on new
	// memory).
	sc := c.packing.Swap(nil)
	if sc == nil {
		sc = new(packScratch)
	}
	defer c.packing.Store(sc)
	if cap(sc.keys) < len(recs) {
		sc.keys = make([]event.CompactKey, len(recs))
	}
	keys, err := peekKeysInto(sc.keys[:len(recs)], recs)
	if err != nil {
		return 0, err
	}
	subjects := c.subjects()
	// ends[j] is where message j's records end in recs.
	var ends []int
	var subj []string
	for i := 0; i < len(recs); {
		s := subjects(keys[i])
		j, size := i+1, len(recs[i])
		for j < len(recs) && j-i < packEvents && size+len(recs[j]) <= packBytes && subjects(keys[j]) == s {
			size += len(recs[j])
			j++
		}
		ends, subj = append(ends, j), append(subj, s)
		i = j
	}
	start := func(j int) int {
		if j == 0 {
			return 0
		}
		return ends[j-1]
	}
	m := &nats.Msg{Header: nats.Header{}}
	id := []string{""}
	m.Header[jetstream.MsgIDHeader] = id
	buf := sc.buf[:0]
	defer func() { sc.buf = buf[:0] }()
	msg := func(j int) *nats.Msg {
		a, b := start(j), ends[j]
		m.Subject, m.Reply = subj[j], ""
		if b-a == 1 {
			m.Data, id[0] = recs[a], keys[a].ID
			return m
		}
		buf = buf[:0]
		for _, r := range recs[a:b] {
			buf = event.AppendPacked(buf, r)
		}
		m.Data, id[0] = buf, keys[a].ID+"."+keys[b-1].ID
		return m
	}
	what := func(j int) string {
		a, b := start(j), ends[j]
		if b-a == 1 {
			return "event " + keys[a].ID
		}
		return fmt.Sprintf("events %s to %s (%d)", keys[a].ID, keys[b-1].ID, b-a)
	}
	n, err := c.publishMany(ctx, len(ends), msg, what)
	return start(n), err
}

// packScratch is what PublishPackedEvents makes packs in: the buffer of
// a pack, and the records' keys.
type packScratch struct {
	buf  []byte
	keys []event.CompactKey
}

// peekKeys reads each record's id, host and IP (event.PeekCompactLike); a
// record that cannot be read so is an error naming it.
func peekKeys(recs [][]byte) ([]event.CompactKey, error) {
	return peekKeysInto(make([]event.CompactKey, len(recs)), recs)
}

// peekKeysInto is peekKeys into keys, of recs' length.
func peekKeysInto(keys []event.CompactKey, recs [][]byte) ([]event.CompactKey, error) {
	var like event.CompactKey // the previous key: a sensor's records share their host
	for i, r := range recs {
		k, err := event.PeekCompactLike(r, like)
		if err != nil {
			return nil, fmt.Errorf("bus: compact event %d of %d: %w", i+1, len(recs), err)
		}
		keys[i], like = k, k
	}
	return keys, nil
}

// subjects returns a function giving a record's observation subject, by
// its host (else its IP), made once for a run of records of one host.
func (c *Conn) subjects() func(event.CompactKey) string {
	var lastHost, subject string
	return func(k event.CompactKey) string {
		host := k.Host
		if host == "" {
			host = k.IP
		}
		if subject == "" || host != lastHost {
			lastHost, subject = host, ObsSubject(c.routeOf(host))
		}
		return subject
	}
}
