//go:build linux && amd64

package hostevents

import (
	"errors"
	"os"
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
// program runs); with the sensor's dispatchers on raw tracepoints; with
// its typed (tp_btf) ones; with programs that do nothing on the watched
// calls' own tracepoints (what the sensor's default way pays at least:
// the slow path, and a look at a bitmap of the calls traced); and with the
// sensor on those tracepoints, in one run (sudo go test -run '^$' -bench
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
	for _, way := range []string{HooksRaw, HooksTyped, HooksTracepoints} {
		if way == HooksTracepoints {
			stop, err := attachEmptyPerCall()
			if err != nil {
				b.Skipf("skipped: %v", err)
			}
			b.Run("empty-call-tracepoints", loop)
			stop()
		}
		s, err := Open(Options{Host: "bench", Events: config.DefaultAgentEvents(), hooks: way})
		if err != nil {
			b.Skipf("skipped: %v", err)
		}
		if s.Hooks != way {
			s.Close()
			b.Skipf("skipped: the %s hooks did not load here (%s)", way, s.Hooks)
		}
		b.Run(map[string]string{HooksRaw: "raw-dispatchers", HooksTyped: "typed-dispatchers", HooksTracepoints: "call-tracepoints"}[way], loop)
		s.Close()
	}
}

// emptyProgram is a program of the type given that does nothing.
func emptyProgram(typ ebpf.ProgramType) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{Type: typ, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
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
		p, err := emptyProgram(ebpf.RawTracepoint)
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

// attachEmptyPerCall attaches a program that does nothing to the entry and
// return tracepoints of every call the sensor watches that the kernel has.
func attachEmptyPerCall() (stop func(), err error) {
	var closers []interface{ Close() error }
	stop = func() {
		for _, c := range closers {
			c.Close()
		}
	}
	p, err := emptyProgram(ebpf.TracePoint)
	if err != nil {
		return nil, err
	}
	closers = append(closers, p)
	for _, call := range syscallNames() {
		for _, dir := range []string{"sys_enter_", "sys_exit_"} {
			l, err := link.Tracepoint(syscallGroup, dir+call, p, nil)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				stop()
				return nil, err
			}
			closers = append(closers, l)
		}
	}
	return stop, nil
}
