package deliver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// recorder remembers what the agent handed to the deliverer.
type recorder struct {
	mu   sync.Mutex
	ids  []string
	next host.Sink
}

func (r *recorder) Write(evs []event.Event) error {
	r.mu.Lock()
	for _, ev := range evs {
		r.ids = append(r.ids, ev.ID)
	}
	r.mu.Unlock()
	return r.next.Write(evs)
}

// TestBusOutage runs a host sensor that keeps observing processes while its
// bus is away for 20 s, and checks that every observation it made reaches
// the bus exactly once when the bus is back.
func TestBusOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s: the bus is away for 20 s")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	// The first server listens on a port of its choosing; the second comes
	// back on the same address, as a restarted bus does.
	store := t.TempDir()
	srv := bustest.Start(t, bus.ServerOptions{StoreDir: store})
	addr := srv.Addr().String()
	start := func() *bus.Server { return bustest.Start(t, bus.ServerOptions{Listen: addr, StoreDir: store}) }
	conn, err := bus.Connect(context.Background(), bus.ClientOptions{URL: "nats://" + addr, RetryOnFailedConnect: true, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.EnsureStreams(context.Background(), bus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	spoolDir := filepath.Join(t.TempDir(), "spool")
	d, err := Open(Options{Dir: spoolDir, Publish: conn.PublishCompactEvents, HostID: "test", Source: "agent", Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := host.NewExtractor("/proc", testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: d}
	agent := host.NewAgent(host.AgentOptions{Extractor: ex, Interval: 100 * time.Millisecond, HostID: "test", Sink: rec, Logger: testutil.Quiet(),
		Eval: host.EvalConfig{Window: 3, Procs: []string{"sleep"}}})

	ctx, cancel := context.WithCancel(context.Background())
	// The deliverer outlives the agent, as in vigil agent: stopping both at
	// once could close the spool under the agent's last write.
	dctx, dcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = agent.Run(ctx); dcancel() }()
	go func() { defer wg.Done(); d.Run(dctx) }()
	go func() { // something to observe: short-lived processes
		defer wg.Done()
		for ctx.Err() == nil {
			c := exec.Command("sleep", "0.3")
			if c.Start() == nil {
				go func() { _ = c.Wait() }()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	time.Sleep(3 * time.Second)
	srv.Shutdown() // the bus goes away
	rec.mu.Lock()
	before := len(rec.ids)
	rec.mu.Unlock()
	time.Sleep(20 * time.Second)
	rec.mu.Lock()
	during := len(rec.ids) - before
	rec.mu.Unlock()
	srv = start() // and comes back
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	if during < 20 {
		t.Fatalf("only %d observations while the bus was away; the test proves little", during)
	}

	// Everything the agent observed is on the bus, once.
	want := map[string]bool{}
	rec.mu.Lock()
	for _, id := range rec.ids {
		want[id] = true
	}
	rec.mu.Unlock()
	// The last second's observations may still be in the spool (the
	// deliverer stopped with the test); deliver them with a new run.
	d2, err := Open(Options{Dir: spoolDir, Publish: conn.PublishCompactEvents, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for d2.sp.Bytes() > 0 && time.Now().Before(deadline) {
			if recs, _, _ := d2.sp.Read(1); len(recs) == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel2()
	}()
	d2.Run(ctx2)

	got := map[string]int{}
	cons, err := conn.JS.OrderedConsumer(context.Background(), bus.StreamObs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := conn.JS.Stream(context.Background(), bus.StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	total := int(info.CachedInfo().State.Msgs)
	for range total {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := event.DecodeBus(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		got[ev.ID]++
	}
	missing := 0
	for id := range want {
		if got[id] == 0 {
			missing++
		}
	}
	for id, n := range got {
		if n > 1 {
			t.Errorf("observation %s stored %d times", id, n)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d observations never reached the bus (%d made while it was away)", missing, len(want), during)
	}
	t.Logf("%d observations, %d of them while the bus was away, all delivered once", len(want), during)
}
