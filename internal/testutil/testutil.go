// Package testutil holds the helpers Vigil's tests share: golden files
// rewritten by one -update flag, polling a condition with a deadline, a
// quiet logger, a free port for a process that must be told its
// address in advance, a real Prometheus Alertmanager started for a test,
// the check that committed bpf2go output is what an eBPF package's C
// source compiles to, and network namespaces joined by veth pairs for
// tests that act on a network (netns.go). It is imported by tests only, and imports nothing of
// Vigil's, so that any package's internal tests can use it; the embedded
// bus for tests, which needs internal/bus, is in the bustest package below.
//
// Importing this package defines the -update flag for the test binary
// (go test ./internal/foo -run Golden -update); a test must not define
// its own.
package testutil

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files with what the tests produce")

// Update reports whether the test binary runs with -update.
func Update() bool { return *update }

// Golden compares got with the file at path. With -update it writes got to
// path instead (creating its directory) and the test passes.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the test produced (run with -update if the change is intended); %s\ngot:\n%s", path, firstDiff(got, want), got)
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if i >= len(g) || i >= len(w) || gl != wl {
			return fmt.Sprintf("first difference at line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "they differ only in their line endings"
}

// WaitFor polls cond until it holds, failing the test when timeout passes
// first; what names the awaited condition in the failure. It polls often
// at first and then every 50 ms.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Quiet returns a logger that discards everything: for components whose
// log lines a test does not check. (A logger writing to t.Log would fail
// the test when a component's goroutine logs after the test ended.)
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// LockedBuffer collects what a process or a logger writes while it runs,
// read from any goroutine.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BufferLogger returns a logger writing text lines to a buffer the test
// reads.
func BufferLogger() (*slog.Logger, *LockedBuffer) {
	b := &LockedBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// port is not held, so another process may take it before it is used: use
// it only for a separate process (a vigil binary under test) that must be
// given its address on its command line before it starts. Servers started
// in the test's own process listen on port 0 and report the port they got.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
