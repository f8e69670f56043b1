//go:build linux && amd64

package hostevents

import (
	"os/exec"
	"strconv"
	"testing"

	"github.com/vigil-ids/vigil/internal/config"
)

// BenchmarkUnlinkPath measures what an unlink of a missing, unwatched file
// costs another process (python3's loop of os.unlink calls) without the
// event programs, with them for a clean path, and with them for a path
// with ".." components, which the kernel scans with bpf_loop and sends to
// user space unfiltered (sudo go test -run '^$' -bench UnlinkPath
// -benchtime 200000x ./internal/sensor/hostevents).
func BenchmarkUnlinkPath(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("skipped: no python3")
	}
	dir := b.TempDir()
	loop := func(b *testing.B, path string) {
		b.Helper()
		script := "import os,sys\nfor _ in range(int(sys.argv[2])):\n  try: os.unlink(sys.argv[1])\n  except OSError: pass\n"
		b.ResetTimer()
		if out, err := exec.Command(py, "-c", script, path, strconv.Itoa(b.N)).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	clean, dotdot := dir+"/a/b/missing", dir+"/a/../a/./b/missing"
	b.Run("no-programs", func(b *testing.B) { loop(b, clean) })
	stop := openSensorB(b)
	b.Run("clean", func(b *testing.B) { loop(b, clean) })
	b.Run("dotdot", func(b *testing.B) { loop(b, dotdot) })
	stop()
}

// openSensorB opens the event programs for a benchmark (skipping when this
// machine cannot run them) and reads their events until stop is called.
func openSensorB(b *testing.B) (stop func()) {
	b.Helper()
	s, err := Open(Options{Host: "bench", Events: config.DefaultAgentEvents()})
	if err != nil {
		b.Skipf("skipped: %v", err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if _, err := s.Next(s.o.Events.ReadEvery); err != nil {
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		s.Close()
	}
}
