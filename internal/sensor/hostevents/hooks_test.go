//go:build linux && amd64

package hostevents

import (
	"maps"
	"path/filepath"
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

// Where the kernel loads tp_btf programs, the system call handlers are
// reached through the typed dispatchers.
func TestTypedHooksWhereTheKernelTakesThem(t *testing.T) {
	needRoot(t)
	if ok, why := typedHooksLoad(t); !ok {
		t.Skipf("skipped: this kernel loads no tp_btf program: %s", why)
	}
	home := t.TempDir()
	w := openSensor(t, Options{Events: homeEvents(home)})
	if w.s.Hooks != HooksTyped {
		t.Fatalf("hooks %q, want %q", w.s.Hooks, HooksTyped)
	}
	checkHandlers(t, w, home)
}

// Asked for the raw dispatchers, the sensor reports what it reports with
// the typed ones, from handlers at a call's entry and at its return.
func TestRawHooksReportTheSame(t *testing.T) {
	home := t.TempDir()
	w := openSensor(t, Options{rawHooks: true, Events: homeEvents(home)})
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
	w := openSensor(t, Options{Events: homeEvents(home)})
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
