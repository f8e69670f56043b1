package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// diskPoster posts batches of events with their own ids, each again (the
// same ids) until the server confirms it, and keeps the first refusal's
// answer.
type diskPoster struct {
	url      string
	ids      event.IDSource
	client   *http.Client
	acked    atomic.Int64 // events of confirmed batches
	refused  atomic.Int64 // answers 503
	stop     atomic.Bool
	done     chan struct{}
	mu       sync.Mutex
	firstNo  string // the first 503 answer and its Retry-After
	other    []string
	batchSeq int
}

const diskBatch = 100

func (p *diskPoster) run() {
	defer close(p.done)
	pad := strings.Repeat("x", 400) // events of about half a kilobyte fill the disk sooner
	for n := 0; !p.stop.Load(); n += diskBatch {
		var body bytes.Buffer
		now := time.Now().UTC()
		for i := n; i < n+diskBatch; i++ {
			tm := now.Add(time.Duration(i-n) * time.Microsecond)
			fmt.Fprintf(&body, `{"id":%q,"time":%q,"type":"SYS.CPU","host":"disk-%d","source":"diskfull","attrs":{"n":%d,"pad":%q}}`+"\n",
				p.ids.NewID(tm), tm.Format(time.RFC3339Nano), i%8, i, pad)
		}
		for !p.post(body.Bytes()) {
			time.Sleep(100 * time.Millisecond)
		}
		p.acked.Add(diskBatch)
	}
}

func (p *diskPoster) post(b []byte) bool {
	resp, err := p.client.Post(p.url, "application/x-ndjson", bytes.NewReader(b))
	if err != nil {
		p.note(fmt.Sprintf("POST: %v", err))
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var ans struct{ Accepted int }
	_ = json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && ans.Accepted == diskBatch:
		return true
	case resp.StatusCode == http.StatusServiceUnavailable:
		p.refused.Add(1)
		p.mu.Lock()
		if p.firstNo == "" {
			p.firstNo = fmt.Sprintf("Retry-After %q: %s", resp.Header.Get("Retry-After"), strings.TrimSpace(string(body)))
		}
		p.mu.Unlock()
	default:
		p.note(fmt.Sprintf("POST answered %d: %s", resp.StatusCode, body))
	}
	return false
}

func (p *diskPoster) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.other) < 10 {
		p.other = append(p.other, s)
	}
}

// healthz returns /healthz's status code and body.
func healthz(url string) (int, string) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fill writes zeros to path until the filesystem is full.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
}

