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
// that hears no acknowledgement for the connection's AckWait gives up.
func (c *Conn) publishAcked(ctx context.Context, n int, msg func(i int) *nats.Msg, what func(i int) string) (int, error) {
	if n == 0 {
		return 0, nil
	}
	window := min(n, publishWindow)
	// The channel holds every acknowledgement that can be outstanding, so
	// the reader never finds it full (which would drop one).
	ch := make(chan *nats.Msg, window)
	inbox := c.NC.NewInbox()
	sub, err := c.NC.ChanSubscribe(inbox+".*", ch)
	if err != nil {
		return 0, fmt.Errorf("bus: subscribing to acknowledgements: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	ackWait := c.ackWait
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	quiet := time.NewTimer(ackWait)
	defer quiet.Stop()

	subjects := make([]string, 0, n)
	done := make([]bool, n)
	acked, sent := 0, 0 // messages before acked are acknowledged; before sent, published
	unstored := func(err error) error {
		if denied := c.denied.of(subjects[acked]); denied != nil {
			return fmt.Errorf("bus: %s not stored: the bus refused this identity publishing on %s (%v): %w", what(acked), subjects[acked], denied, ErrRefused)
		}
		return fmt.Errorf("bus: %s not stored: %w%s", what(acked), err, StorageHint(err))
	}
	receive := func() error {
		select {
		case m := <-ch:
			i, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
			if err != nil || i < 0 || i >= sent || done[i] {
				return nil // not an acknowledgement of this call's
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
		case <-quiet.C:
			return unstored(jetstream.ErrAsyncPublishTimeout)
		case <-ctx.Done():
			return unstored(ctx.Err())
		}
	}
	prefix := inbox + "."
	for sent < n {
		if sent-acked >= window {
			if err := receive(); err != nil {
				return acked, err
			}
			continue
		}
		m := msg(sent)
		m.Reply = prefix + strconv.Itoa(sent)
		subjects = append(subjects, m.Subject)
		if err := c.NC.PublishMsg(m); err != nil {
			return acked, fmt.Errorf("bus: publishing %s: %w%s", what(sent), err, StorageHint(err))
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

// ackError is the error a JetStream publish acknowledgement carries, if
// any: no stream listening, or the stream's refusal.
func ackError(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
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
