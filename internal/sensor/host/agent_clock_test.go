package host

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// timesSink keeps the times of the observations it gets.
type timesSink struct {
	mu    sync.Mutex
	times []time.Time
}

func (s *timesSink) Write(evs []event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.times = append(s.times, ev.Time)
	}
	return nil
}

func (s *timesSink) get() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// TestAgentRunTicksOnClock runs an agent whose every sample after the
// first reports (a memory threshold below any change, up or down) on a manual clock:
// it samples when the clock moves by its interval, and not otherwise,
// however much wall time passes.
func TestAgentRunTicksOnClock(t *testing.T) {
	// A fixed /proc: every sample reads the same, none fails.
	root := filepath.Join(t.TempDir(), "proc")
	writeTree(t, root, base())
	ex, err := NewExtractor(root, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	const interval = 20 * time.Millisecond
	clk := clock.NewManual(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := &timesSink{}
	a := NewAgent(AgentOptions{Extractor: ex, Interval: interval, HostID: "h", Sink: sink, Clock: clk, Logger: testutil.Quiet(),
		Eval: EvalConfig{Window: 2, Thresholds: map[string]Threshold{event.TypeSysMem: {Abs: -1e9, Rel: -1e9}}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The first sample reports nothing; move the clock until one does
	// (the agent may not have made its ticker when the clock first moves).
	testutil.WaitFor(t, 10*time.Second, "a sample on the clock's tick", func() bool {
		if len(sink.get()) > 0 {
			return true
		}
		clk.Advance(interval)
		time.Sleep(interval / 4)
		return false
	})
	for range 3 {
		time.Sleep(10 * interval) // a tick still queued from the moves above is taken
		n := len(sink.get())
		time.Sleep(10 * interval) // wall time passes, the clock does not
		if got := len(sink.get()); got != n {
			t.Fatalf("%d samples while the clock stood still", got-n)
		}
		clk.Advance(interval)
		testutil.WaitFor(t, 10*time.Second, "the sample of the next tick", func() bool { return len(sink.get()) == n+1 })
		if last := sink.get()[n]; !last.Equal(clk.Now()) {
			t.Errorf("sample at %v, the clock reads %v", last, clk.Now())
		}
	}
}
