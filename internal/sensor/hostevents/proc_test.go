//go:build linux && amd64

package hostevents

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// The test binary is also the helper processes the tests run:
// VIGIL_HOSTEVENTS_HELPER names what to do.
func TestMain(m *testing.M) {
	switch os.Getenv("VIGIL_HOSTEVENTS_HELPER") {
	case "":
		os.Exit(m.Run())
	case "memfd-exec":
		os.Exit(memfdExec(os.Args[1]))
	case "sleep":
		select {}
	case "setuid0":
		if err := syscall.Setuid(0); err != nil {
			fmt.Fprintln(os.Stderr, err, "uid", os.Getuid(), "euid", os.Geteuid())
			os.Exit(1)
		}
		os.Exit(0)
	case "bpf-load":
		os.Exit(bpfLoad())
	case "bpf-load-short":
		os.Exit(bpfLoadShort())
	case "init-module":
		// An image that is no module: the kernel refuses it.
		params, _ := unix.BytePtrFromString("vigil_test=1")
		_, _, errno := unix.Syscall(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&[16]byte{})), 16, uintptr(unsafe.Pointer(params)))
		fmt.Fprintln(os.Stderr, errno)
		os.Exit(0)
	case "create":
		os.Exit(create(os.Args[1:]))
	case "deep":
		os.Exit(deep(os.Args[1], os.Args[2]))
	}
	os.Exit(2)
}

// memfdExec copies the program prog into a memfd and runs it from there.
func memfdExec(prog string) int {
	fd, err := unix.MemfdCreate("vigil-test", 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	src, err := os.Open(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := os.NewFile(uintptr(fd), "memfd")
	if _, err := io.Copy(f, src); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = unix.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), []string{"from-memfd"}, nil)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func helper(what string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VIGIL_HOSTEVENTS_HELPER="+what)
	return cmd
}

// A program run from a memfd: PROC.MEMFD with its name, then PROC.EXEC with
// exe_memfd.
func TestMemfdExec(t *testing.T) {
	w := openSensor(t, Options{})
	cmd := helper("memfd-exec", "/bin/true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("memfd exec: %v\n%s", err, out)
	}
	pid := cmd.Process.Pid
	mfd := w.await(t, TypeMemfd, "of the helper", pidIs(pid))
	if mfd.Attrs["memfd_name"] != "vigil-test" {
		t.Errorf("PROC.MEMFD %v", mfd.Attrs)
	}
	ev := w.await(t, TypeExec, "of from-memfd", func(e event.Event) bool { return e.Attrs["pid"] == int64(pid) && e.Attrs["name"] != mfd.Attrs["name"] })
	if ev.Attrs["exe_memfd"] != true {
		t.Errorf("exe_memfd not set: %v", ev.Attrs)
	}
	if ev.Attrs["exe"] != "/memfd:vigil-test" || ev.Attrs["exe_deleted"] != true {
		t.Errorf("PROC.EXEC %v", ev.Attrs)
	}
}

// Attaching to a child with ptrace is a PROC.PTRACE naming the target.
func TestPtraceAttach(t *testing.T) {
	w := openSensor(t, Options{})
	child := helper("sleep")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	target := child.Process.Pid
	w.await(t, TypeExec, "of the child", pidIs(target))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := syscall.PtraceAttach(target); err != nil {
		t.Fatalf("ptrace attach: %v", err)
	}
	var ws syscall.WaitStatus
	syscall.Wait4(target, &ws, 0, nil)
	syscall.PtraceDetach(target)
	ev := w.await(t, TypePtrace, "attach", pidIs(os.Getpid()))
	if ev.Attrs["request"] != "attach" || ev.Attrs["target_pid"] != int64(target) || ev.Attrs["target_name"] != filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))] {
		t.Errorf("PROC.PTRACE %v", ev.Attrs)
	}
}

