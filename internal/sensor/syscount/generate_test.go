package syscount

import (
	"testing"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestGeneratedUpToDate compiles the eBPF program again, with the flags of
// gen.go's go:generate line, and checks that the committed Go and object
// files are what that gives. It needs clang, llvm-strip and libbpf's
// headers (Debian: clang llvm libbpf-dev).
func TestGeneratedUpToDate(t *testing.T) {
	testutil.BPF2GoUpToDate(t, "syscount", "syscount_x86_bpfel.go", "syscount_x86_bpfel.o")
}
