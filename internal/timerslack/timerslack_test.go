//go:build linux

package timerslack

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slackOf reads a thread's timer slack from /proc (false: the thread
// ended).
func slackOf(t *testing.T, tid string) (time.Duration, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + tid + "/timerslack_ns")
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns), true
}

// Set sets the slack of every thread of the process, and the threads
// started after it inherit it.
func TestSetCoversEveryThreadAndTheirChildren(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: setting other threads' timer slack needs CAP_SYS_NICE")
	}
	before, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	const want = 3 * time.Millisecond
	n, err := Set(want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = Set(before) })
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("set %d threads, %d running", n, len(tasks))
	}
	old := map[string]bool{}
	for _, tk := range tasks {
		old[tk.Name()] = true
		if got, ok := slackOf(t, tk.Name()); ok && got != want {
			t.Errorf("thread %s: slack %v, want %v", tk.Name(), got, want)
		}
	}
	// More goroutines locked to threads than there are threads make the
	// runtime start new ones.
	locked := len(tasks) + 4
	got := make(chan time.Duration, locked)
	release := make(chan struct{})
	for range locked {
		go func() {
			runtime.LockOSThread()
			d, err := Get()
			if err != nil {
				d = -1
			}
			got <- d
			<-release // holds the thread, so the next goroutine needs another
		}()
	}
	for range locked {
		if d := <-got; d != want {
			t.Errorf("a thread locked after Set has slack %v, want %v", d, want)
		}
	}
	after, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	defer close(release) // the locked goroutines end, and their threads
	started := 0
	for _, tk := range after {
		if old[tk.Name()] {
			continue
		}
		if got, ok := slackOf(t, tk.Name()); ok {
			started++
			if got != want {
				t.Errorf("thread %s, started after Set: slack %v, want %v", tk.Name(), got, want)
			}
		}
	}
	if started == 0 {
		t.Fatalf("%d threads before, %d with %d locked: no thread started", len(tasks), len(after), locked)
	}
}

// A slack of zero or less is refused: the kernel would take it as "the
// thread's default".
func TestSetRefusesNoSlack(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Millisecond} {
		if _, err := Set(d); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("Set(%v): %v, want a refusal", d, err)
		}
	}
}

// A process started with StartWith has the slack it was given, not this
// process's.
func TestStartWithGivesTheChildItsSlack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: setting other threads' timer slack needs CAP_SYS_NICE")
	}
	before, err := Get()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Set(4 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = Set(before) })
	for _, want := range []time.Duration{70 * time.Microsecond, 4 * time.Millisecond} {
		cmd := exec.Command("sleep", "5")
		if err := StartWith(cmd, want); err != nil {
			t.Fatal(err)
		}
		got, ok := slackOf(t, strconv.Itoa(cmd.Process.Pid))
		cmd.Process.Kill()
		cmd.Wait()
		if !ok || got != want {
			t.Errorf("child started with slack %v has %v", want, got)
		}
	}
	if got, _ := Get(); got != 4*time.Millisecond {
		t.Errorf("after StartWith this thread's slack is %v, want 4ms", got)
	}
}
