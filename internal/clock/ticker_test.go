package clock

import (
	"testing"
	"time"
)

func TestManualTicker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(t0)
	tk := NewTicker(m, 4*time.Second)
	none := func(when string) {
		t.Helper()
		select {
		case v := <-tk.C():
			t.Fatalf("%s: a tick at %v", when, v)
		default:
		}
	}
	tick := func(when string, want time.Time) {
		t.Helper()
		select {
		case v := <-tk.C():
			if !v.Equal(want) {
				t.Fatalf("%s: tick reads %v, want %v", when, v, want)
			}
		default:
			t.Fatalf("%s: no tick", when)
		}
	}
	none("at start")
	m.Advance(3 * time.Second)
	none("before a period")
	m.Advance(time.Second)
	tick("after a period", t0.Add(4*time.Second))
	none("after taking the tick")
	// Across three periods: one tick (the channel holds one), and the
	// next is due at the following multiple of the period.
	m.Set(t0.Add(13 * time.Second))
	tick("after three periods", t0.Add(13*time.Second))
	none("the missed ticks are dropped")
	m.Advance(2 * time.Second)
	none("before the next multiple")
	m.Advance(time.Second)
	tick("at 16 s", t0.Add(16*time.Second))
	m.Set(t0) // backwards: ignored, no tick
	none("after a backwards Set")
	tk.Stop()
	m.Advance(time.Minute)
	none("after Stop")
	if len(m.tickers) != 0 {
		t.Errorf("%d tickers left after Stop", len(m.tickers))
	}
}

func TestRealTicker(t *testing.T) {
	tk := NewTicker(Real{}, time.Millisecond)
	defer tk.Stop()
	select {
	case <-tk.C():
	case <-time.After(5 * time.Second):
		t.Fatal("no tick from the wall clock in 5 s")
	}
}

// otherClock makes no tickers: NewTicker falls back to the wall clock's.
type otherClock struct{}

func (otherClock) Now() time.Time { return time.Now() }

func TestTickerFallback(t *testing.T) {
	tk := NewTicker(otherClock{}, time.Millisecond)
	defer tk.Stop()
	if _, ok := tk.(realTicker); !ok {
		t.Fatalf("a %T for a clock that makes no tickers", tk)
	}
}
