package node

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// recorder notes the order in which components stop.
type recorder struct {
	mu      sync.Mutex
	stopped []string
}

func (r *recorder) component(name string) Component {
	return Component{Name: name, Run: func(ctx context.Context) error {
		<-ctx.Done()
		r.mu.Lock()
		r.stopped = append(r.stopped, name)
		r.mu.Unlock()
		return nil
	}}
}

func TestGroupStopsInOrderWhenContextEnds(t *testing.T) {
	var r recorder
	g := NewGroup(testutil.Quiet())
	for _, n := range []string{"web", "agent", "delivery", "monitor", "bus"} {
		g.Add(r.component(n))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the group did not stop within 5 s of its context's end")
	}
	if got := strings.Join(r.stopped, ","); got != "web,agent,delivery,monitor,bus" {
		t.Fatalf("stopped in order %s, want web,agent,delivery,monitor,bus", got)
	}
}

func TestGroupStopsAllWhenOneReturns(t *testing.T) {
	var r recorder
	g := NewGroup(testutil.Quiet())
	boom := errors.New("capture failed")
	g.Add(Component{Name: "sensor", Run: func(context.Context) error { return boom }})
	g.Add(r.component("delivery"))
	g.Add(r.component("bus"))
	err := g.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the sensor's error", err)
	}
	if got := strings.Join(r.stopped, ","); got != "delivery,bus" {
		t.Fatalf("stopped %s, want delivery,bus", got)
	}
}

func TestGroupFinishedWorkIsNoError(t *testing.T) {
	var r recorder
	g := NewGroup(testutil.Quiet())
	g.Add(Component{Name: "pcap", Run: func(context.Context) error { return nil }})
	g.Add(r.component("delivery"))
	if err := g.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil when the work is done", err)
	}
	if len(r.stopped) != 1 {
		t.Fatalf("stopped %v, want the delivery stopped", r.stopped)
	}
}

func TestGroupCollectsLaterErrors(t *testing.T) {
	g := NewGroup(testutil.Quiet())
	late := errors.New("store flush failed")
	g.Add(Component{Name: "monitor", Run: func(ctx context.Context) error { <-ctx.Done(); return late }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx); !errors.Is(err, late) {
		t.Fatalf("Run = %v, want the error of a component that failed while stopping", err)
	}
}