// TestDiskFull runs `vigil up` with its data directory on a 20 MB tmpfs,
// fills the filesystem while events are posted, and checks that /healthz
// turns unhealthy within 5 s with a reason, that POSTs and `vigil ingest`
// are refused with the reason, that everything recovers without a restart
// once the space is freed, and that every event the server confirmed is
// stored, once.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", data).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", data, err, out)
		}
	})

	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	busURL := fmt.Sprintf("nats://127.0.0.1:%d", busPort)
	u := vigilproc.Start(t, vigil, "up", "--no-agent", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data)
	vigilproc.WaitHTTP(t, base+"/healthz", 15*time.Second)

	p := &diskPoster{url: base + "/api/events", ids: event.NewSeededIDs(uint64(time.Now().UnixNano())), client: &http.Client{Timeout: 20 * time.Second}, done: make(chan struct{})}
	go p.run()
	t.Cleanup(func() { p.stop.Store(true) })
	testutil.WaitFor(t, 20*time.Second, "events confirmed before the disk fills", func() bool { return p.acked.Load() >= 2000 })

	// Fill the filesystem while the poster goes on.
	filler := filepath.Join(data, "filler")
	filled := fill(t, filler)
	full := time.Now()
	ackedAtFull := p.acked.Load()
	var code int
	var body string
	for {
		code, body = healthz(base + "/healthz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Since(full) > 10*time.Second {
			t.Fatalf("/healthz answered %d %s 10 s after the disk filled:\n%s", code, body, u.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	toUnhealthy := time.Since(full)
	if !strings.Contains(body, `"status":"unhealthy"`) || !strings.Contains(body, `"conditions"`) {
		t.Errorf("unhealthy /healthz lacks its status or conditions: %s", body)
	}
	if toUnhealthy > 5*time.Second {
		t.Errorf("/healthz unhealthy %v after the disk filled; want within 5 s", toUnhealthy)
	}
	t.Logf("disk filled (%d bytes of filler) after %d events confirmed; /healthz unhealthy %v later: %s", filled, ackedAtFull, toUnhealthy.Round(time.Millisecond), strings.TrimSpace(body))

	// New input is refused with the reason.
	resp, err := http.Post(base+"/api/events", "application/x-ndjson", strings.NewReader(`{"type":"SYS.CPU","host":"refused","source":"diskfull-probe"}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(rb), "unhealthy") {
		t.Errorf("POST while the disk is full answered %d (Retry-After %q): %s", resp.StatusCode, resp.Header.Get("Retry-After"), rb)
	}
	t.Logf("POST while full: %d, Retry-After %s: %s", resp.StatusCode, resp.Header.Get("Retry-After"), strings.TrimSpace(string(rb)))
	began := time.Now()
	out, exit := vigilproc.Run(t, vigil, `{"type":"SYS.CPU","host":"refused","source":"diskfull-probe"}`+"\n", "ingest", "events", "--bus", busURL, "--bus-identity", filepath.Join(data, "bus", "sensor.json"), "-")
	took := time.Since(began)
	if exit == 0 || !strings.Contains(out, "full disk") || took > 10*time.Second {
		t.Errorf("vigil ingest while the disk is full: exit %d after %v:\n%s", exit, took, out)
	}
	t.Logf("vigil ingest while full: exit %d after %v: %s", exit, took.Round(time.Millisecond), strings.TrimSpace(out))

	// Free the space: everything resumes without a restart.
	time.Sleep(time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	ackedAtFree := p.acked.Load()
	for {
		code, body = healthz(base + "/healthz")
		if code == http.StatusOK {
			break
		}
		if time.Since(freed) > 60*time.Second {
			t.Fatalf("/healthz still answers %d %s 60 s after the space was freed:\n%s", code, body, u.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	toHealthy := time.Since(freed)
	testutil.WaitFor(t, 60*time.Second, "new events confirmed after the space was freed", func() bool { return p.acked.Load() >= ackedAtFree+1000 })
	toIngest := time.Since(freed)
	select {
	case err := <-u.Done:
		t.Fatalf("vigil up exited (%v):\n%s", err, u.Out.String())
	default:
	}

	p.stop.Store(true)
	<-p.done
	acked := int(p.acked.Load())
	db := filepath.Join(data, "vigil.db")
	testutil.WaitFor(t, 60*time.Second, "the store to hold every confirmed event", func() bool {
		code, body := healthz(base + "/healthz")
		return code == http.StatusOK && vigilproc.CountRows(t, db, "source = 'diskfull'") >= acked && strings.Contains(body, `"store_lag_items":0`)
	})
	toStored := time.Since(freed)
	if err := u.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-u.Done; err != nil {
		t.Errorf("vigil up exited with %v after SIGTERM", err)
	}
	u.Done <- nil
	stored := vigilproc.CountRows(t, db, "source = 'diskfull'") // also checks the ids are distinct
	p.mu.Lock()
	firstNo, other := p.firstNo, p.other
	p.mu.Unlock()
	figure(t, "unhealthy %v after the disk filled; healthy %v, taking POSTs %v and every confirmed event stored %v after the space was freed, without a restart; %d POSTs refused (first: %s); %d events confirmed, %d distinct stored",
		toUnhealthy.Round(time.Millisecond), toHealthy.Round(time.Millisecond), toIngest.Round(time.Millisecond), toStored.Round(time.Millisecond), p.refused.Load(), firstNo, acked, stored)
	if len(other) > 0 {
		t.Logf("other answers: %q", other)
	}
	if stored != acked {
		t.Fatalf("the store holds %d distinct events, %d were confirmed", stored, acked)
	}
}
