//go:build linux && amd64

package hostevents

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
)

// A process that lives about a millisecond is reported exactly: its exec
// with its name, its parent, its argv and its working directory (read in
// the kernel, so it is there however soon the process ends), and its exit
// with its code.
func TestExecOfShortLivedProcess(t *testing.T) {
	w := openSensor(t, Options{Spawn: true})
	dir := t.TempDir()
	prog := filepath.Join(dir, "blink-vigil")
	copyFile(t, "/bin/true", prog, 0o755)
	cmd := exec.Command(prog, "first arg", "--flag=x")
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	ev := w.await(t, TypeExec, "of blink-vigil", pidIs(pid))
	t.Log(dump(ev))
	if ev.Attrs["name"] != "blink-vigil" || ev.Attrs["exe"] != prog {
		t.Errorf("name %v exe %v, want blink-vigil %s", ev.Attrs["name"], ev.Attrs["exe"], prog)
	}
	if got, want := ev.Attrs["args"], []string{prog, "first arg", "--flag=x"}; !slices.Equal(got.([]string), want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if real, _ := filepath.EvalSymlinks(dir); ev.Attrs["cwd"] != real {
		t.Errorf("cwd %v, want %s", ev.Attrs["cwd"], real)
	}
	if ev.Attrs["ppid"] != int64(os.Getpid()) {
		t.Errorf("ppid %v, want the test's %d", ev.Attrs["ppid"], os.Getpid())
	}
	self := filepath.Base(os.Args[0])
	if len(self) > 15 {
		self = self[:15]
	}
	if ev.Attrs["parent_name"] != self {
		t.Errorf("parent_name %v, want %s", ev.Attrs["parent_name"], self)
	}
	if anc, _ := ev.Attrs["ancestors"].([]string); len(anc) < 2 || anc[0] != self {
		t.Errorf("ancestors %q: want the test first, then its parents", anc)
	}
	if ev.Attrs["stdin"] != "null" {
		t.Errorf("stdin %v, want null (exec.Cmd gives /dev/null)", ev.Attrs["stdin"])
	}
	spawn := w.await(t, event.TypeProcSpawn, "of blink-vigil", pidIs(pid))
	if spawn.Attrs["name"] != "blink-vigil" || spawn.Attrs["parent_name"] != self || spawn.Attrs["exe"] != prog {
		t.Errorf("PROC.SPAWN %v", spawn.Attrs)
	}
	exit := w.await(t, TypeExit, "of blink-vigil", pidIs(pid))
	if exit.Attrs["exit_code"] != int64(0) || exit.Attrs["name"] != "blink-vigil" || exit.Attrs["exe"] != prog {
		t.Errorf("PROC.EXIT %v", exit.Attrs)
	}
	if ms, _ := exit.Attrs["lifetime_ms"].(int64); ms < 0 || ms > 1000 {
		t.Errorf("lifetime_ms %v", exit.Attrs["lifetime_ms"])
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// A shell whose standard input is a socket (a reverse shell's shape) says
// so; one fed through a pipe says pipe.
func TestStdinOfAShell(t *testing.T) {
	w := openSensor(t, Options{})
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	sock, peer := os.NewFile(uintptr(fds[0]), "sock"), os.NewFile(uintptr(fds[1]), "peer")
	defer sock.Close()
	defer peer.Close()
	peer.Write([]byte("exit 0\n"))
	cmd := exec.Command("/bin/sh")
	cmd.Stdin = sock
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev := w.await(t, TypeExec, "of the shell on a socket", pidIs(cmd.Process.Pid))
	if ev.Attrs["stdin"] != "socket" {
		t.Errorf("stdin %v, want socket", ev.Attrs["stdin"])
	}
	cmd = exec.Command("/bin/sh")
	cmd.Stdin = strings.NewReader("exit 0\n")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev = w.await(t, TypeExec, "of the shell on a pipe", pidIs(cmd.Process.Pid))
	if ev.Attrs["stdin"] != "pipe" {
		t.Errorf("stdin %v, want pipe", ev.Attrs["stdin"])
	}
}
