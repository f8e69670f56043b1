// Package hierarchy follows the health of the components a monitor
// watches (its children: monitors one layer down, and later sensors)
// from their heartbeats (internal/hbmsg, seed 002 section 3.6): each is
// unknown until its first heartbeat, alive while they come, stale after
// StaleAfter intervals without one, lost after LostAfter (a child never
// heard from is lost LostAfter intervals after watching began), and alive
// again when they resume. It is generic over names; the state machine runs on
// an injected clock, so tests drive it without waiting.
//
// A heartbeat on a child's subject that names another component, one
// from a name the watcher does not watch, and heartbeats beyond a child's
// rate are ignored and counted: a child cannot speak for another, nor
// flood its parent. Nothing here ever waits on a child.
package hierarchy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/hbmsg"
)

// State is a child's health.
type State string

// States.
const (
	StateUnknown State = "unknown" // no heartbeat yet
	StateAlive   State = "alive"
	StateStale   State = "stale"
	StateLost    State = "lost"
)

// Transition is a child's change of state.
type Transition struct {
	Name  string
	Layer string
	From  State
	To    State
	// LastSeen is when its last heartbeat arrived (zero: never).
	LastSeen time.Time
	// Missed is how many of its intervals passed without a heartbeat
	// (0 on the way back to alive).
	Missed int
	// At is when the watcher noticed.
	At time.Time
}

// Child is what the watcher knows of one child.
type Child struct {
	Name     string         `json:"name"`
	Layer    string         `json:"layer"`
	State    State          `json:"state"`
	LastSeen time.Time      `json:"last_seen,omitzero"`
	Missed   int            `json:"missed"`
	Seq      uint64         `json:"seq"`
	Interval time.Duration  `json:"interval"`
	Counters hbmsg.Counters `json:"counters"`
	Restarts uint64         `json:"restarts"`
	Flooded  uint64         `json:"flooded"`
}

// Counts are the heartbeats the watcher ignored.
type Counts struct {
	// Accepted heartbeats.
	Accepted uint64 `json:"accepted"`
	// Invalid: did not decode (internal/hbmsg).
	Invalid uint64 `json:"invalid"`
	// Foreign: named a component the watcher does not watch, or another
	// one than the subject it came on.
	Foreign uint64 `json:"foreign"`
	// Flooded: beyond a child's rate.
	Flooded uint64 `json:"flooded"`
}

// Options configure a watcher.
type Options struct {
	// Children are the names watched.
	Children []string
	// Interval is the heartbeat interval expected until a child
	// announces its own (monitor.heartbeat.interval).
	Interval time.Duration
	// StaleAfter and LostAfter are intervals without a heartbeat (the
	// child's announced interval once known, when longer than Interval).
	StaleAfter, LostAfter int
	Clock                 clock.Clock
	// OnTransition receives each change of state, from the goroutine
	// that caused it; it must not block.
	OnTransition func(Transition)
}

// burst is how many heartbeats a child may send back to back; the bucket
// refills one every quarter of the expected interval.
const burst = 4

// Watcher follows children's heartbeats. It is safe for concurrent use.
type Watcher struct {
	o       Options
	started time.Time

	mu       sync.Mutex
	children map[string]*child
	counts   Counts
}

type child struct {
	Child
	tokens float64
	refill time.Time
}

// New makes a watcher of o.Children, starting at the clock's time now.
func New(o Options) (*Watcher, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Interval <= 0 {
		return nil, fmt.Errorf("hierarchy: heartbeat interval %v, want above 0", o.Interval)
	}
	if o.StaleAfter < 1 || o.LostAfter <= o.StaleAfter {
		return nil, fmt.Errorf("hierarchy: stale after %d and lost after %d intervals: want 1 <= stale < lost", o.StaleAfter, o.LostAfter)
	}
	w := &Watcher{o: o, started: o.Clock.Now(), children: make(map[string]*child, len(o.Children))}
	for _, n := range o.Children {
		if n == "" {
			continue
		}
		w.children[n] = &child{Child: Child{Name: n, State: StateUnknown}, tokens: burst, refill: w.started}
	}
	return w, nil
}

