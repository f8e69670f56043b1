package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// A batch of observations is published as one JetStream "fast batch"
// (the stream's allow_batched): every observation is still a message of
// its own in the stream, with its id as the message id (a repeat within
// the duplicate window is stored once, and skipped in the batch), but the
// stream acknowledges the batch, not each message. The server answers a
// batch's first message with how often it will acknowledge progress, then
// every that many messages stored, and its last message (the commit) with
// the usual acknowledgement naming how many of the batch's messages are in
// the stream. Messages are numbered in the reply subject of each:
//
//	<inbox>.<batch id>.<flow>.fail.<batch seq>.<op>.$FI
//
// with op 0 for the first, 1 for the next ones and 2 for the last. In the
// "fail" mode a message the stream refuses, or one lost on the way, ends
// the batch there: the acknowledgement then counts what came before it.
//
// A publish costs the sender a few answers to read instead of one per
// message: the answers, each waking the connection's reader and the
// publisher, were most of a sensor's cost of publishing.

// batchFlow is how many messages the publisher asks the server to store
// between two progress acknowledgements, at most (the server may ask for
// fewer while other batches are in flight on the stream).
const batchFlow = 256

// batchMin is the smallest publish sent as a batch: one message is
// acknowledged as cheaply on its own.
const batchMin = 2

// batchRetryAfter is how long a connection publishes message by message
// after a stream refused batches (made before streams took them, or by a
// server without them), before it tries a batch again.
const batchRetryAfter = 5 * time.Minute

// errBatchRefused says the stream does not take batches: publish the rest
// message by message.
var errBatchRefused = errors.New("the stream does not take batch publishes")

// batchAnswer is what the server sends to a batch's reply subjects: a
// progress acknowledgement ("ack"), a gap or an error notice ("gap",
// "err"), or, without a type, the publish acknowledgement that ends it.
type batchAnswer struct {
	Type  string              `json:"type"`
	Seq   uint64              `json:"seq"`
	Msgs  int                 `json:"msgs"`
	Error *jetstream.APIError `json:"error"`
	// The publish acknowledgement's.
	Stream string `json:"stream"`
	Batch  string `json:"batch"`
	Count  int    `json:"count"`
}