// A connection to a loopback listener is a PROC.CONNECT (destination port)
// and a PROC.ACCEPT (peer port, local port), both of this process.
func TestLoopbackConnectAndAccept(t *testing.T) {
	w := openSensor(t, Options{})
	l, port := loopbackListener(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s := <-accepted; s != nil {
		s.Close()
	}
	sport := c.LocalAddr().(*net.TCPAddr).Port
	con := w.await(t, TypeConnect, "to the listener", func(e event.Event) bool { return e.Attrs["dport"] == int64(port) })
	if con.Attrs["daddr"] != "127.0.0.1" || con.Attrs["proto"] != "tcp" || con.Attrs["family"] != "inet" || con.Attrs["pid"] != int64(os.Getpid()) {
		t.Errorf("PROC.CONNECT %v", con.Attrs)
	}
	acc := w.await(t, TypeAccept, "by the listener", func(e event.Event) bool { return e.Attrs["local_port"] == int64(port) })
	if acc.Attrs["peer_port"] != int64(sport) || acc.Attrs["peer_addr"] != "127.0.0.1" || acc.Attrs["pid"] != int64(os.Getpid()) {
		t.Errorf("PROC.ACCEPT %v (the client's port is %d)", acc.Attrs, sport)
	}
}

// A connect whose address ends where its memory mapping ends is seen: the
// kernel reads no more of it than the caller gave.
func TestConnectWithAddressAtTheEndOfAMapping(t *testing.T) {
	w := openSensor(t, Options{})
	_, port := loopbackListener(t)
	mem, err := pageBeforeAHole()
	if err != nil {
		t.Fatal(err)
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&mem[len(mem)-unix.SizeofSockaddrInet4]))
	sa.Family = unix.AF_INET
	sa.Port = uint16(port>>8) | uint16(port&0xff)<<8
	sa.Addr = [4]byte{127, 0, 0, 1}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4); errno != 0 {
		t.Fatalf("connect: %v", errno)
	}
	con := w.await(t, TypeConnect, "with its address at the end of a mapping", func(e event.Event) bool { return e.Attrs["dport"] == int64(port) })
	if con.Attrs["daddr"] != "127.0.0.1" || con.Attrs["pid"] != int64(os.Getpid()) {
		t.Errorf("PROC.CONNECT %v", con.Attrs)
	}
}

// loopbackListener listens on a TCP port of 127.0.0.1 until the test ends.
func loopbackListener(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// pageBeforeAHole returns a page of memory after which nothing is mapped
// (kept for the rest of the process).
func pageBeforeAHole() ([]byte, error) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	if _, _, errno := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&mem[page])), uintptr(page), 0); errno != 0 {
		return nil, errno
	}
	return mem[:page], nil
}

// create creates (or appends to) each file named.
func create(paths []string) int {
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		f.Close()
	}
	return 0
}

// deep makes a directory tree deeper than PATH_MAX under dir, one level
// at a time, and writes a file at its bottom.
func deep(dir, levels string) int {
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, _ := strconv.Atoi(levels)
	name := strings.Repeat("d", 200)
	for range n {
		if err := os.Mkdir(name, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.Chdir(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return create([]string{"bottom"})
}

// Gaining root through a setuid program, and then with setuid(0), are two
// PROC.CRED events with the old and new ids.
func TestSetuidGainIsProcCred(t *testing.T) {
	w := openSensor(t, Options{}) // skips without root
	dir, err := os.MkdirTemp("", "vigil-cred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "vigil-suid")
	copyFile(t, os.Args[0], prog, 0o755)
	if err := os.Chown(prog, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog)
	cmd.Env = append(os.Environ(), "VIGIL_HOSTEVENTS_HELPER=setuid0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setuid helper: %v %q", err, out)
	}
	pid := cmd.Process.Pid
	viaExec := w.await(t, TypeCred, "through the exec", func(e event.Event) bool { return e.Attrs["pid"] == int64(pid) && e.Attrs["via_exec"] == true })
	if viaExec.Attrs["old_euid"] != int64(65534) || viaExec.Attrs["new_euid"] != int64(0) || viaExec.Attrs["exe"] != prog {
		t.Errorf("PROC.CRED %v", viaExec.Attrs)
	}
	call := w.await(t, TypeCred, "through setuid(0)", func(e event.Event) bool { return e.Attrs["pid"] == int64(pid) && e.Attrs["via_exec"] == nil })
	if call.Attrs["old_uid"] != int64(65534) || call.Attrs["new_uid"] != int64(0) {
		t.Errorf("PROC.CRED %v", call.Attrs)
	}
}

// bpfLoad loads a BPF program that returns 0 and unloads it.
func bpfLoad() int {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "vigil_probe", Type: ebpf.SocketFilter, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p.Close()
	return 0
}

// bpfLoadShort loads a socket filter with the first 48 bytes of the
// attributes only (no name: the kernel zero-extends them), those bytes
// ending where their mapping ends.
func bpfLoadShort() int {
	mem, err := pageBeforeAHole()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	page := len(mem)
	// r0 = 0; exit, then the licence, then the attributes at the end.
	copy(mem, []byte{0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	copy(mem[16:], "MIT\x00")
	attr := mem[page-48 : page]
	binary.LittleEndian.PutUint32(attr[0:], uint32(ebpf.SocketFilter))
	binary.LittleEndian.PutUint32(attr[4:], 2)
	binary.LittleEndian.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&mem[0]))))
	binary.LittleEndian.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&mem[16]))))
	fd, _, errno := unix.Syscall(unix.SYS_BPF, 5, uintptr(unsafe.Pointer(&attr[0])), 48) // BPF_PROG_LOAD
	if errno != 0 {
		fmt.Fprintln(os.Stderr, "BPF_PROG_LOAD:", errno)
		return 1
	}
	unix.Close(int(fd))
	return 0
}

