//go:build linux && amd64

package hostevents

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// openBare opens the event programs for a test that reads them itself.
func openBare(t *testing.T) *Sensor {
	t.Helper()
	return openBareWith(t, config.DefaultAgentEvents())
}

// openBareWith is openBare with these events settings.
func openBareWith(t *testing.T, ev config.AgentEvents) *Sensor {
	t.Helper()
	s, err := Open(Options{Host: "test-host", Events: ev, Spawn: true})
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.wake == nil {
		t.Skip("skipped: the programs' settings cannot be written while they run here (Linux 5.5)")
	}
	return s
}

// openIdling is openBare with the shortest look at the ring buffer (1 ms),
// for the tests that need a look that finds nothing: on a machine busy
// with other processes (other test packages in CI, each exec and loopback
// connection a record) a quiet millisecond comes far sooner than a quiet
// default look. What they check does not depend on the look's period.
func openIdling(t *testing.T) *Sensor {
	t.Helper()
	ev := config.DefaultAgentEvents()
	ev.ReadEvery = time.Millisecond
	return openBareWith(t, ev)
}

// untilIdle reads until the reader is idle and still asks to be woken at
// the next record (other processes' records may wake it, and clear the
// request, before it is looked at), failing after 30 s.
func untilIdle(t *testing.T, s *Sensor) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !s.idle || wakeNext(t, s) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("in 30 s the reader never asked to be woken (idle %v, wake_next %d)", s.idle, wakeNext(t, s))
		}
		if _, err := s.Next(3 * s.o.Events.ReadEvery); err != nil {
			t.Fatal(err)
		}
	}
}

func wakeNext(t *testing.T, s *Sensor) uint32 {
	t.Helper()
	var v uint32
	if err := s.wake.Get(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A reader whose wait on its timer brought nothing asks the kernel to wake
// it at the next record; the next record (an exec) wakes it and clears the
// request, and the reader goes back to reading on its timer.
func TestIdleReaderIsWokenByTheNextRecord(t *testing.T) {
	s := openIdling(t)
	untilIdle(t, s)
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if v := wakeNext(t, s); v != 0 {
		t.Fatalf("after a record: wake_next %d, want 0 (the kernel clears it as it wakes the reader)", v)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		evs, err := s.Next(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == TypeExec && ev.Attrs["pid"] == int64(cmd.Process.Pid) {
				if s.idle {
					t.Error("a reader that just read records is idle")
				}
				return
			}
		}
	}
	t.Fatal("no PROC.EXEC of /bin/true")
}

// Run waits up to a second for records when there are none, but returns
// as soon as its context ends: the end flushes the reader.
func TestRunEndsWithItsContext(t *testing.T) {
	s := openBare(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func([][]byte) error { return nil }) }()
	time.Sleep(300 * time.Millisecond) // Run is waiting for records
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(600 * time.Millisecond):
		t.Fatal("Run still waiting 600 ms after its context ended")
	}
}

// execEvent runs /bin/true and reads with next until its PROC.EXEC,
// returning how long that took (failing after 10 s).
func execEvent(t *testing.T, s *Sensor, next func() ([]event.Event, error)) time.Duration {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	for time.Since(start) < 10*time.Second {
		evs, err := next()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == TypeExec && ev.Attrs["pid"] == int64(cmd.Process.Pid) {
				return time.Since(start)
			}
		}
	}
	t.Fatal("no PROC.EXEC of /bin/true in 10 s")
	return 0
}

// The reader waits for the ring buffer in Go's poller, not in a thread
// blocked in epoll_wait; an idle reader there is woken by the next record
// (well before the end of its 5 s wait), and Flush ends a wait at once.
func TestReaderWaitsInGoPoller(t *testing.T) {
	s := openIdling(t)
	if s.ring == nil {
		t.Fatal("the ring buffer is not in Go's poller")
	}
	untilIdle(t, s)
	if took := execEvent(t, s, func() ([]event.Event, error) { return s.Next(5 * time.Second) }); took > 2500*time.Millisecond {
		t.Errorf("an idle reader read the next exec after %v of a 5 s wait: not woken by the record", took)
	}
	flushEndsWait(t, s)
}

// Where the ring buffer cannot be put in Go's poller, the reader waits in
// its own epoll and reads the same records.
func TestReaderWithoutGoPollerReadsTheSame(t *testing.T) {
	s := openBare(t)
	if s.ring != nil {
		s.ring.Close()
		s.ring, s.ringConn = nil, nil
	}
	execEvent(t, s, func() ([]event.Event, error) { return s.Next(time.Second) })
	flushEndsWait(t, s)
}

// flushEndsWait checks that Flush ends a reader's wait of 5 s.
func flushEndsWait(t *testing.T, s *Sensor) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(5 * time.Second)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2500 * time.Millisecond):
		t.Fatal("a wait of 5 s still running 2.5 s after Flush")
	}
}

// What the kernel wrote before Run's context ended is read and emitted
// before Run returns, even while the reader was waiting on its timer: an
// exec made just before the stop, with read_every at a second, is in Run's
// last batches.
func TestRunEmitsWhatWaitsAtTheStop(t *testing.T) {
	ev := config.DefaultAgentEvents()
	ev.ReadEvery = time.Second
	s := openBareWith(t, ev)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		execs = map[int64]bool{}
	)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, decoded(func(evs []event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				if e.Type == TypeExec {
					execs[e.Attrs["pid"].(int64)] = true
				}
			}
			return nil
		}))
	}()
	seen := func(pid int) bool { mu.Lock(); defer mu.Unlock(); return execs[int64(pid)] }
	// A first exec wakes the reader, which then reads on its timer.
	first := exec.Command("/bin/true")
	if err := first.Run(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !seen(first.Process.Pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first exec was not emitted in 10 s")
		}
	}
	// The reader is done with the first exec's records, and waits on its
	// timer until well after the stop.
	time.Sleep(200 * time.Millisecond)
	last := exec.Command("/bin/true")
	if err := last.Run(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10 s after its context ended")
	}
	if !seen(last.Process.Pid) {
		t.Error("the exec made just before the stop was not emitted")
	}
}
