package bustest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
)

// TestStart starts two servers at once: each gets its own port, read back
// from the listener, and stores what a client publishes.
func TestStart(t *testing.T) {
	a, b := Start(t, bus.ServerOptions{}), Start(t, bus.ServerOptions{})
	pa, pb := a.Addr().(*net.TCPAddr).Port, b.Addr().(*net.TCPAddr).Port
	if pa == 0 || pb == 0 || pa == pb {
		t.Fatalf("ports %d and %d", pa, pb)
	}
	c := Connect(t, a, "test")
	tm := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev := event.Event{ID: event.NewSeededIDs(1).NewID(tm), Time: tm, Type: event.TypeSysCPU, Host: "h", Source: "test"}
	if n, err := c.PublishEvents(context.Background(), []event.Event{ev}); err != nil || n != 1 {
		t.Fatalf("published %d: %v", n, err)
	}
	st, err := c.JS.Stream(context.Background(), bus.StreamObs)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 1 {
		t.Fatalf("%d messages stored, want 1", got)
	}
}
