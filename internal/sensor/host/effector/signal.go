package effector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/effectmsg"
)

var signals = map[string]unix.Signal{
	"TERM": unix.SIGTERM,
	"KILL": unix.SIGKILL,
	"STOP": unix.SIGSTOP,
	"CONT": unix.SIGCONT,
}

// signal sends sig to the process p names, once every check holds.
//
// The process is opened as a pidfd first and its stat and executable read
// after: if the pid was reused before the open, the start time differs; if
// it is reused after, the pidfd still refers to the process checked, and
// the signal goes nowhere else.
func (e *Effector) signal(sig string, p effectmsg.Process) effectmsg.Reply {
	s, ok := signals[sig]
	if !ok {
		return refused("signal %q", sig)
	}
	if why, ok := e.protected[p.PID]; ok {
		return refused("pid %d is protected: %s", p.PID, why)
	}
	if bus := e.busServer(); bus > 0 && bus == p.PID {
		return refused("pid %d is protected: the bus server's process (listening on port %d)", p.PID, e.o.BusPort)
	}
	fd, err := unix.PidfdOpen(p.PID, 0)
	if errors.Is(err, unix.ESRCH) {
		return ended("no process with pid %d (it has ended)", p.PID)
	}
	if err != nil {
		return failed("opening pid %d: %v", p.PID, err)
	}
	defer unix.Close(fd)
	st, err := readStat(e.o.Proc, p.PID)
	if errors.Is(err, fs.ErrNotExist) {
		return ended("no process with pid %d (it has ended)", p.PID)
	}
	if err != nil {
		return failed("reading pid %d: %v", p.PID, err)
	}
	if st.Flags&pfKthread != 0 {
		return refused("pid %d is a kernel thread (%q)", p.PID, st.Comm)
	}
	if st.Start != p.Start {
		rep := refused("pid %d started at %d clock ticks after boot, not %d as asked: another process holds the pid now", p.PID, st.Start, p.Start)
		rep.Gone = true
		return rep
	}
	exe, err := os.Readlink(filepath.Join(e.o.Proc, strconv.Itoa(p.PID), "exe"))
	if err != nil {
		return refused("pid %d: executable unreadable (%v); the process cannot be named", p.PID, err)
	}
	if exe != p.Exe {
		return refused("pid %d runs %q, not %q as asked", p.PID, exe, p.Exe)
	}
	// A binary replaced since the process started (an upgrade) reads
	// "PATH (deleted)": it is still the same program, protected the same.
	file := strings.TrimSuffix(exe, " (deleted)")
	if e.names[filepath.Base(file)] {
		return refused("pid %d runs %q, whose name is protected", p.PID, exe)
	}
	if e.exes[file] {
		return refused("pid %d runs a protected executable %q", p.PID, exe)
	}
	if err := e.budget.take(effectmsg.ActionSignal, e.o.Clock.Now()); err != nil {
		return refused("%v", err)
	}
	if err := unix.PidfdSendSignal(fd, s, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ended("pid %d ended before the signal", p.PID)
		}
		return failed("sending %s to pid %d: %v", sig, p.PID, err)
	}
	return effectmsg.Reply{Status: effectmsg.StatusDone, Detail: fmt.Sprintf("sent %s to pid %d (%s, started at tick %d)", sig, p.PID, exe, p.Start)}
}

// ended is the reply for a process that has ended: failed, and gone.
func ended(format string, args ...any) effectmsg.Reply {
	rep := failed(format, args...)
	rep.Gone = true
	return rep
}
