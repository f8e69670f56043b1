// Package vigilproc runs the vigil binary in tests as a user would: built
// once per test binary, started in the background with its output kept
// for the failure message, stopped within a bound, its store and health
// read back.
package vigilproc

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the store's driver, to read it back
)

// Build compiles cmd/vigil into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", bin, "github.com/vigil-ids/vigil/cmd/vigil")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building vigil: %w", err)
	}
	return bin, nil
}

// Main builds the binary into a temporary directory, runs the tests with
// *bin set to it, and removes it: the body of a TestMain.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "vigil-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Proc is a vigil process in the background. Done receives its exit once;
// whoever takes it puts it back for the cleanup.
type Proc struct {
	Cmd  *exec.Cmd
	Out  *Buffer
	Done chan error
}

// Start starts bin with args.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, exec.Command(bin, args...))
}

// StartCmd starts a command that runs vigil. The process is killed when
// the test ends, and its output logged if the test failed.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	args := cmd.Args
	p := &Proc{Cmd: cmd, Out: &Buffer{}, Done: make(chan error, 1)}
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.Done <- p.Cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		<-p.Done
		if t.Failed() {
			t.Logf("vigil %s output:\n%s", strings.Join(args, " "), p.Out.String())
		}
	})
	return p
}

// Stop sends SIGTERM and waits at most limit for the process to end,
// failing the test past it. It returns how long the stop took and the
// exit error, which Done keeps for the cleanup.
func (p *Proc) Stop(t testing.TB, limit time.Duration) (time.Duration, error) {
	t.Helper()
	return p.End(t, syscall.SIGTERM, limit)
}

// End sends sig and waits at most limit for the process to end (see Stop).
func (p *Proc) End(t testing.TB, sig syscall.Signal, limit time.Duration) (time.Duration, error) {
	t.Helper()
	at := time.Now()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.Done:
		p.Done <- err
		return time.Since(at), err
	case <-time.After(limit):
		t.Fatalf("vigil %s did not end within %v of %v", p.Cmd.Args[1], limit, sig)
		return 0, nil
	}
}

// Run runs bin with args and stdin to the end and returns its combined
// output and exit code.
func Run(t testing.TB, bin, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// Buffer collects a process's stdout and stderr.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitHTTP polls url until it answers 200, failing the test after within.
// It returns how long that took.
func WaitHTTP(t testing.TB, url string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		if time.Since(start) > within {
			t.Fatalf("%s did not answer 200 within %v (last error %v)", url, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CountRows counts the events in the store at path (those matching where,
// when given) and checks that their ids are distinct.
func CountRows(t testing.TB, path string, where ...string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT COUNT(*), COUNT(DISTINCT id) FROM events`
	if len(where) > 0 {
		q += " WHERE " + where[0]
	}
	var n, distinct int
	if err := db.QueryRow(q).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct {
		t.Errorf("store holds %d rows but %d distinct ids", n, distinct)
	}
	return n
}

// EventsIn reads events_in from a monitor's /healthz; 0 when it does not
// answer.
func EventsIn(health string) int {
	resp, err := http.Get(health)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var h struct {
		EventsIn int `json:"events_in"`
	}
	_ = json.Unmarshal(b, &h)
	return h.EventsIn
}
