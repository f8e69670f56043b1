package syscount

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate compiles the eBPF program again, with the flags of
// gen.go's go:generate line, and checks that the committed Go and object
// files are what that gives. It needs clang, llvm-strip and libbpf's
// headers (Debian: clang llvm libbpf-dev).
func TestGeneratedUpToDate(t *testing.T) {
	for _, tool := range []string{"clang", "llvm-strip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s not found (Debian packages clang llvm libbpf-dev regenerate the eBPF objects)", tool)
		}
	}
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		t.Skip("skipped: libbpf's headers not found (Debian package libbpf-dev)")
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go tool bpf2go "); ok {
			args = splitQuoted(t, rest)
		}
	}
	if args == nil {
		t.Fatal("gen.go has no go:generate line running bpf2go")
	}
	dir := t.TempDir()
	bpf2go := filepath.Join(dir, "bpf2go")
	if out, err := exec.Command("go", "build", "-o", bpf2go, "github.com/cilium/ebpf/cmd/bpf2go").CombinedOutput(); err != nil {
		t.Fatalf("building bpf2go: %v\n%s", err, out)
	}
	// The same layout as the package, so the paths in the object agree.
	work := filepath.Join(dir, "pkg")
	if err := os.MkdirAll(filepath.Join(work, "bpf"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile("bpf/syscount.c")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "bpf", "syscount.c"), c, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bpf2go, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOPACKAGE=syscount", "GOFILE=gen.go")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, f := range []string{"syscount_x86_bpfel.go", "syscount_x86_bpfel.o"} {
		want, err := os.ReadFile(filepath.Join(work, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what bpf/syscount.c compiles to; run go generate ./internal/sensor/syscount and commit the result", f)
		}
	}
}

// splitQuoted splits a go:generate argument list: words, with double
// quotes grouping.
func splitQuoted(t *testing.T, s string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
