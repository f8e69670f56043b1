package deliver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestTrackedDrain writes records while the publisher holds back, and
// checks that Drain waits for exactly those records: not before the
// publisher lets them through, and no longer once it has.
func TestTrackedDrain(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var got []string
	publish := func(ctx context.Context, recs [][]byte) (int, error) {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		mu.Lock()
		for _, r := range recs {
			ev, err := event.DecodeCompact(r)
			if err != nil {
				return 0, err
			}
			got = append(got, ev.ID)
		}
		mu.Unlock()
		return len(recs), nil
	}
	d := openTrackedWith(t, publish, 50)
	if d.Written() != 50 {
		t.Fatalf("Written = %d, want 50", d.Written())
	}
	ctx, stop := context.WithCancel(context.Background())
	left := make(chan int64, 1)
	go func() { left <- d.RunDrained(ctx, 10*time.Second) }()
	stop() // the sensor has stopped: drain what it wrote

	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if n := d.Drain(short); n != 50 {
		t.Fatalf("Drain while the bus holds back left %d, want 50", n)
	}
	cancel()
	close(gate)
	select {
	case n := <-left:
		if n != 0 {
			t.Fatalf("RunDrained left %d records, want 0", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunDrained did not return once everything was delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 50 {
		t.Fatalf("published %d records, want 50", len(got))
	}
	if d.Left() != 0 {
		t.Fatalf("Left = %d after the drain", d.Left())
	}
}

// TestTrackedCountsARetriedBatchOnce has the bus store part of a batch and
// fail: the batch is offered again whole, and its records are counted as
// delivered once, when all of them were.
func TestTrackedCountsARetriedBatchOnce(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	publish := func(ctx context.Context, recs [][]byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 1 {
			return len(recs) / 2, fmt.Errorf("the bus went away")
		}
		return len(recs), nil
	}
	d := openTrackedWith(t, publish, 20)
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if left := d.RunDrained(ctx, 10*time.Second); left != 0 {
		t.Fatalf("RunDrained left %d", left)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 2 {
		t.Fatalf("published %d times, want the failed batch offered again", calls)
	}
	if d.Acknowledged() != 20 || d.Delivered() != 20 || d.Left() != 0 {
		t.Fatalf("acknowledged %d, delivered %d, left %d; want 20, 20, 0", d.Acknowledged(), d.Delivered(), d.Left())
	}
}

// openTrackedWith opens a tracked deliverer publishing with publish and
// has it write n observations.
func openTrackedWith(t *testing.T, publish Publisher, n int) *Tracked {
	t.Helper()
	d, err := OpenTracked(Options{Dir: t.TempDir(), Publish: publish, HostID: "h", Source: "test", Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]event.Event, 0, n)
	for i := range n {
		evs = append(evs, event.Event{ID: fmt.Sprintf("e%02d", i), Time: now, Type: "PROC.CPU", Host: "h", Source: "test"})
	}
	if err := d.Write(evs); err != nil {
		t.Fatal(err)
	}
	return d
}
