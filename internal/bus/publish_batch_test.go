package bus

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
)

// compact is evs in compact form, as a sensor's spool holds them.
func compact(evs []event.Event) [][]byte {
	recs := make([][]byte, len(evs))
	for i := range evs {
		recs[i] = evs[i].AppendCompact(nil)
	}
	return recs
}

// answers counts what the server sends to reply subjects (every inbox)
// while the test runs.
func answers(t *testing.T, s *Server) *atomic.Int64 {
	t.Helper()
	spy := connect(t, ClientOptions{URL: s.ClientURL()})
	var n atomic.Int64
	sub, err := spy.NC.Subscribe("_INBOX.>", func(*nats.Msg) { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := spy.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

// storedMsgs is how many messages the observations stream holds.
func storedMsgs(t *testing.T, c *Conn) uint64 {
	t.Helper()
	st, err := c.JS.Stream(context.Background(), StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// TestPublishCompactEventsAsOneBatch stores a sensor's batch, longer than
// two flow periods, every observation a message of its own in order with
// its id, for a handful of answers instead of one per observation; the
// same batch again (a replay from the spool) stores nothing new.
func TestPublishCompactEventsAsOneBatch(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	heard := answers(t, s)
	evs := makeEvents(2*batchFlow+100, "web-1")
	recs := compact(evs)
	if n, err := c.PublishCompactEvents(ctx, recs); err != nil || n != len(recs) {
		t.Fatalf("published %d of %d: %v", n, len(recs), err)
	}
	if got := heard.Load(); got > 8 {
		t.Errorf("%d answers for one batch of %d", got, len(recs))
	} else {
		t.Logf("%d answers for one batch of %d", got, len(recs))
	}
	if n, err := c.PublishCompactEvents(ctx, recs); err != nil || n != len(recs) {
		t.Fatalf("published %d of %d again: %v", n, len(recs), err)
	}
	if got := storedMsgs(t, c); got != uint64(len(evs)) {
		t.Fatalf("%d messages stored, want %d", got, len(evs))
	}
	cons, err := c.JS.OrderedConsumer(ctx, StreamObs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		m, err := cons.Next()
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != evs[i].ID || string(m.Data()) != string(recs[i]) {
			t.Fatalf("message %d is %s, want %s and its bytes", i, id, evs[i].ID)
		}
	}
}

// TestPublishBatchEndsAtARefusedMessage stores what comes before a message
// the stream refuses (here, one over its size limit), nothing after it,
// and says which it was.
func TestPublishBatchEndsAtARefusedMessage(t *testing.T) {
	c := withStreams(t)
	ctx := context.Background()
	limitMsgSize(t, c, 2000)
	evs := makeEvents(40, "web-1")
	evs[25].Attrs["padding"] = strings.Repeat("x", 3000)
	n, err := c.PublishCompactEvents(ctx, compact(evs))
	if n != 25 || err == nil || !strings.Contains(err.Error(), evs[25].ID) {
		t.Fatalf("published %d, err %v; want 25 and an error naming %s", n, err, evs[25].ID)
	}
	if got := storedMsgs(t, c); got != 25 {
		t.Fatalf("%d messages stored, want the 25 before the refused one", got)
	}
	// The rest, published again without it, follows.
	if n, err := c.PublishCompactEvents(ctx, compact(evs[26:])); err != nil || n != len(evs)-26 {
		t.Fatalf("published %d of %d: %v", n, len(evs)-26, err)
	}
	if got := storedMsgs(t, c); got != uint64(len(evs)-1) {
		t.Fatalf("%d messages stored, want %d", got, len(evs)-1)
	}
	// The last message refused: no next one ends the batch, the
	// publisher's ping does, well before the acknowledgement wait.
	last := makeEvents(10, "web-two") // ids of their own
	last[9].Attrs["padding"] = strings.Repeat("x", 3000)
	start := time.Now()
	n, err = c.PublishCompactEvents(ctx, compact(last))
	if n != 9 || err == nil || !strings.Contains(err.Error(), last[9].ID) {
		t.Fatalf("published %d, err %v; want 9 and an error naming %s", n, err, last[9].ID)
	}
	if took := time.Since(start); took >= DefaultAckWait {
		t.Fatalf("took %v: the batch was left open", took)
	}
	if got := storedMsgs(t, c); got != uint64(len(evs)-1+9) {
		t.Fatalf("%d messages stored, want %d", got, len(evs)-1+9)
	}
}

// TestPublishBatchToAnOlderStream publishes message by message to a stream
// made without batches (by an earlier version), storing everything, and
// EnsureStreams then lets that stream take batches.
func TestPublishBatchToAnOlderStream(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	ctx := context.Background()
	if _, err := c.JS.CreateStream(ctx, jetstream.StreamConfig{Name: StreamObs, Subjects: []string{PrefixObs + ">"}, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(30, "web-1")
	if n, err := c.PublishCompactEvents(ctx, compact(evs)); err != nil || n != len(evs) {
		t.Fatalf("published %d of %d: %v", n, len(evs), err)
	}
	if c.batchesOffUntil.Load() == 0 {
		t.Error("a stream that refused a batch is tried again at the next publish")
	}
	if got := storedMsgs(t, c); got != uint64(len(evs)) {
		t.Fatalf("%d messages stored, want %d", got, len(evs))
	}
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	st, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if !st.CachedInfo().Config.AllowBatchPublish {
		t.Fatal("EnsureStreams left the observations stream without batches")
	}
	// A connection made now publishes in one batch.
	heard := answers(t, s)
	c2 := connect(t, ClientOptions{URL: s.ClientURL()})
	more := makeEvents(200, "web-two") // ids of their own
	if n, err := c2.PublishCompactEvents(ctx, compact(more)); err != nil || n != len(more) {
		t.Fatalf("published %d of %d: %v", n, len(more), err)
	}
	if got := heard.Load(); got > 4 {
		t.Errorf("%d answers for one batch of %d", got, len(more))
	}
	if got := storedMsgs(t, c); got != uint64(len(evs)+len(more)) {
		t.Fatalf("%d messages stored, want %d", got, len(evs)+len(more))
	}
}

// TestPublishBatchWithoutAStream falls back to publishing message by
// message, which says no stream answered, and keeps batches on for when
// the stream exists.
func TestPublishBatchWithoutAStream(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	n, err := c.PublishCompactEvents(context.Background(), compact(makeEvents(5, "web-1")))
	if n != 0 || !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("published %d, err %v; want 0 and no stream response", n, err)
	}
	if c.batchesOffUntil.Load() != 0 {
		t.Error("no stream yet turned batches off")
	}
}
