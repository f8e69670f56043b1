package testutil

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of reporting
// them; Fatal ends the goroutine, as the real one does.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// run calls f with a recorder in its own goroutine (so Fatal can end it).
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.golden")
	// Missing file: a failure that says how to create it.
	r := run(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nb\n")) })
	if !r.fatal || !strings.Contains(r.errors[0], "-update") {
		t.Fatalf("missing golden file: %v", r.errors)
	}
	// -update writes it, creating the directory.
	*update = true
	r = run(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nb\n")) })
	*update = false
	if len(r.errors) > 0 {
		t.Fatal(r.errors)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\nb\n" {
		t.Fatalf("written %q, %v", b, err)
	}
	// The same output passes; a different one fails, naming the line.
	if r = run(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nb\n")) }); len(r.errors) > 0 {
		t.Fatal(r.errors)
	}
	r = run(t, func(tb testing.TB) { Golden(tb, path, []byte("a\nc\n")) })
	if len(r.errors) != 1 || r.fatal || !strings.Contains(r.errors[0], "line 2") || !strings.Contains(r.errors[0], path) {
		t.Fatalf("a differing output: %v", r.errors)
	}
	// Without -update the file is left as it was.
	if b, _ := os.ReadFile(path); string(b) != "a\nb\n" {
		t.Fatalf("golden file changed to %q without -update", b)
	}
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			time.Sleep(10 * time.Millisecond)
			n.Add(1)
		}
	}()
	r := run(t, func(tb testing.TB) { WaitFor(tb, 5*time.Second, "three steps", func() bool { return n.Load() == 3 }) })
	if len(r.errors) > 0 {
		t.Fatal(r.errors)
	}
	start := time.Now()
	r = run(t, func(tb testing.TB) { WaitFor(tb, 100*time.Millisecond, "the impossible", func() bool { return false }) })
	if took := time.Since(start); !r.fatal || took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("fatal %v after %v", r.fatal, took)
	}
	if !strings.Contains(r.errors[0], "the impossible") {
		t.Errorf("failure does not say what was awaited: %q", r.errors[0])
	}
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("port %d not usable: %v", p, err)
	}
	l.Close()
}

func TestQuiet(t *testing.T) {
	l := Quiet()
	if l.Enabled(t.Context(), -100) {
		t.Error("the quiet logger is enabled")
	}
	l.Error("not shown")
}
