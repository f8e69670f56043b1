// Package clock gives components an injected source of time, so that every
// window, timeout and aging factor can be driven by a test or by the event
// times of a replay instead of the wall clock.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Manual is a clock that moves only when told. It is safe for concurrent
// use. The zero value reads as the zero time.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

// NewManual returns a manual clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set moves the clock to t. A t before the current time is ignored, so the
// clock never runs backwards (events may arrive slightly out of order).
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	if t.After(m.now) {
		m.now = t
		m.fireLocked()
	}
	m.mu.Unlock()
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.fireLocked()
	m.mu.Unlock()
}

// Ticker delivers the time on C every period.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Tickers is a clock that makes tickers driven by its own time.
type Tickers interface {
	Clock
	NewTicker(d time.Duration) Ticker
}

// NewTicker returns a ticker of period d on c when c makes tickers (as
// Real and Manual do), else a wall-clock ticker.
func NewTicker(c Clock, d time.Duration) Ticker {
	if t, ok := c.(Tickers); ok {
		return t.NewTicker(d)
	}
	return realTicker{time.NewTicker(d)}
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// NewTicker returns a wall-clock ticker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// manualTicker fires when its manual clock is moved past its next time.
type manualTicker struct {
	m      *Manual
	c      chan time.Time
	period time.Duration
	next   time.Time
}

func (t *manualTicker) C() <-chan time.Time { return t.c }

// Stop stops the ticker; it fires no more.
func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	for i, x := range t.m.tickers {
		if x == t {
			t.m.tickers = append(t.m.tickers[:i], t.m.tickers[i+1:]...)
			return
		}
	}
}

// NewTicker returns a ticker that fires, like time.Ticker, at most once
// per move of the clock (a tick not taken is dropped) each time the clock
// reaches its next time; d must be positive.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{m: m, c: make(chan time.Time, 1), period: d, next: m.now.Add(d)}
	m.tickers = append(m.tickers, t)
	return t
}

// fireLocked delivers the ticks due at the clock's time.
func (m *Manual) fireLocked() {
	for _, t := range m.tickers {
		if m.now.Before(t.next) {
			continue
		}
		select {
		case t.c <- m.now:
		default:
		}
		for !m.now.Before(t.next) {
			t.next = t.next.Add(t.period)
		}
	}
}
