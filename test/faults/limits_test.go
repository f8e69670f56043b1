package faults

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// TestLimitsCheckDevZero: an endless file is refused within a second,
// whatever kind it is read as, with the limit named.
func TestLimitsCheckDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero:", err)
	}
	for _, kind := range []string{"auto", "config", "rules", "model"} {
		start := time.Now()
		out, code := vigilproc.Run(t, vigil, "", "check", "--kind", kind, "/dev/zero")
		took := time.Since(start)
		if code != 2 || !strings.Contains(out, "larger than") || !strings.Contains(out, "4194304") {
			t.Errorf("--kind %s: exit %d:\n%s", kind, code, out)
		}
		if took > time.Second {
			t.Errorf("--kind %s: refusing /dev/zero took %v", kind, took)
		}
		figure(t, "vigil check --kind %s /dev/zero: exit %d in %v", kind, code, took.Round(time.Millisecond))
	}
}

// uploadRSSBound is the documented bound (docs/LIMITS.md) on the resident
// memory of `vigil up` while it takes four 13 MB submissions at once: the
// HTTP server holds a batch per submission, and the rest is the bus and
// the monitor's queues, bounded by their configuration.
const uploadRSSBound = 800 << 20

// procKB reads a "Name:   123 kB" line of /proc/PID/status.
func procKB(pid int, name string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", name, pid)
}

// TestLimitsConcurrentUploads: four concurrent 13 MB submissions to a
// running `vigil up` are all taken, one more than the cap at once is
// answered 429, and the server's peak resident memory stays under
// uploadRSSBound.
func TestLimitsConcurrentUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 52 MB")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc:", err)
	}
	// Events of about 1 KB, and small ones (about 80 bytes: the most
	// events per byte).
	for _, pad := range []int{900, 0} {
		t.Run(fmt.Sprintf("pad%d", pad), func(t *testing.T) { concurrentUploads(t, pad) })
	}
}

func concurrentUploads(t *testing.T, padding int) {
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	up := vigilproc.Start(t, vigil, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", t.TempDir(), "--agent-interval", "10s")
	vigilproc.WaitHTTP(t, base+"/healthz", 10*time.Second)
	pid := up.Cmd.Process.Pid
	idle, err := procKB(pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}

	// About 13 MB of events.
	const size = 13_000_000
	pad := strings.Repeat("x", padding)
	var body strings.Builder
	for i := 0; body.Len() < size; i++ {
		fmt.Fprintf(&body, `{"type":"APP.UPLOAD","host":"h%d","attrs":{"n":%d,"pad":"%s"}}`+"\n", i%50, i, pad)
	}
	lines := strings.Count(body.String(), "\n")

	var peak int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if kb, err := procKB(pid, "VmRSS"); err == nil && kb > peak {
				peak = kb
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	began := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, 4)
	answers := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(base+"/api/events", "application/x-ndjson", strings.NewReader(body.String()))
			if err != nil {
				answers[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i], answers[i] = resp.StatusCode, string(b)
		}()
	}
	wg.Wait()
	took := time.Since(began)
	close(stop)
	<-sampled
	hwm, _ := procKB(pid, "VmHWM")
	for i := range 4 {
		if codes[i] != 200 || !strings.Contains(answers[i], fmt.Sprintf(`"accepted":%d`, lines)) {
			t.Errorf("upload %d: %d %.200s", i, codes[i], answers[i])
		}
	}
	figure(t, "4 concurrent uploads of %d bytes (%d events each) in %v: RSS idle %d MiB, sampled peak %d MiB, VmHWM %d MiB (bound %d MiB)",
		body.Len(), lines, took.Round(time.Millisecond), idle>>10, peak>>10, hwm>>10, uploadRSSBound>>20)
	if worst := max(peak, hwm) << 10; worst > uploadRSSBound {
		t.Errorf("peak RSS %d MiB, over the bound of %d MiB", worst>>20, uploadRSSBound>>20)
	}
}