// Names lists the watched children, sorted.
func (w *Watcher) Names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.children))
	for n := range w.children {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Invalid counts a heartbeat that did not decode.
func (w *Watcher) Invalid() {
	w.mu.Lock()
	w.counts.Invalid++
	w.mu.Unlock()
}

func (w *Watcher) foreign() {
	w.mu.Lock()
	w.counts.Foreign++
	w.mu.Unlock()
}

// Observe takes a heartbeat that arrived for the child named by its
// subject (subjectName; "" when the heartbeat's own name is to be
// trusted). It reports whether the heartbeat was accepted.
func (w *Watcher) Observe(subjectName string, h hbmsg.Heartbeat) bool {
	now := w.o.Clock.Now()
	var tr *Transition
	w.mu.Lock()
	c := w.children[h.Monitor]
	if c == nil || subjectName != "" && subjectName != h.Monitor {
		w.counts.Foreign++
		w.mu.Unlock()
		return false
	}
	// Token bucket: a child may not make its parent work harder than a
	// few heartbeats per interval.
	if gap := w.o.Interval / 4; gap > 0 {
		c.tokens = min(burst, c.tokens+float64(now.Sub(c.refill))/float64(gap))
		c.refill = now
	}
	if c.tokens < 1 {
		c.Flooded++
		w.counts.Flooded++
		w.mu.Unlock()
		return false
	}
	c.tokens--
	w.counts.Accepted++
	if c.Seq != 0 && h.Seq <= c.Seq {
		c.Restarts++
	}
	c.Seq, c.Layer, c.Counters = h.Seq, h.Layer, h.Counters
	c.Interval = time.Duration(h.Interval)
	c.LastSeen, c.Missed = now, 0
	if c.State != StateAlive {
		tr = &Transition{Name: c.Name, Layer: c.Layer, From: c.State, To: StateAlive, LastSeen: now, At: now}
		c.State = StateAlive
	}
	w.mu.Unlock()
	if tr != nil && w.o.OnTransition != nil {
		w.o.OnTransition(*tr)
	}
	return true
}

// Check brings every child's state up to the clock's time now and
// returns the transitions (also given to OnTransition).
func (w *Watcher) Check() []Transition {
	now := w.o.Clock.Now()
	var out []Transition
	w.mu.Lock()
	for _, c := range w.children {
		// A child's own interval when longer than the expected one; a
		// child faster than expected is still taken at the expected
		// rate (Observe), so it is judged by the expected interval.
		iv := max(c.Interval, w.o.Interval)
		since := c.LastSeen
		if since.IsZero() {
			since = w.started
		}
		missed := int(now.Sub(since) / iv)
		if missed < 0 {
			missed = 0
		}
		c.Missed = missed
		next := c.State
		switch {
		case missed >= w.o.LostAfter:
			next = StateLost
		case missed >= w.o.StaleAfter && c.State == StateAlive:
			next = StateStale
		}
		if next != c.State {
			out = append(out, Transition{Name: c.Name, Layer: c.Layer, From: c.State, To: next, LastSeen: c.LastSeen, Missed: missed, At: now})
			c.State = next
		}
	}
	w.mu.Unlock()
	slices.SortFunc(out, func(a, b Transition) int { return cmp.Compare(a.Name, b.Name) })
	if w.o.OnTransition != nil {
		for _, t := range out {
			w.o.OnTransition(t)
		}
	}
	return out
}

// Children returns what the watcher knows of each child, by name.
func (w *Watcher) Children() []Child {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Child, 0, len(w.children))
	for _, c := range w.children {
		out = append(out, c.Child)
	}
	slices.SortFunc(out, func(a, b Child) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Counts returns the heartbeats accepted and ignored so far.
func (w *Watcher) Counts() Counts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts
}

// ErrNotChild says a monitor is not one of this monitor's children.
var ErrNotChild = errors.New("not a child of this monitor")

// Place is where a monitor sits in the hierarchy, as its resource object
// declares it, with its own counters.
type Place struct {
	Name     string         `json:"name"`
	Layer    string         `json:"layer"`
	Parent   string         `json:"parent"`
	Peers    []string       `json:"peers"`
	Counters hbmsg.Counters `json:"counters"`
}
