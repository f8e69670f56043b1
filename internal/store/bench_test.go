package store

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// hostEvents returns n realistic host events (without ids or times): the
// types of Table 1, 200 hosts, six attributes each.
func hostEvents(n int) []event.Event {
	types := event.HostTypes()
	procs := []string{"httpd", "sshd", "postgres", "cron", "java", "nginx", "sftp-server", "bash"}
	evs := make([]event.Event, n)
	for i := range evs {
		h := i % 200
		typ := types[i%len(types)]
		attrs := map[string]any{
			"value":    float64(i%1000) / 10,
			"slope":    float64(i%37) * 0.25,
			"window_s": int64(60),
			"samples":  int64(12 + i%5),
		}
		if event.IsProcessLevel(typ) {
			attrs["process"] = procs[i%len(procs)]
			attrs["pid"] = int64(1000 + i%30000)
		} else {
			attrs["metric"] = typ
			attrs["rising"] = i%2 == 0
		}
		evs[i] = event.Event{
			Type:   typ,
			Host:   fmt.Sprintf("host-%03d", h),
			IP:     fmt.Sprintf("10.0.%d.%d", h/250, h%250+1),
			Source: "agent",
			Attrs:  attrs,
		}
	}
	return evs
}

// BenchmarkWriteEvents measures the batched write path: one producer
// enqueues unique host events as fast as the queue takes them; the clock
// stops when all of them are committed. It runs with smaller batches and
// with the default.
func BenchmarkWriteEvents(b *testing.B) {
	for _, batch := range []int{4096, DefaultBatchSize} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchmarkWriteEvents(b, Options{BatchSize: batch})
		})
	}
}

func benchmarkWriteEvents(b *testing.B, opts Options) {
	ctx := context.Background()
	opts.Path = filepath.Join(b.TempDir(), "bench.db")
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := Open(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	templates := hostEvents(4096)
	ids := event.NewRandomIDs()
	t0 := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ev := templates[i%len(templates)]
		ev.Time = t0.Add(time.Duration(i) * 10 * time.Microsecond)
		ev.ID = ids.NewID(ev.Time)
		if err := s.Enqueue(ctx, Item{Event: &ev}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if st := s.Stats(); st.EventsWritten != uint64(b.N) {
		b.Fatalf("wrote %d events, want %d", st.EventsWritten, b.N)
	}
}
