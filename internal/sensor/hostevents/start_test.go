//go:build linux && amd64

package hostevents

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// statStart is field 22 of a /proc/PID/stat line: the process's start in
// clock ticks since boot.
func statStart(t *testing.T, stat []byte) int64 {
	t.Helper()
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	n, err := strconv.ParseInt(f[22-3], 10, 64)
	if err != nil {
		t.Fatalf("stat %q: %v", stat, err)
	}
	return n
}

func procStart(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	return statStart(t, b)
}

// Every event of a process carries its start time exactly as
// /proc/PID/stat's field 22 says it: a program's PROC.EXEC, PROC.SPAWN and
// PROC.EXIT (from the kernel's exec and exit records), the events of a
// process that was running before the sensor opened (read from /proc), and
// those of a child that forked and never executed anything (from the
// kernel's fork record).
func TestStartIsProcStatField22(t *testing.T) {
	home := t.TempDir()
	w := openSensor(t, Options{Spawn: true, Events: homeEvents(home)})

	// A program of its own, running.
	prog := filepath.Join(t.TempDir(), "vigil-start")
	copyFile(t, "/bin/sleep", prog, 0o755)
	child := testutil.StartChild(t, prog, "30")
	want := int64(child.Start)
	for _, typ := range []string{TypeExec, event.TypeProcSpawn} {
		ev := w.await(t, typ, "of vigil-start", pidIs(child.PID))
		if ev.Attrs["start"] != want {
			t.Errorf("%s start %v, want %d (/proc/%d/stat): %s", typ, ev.Attrs["start"], want, child.PID, dump(ev))
		}
	}
	if err := syscall.Kill(child.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, ended := child.Ended(5 * time.Second); !ended {
		t.Fatal("the program did not end within 5 s of SIGKILL")
	}
	exit := w.await(t, TypeExit, "of vigil-start", pidIs(child.PID))
	if exit.Attrs["start"] != want {
		t.Errorf("PROC.EXIT start %v, want %d: %s", exit.Attrs["start"], want, dump(exit))
	}

	// This test's own process, seeded from /proc: its PROC.CONNECT.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	port := int64(l.Addr().(*net.TCPAddr).Port)
	con := w.await(t, TypeConnect, "to the listener", func(e event.Event) bool { return e.Attrs["dport"] == port })
	if self := procStart(t, os.Getpid()); con.Attrs["start"] != self {
		t.Errorf("PROC.CONNECT of this process: start %v, want %d: %s", con.Attrs["start"], self, dump(con))
	}

	// A subshell: forked by sh, never executed; it notes its own stat and
	// writes a watched file.
	stat := filepath.Join(t.TempDir(), "stat")
	pid := run(t, home, "sh", "-c", fmt.Sprintf("(read -r s < /proc/self/stat; echo \"$s\" > %s; echo x >> watched)", stat))
	b, err := os.ReadFile(stat)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := strconv.Atoi(strings.Fields(string(b))[0])
	if sub == pid {
		t.Fatalf("the subshell ran as the shell's own process %d", pid)
	}
	mod := w.await(t, TypeModify, "of the subshell", pidIs(sub))
	if got, want := mod.Attrs["start"], statStart(t, b); got != want {
		t.Errorf("FILE.MODIFY of a forked child: start %v, want %d: %s", got, want, dump(mod))
	}
}
