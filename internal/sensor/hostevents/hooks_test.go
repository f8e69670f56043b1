//go:build linux && amd64

package hostevents

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// typedHooksLoad says whether this kernel loads a tp_btf program on
// sys_exit, and if not, why.
func typedHooksLoad(t *testing.T) (bool, string) {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_exit", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		return false, err.Error()
	}
	p.Close()
	return true, ""
}

// By default each handler runs on its own calls' tracepoints only, and
// reports from a call's entry and from its return.
func TestSyscallTracepointsByDefault(t *testing.T) {
	home := t.TempDir()
	w := openSensor(t, Options{Events: homeEvents(home)})
	if w.s.Hooks != HooksTracepoints {
		t.Fatalf("hooks %q, want %q", w.s.Hooks, HooksTracepoints)
	}
	if len(w.s.Off) != 0 {
		t.Errorf("programs off: %q", w.s.Off)
	}
	for _, call := range w.s.Absent {
		if _, err := os.Stat("/sys/kernel/tracing/events/syscalls/sys_enter_" + call); err == nil {
			t.Errorf("%s said to be absent, but its tracepoint is there", call)
		}
	}
	checkHandlers(t, w, home)
}

// Every watched call has a name, the tracepoints' suffix.
func TestWatchedCallsHaveNames(t *testing.T) {
	names := syscallNames()
	if len(names) < 30 {
		t.Fatalf("%d calls watched: %q", len(names), names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "sys_") {
			t.Errorf("a watched call without a name: %s", n)
		}
	}
}

// Where the kernel has no system call tracepoints, Open hooks the calls
// through the typed dispatchers, which report the same.
func TestSyscallTracepointsFallBackToTyped(t *testing.T) {
	needRoot(t)
	if ok, why := typedHooksLoad(t); !ok {
		t.Skipf("skipped: this kernel loads no tp_btf program: %s", why)
	}
	saved := syscallGroup
	syscallGroup = "vigil_no_such_group"
	t.Cleanup(func() { syscallGroup = saved })
	home := t.TempDir()
	w := openSensor(t, Options{Events: homeEvents(home)})
	if w.s.Hooks != HooksTyped {
		t.Fatalf("hooks %q, want %q", w.s.Hooks, HooksTyped)
	}
	checkHandlers(t, w, home)
}

// Asked for the raw dispatchers, the sensor reports what it reports with
// the other hooks, from handlers at a call's entry and at its return.
func TestRawHooksReportTheSame(t *testing.T) {
	home := t.TempDir()
	w := openSensor(t, Options{hooks: HooksRaw, Events: homeEvents(home)})
	if w.s.Hooks != HooksRaw {
		t.Fatalf("hooks %q, want %q", w.s.Hooks, HooksRaw)
	}
	checkHandlers(t, w, home)
}

// When the typed handlers cannot be loaded, Open loads the raw ones.
func TestTypedHooksFallBackToRaw(t *testing.T) {
	needRoot(t)
	saved := maps.Clone(typedDispatchers)
	typedDispatchers["sys_exit_btf"] = "vigil_no_such_tracepoint"
	t.Cleanup(func() { typedDispatchers = saved })
	home := t.TempDir()
	w := openSensor(t, Options{hooks: HooksTyped, Events: homeEvents(home)})
	if w.s.Hooks != HooksRaw {
		t.Fatalf("hooks %q, want %q after the typed ones failed", w.s.Hooks, HooksRaw)
	}
	if len(w.s.Off) != 0 {
		t.Errorf("programs off: %q", w.s.Off)
	}
	checkHandlers(t, w, home)
}

// checkHandlers makes a handler at a call's return (an open for writing)
// and one at a call's entry (an unlink) report, in the watched home.
func checkHandlers(t *testing.T, w *watcher, home string) {
	t.Helper()
	keys := filepath.Join(home, "authorized_keys")
	pid := run(t, home, "sh", "-c", "echo 'ssh-ed25519 AAAA test' > authorized_keys")
	ev := w.await(t, TypeModify, "write of authorized_keys", pidIs(pid))
	if ev.Attrs["op"] != "write" || ev.Attrs["path"] != keys {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
	pid = run(t, home, "rm", "authorized_keys")
	ev = w.await(t, TypeModify, "unlink of authorized_keys", pidIs(pid))
	if ev.Attrs["op"] != "unlink" || ev.Attrs["path"] != keys {
		t.Errorf("FILE.MODIFY %v", ev.Attrs)
	}
}

// Every system call handler is built as a tracepoint program too, and
// every tracepoint program is a handler's.
func TestEveryHandlerHasATracepointBuild(t *testing.T) {
	spec, err := loadHostevents()
	if err != nil {
		t.Fatal(err)
	}
	for _, calls := range []map[string][]uint32{enterCalls, exitCalls} {
		for name := range calls {
			ps, ok := spec.Programs[name+tpSuffix]
			if !ok {
				t.Errorf("%s has no build %s%s", name, name, tpSuffix)
				continue
			}
			if ps.Type != ebpf.TracePoint {
				t.Errorf("%s%s is a %s program, want a tracepoint one", name, tpSuffix, ps.Type)
			}
		}
	}
	for name, ps := range spec.Programs {
		if ps.Type == ebpf.TracePoint && (!strings.HasSuffix(name, tpSuffix) || !isHandler(name)) {
			t.Errorf("tracepoint program %s handles no system call", name)
		}
	}
}
