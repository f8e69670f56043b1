package bus

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
)

// storedRecords reads the observations stream in order and returns each
// message's subject and id with the records it carries (one, or a pack's)
// and whether it was a pack.
func storedRecords(t *testing.T, c *Conn) (subjects, ids []string, recs [][][]byte, packed []bool) {
	t.Helper()
	ctx := context.Background()
	n := storedMsgs(t, c)
	cons, err := c.JS.OrderedConsumer(ctx, StreamObs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		m, err := cons.Next()
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, m.Subject())
		packed = append(packed, event.IsPacked(m.Data()))
		ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
		if !event.IsPacked(m.Data()) {
			recs = append(recs, [][]byte{m.Data()})
			continue
		}
		rs, err := event.SplitPacked(m.Data(), nil)
		if err != nil {
			t.Fatalf("message %s: %v", m.Subject(), err)
		}
		recs = append(recs, rs)
	}
	return subjects, ids, recs, packed
}

// withStreams is a connection to a server of its own, with Vigil's
// streams made.
func withStreams(t *testing.T) *Conn {
	t.Helper()
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	if err := c.EnsureStreams(context.Background(), StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// limitMsgSize makes the observations stream refuse messages over n bytes.
func limitMsgSize(t *testing.T, c *Conn, n int32) {
	t.Helper()
	ctx := context.Background()
	st, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = n
	if _, err := c.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestPublishPackedEvents stores a sensor's records several to a message,
// each message on its host's subject with the records of that host only,
// in order and byte for byte, at most packEvents a message; a record with
// no neighbour of its host goes alone, as PublishCompactEvents sends it;
// and the same publish again (a replay from the spool) stores nothing new.
func TestPublishPackedEvents(t *testing.T) {
	c := withStreams(t)
	ctx := context.Background()
	// 300 of web-1, one of web-two, 20 of web-1 again.
	evs := append(makeEvents(300, "web-1"), makeEvents(1, "web-two")...)
	evs = append(evs, makeEvents(320, "web-1")[300:]...)
	recs := compact(evs)
	for range 2 {
		if n, err := c.PublishPackedEvents(ctx, recs); err != nil || n != len(recs) {
			t.Fatalf("published %d of %d: %v", n, len(recs), err)
		}
	}
	subjects, ids, got, packed := storedRecords(t, c)
	wantSizes := []int{packEvents, packEvents, 300 - 2*packEvents, 1, 20}
	if len(got) != len(wantSizes) {
		t.Fatalf("%d messages stored, want %d", len(got), len(wantSizes))
	}
	next := 0
	for j, rs := range got {
		if len(rs) != wantSizes[j] {
			t.Errorf("message %d holds %d records, want %d", j, len(rs), wantSizes[j])
		}
		host := evs[next].Host
		if subjects[j] != ObsSubject(host) {
			t.Errorf("message %d on %s, want %s", j, subjects[j], ObsSubject(host))
		}
		wantID := evs[next].ID
		if len(rs) > 1 {
			wantID += "." + evs[next+len(rs)-1].ID
		}
		if ids[j] != wantID {
			t.Errorf("message %d has id %s, want %s", j, ids[j], wantID)
		}
		for _, r := range rs {
			if !bytes.Equal(r, recs[next]) {
				t.Fatalf("record %d is not the bytes published", next)
			}
			next++
		}
	}
	if next != len(recs) {
		t.Fatalf("%d records stored, want %d", next, len(recs))
	}
	if packed[3] || !packed[0] {
		t.Fatal("the lone record was packed, or a run was not")
	}
}

// TestPublishPackedEventsBoundsPackBytes starts a new message before a
// pack's records would pass packBytes.
func TestPublishPackedEventsBoundsPackBytes(t *testing.T) {
	c := withStreams(t)
	ctx := context.Background()
	evs := makeEvents(10, "web-1")
	for i := range evs {
		evs[i].Attrs["padding"] = strings.Repeat("x", packBytes/4)
	}
	if n, err := c.PublishPackedEvents(ctx, compact(evs)); err != nil || n != len(evs) {
		t.Fatalf("published %d of %d: %v", n, len(evs), err)
	}
	_, _, got, _ := storedRecords(t, c)
	total := 0
	for j, rs := range got {
		size := 0
		for _, r := range rs {
			size += len(r)
		}
		if size > packBytes {
			t.Errorf("message %d holds %d bytes of records, over %d", j, size, packBytes)
		}
		total += len(rs)
	}
	if total != len(evs) || len(got) < 3 {
		t.Fatalf("%d records in %d messages, want %d in at least 3", total, len(got), len(evs))
	}
}

// TestPublishPackedEventsEndsAtARefusedPack counts, when the stream
// refuses a pack (here, over its size limit), the records of the packs
// stored before it, names the refused pack's records, and stores none of
// it or after it.
func TestPublishPackedEventsEndsAtARefusedPack(t *testing.T) {
	c := withStreams(t)
	ctx := context.Background()
	limitMsgSize(t, c, 40000)
	// Two packs of small records, then one record over the limit
	// (alone: with its neighbours it would pass packBytes), then more.
	evs := makeEvents(2*packEvents+30, "web-1")
	evs[2*packEvents].Attrs["padding"] = strings.Repeat("x", 50000)
	n, err := c.PublishPackedEvents(ctx, compact(evs))
	if n != 2*packEvents || err == nil || !strings.Contains(err.Error(), evs[2*packEvents].ID) {
		t.Fatalf("published %d, err %v; want %d and an error naming %s", n, err, 2*packEvents, evs[2*packEvents].ID)
	}
	_, _, got, _ := storedRecords(t, c)
	if len(got) != 2 || len(got[0])+len(got[1]) != 2*packEvents {
		t.Fatalf("%d messages stored; want the two packs before the refused record", len(got))
	}
}
