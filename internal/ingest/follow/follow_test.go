package follow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// collector reads lines from a follower in the background.
type collector struct {
	mu    sync.Mutex
	lines []string
	done  chan error
}

func collect(r io.Reader) *collector {
	c := &collector{done: make(chan error, 1)}
	go func() {
		lr := event.NewLineReader(r, 0)
		for {
			line, err := lr.Next()
			if err != nil {
				c.done <- err
				return
			}
			c.mu.Lock()
			c.lines = append(c.lines, string(line))
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// waitLines waits, generously, until n lines have been read.
func (c *collector) waitLines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.got()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines read within 10 s, want %d: %q", len(c.got()), n, c.got())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func write(t *testing.T, f *os.File, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFollow writes, rotates (rename, a late write to the old file, a new
// file), truncates and appends, and finds every line once, in order.
func TestFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.Close() }()
	// Long lines before the truncation, so the file is still shorter
	// than what was read when the follower next looks.
	long := strings.Repeat("x", 200)
	write(t, w, "1 "+long+"\n", "2 "+long+"\n", "3 "+long+"\n")

	fl, err := Open(context.Background(), path, Options{Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := collect(fl)
	c.waitLines(t, 3)

	// Appending.
	write(t, w, "4\n")
	c.waitLines(t, 4)

	// A line written in two parts.
	write(t, w, "5 first")
	time.Sleep(30 * time.Millisecond)
	write(t, w, " half\n")
	c.waitLines(t, 5)

	// Rotation: rename, the writer's last line to the old file, then a
	// new file at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, w, "6 late, in the old file\n")
	w.Close()
	if w, err = os.Create(path); err != nil {
		t.Fatal(err)
	}
	write(t, w, "7 "+long+"\n", "8 "+long+"\n")
	c.waitLines(t, 8)
	if n := fl.Files(); n != 2 {
		t.Errorf("%d files opened, want 2", n)
	}

	// Truncation (copytruncate), then new lines.
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	write(t, w, "9\n")
	c.waitLines(t, 9)
	write(t, w, "10\n")
	c.waitLines(t, 10)

	// A rotation that cuts a line: the follower ends it.
	write(t, w, "11 cut")
	time.Sleep(30 * time.Millisecond)
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if w, err = os.Create(path); err != nil {
		t.Fatal(err)
	}
	write(t, w, "12\n")
	c.waitLines(t, 12)

	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("after Close: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the waiting read")
	}

	want := []string{"1 " + long, "2 " + long, "3 " + long, "4", "5 first half", "6 late, in the old file",
		"7 " + long, "8 " + long, "9", "10", "11 cut", "12"}
	got := c.got()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines\n got %q\nwant %q", got, want)
	}
}

// TestCancel: a done context ends a waiting read with io.EOF.
func TestCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fast.log")
	if err := os.WriteFile(path, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl, err := Open(ctx, path, Options{Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	c := collect(fl)
	c.waitLines(t, 1)
	cancel()
	select {
	case err := <-c.done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("after cancel: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling did not end the waiting read")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), filepath.Join(dir, "absent"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an absent file: %v", err)
	}
	if _, err := Open(context.Background(), dir, Options{}); err == nil {
		t.Error("a directory was accepted")
	}
}
