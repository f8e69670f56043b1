//go:build linux && amd64

package hostevents

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// openBare opens the event programs for a test that reads them itself.
func openBare(t *testing.T) *Sensor {
	t.Helper()
	s, err := Open(Options{Host: "test-host", Events: config.DefaultAgentEvents(), Spawn: true})
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
	s := openBare(t)
	// Other processes' records may come first, and clear the request
	// before it is looked at.
	deadline := time.Now().Add(10 * time.Second)
	for !s.idle || wakeNext(t, s) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("in 10 s the reader never asked to be woken (idle %v, wake_next %d)", s.idle, wakeNext(t, s))
		}
		if _, err := s.Next(3 * pollEvery); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if v := wakeNext(t, s); v != 0 {
		t.Fatalf("after a record: wake_next %d, want 0 (the kernel clears it as it wakes the reader)", v)
	}
	for time.Now().Before(deadline) {
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
	go func() { done <- s.Run(ctx, func([]event.Event) error { return nil }) }()
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
