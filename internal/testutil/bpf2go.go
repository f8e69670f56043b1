package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BPF2GoUpToDate checks, in an eBPF package's directory, that the
// committed bpf2go output is what the C source compiles to now: it reads
// gen.go's go:generate line, runs bpf2go with its arguments on a copy of
// the sources (bpf/*.c and bpf/*.h, so the paths in the object agree) and
// compares each generated file with the committed one. pkg is the package
// name and outputs the generated files' names. It skips when clang,
// llvm-strip or libbpf's headers are missing (Debian: clang llvm
// libbpf-dev).
func BPF2GoUpToDate(t *testing.T, pkg string, outputs ...string) {
	t.Helper()
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
			if args, err = splitQuoted(rest); err != nil {
				t.Fatalf("gen.go: %v", err)
			}
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
	work := filepath.Join(dir, "pkg")
	if err := os.MkdirAll(filepath.Join(work, "bpf"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pat := range []string{"bpf/*.c", "bpf/*.h"} {
		files, _ := filepath.Glob(pat)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bpf2go, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOPACKAGE="+pkg, "GOFILE=gen.go")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, f := range outputs {
		want, err := os.ReadFile(filepath.Join(work, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the C source compiles to; run go generate in this package and commit the result", f)
		}
	}
}

// splitQuoted splits a go:generate argument list: words, with double
// quotes grouping.
func splitQuoted(s string) ([]string, error) {
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
		return nil, &quoteError{s}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

type quoteError struct{ s string }

func (e *quoteError) Error() string { return "unbalanced quotes in " + e.s }
