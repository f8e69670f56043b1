//go:build linux && amd64

package hostevents

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// Paths with a newline, bytes that are not UTF-8, and a path longer than
// PATH_MAX are reported as text, bounded, and marked when cut.
func TestHostilePaths(t *testing.T) {
	home := t.TempDir()
	w := openSensor(t, Options{Events: homeEvents(home)})
	nl := filepath.Join(home, "evil\nname")
	bad := filepath.Join(home, "bad\xff\xfename")
	cmd := helper("create", nl, bad)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	pid := cmd.Process.Pid
	w.await(t, TypeModify, "of the name with a newline", func(e event.Event) bool { return e.Attrs["path"] == nl && e.Attrs["pid"] == int64(pid) })
	w.await(t, TypeModify, "of the name with bad bytes, escaped", func(e event.Event) bool {
		return e.Attrs["path"] == filepath.Join(home, `bad\xff\xfename`) && e.Attrs["pid"] == int64(pid)
	})
	deep := helper("deep", home, "21") // 21 levels of 200 bytes: over 4,096
	if out, err := deep.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ev := w.await(t, TypeModify, "of the file deeper than PATH_MAX", func(e event.Event) bool { return e.Attrs["pid"] == int64(deep.Process.Pid) })
	p := ev.Attrs["path"].(string)
	if ev.Attrs["path_truncated"] != true || len(p) > 1024 || !strings.HasPrefix(p, home+"/ddd") {
		t.Errorf("path of %d bytes, truncated %v: want the first 1,023 bytes, marked", len(p), ev.Attrs["path_truncated"])
	}
}

// An argv of 100,000 arguments is cut to the configured bounds and said
// to be.
func TestHugeArgv(t *testing.T) {
	w := openSensor(t, Options{})
	args := make([]string, 100000)
	for i := range args {
		args[i] = "arg"
	}
	cmd := exec.Command("/bin/true", args...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev := w.await(t, TypeExec, "of true with 100,000 arguments", pidIs(cmd.Process.Pid))
	got := ev.Attrs["args"].([]string)
	if len(got) > config.DefaultEventsMaxArgs || ev.Attrs["args_truncated"] != true || ev.Attrs["args_bytes"].(int64) < 400000 {
		t.Errorf("%d args, truncated %v, args_bytes %v: want at most %d, true, the full size", len(got), ev.Attrs["args_truncated"], ev.Attrs["args_bytes"], config.DefaultEventsMaxArgs)
	}
}

// An exec storm (processes started as fast as the machine can for a
// second): every exec is reported or counted as dropped, and nothing
// breaks.
func TestExecStorm(t *testing.T) {
	w := openSensor(t, Options{})
	var started atomic.Int64
	pids := sync.Map{}
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				cmd := exec.Command("/bin/true")
				if cmd.Run() == nil {
					started.Add(1)
					pids.Store(int64(cmd.Process.Pid), true)
				}
			}
		}()
	}
	wg.Wait()
	n := started.Load()
	t.Logf("%d execs in a second", n)
	var seen int64
	testutil.WaitFor(t, 5*time.Second, "every exec reported or counted", func() bool {
		seen = 0
		w.mu.Lock()
		for _, e := range w.evs {
			if e.Type == TypeExec {
				if _, ok := pids.Load(e.Attrs["pid"]); ok {
					seen++
				}
			}
		}
		w.mu.Unlock()
		return seen+int64(w.s.Stats().Dropped) >= n
	})
	if st := w.s.Stats(); st.DecodeErrors != 0 {
		t.Errorf("%d records could not be read", st.DecodeErrors)
	}
}

// A ring buffer too small for what happens loses records: they are
// counted and reported as SENSOR.DROPPED.
func TestRingBufferOverrunIsReported(t *testing.T) {
	e := config.DefaultAgentEvents()
	e.RingBufferBytes = 4096
	s, err := Open(Options{Host: "test-host", Events: e})
	if err != nil {
		var ue *UnavailableError
		if errors.As(err, &ue) {
			t.Skipf("skipped: %v", err)
		}
		t.Fatal(err)
	}
	defer s.Close()
	// Nothing reads while 200 processes run: the buffer holds a few of
	// their records.
	for range 200 {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var dropped []event.Event
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, decoded(func(evs []event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range evs {
				if ev.Type == "SENSOR.DROPPED" {
					dropped = append(dropped, ev)
				}
			}
			return nil
		}))
	}()
	testutil.WaitFor(t, 3*time.Second, "a SENSOR.DROPPED observation", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(dropped) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	d := dropped[0]
	if n, _ := d.Attrs["dropped"].(int64); n < 100 || d.Attrs["what"] != "host events" || !strings.Contains(d.Attrs["reason"].(string), "ring_buffer_bytes") {
		t.Errorf("SENSOR.DROPPED %v: want most of 200 processes' records, the reason naming the setting", d.Attrs)
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
	if s.Stats().Dropped < 100 {
		t.Errorf("stats say %d dropped", s.Stats().Dropped)
	}
}
