package clock

import (
	"testing"
	"time"
)

func TestManualTicker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(t0)
	tk := NewTicker(m, time.Second)
	select {
	case <-tk.C():
		t.Fatal("ticked before the clock moved")
	default:
	}
	m.Advance(500 * time.Millisecond)
	select {
	case <-tk.C():
		t.Fatal("ticked half a period in")
	default:
	}
	m.Advance(500 * time.Millisecond)
	select {
	case at := <-tk.C():
		if !at.Equal(t0.Add(time.Second)) {
			t.Fatalf("tick at %v, want %v", at, t0.Add(time.Second))
		}
	default:
		t.Fatal("no tick after a period")
	}
	// A jump over several periods gives one tick (as time.Ticker drops
	// ticks a slow reader missed), and the next is a period after the
	// jump's last due time.
	m.Set(t0.Add(3500 * time.Millisecond))
	<-tk.C()
	select {
	case <-tk.C():
		t.Fatal("two ticks for one move")
	default:
	}
	m.Advance(400 * time.Millisecond)
	select {
	case <-tk.C():
		t.Fatal("ticked before the next due time (4 s)")
	default:
	}
	m.Advance(100 * time.Millisecond)
	select {
	case <-tk.C():
	default:
		t.Fatal("no tick at 4 s")
	}
	tk.Stop()
	m.Advance(time.Hour)
	select {
	case <-tk.C():
		t.Fatal("ticked after Stop")
	default:
	}
}

func TestRealTicker(t *testing.T) {
	tk := NewTicker(Real{}, time.Millisecond)
	defer tk.Stop()
	select {
	case <-tk.C():
	case <-time.After(5 * time.Second):
		t.Fatal("the real ticker did not tick")
	}
}