// A BPF program load whose attributes are shorter than the kernel's and
// end where their mapping ends is a KERNEL.BPF too.
func TestShortBPFAttributesAtTheEndOfAMapping(t *testing.T) {
	w := openSensor(t, Options{})
	cmd := helper("bpf-load-short")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ev := w.await(t, TypeBPF, "of the helper", pidIs(cmd.Process.Pid))
	if ev.Attrs["prog_type"] != int64(ebpf.SocketFilter) || ev.Attrs["command"] != "BPF_PROG_LOAD" {
		t.Errorf("KERNEL.BPF %v", ev.Attrs)
	}
}

// A BPF program loaded by another process is a KERNEL.BPF with its name;
// the agent's own loads are not reported.
func TestBPFLoadIsKernelBPF(t *testing.T) {
	w := openSensor(t, Options{})
	cmd := helper("bpf-load")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ev := w.await(t, TypeBPF, "of the helper", func(e event.Event) bool {
		return e.Attrs["pid"] == int64(cmd.Process.Pid) && e.Attrs["prog_name"] == "vigil_probe"
	})
	if ev.Attrs["prog_type"] != int64(ebpf.SocketFilter) || ev.Attrs["command"] != "BPF_PROG_LOAD" {
		t.Errorf("KERNEL.BPF %v", ev.Attrs)
	}
	if e, ok := w.find(TypeBPF, pidIs(os.Getpid())); ok {
		t.Errorf("the agent's own load was reported: %v", e.Attrs)
	}
}

// Asking the kernel to load a module is a KERNEL.MODULE, even when the
// kernel refuses the image (here: 16 zero bytes, no module). A kernel
// without loadable modules has no init_module tracepoint (and no such
// call, whose attempts are then not seen by default): the handler is
// tested there behind the dispatchers.
func TestModuleLoadIsKernelModule(t *testing.T) {
	o := Options{}
	if _, err := os.Stat("/proc/modules"); err != nil {
		t.Log("this kernel has no loadable modules: the handler is tested behind the dispatchers")
		o.hooks = HooksTyped
	}
	w := openSensor(t, o)
	cmd := helper("init-module")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ev := w.await(t, TypeModule, "of the helper", pidIs(cmd.Process.Pid))
	if ev.Attrs["syscall"] != "init_module" || ev.Attrs["params"] != "vigil_test=1" || ev.Attrs["bytes"] != int64(16) {
		t.Errorf("KERNEL.MODULE %v", ev.Attrs)
	}
}

// A process of many threads killed by a signal ends once: one PROC.EXIT,
// with the signal.
func TestKilledThreadedProcessExitsOnce(t *testing.T) {
	w := openSensor(t, Options{})
	child := helper("sleep") // a Go program: several threads
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	w.await(t, TypeExec, "of the child", pidIs(pid))
	testutil.WaitFor(t, 2*time.Second, "the child's threads", func() bool {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		return len(ents) > 2
	})
	child.Process.Kill()
	child.Wait()
	ev := w.await(t, TypeExit, "of the killed child", pidIs(pid))
	if ev.Attrs["signal"] != int64(9) || ev.Attrs["exit_code"] != int64(0) {
		t.Errorf("PROC.EXIT %v: want signal 9", ev.Attrs)
	}
	time.Sleep(300 * time.Millisecond)
	n := 0
	w.mu.Lock()
	for _, e := range w.evs {
		if e.Type == TypeExit && e.Attrs["pid"] == int64(pid) {
			n++
		}
	}
	w.mu.Unlock()
	if n != 1 {
		t.Errorf("%d PROC.EXIT for one process", n)
	}
}
