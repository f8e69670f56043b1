package deliver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

const benchBatch = 512 // the batch Run hands to send

// spooledBatch is batch i of compact records as a host sensor spools them,
// with ids of their own so that the bus stores every one.
func spooledBatch(i int) [][]byte {
	ids := event.NewSeededIDs(uint64(i) + 1)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	recs := make([][]byte, benchBatch)
	for j := range recs {
		tm := t0.Add(time.Duration(j) * time.Microsecond)
		ev := event.Event{ID: ids.NewID(tm), Time: tm, Type: "PROC.SPAWN", Host: fmt.Sprintf("web-%d", j%4), IP: "10.0.0.3", Source: "agent",
			Attrs: map[string]any{"pid": int64(1000 + j), "name": "sshd", "exe": "/usr/sbin/sshd", "args": []string{"-D", "-e"}, "cpu": 0.25, "uid": int64(0), "new": true}}
		recs[j] = ev.AppendCompact(nil)
	}
	return recs
}

// decodeAndPublish is the previous path: decode every record, then let
// PublishEvents encode it again.
func decodeAndPublish(ctx context.Context, conn *bus.Conn, recs [][]byte) (int, error) {
	evs := make([]event.Event, 0, len(recs))
	for _, r := range recs {
		ev, err := event.DecodeCompact(r)
		if err != nil {
			return 0, err
		}
		evs = append(evs, ev)
	}
	return conn.PublishEvents(ctx, evs)
}

// BenchmarkPublishSpooled publishes batches of spooled records to an
// embedded bus both ways, in the same run: decoded and encoded again (the
// previous path), and as they are (PublishCompactEvents). One op is one
// batch of 512 observations, stored by JetStream.
func BenchmarkPublishSpooled(b *testing.B) {
	for _, c := range []struct {
		name    string
		publish func(*bus.Conn) func(context.Context, [][]byte) (int, error)
	}{
		{"decode-encode", func(conn *bus.Conn) func(context.Context, [][]byte) (int, error) {
			return func(ctx context.Context, recs [][]byte) (int, error) { return decodeAndPublish(ctx, conn, recs) }
		}},
		{"compact", func(conn *bus.Conn) func(context.Context, [][]byte) (int, error) { return conn.PublishCompactEvents }},
	} {
		b.Run(c.name, func(b *testing.B) {
			// A bus of its own, so that neither path meets the other's
			// stored messages.
			publish := c.publish(bustest.Connect(b, bustest.Start(b, bus.ServerOptions{}), "bench"))
			ctx := context.Background()
			batch := 0
			for range b.N {
				b.StopTimer()
				recs := spooledBatch(batch)
				batch++
				b.StartTimer()
				if n, err := publish(ctx, recs); err != nil || n != len(recs) {
					b.Fatalf("published %d of %d: %v", n, len(recs), err)
				}
			}
		})
	}
}

// BenchmarkPrepareSpooled measures only what each path does to a batch
// before the wire: decode and encode again, or read the id, host and IP.
func BenchmarkPrepareSpooled(b *testing.B) {
	recs := spooledBatch(0)
	b.Run("decode-encode", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			for _, r := range recs {
				ev, err := event.DecodeCompact(r)
				if err != nil {
					b.Fatal(err)
				}
				buf = ev.AppendCompact(buf[:0])
			}
		}
	})
	b.Run("compact", func(b *testing.B) {
		for b.Loop() {
			for _, r := range recs {
				if _, err := event.PeekCompact(r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
