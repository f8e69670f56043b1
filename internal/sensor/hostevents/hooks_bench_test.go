//go:build linux && amd64

package hostevents

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/config"
)

// BenchmarkSystemCallHooks measures what a system call the sensor does not
// watch (getppid) costs: without programs; with programs that do nothing
// on the sys_enter and sys_exit raw tracepoints (what any sensor hooked
// there pays: the kernel's slow path for traced system calls and two
// program runs); with the sensor's dispatchers on raw tracepoints; and with
// its typed (tp_btf) ones, in one run (sudo go test -run '^$' -bench
// SystemCallHooks -count 5 ./internal/sensor/hostevents).
func BenchmarkSystemCallHooks(b *testing.B) {
	needRoot(b)
	loop := func(b *testing.B) {
		for b.Loop() {
			unix.Getppid()
		}
	}
	b.Run("none", loop)
	stop, err := attachEmpty()
	if err != nil {
		b.Skipf("skipped: %v", err)
	}
	b.Run("empty-programs", loop)
	stop()
	for _, raw := range []bool{true, false} {
		s, err := Open(Options{Host: "bench", Events: config.DefaultAgentEvents(), rawHooks: raw})
		if err != nil {
			b.Skipf("skipped: %v", err)
		}
		name := "raw-dispatchers"
		if !raw {
			if s.Hooks != HooksTyped {
				s.Close()
				b.Skipf("skipped: the typed hooks did not load here (%s)", s.Hooks)
			}
			name = "typed-dispatchers"
		}
		b.Run(name, loop)
		s.Close()
	}
}

// attachEmpty attaches a program that does nothing to the sys_enter and
// sys_exit raw tracepoints.
func attachEmpty() (stop func(), err error) {
	var closers []interface{ Close() error }
	stop = func() {
		for _, c := range closers {
			c.Close()
		}
	}
	for _, tp := range []string{"sys_enter", "sys_exit"} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
		if err != nil {
			stop()
			return nil, err
		}
		closers = append(closers, p)
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: p})
		if err != nil {
			stop()
			return nil, err
		}
		closers = append(closers, l)
	}
	return stop, nil
}
