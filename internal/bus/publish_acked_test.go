package bus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestDurablePublishBeyondTheWindow publishes more events than may await
// acknowledgement at once and has every one stored, once, in order.
func TestDurablePublishBeyondTheWindow(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	ctx := context.Background()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	evs := makeEvents(publishWindow+300, "web-1")
	if n, err := c.PublishEvents(ctx, evs); err != nil || n != len(evs) {
		t.Fatalf("published %d of %d: %v", n, len(evs), err)
	}
	// The same again: acknowledged as duplicates, nothing new stored.
	if n, err := c.PublishEvents(ctx, evs[:10]); err != nil || n != 10 {
		t.Fatalf("published %d of 10 again: %v", n, err)
	}
	st, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != uint64(len(evs)) {
		t.Fatalf("%d messages stored, want %d", got, len(evs))
	}
	cons, err := c.JS.OrderedConsumer(ctx, StreamObs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range []int{0, 1, 2} {
		m, err := cons.Next()
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != evs[i].ID {
			t.Fatalf("message %d is %s, want %s", i, id, evs[i].ID)
		}
	}
}

// TestDurablePublishWithoutAStream tries each message three times, 250 ms
// apart, then says no stream answered, having stored nothing.
func TestDurablePublishWithoutAStream(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	start := time.Now()
	n, err := c.PublishEvents(context.Background(), makeEvents(3, "web-1"))
	if n != 0 || !errors.Is(err, jetstream.ErrNoStreamResponse) || !strings.Contains(err.Error(), "no stream answered") {
		t.Fatalf("published %d, err %v; want 0 and no stream response, with the hint", n, err)
	}
	if took := time.Since(start); took < 2*pubRetryWait {
		t.Fatalf("gave up after %v: not tried again %d times %v apart", took, pubRetries, pubRetryWait)
	}
}

// TestDurablePublishWhileTheStreamIsMade stores events published just
// before their stream exists: those no stream answered are tried again.
func TestDurablePublishWhileTheStreamIsMade(t *testing.T) {
	s := startServer(t, ServerOptions{})
	c := connect(t, ClientOptions{URL: s.ClientURL()})
	ctx := context.Background()
	evs := makeEvents(20, "web-1")
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	before := c.NC.Stats().OutMsgs
	go func() {
		n, err := c.PublishEvents(ctx, evs)
		res <- result{n, err}
	}()
	// The stream is made by requests on the same connection: the server
	// takes them after every event's first publish.
	testutil.WaitFor(t, 5*time.Second, "the events to be published once", func() bool {
		return c.NC.Stats().OutMsgs >= before+uint64(len(evs))
	})
	start := time.Now()
	if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the streams made in %v", time.Since(start))
	r := <-res
	if r.err != nil || r.n != len(evs) {
		t.Fatalf("published %d of %d: %v", r.n, len(evs), r.err)
	}
	st, err := c.JS.Stream(ctx, StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != uint64(len(evs)) {
		t.Fatalf("%d messages stored, want %d", got, len(evs))
	}
}

// TestDurablePublishHeardByNoStream gives up after AckWait when what
// listens on the subject never acknowledges, naming the first event not
// stored: events message by message, and a sensor's spooled observations
// as a batch.
func TestDurablePublishHeardByNoStream(t *testing.T) {
	for _, way := range []string{"events", "batch"} {
		t.Run(way, func(t *testing.T) {
			s := startServer(t, ServerOptions{})
			c := connect(t, ClientOptions{URL: s.ClientURL(), AckWait: 300 * time.Millisecond})
			sub, err := c.NC.SubscribeSync(ObsSubject("web-1"))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			evs := makeEvents(3, "web-1")
			publish := func(ctx context.Context) (int, error) { return c.PublishEvents(ctx, evs) }
			if way == "batch" {
				publish = func(ctx context.Context) (int, error) { return c.PublishCompactEvents(ctx, compact(evs)) }
			}
			start := time.Now()
			n, err := publish(context.Background())
			if n != 0 || !errors.Is(err, jetstream.ErrAsyncPublishTimeout) || !strings.Contains(err.Error(), evs[0].ID) {
				t.Fatalf("published %d, err %v; want 0 and a timeout naming %s", n, err, evs[0].ID)
			}
			if waited := time.Since(start); waited > 5*time.Second {
				t.Fatalf("gave up after %v, AckWait is 300ms", waited)
			}
			// A context that ends first ends the wait with its error.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := publish(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want the context's deadline", err)
			}
		})
	}
}

// TestAckError reads an acknowledgement's outcome.
func TestAckError(t *testing.T) {
	noResp := nats.NewMsg("x")
	noResp.Header.Set("Status", "503")
	for _, tc := range []struct {
		name string
		m    *nats.Msg
		want string // "" for stored
	}{
		{"stored", &nats.Msg{Data: []byte(`{"stream":"OBS","seq":7}`)}, ""},
		{"duplicate", &nats.Msg{Data: []byte(`{"stream":"OBS","seq":7,"duplicate":true}`)}, ""},
		{"in a domain", &nats.Msg{Data: []byte(`{"stream":"OBS","domain":"d","seq":7}`)}, ""},
		{"refused", &nats.Msg{Data: []byte(`{"stream":"OBS","error":{"code":503,"err_code":10077,"description":"resource limits exceeded for account"}}`)}, "resource limits exceeded"},
		{"error first", &nats.Msg{Data: []byte(`{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}`)}, "expected stream does not match"},
		{"no responders", noResp, "no responders"},
		{"garbage", &nats.Msg{Data: []byte(`+OK`)}, "unreadable acknowledgement"},
		{"not an ack", &nats.Msg{Data: []byte(`{"seq":7}`)}, "invalid"},
	} {
		err := ackError(tc.m)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want stored", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	var apiErr *jetstream.APIError
	if err := ackError(&nats.Msg{Data: []byte(`{"error":{"code":500,"err_code":10047,"description":"insufficient resources"}}`)}); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10047 {
		t.Errorf("%v: want the stream's APIError with its code", err)
	}
}

// publishFutures is the previous durable publish, kept as the baseline of
// BenchmarkDurablePublish: the JetStream client's asynchronous publish,
// one future per message, waited on in order.
func (c *Conn) publishFutures(ctx context.Context, evs []event.Event) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for i := range evs {
		f, err := c.JS.PublishMsgAsync(eventMsg(ObsSubject(evs[i].Host), &evs[i]))
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return i, err
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(futures), nil
}

// BenchmarkDurablePublish publishes batches of events to an embedded bus
// in the same run: the previous way (the JetStream client's futures), this
// package's message by message (one inbox per call: PublishEvents, and a
// sensor's spooled observations with batches off) and as one fast batch
// (PublishCompactEvents), in batches of 3 (an agent's exec: PROC.EXEC,
// PROC.SPAWN, then PROC.EXIT), 40 (an agent's look at the ring buffer at a
// few hundred execs a second) and 512 (a backlog). One op is one batch
// stored; the server's work is in the time too.
func BenchmarkDurablePublish(b *testing.B) {
	for _, size := range []int{3, 40, 512} {
		for _, way := range []string{"futures", "inbox", "compact", "batch"} {
			b.Run(fmt.Sprintf("%s/batch=%d", way, size), func(b *testing.B) {
				s := startServer(b, ServerOptions{})
				c := connect(b, ClientOptions{URL: s.ClientURL()})
				ctx := context.Background()
				if err := c.EnsureStreams(ctx, StreamLimits{}); err != nil {
					b.Fatal(err)
				}
				publish := c.PublishEvents
				switch way {
				case "futures":
					publish = c.publishFutures
				case "compact", "batch":
					if way == "compact" {
						c.batchesOffUntil.Store(math.MaxInt64)
					}
					recs := make([][]byte, size)
					publish = func(ctx context.Context, evs []event.Event) (int, error) {
						for j := range evs {
							recs[j] = evs[j].AppendCompact(recs[j][:0])
						}
						return c.PublishCompactEvents(ctx, recs)
					}
				}
				ids := event.NewSeededIDs(1)
				t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
				evs := make([]event.Event, size)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					for j := range evs {
						tm := t0.Add(time.Duration(i*size+j) * time.Microsecond)
						evs[j] = event.Event{ID: ids.NewID(tm), Time: tm, Type: "PROC.EXEC", Host: "web-1", Source: "agent",
							Attrs: map[string]any{"pid": int64(1000 + j), "name": "sh", "exe": "/usr/bin/dash"}}
					}
					if n, err := publish(ctx, evs); err != nil || n != size {
						b.Fatalf("published %d of %d: %v", n, size, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			})
		}
	}
}