// publishBatch publishes n messages (all bound for one stream) as one
// fast batch and returns how many were stored, in order, before the first
// error. The error wraps errBatchRefused when the stream takes no batches
// or no stream answered the first message; messages from the count
// returned on must then be published another way.
func (c *Conn) publishBatch(ctx context.Context, n int, msg func(i int) *nats.Msg, what func(i int) string) (int, error) {
	// Answers: two or three for a batch that goes well; in the worst case
	// one for every message (each refused), and the acknowledgement.
	aw, err := c.awaitAnswers(n + 4)
	if err != nil {
		return 0, err
	}
	defer aw.stop()
	ch, inbox, quiet, ackWait := aw.ch, aw.inbox, aw.quiet, aw.wait

	id := nuid.Next()
	prefix := inbox + "." + id + "." + strconv.Itoa(batchFlow) + ".fail."
	var (
		sent, stored int         // published; known stored (progress)
		every        = batchFlow // the server's progress period
		started      bool        // the server took the first message
		notice       error       // the last refusal of a message
		subject      string      // the subject of message 0
	)
	publish := func(i int) error {
		m := msg(i)
		op := "1"
		switch {
		case i == n-1:
			op = "2"
		case i == 0:
			op = "0"
		}
		if i == 0 {
			subject = m.Subject
		}
		m.Reply = prefix + strconv.Itoa(i+1) + "." + op + ".$FI"
		if err := c.NC.PublishMsg(m); err != nil {
			return fmt.Errorf("bus: publishing %s: %w%s", what(i), err, StorageHint(err))
		}
		return nil
	}
	// ended is the stored count once the batch's acknowledgement came.
	ended := -1
	receive := func() error {
		select {
		case m := <-ch:
			quiet.Reset(ackWait)
			if noResponders(m) {
				if stored == 0 {
					return fmt.Errorf("bus: %s: %w: %w", what(0), errBatchRefused, nats.ErrNoResponders)
				}
				return fmt.Errorf("bus: %s not stored: %w", what(stored), nats.ErrNoResponders)
			}
			var a batchAnswer
			if err := json.Unmarshal(m.Data, &a); err != nil {
				return fmt.Errorf("bus: unreadable batch acknowledgement %q: %w", m.Data, err)
			}
			switch a.Type {
			case "ack":
				started = true
				if a.Seq > uint64(stored) && a.Seq <= uint64(sent) {
					stored = int(a.Seq)
				}
				if a.Msgs > 0 {
					every = a.Msgs
				}
				return nil
			case "gap":
				return nil // the acknowledgement follows and counts
			case "err":
				if a.Error != nil {
					notice = a.Error
				}
				return nil
			}
			if a.Error != nil && a.Batch == "" {
				if a.Error.ErrorCode == jetstream.ErrorCode(10205) { // batch publish is disabled
					return fmt.Errorf("bus: %s: %w: %w", what(0), errBatchRefused, a.Error)
				}
				if started {
					// One message refused on its own (its size, say): the
					// batch ends at the next, or at the ping after the last.
					notice = a.Error
					return nil
				}
			}
			if a.Error != nil {
				return c.notStored(what(stored), subject, a.Error)
			}
			if a.Stream == "" || a.Batch != id {
				return fmt.Errorf("bus: unexpected batch acknowledgement %q: %w", m.Data, jetstream.ErrInvalidJSAck)
			}
			ended = max(0, min(a.Count, n))
			return nil
		case <-quiet.C:
			return c.notStored(what(stored), subject, jetstream.ErrAsyncPublishTimeout)
		case <-ctx.Done():
			return c.notStored(what(stored), subject, ctx.Err())
		}
	}
	for sent < n && ended < 0 {
		// At most two progress periods unacknowledged, as the server
		// paces its publishers.
		if sent-stored >= 2*every {
			if err := receive(); err != nil {
				return stored, err
			}
			continue
		}
		if err := publish(sent); err != nil {
			return stored, err
		}
		sent++
	}
	pinged := false
	for ended < 0 {
		if notice != nil && !pinged && sent == n {
			// A refused message leaves the batch open when it is the
			// last: a ping past it makes the server end the batch there.
			pinged = true
			p := nats.NewMsg(subject)
			p.Reply = prefix + strconv.Itoa(n) + ".4.$FI"
			if err := c.NC.PublishMsg(p); err != nil {
				return stored, fmt.Errorf("bus: ending a batch: %w", err)
			}
		}
		if err := receive(); err != nil {
			return stored, err
		}
	}
	if ended < n {
		err := notice
		if err == nil {
			err = errors.New("the batch ended early (a message lost on the way?)")
		}
		return ended, c.notStored(what(ended), subject, err)
	}
	return n, nil
}

// publishMany publishes n observations bound for the observations stream
// durably and returns how many were stored, in order, before the first
// error: as one batch when there are enough and the stream takes batches,
// else message by message (publishAcked). A stream that refuses batches
// is published to message by message for batchRetryAfter.
//
// msg(i) makes message i; what it returns is published before the next
// call, which may reuse it. what(i) names message i in errors.
func (c *Conn) publishMany(ctx context.Context, n int, msg func(i int) *nats.Msg, what func(i int) string) (int, error) {
	if n < batchMin || time.Now().UnixNano() < c.batchesOffUntil.Load() {
		return c.publishAcked(ctx, n, msg, what)
	}
	k, err := c.publishBatch(ctx, n, msg, what)
	if err == nil || !errors.Is(err, errBatchRefused) {
		return k, err
	}
	if !errors.Is(err, nats.ErrNoResponders) { // no stream yet is no refusal
		c.batchesOffUntil.Store(time.Now().Add(batchRetryAfter).UnixNano())
		c.log.Info("the observations stream takes no batch publishes; publishing message by message", "err", err, "retry_in", batchRetryAfter)
	}
	m, err := c.publishAcked(ctx, n-k, func(i int) *nats.Msg { return msg(k + i) }, func(i int) string { return what(k + i) })
	return k + m, err
}
