package bench

import (
	"debug/elf"
	"errors"
	"os/exec"
	"testing"
)

// The minimal program is a well-formed static executable that runs and
// exits 0, on the machines it is made for.
func TestMinimalProgramRunsAndExitsZero(t *testing.T) {
	path, err := writeMinimalProgram(t.TempDir())
	if errors.Is(err, errNoMinimalProgram) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not a readable ELF file: %v", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 || len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD {
		t.Errorf("header %+v, %d segments: want one loadable segment (no loader) of an x86-64 executable", f.FileHeader, len(f.Progs))
	}
	for range 3 {
		if out, err := exec.Command(path).CombinedOutput(); err != nil || len(out) != 0 {
			t.Fatalf("running it: %v, output %q", err, out)
		}
	}
}
