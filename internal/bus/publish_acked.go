package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishAcked publishes n messages durably, up to publishWindow awaiting
// acknowledgement at once, and returns how many were acknowledged, in
// order, before the first error. what names message i in errors.
//
// The acknowledgements of one call come on an inbox of its own, from the
// connection's reader straight into a channel, each naming its message by
// the last token of its reply subject: no future, goroutine or decoding
// per message beyond a look at the acknowledgement's first bytes. A call
// that hears no acknowledgement for the connection's AckWait gives up; a
// message no stream answered is published again twice, 250 ms apart,
// before the call gives up on it.
func (c *Conn) publishAcked(ctx context.Context, n int, msg func(i int) *nats.Msg, what func(i int) string) (int, error) {
	if n == 0 {
		return 0, nil
	}
	window := min(n, publishWindow)
	// The channel holds every acknowledgement that can be outstanding, so
	// the reader never finds it full (which would drop one).
	aw, err := c.awaitAnswers(window)
	if err != nil {
		return 0, err
	}
	defer aw.stop()
	ch, inbox, quiet, ackWait := aw.ch, aw.inbox, aw.quiet, aw.wait

	subjects := make([]string, 0, n)
	done := make([]bool, n)
	acked, sent := 0, 0 // messages before acked are acknowledged; before sent, published
	prefix := inbox + "."
	publish := func(i int) error {
		m := msg(i)
		m.Reply = prefix + strconv.Itoa(i)
		if i == len(subjects) {
			subjects = append(subjects, m.Subject)
		}
		if err := c.NC.PublishMsg(m); err != nil {
			return fmt.Errorf("bus: publishing %s: %w%s", what(i), err, StorageHint(err))
		}
		return nil
	}
	// Messages no stream answered (a stream being made, or moving) are
	// published again after a pause, as the JetStream client does.
	var (
		retried []uint8
		again   []int
		retry   *time.Timer
		retryC  <-chan time.Time
	)
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	unstored := func(err error) error { return c.notStored(what(acked), subjects[acked], err) }
	receive := func() error {
		select {
		case m := <-ch:
			i, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
			if err != nil || i < 0 || i >= sent || done[i] {
				return nil // not an acknowledgement of this call's
			}
			if noResponders(m) {
				if retried == nil {
					retried = make([]uint8, n)
				}
				if retried[i] == pubRetries {
					err := jetstream.ErrNoStreamResponse
					return fmt.Errorf("bus: %s not stored: %w%s", what(i), err, StorageHint(err))
				}
				retried[i]++
				if again = append(again, i); retry == nil {
					retry = time.NewTimer(pubRetryWait)
					retryC = retry.C
				}
				quiet.Reset(ackWait)
				return nil
			}
			if err := ackError(m); err != nil {
				return fmt.Errorf("bus: %s not stored: %w%s", what(i), err, StorageHint(err))
			}
			done[i] = true
			for acked < sent && done[acked] {
				acked++
			}
			quiet.Reset(ackWait)
			return nil
		case <-retryC:
			retry, retryC = nil, nil
			for _, i := range again {
				if err := publish(i); err != nil {
					return err
				}
			}
			again = again[:0]
			return nil
		case <-quiet.C:
			return unstored(jetstream.ErrAsyncPublishTimeout)
		case <-ctx.Done():
			return unstored(ctx.Err())
		}
	}
	for sent < n {
		if sent-acked >= window {
			if err := receive(); err != nil {
				return acked, err
			}
			continue
		}
		if err := publish(sent); err != nil {
			return acked, err
		}
		sent++
	}
	for acked < n {
		if err := receive(); err != nil {
			return acked, err
		}
	}
	return acked, nil
}

// pubRetries is how many times a message no stream answered is published
// again, pubRetryWait apart (the JetStream client's defaults).
const (
	pubRetries   = jetstream.DefaultPubRetryAttempts
	pubRetryWait = jetstream.DefaultPubRetryWait
)

// noResponders says the server found no stream to take the message.
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// ackError is the error a JetStream publish acknowledgement carries, if
// any: no stream listening, or the stream's refusal.
func ackError(m *nats.Msg) error {
	if noResponders(m) {
		return nats.ErrNoResponders
	}
	if bytes.HasPrefix(m.Data, []byte(`{"stream":`)) && !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil
	}
	var r struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return fmt.Errorf("unreadable acknowledgement %q: %w", m.Data, err)
	}
	if r.Error != nil {
		return r.Error
	}
	if r.Stream == "" {
		return jetstream.ErrInvalidJSAck
	}
	return nil
}

// answerWait is where a durable publish hears the stream: a channel fed by
// a subscription to an inbox of the publish's own (every subject under
// it), and a timer of the connection's AckWait.
type answerWait struct {
	inbox string
	ch    chan *nats.Msg
	sub   *nats.Subscription
	quiet *time.Timer
	wait  time.Duration
}

// awaitAnswers subscribes a channel of room answers to a new inbox and
// starts the AckWait timer; stop ends both.
func (c *Conn) awaitAnswers(room int) (*answerWait, error) {
	a := &answerWait{inbox: c.NC.NewInbox(), ch: make(chan *nats.Msg, room), wait: c.ackWait}
	sub, err := c.NC.ChanSubscribe(a.inbox+".>", a.ch)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribing to acknowledgements: %w", err)
	}
	a.sub = sub
	if a.wait <= 0 {
		a.wait = DefaultAckWait
	}
	a.quiet = time.NewTimer(a.wait)
	return a, nil
}

func (a *answerWait) stop() {
	_ = a.sub.Unsubscribe()
	a.quiet.Stop()
}

// notStored is the error of a durable publish whose message what, on
// subject, was not stored because of err: the bus's refusal of this
// identity on that subject, when it refused one, says why better.
func (c *Conn) notStored(what, subject string, err error) error {
	if denied := c.denied.of(subject); denied != nil {
		return fmt.Errorf("bus: %s not stored: the bus refused this identity publishing on %s (%v): %w", what, subject, denied, ErrRefused)
	}
	return fmt.Errorf("bus: %s not stored: %w%s", what, err, StorageHint(err))
}
