package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// A sample stuck on a read of /proc (here a stat file that is a FIFO no
// one writes) is logged once, with the file it waits on, after
// StuckAfter on the agent's clock; when the read ends the agent logs how
// long the sample took and goes on to its end.
func TestStuckSampleIsLoggedWithWhereItIs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	writeTree(t, root, base())
	stat := filepath.Join(root, "stat")
	content, err := os.ReadFile(stat)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(stat); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(stat, 0o600); err != nil {
		t.Skipf("skipped: no FIFO here: %v", err)
	}
	ex, err := NewExtractor(root, testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	log, logs := testutil.BufferLogger()
	a := NewAgent(AgentOptions{Extractor: ex, Interval: time.Second, HostID: "h", Clock: clk, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	const stuck = "a sample is stuck"
	moved := time.Duration(0)
	testutil.WaitFor(t, 10*time.Second, "the stuck sample logged", func() bool {
		if strings.Contains(logs.String(), stuck) {
			return true
		}
		clk.Advance(time.Second)
		moved += time.Second
		time.Sleep(5 * time.Millisecond)
		return false
	})
	if moved < a.StuckAfter() {
		t.Errorf("logged stuck after the clock moved %v, before StuckAfter (%v)", moved, a.StuckAfter())
	}
	if want := `in="reading ` + root + ` stat"`; !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say where (%s):\n%s", want, logs.String())
	}
	for range 20 {
		clk.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), stuck); n != 1 {
		t.Errorf("the stuck sample logged %d times, want once:\n%s", n, logs.String())
	}

	// The read ends: the sample ends, and Run with its context. The FIFO
	// is written for every reader until Run has ended.
	cancel()
	ended, served := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(served)
		for {
			select {
			case <-ended:
				return
			default:
			}
			w, err := os.OpenFile(stat, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil { // no reader yet
				time.Sleep(5 * time.Millisecond)
				continue
			}
			_, _ = w.Write(content)
			w.Close()
		}
	}()
	defer func() { close(ended); <-served }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context once the read ended")
	}
	if !strings.Contains(logs.String(), "a sample took long") {
		t.Errorf("the end of the long sample is not logged:\n%s", logs.String())
	}
}
