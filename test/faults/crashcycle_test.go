package faults

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// crashPoster posts events to /api/events in batches, each with its own
// ids, and posts a batch again (the same ids) until the server confirms
// it, as a careful client does across a server's crashes. acked counts the
// events of confirmed batches.
type crashPoster struct {
	url    string
	ids    event.IDSource
	client *http.Client
	acked  atomic.Int64
	posts  atomic.Int64 // answered posts
	fails  atomic.Int64 // posts that got no confirmation and were sent again
	stop   atomic.Bool
	done   chan struct{}
	// gate is held while a batch is on its way; holding it pauses the
	// poster with every batch it sent confirmed.
	gate  sync.Mutex
	errMu sync.Mutex
	errs  []string
}

const crashBatch = 200

func (p *crashPoster) run() {
	defer close(p.done)
	for n := 0; !p.stop.Load(); n += crashBatch {
		p.gate.Lock()
		var body bytes.Buffer
		now := time.Now().UTC()
		for i := n; i < n+crashBatch; i++ {
			tm := now.Add(time.Duration(i-n) * time.Microsecond)
			fmt.Fprintf(&body, `{"id":%q,"time":%q,"type":"SYS.CPU","host":"crash-%d","source":"crashcycle","attrs":{"cpu_pct":1.5,"n":%d}}`+"\n",
				p.ids.NewID(tm), tm.Format(time.RFC3339Nano), i%16, i)
		}
		for {
			ok, err := p.post(body.Bytes())
			if ok {
				p.acked.Add(crashBatch)
				break
			}
			if err != nil {
				p.errMu.Lock()
				p.errs = append(p.errs, err.Error())
				p.errMu.Unlock()
			}
			p.fails.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		p.gate.Unlock()
		time.Sleep(5 * time.Millisecond) // a stream, not one burst
	}
}

// post sends one batch; ok when the server confirmed every event of it. A
// server that is down or answers 503 is no error; an answer that refuses
// the events is.
func (p *crashPoster) post(b []byte) (ok bool, err error) {
	resp, err := p.client.Post(p.url, "application/x-ndjson", bytes.NewReader(b))
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	var ans struct{ Accepted, Rejected int }
	derr := json.NewDecoder(resp.Body).Decode(&ans)
	switch {
	case resp.StatusCode == http.StatusOK && derr == nil && ans.Accepted == crashBatch:
		p.posts.Add(1)
		return true, nil
	case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
		return false, nil
	default:
		return false, fmt.Errorf("POST answered %d %+v (%v)", resp.StatusCode, ans, derr)
	}
}

// TestCrashCycles stops `vigil up` again and again while events are posted
// to it, at random moments, with SIGKILL or SIGTERM, and starts it again
// each time: the monitor must start every time, and after every start and
// in the end the store must hold every event the server confirmed, once.
// VIGIL_CRASH_SEED replays a run's choices.
func TestCrashCycles(t *testing.T) {
	cycles := 20
	if testing.Short() {
		cycles = 5
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("VIGIL_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("VIGIL_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (VIGIL_CRASH_SEED=%d replays the choices)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	began := time.Now()

	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	data := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	args := []string{"up", "--no-agent", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data}

	p := &crashPoster{url: base + "/api/events", ids: event.NewSeededIDs(uint64(seed)), client: &http.Client{Timeout: 10 * time.Second}, done: make(chan struct{})}
	go p.run()
	t.Cleanup(func() { p.stop.Store(true) })

	// up starts vigil up and waits until its monitor consumes: health
	// answers and it has taken events since it started.
	up := func(cycle int) *vigilproc.Proc {
		t.Helper()
		u := vigilproc.Start(t, vigil, args...)
		deadline := time.Now().Add(20 * time.Second)
		for vigilproc.EventsIn(base+"/healthz") == 0 {
			select {
			case err := <-u.Done:
				t.Fatalf("cycle %d: vigil up exited (%v) instead of starting:\n%s", cycle, err, u.Out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: the monitor took no event within 20 s of the start:\n%s", cycle, u.Out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return u
	}

	db := filepath.Join(data, "vigil.db")
	stored := func() int {
		h, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		var n int
		if err := h.QueryRowContext(context.Background(), `SELECT COUNT(DISTINCT id) FROM events WHERE source = 'crashcycle'`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	// exactlyOnce pauses the poster with every batch confirmed and checks
	// that the store comes to hold exactly the confirmed events.
	exactlyOnce := func(cycle int) int {
		t.Helper()
		p.gate.Lock()
		defer p.gate.Unlock()
		acked := int(p.acked.Load())
		testutil.WaitFor(t, 30*time.Second, fmt.Sprintf("cycle %d: the store to hold the %d confirmed events", cycle, acked), func() bool { return stored() >= acked })
		if n := vigilproc.CountRows(t, db, "source = 'crashcycle'"); n != acked {
			t.Fatalf("cycle %d: the store holds %d distinct events, %d were confirmed", cycle, n, acked)
		}
		return acked
	}

	kills, terms := 0, 0
	for c := 1; c <= cycles; c++ {
		u := up(c)
		checked := 0
		if c > 1 {
			checked = exactlyOnce(c)
		}
		delay := time.Duration(rng.Intn(1500)) * time.Millisecond
		time.Sleep(delay)
		sig := syscall.SIGTERM
		if rng.Intn(2) == 0 {
			sig = syscall.SIGKILL
		}
		if err := u.Cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-u.Done:
			u.Done <- err
			if sig == syscall.SIGTERM && err != nil {
				t.Fatalf("cycle %d: vigil up exited with %v after SIGTERM:\n%s", c, err, u.Out.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: vigil up still runs 10 s after %v", c, sig)
		}
		if sig == syscall.SIGKILL {
			kills++
		} else {
			terms++
		}
		t.Logf("cycle %2d: started, store held exactly the %d events confirmed by then; %v after %v more, %d confirmed", c, checked, sig, delay, p.acked.Load())
	}

	// A last start: the poster finishes its batch, then everything
	// confirmed must reach the store.
	last := up(cycles + 1)
	p.stop.Store(true)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the last batch was not confirmed within 30 s")
	}
	acked := int(p.acked.Load())
	testutil.WaitFor(t, 60*time.Second, "the store to hold every confirmed event", func() bool { return stored() >= acked })
	if err := last.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-last.Done; err != nil {
		t.Errorf("vigil up exited with %v after the last SIGTERM", err)
	}
	last.Done <- nil

	n := vigilproc.CountRows(t, db, "source = 'crashcycle'") // also checks the ids are distinct
	h, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var lo, hi, distinct int
	if err := h.QueryRow(`SELECT MIN(CAST(json_extract(attrs,'$.n') AS INTEGER)), MAX(CAST(json_extract(attrs,'$.n') AS INTEGER)), COUNT(DISTINCT json_extract(attrs,'$.n')) FROM events WHERE source = 'crashcycle'`).Scan(&lo, &hi, &distinct); err != nil {
		t.Fatal(err)
	}
	p.errMu.Lock()
	errs := p.errs
	p.errMu.Unlock()
	figure(t, "%d cycles (%d SIGKILL, %d SIGTERM) in %v: %d events confirmed in %d posts (%d posts sent again), %d distinct stored",
		cycles, kills, terms, time.Since(began).Round(time.Millisecond), acked, p.posts.Load(), p.fails.Load(), n)
	if len(errs) > 0 {
		t.Errorf("%d posts refused, first: %s", len(errs), errs[0])
	}
	if n != acked {
		t.Fatalf("store holds %d distinct events, %d were confirmed", n, acked)
	}
	if lo != 0 || hi != acked-1 || distinct != acked {
		t.Errorf("stored events number %d..%d, %d distinct; want 0..%d", lo, hi, distinct, acked-1)
	}
}
