//go:build linux && amd64

package hostevents

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Each handler that finds "." and ".." with bpf_loop has a build without
// it, for kernels before 5.17, that calls no bpf_loop and reaches no
// callback; it is installed on the same system calls.
func TestNoLoopHandlersCallNoLoop(t *testing.T) {
	spec, err := loadHostevents()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, ps := range spec.Programs {
		primary, alt := strings.CutSuffix(name, noLoop)
		if !alt {
			continue
		}
		n++
		if _, ok := enterCalls[primary]; !ok {
			t.Errorf("%s stands in for %s, which handles no system call", name, primary)
		}
		if uses(ps, asm.FnLoop) {
			t.Errorf("%s calls bpf_loop", name)
		}
		if !uses(spec.Programs[primary], asm.FnLoop) {
			t.Errorf("%s does not call bpf_loop: it needs no stand-in", primary)
		}
	}
	if n != 5 {
		t.Errorf("%d handlers without bpf_loop, want 5 (truncate, unlink, rename, chmod, chown)", n)
	}
}

func uses(ps *ebpf.ProgramSpec, fn asm.BuiltinFunc) bool {
	for _, ins := range ps.Instructions {
		if ins.IsBuiltinCall() && ins.Constant == int64(fn) {
			return true
		}
	}
	return false
}

// The builds without bpf_loop pass this kernel's verifier too.
func TestNoLoopHandlersLoad(t *testing.T) {
	needRoot(t)
	spec, err := loadHostevents()
	if err != nil {
		t.Fatal(err)
	}
	for name := range spec.Programs {
		if !strings.HasSuffix(name, noLoop) {
			continue
		}
		one := spec.Copy()
		for n := range one.Programs {
			if n != name {
				delete(one.Programs, n)
			}
		}
		c, err := ebpf.NewCollection(one)
		if err != nil {
			t.Errorf("%s: %v", name, firstLine(err))
			continue
		}
		c.Close()
	}
}
