package clock

import "time"

// Ticker delivers a clock's ticks at a fixed period. Like time.Ticker's,
// its channel holds one tick; ticks a slow reader misses are dropped.
type Ticker interface {
	// C is the channel of ticks.
	C() <-chan time.Time
	// Stop ends the ticks; C is not closed.
	Stop()
}

// TickerClock is a clock that makes its own tickers.
type TickerClock interface {
	Clock
	NewTicker(d time.Duration) Ticker
}

// NewTicker returns a ticker of period d (which must be positive) on c:
// c's own when c makes tickers (Real and Manual do), else a wall-clock
// ticker. Loops that wait for their next round use it, so that a test
// driving a Manual clock drives the rounds too.
func NewTicker(c Clock, d time.Duration) Ticker {
	if tc, ok := c.(TickerClock); ok {
		return tc.NewTicker(d)
	}
	return Real{}.NewTicker(d)
}

// NewTicker returns a wall-clock ticker (time.NewTicker).
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// NewTicker returns a ticker that ticks when Advance or Set moves the
// clock to or past its next tick, one period after the clock's time now
// and every period after that. A move across several periods delivers one
// tick, reading the clock's new time.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{m: m, c: make(chan time.Time, 1), period: d, next: m.now.Add(d)}
	m.tickers = append(m.tickers, t)
	return t
}

type manualTicker struct {
	m      *Manual
	c      chan time.Time
	period time.Duration
	next   time.Time // guarded by m.mu
}

func (t *manualTicker) C() <-chan time.Time { return t.c }

func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	for i, o := range t.m.tickers {
		if o == t {
			t.m.tickers = append(t.m.tickers[:i], t.m.tickers[i+1:]...)
			break
		}
	}
}

// tickLocked delivers the ticks that are due at m.now; m.mu is held.
func (m *Manual) tickLocked() {
	for _, t := range m.tickers {
		if m.now.Before(t.next) {
			continue
		}
		select {
		case t.c <- m.now:
		default: // the reader has not taken the last tick: drop this one
		}
		for !m.now.Before(t.next) {
			t.next = t.next.Add(t.period)
		}
	}
}

var (
	_ TickerClock = Real{}
	_ TickerClock = (*Manual)(nil)
)
