//go:build linux

package timerslack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func set(d time.Duration) (int, error) {
	if d <= 0 {
		return 0, fmt.Errorf("timer slack: %v is not above 0", d)
	}
	val := []byte(strconv.FormatInt(d.Nanoseconds(), 10))
	seen := map[string]bool{}
	n := 0
	var errs []error
	// A thread started while the list was read, by a thread not yet set,
	// shows in the next pass.
	for pass := 0; pass < 4; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return n, fmt.Errorf("timer slack: listing this process's threads: %w", err)
		}
		found := false
		for _, t := range tasks {
			tid := t.Name()
			if seen[tid] {
				continue
			}
			found, seen[tid] = true, true
			// /proc/TID is the thread itself (/proc/self/task/TID has no
			// timerslack_ns).
			switch err := os.WriteFile("/proc/"+tid+"/timerslack_ns", val, 0); {
			case err == nil:
				n++
			case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ESRCH): // the thread ended
			default:
				errs = append(errs, fmt.Errorf("thread %s: %w", tid, err))
			}
		}
		if !found {
			break
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("timer slack: %d threads not set: %w", len(errs), errors.Join(errs...))
	}
	return n, nil
}

func get() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("timer slack: %w", err)
	}
	return time.Duration(ns), nil
}

func startWith(cmd *exec.Cmd, d time.Duration) error {
	if d <= 0 {
		return cmd.Start()
	}
	// The child is forked from this goroutine's thread, and takes its
	// slack.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := get()
	if err != nil {
		return cmd.Start()
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d.Nanoseconds()), 0, 0, 0); err != nil {
		return cmd.Start()
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(prev.Nanoseconds()), 0, 0, 0)
	return cmd.Start()
}
