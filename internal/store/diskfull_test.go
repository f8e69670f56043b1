package store

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestWriteFailureDiskFull: on a filesystem that fills up, commits fail
// with the reason in Stats (WriteErrors counted, WriteFailing set), what
// is queued is kept and nothing is acknowledged; once space is freed the
// writer's retries commit all of it, in order, without reopening.
func TestWriteFailureDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := osexec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := osexec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	s := openTest(t, Options{Path: filepath.Join(dir, "vigil.db"), BatchSize: 50})
	ctx := t.Context()

	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	var l doneLog
	const n = 300
	pad := strings.Repeat("x", 500)
	for i := range n {
		ev := mkEvent(fmt.Sprintf("e%03d", i), t0.Add(time.Duration(i)), event.TypeSysCPU, "h", "")
		ev.Attrs = map[string]any{"pad": pad}
		if err := s.Enqueue(ctx, Item{Event: &ev, Done: l.done(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "a commit failing for lack of space", func() bool { return s.Stats().WriteFailing != "" })
	st := s.Stats()
	if !strings.Contains(st.WriteFailing, "full") || st.WriteErrors == 0 {
		t.Errorf("while the disk is full: WriteFailing %q, WriteErrors %d", st.WriteFailing, st.WriteErrors)
	}
	entries, _ := l.snapshot()
	if int(st.EventsWritten) != len(entries) || st.Queued != n-len(entries) {
		t.Errorf("while full: %d written, %d acknowledged, %d queued of %d", st.EventsWritten, len(entries), st.Queued, n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, "every item committed after space was freed", func() bool { return s.Stats().Queued == 0 })
	st = s.Stats()
	entries, calls := l.snapshot()
	if st.WriteFailing != "" || st.EventsWritten != n || len(entries) != n {
		t.Errorf("after space returned: WriteFailing %q, %d written, %d acknowledged of %d", st.WriteFailing, st.EventsWritten, len(entries), n)
	}
	for i := range n {
		if calls[i] != 1 || entries[i] != fmt.Sprint(i) {
			t.Fatalf("acknowledgement %d: called %d times, order %v", i, calls[i], entries[:min(i+1, len(entries))])
		}
	}
	t.Logf("disk full: %d failed commits, then all %d events committed once space returned", st.WriteErrors, n)
}
