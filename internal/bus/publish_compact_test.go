package bus

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestPublishCompactEvents publishes events in compact form and finds the
// very bytes on the subjects PublishEvents uses, with the same message ids:
// publishing the decoded events afterwards stores nothing new.
func TestPublishCompactEvents(t *testing.T) {
	c := withStreams(t)
	ctx := context.Background()
	evs := makeEvents(10, "web-1")
	for i := range evs {
		if i%3 == 0 {
			evs[i].Host = "" // routed by the IP
		}
	}
	recs := make([][]byte, len(evs))
	for i := range evs {
		recs[i] = evs[i].AppendCompact(nil)
	}
	if n, err := c.PublishCompactEvents(ctx, recs); err != nil || n != len(recs) {
		t.Fatalf("published %d of %d: %v", n, len(recs), err)
	}
	if n, err := c.PublishEvents(ctx, evs); err != nil || n != len(evs) {
		t.Fatalf("published %d of %d again: %v", n, len(evs), err)
	}
	st, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != uint64(len(evs)) {
		t.Fatalf("%d messages stored, want %d: the two paths gave different ids", got, len(evs))
	}
	cons, err := c.JS.OrderedConsumer(ctx, StreamObs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		m, err := cons.Next()
		if err != nil {
			t.Fatal(err)
		}
		host := ev.Host
		if host == "" {
			host = ev.IP
		}
		if m.Subject() != ObsSubject(host) || m.Headers().Get(jetstream.MsgIDHeader) != ev.ID || !bytes.Equal(m.Data(), recs[i]) {
			t.Errorf("message %d: subject %s id %s, %d bytes; want %s %s and the %d bytes published",
				i, m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), len(m.Data()), ObsSubject(host), ev.ID, len(recs[i]))
		}
	}
}

// TestPublishCompactEventsBad refuses a batch with an unreadable record
// before publishing any of it, naming the record.
func TestPublishCompactEventsBad(t *testing.T) {
	c := withStreams(t)
	ctx := context.Background()
	evs := makeEvents(3, "web-1")
	recs := [][]byte{evs[0].AppendCompact(nil), []byte(`{"id":"x"}`), evs[2].AppendCompact(nil)}
	n, err := c.PublishCompactEvents(ctx, recs)
	if n != 0 || err == nil || !strings.Contains(err.Error(), "compact event 2 of 3") {
		t.Fatalf("published %d: %v", n, err)
	}
	st, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 0 {
		t.Fatalf("%d messages stored from a refused batch", got)
	}
}
