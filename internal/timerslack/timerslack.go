// Package timerslack sets the kernel's timer slack of this process's
// threads: how late the kernel may end each of their sleeps and timed
// waits, so that it can end several with one wakeup.
//
// A Go process that is busy in bursts pays for its runtime's monitor
// thread, which sleeps 20 µs at a time while any goroutine runs: with the
// kernel's default slack of 50 µs, that is a context switch about every
// 100 µs of work, dearest on virtual machines. A slack of a millisecond
// lets those sleeps last up to a millisecond, and delays any timer of the
// process by at most as much.
package timerslack

import (
	"errors"
	"os/exec"
	"time"
)

// ErrUnsupported says this system has no per-thread timer slack.
var ErrUnsupported = errors.New("timer slack: not supported on this system")

// Set sets the timer slack of every thread of this process to d (threads
// started later inherit it from the thread that starts them), and
// returns how many threads it set. Setting another thread's slack needs
// CAP_SYS_NICE: without it, the error names the threads refused, and the
// threads set stay set.
func Set(d time.Duration) (int, error) { return set(d) }

// Get returns the calling thread's timer slack.
func Get() (time.Duration, error) { return get() }

// StartWith starts cmd from a thread whose timer slack is d for the
// moment, so that the process starts with slack d (and its threads with
// it) whatever this process's is. A d of 0 or less, or a system without
// timer slack, starts cmd as cmd.Start does.
func StartWith(cmd *exec.Cmd, d time.Duration) error { return startWith(cmd, d) }
