package clock

import (
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(t0)
	m.Advance(time.Second)
	if got := m.Now(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}
	m.Set(t0) // backwards: ignored
	if got := m.Now(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("clock ran backwards to %v", got)
	}
	m.Set(t0.Add(time.Minute))
	if got := m.Now(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after Set: %v", got)
	}
	var c Clock = Real{}
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("real clock off by %v", d)
	}
}
