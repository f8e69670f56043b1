package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child is a real process a test started: its pid, its start time in
// clock ticks since boot (field 22 of /proc/PID/stat) and its executable,
// the three that name a process to the effector.
type Child struct {
	PID   int
	Start uint64
	Exe   string
	cmd   *exec.Cmd
	ended chan struct{}
	state *os.ProcessState
}

// StartChild starts argv (a command that runs until signalled, such as
// "sleep 300"), killed and reaped when the test ends.
func StartChild(t testing.TB, argv ...string) *Child {
	t.Helper()
	return StartChildEnv(t, nil, argv...)
}

// StartChildEnv is StartChild with env added to the test's environment.
// A child that runs the test binary itself is named once it has started.
func StartChildEnv(t testing.TB, env []string, argv ...string) *Child {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q: %v", argv, err)
	}
	c := &Child{PID: cmd.Process.Pid, cmd: cmd, ended: make(chan struct{})}
	go func() {
		cmd.Wait()
		c.state = cmd.ProcessState
		close(c.ended)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.ended
	})
	dir := filepath.Join("/proc", strconv.Itoa(c.PID))
	WaitFor(t, 5*time.Second, "the child's executable in /proc", func() bool {
		exe, err := os.Readlink(filepath.Join(dir, "exe"))
		// Until exec, the child runs the test binary.
		if err != nil || (exe == selfExe() && argv[0] != os.Args[0]) {
			return false
		}
		c.Exe = exe
		return true
	})
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if c.Start, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		t.Fatal(err)
	}
	return c
}

func selfExe() string {
	exe, _ := os.Readlink("/proc/self/exe")
	return exe
}

// Ended waits up to d for the child to end and returns the signal that
// ended it (0 when it exited by itself), and whether it ended.
func (c *Child) Ended(d time.Duration) (syscall.Signal, bool) {
	select {
	case <-c.ended:
	case <-time.After(d):
		return 0, false
	}
	if ws, ok := c.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal(), true
	}
	return 0, true
}

// Alive says whether the child still runs (it has not ended, whatever
// its state: a stopped child is alive).
func (c *Child) Alive() bool {
	select {
	case <-c.ended:
		return false
	default:
		return true
	}
}

// State is the child's state letter (field 3 of /proc/PID/stat: R, S, T
// for stopped, ...), "" once it has ended.
func (c *Child) State() string {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.PID), "stat"))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return f[0]
}
