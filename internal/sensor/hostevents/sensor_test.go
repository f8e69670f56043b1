//go:build linux && amd64

package hostevents

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// openSensor opens the event programs for a test, skipping with the reason
// when this machine cannot run them, and reads their events in the
// background until the test ends.
func openSensor(t *testing.T, o Options) *watcher {
	t.Helper()
	if o.Host == "" {
		o.Host = "test-host"
	}
	if o.Events.RingBufferBytes == 0 {
		o.Events = config.DefaultAgentEvents()
	}
	s, err := Open(o)
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range s.Off {
		t.Logf("program off: %s", off)
	}
	w := &watcher{s: s, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(func() {
		close(w.stop)
		<-w.done
		s.Close()
	})
	return w
}

// watcher keeps every event a sensor makes.
type watcher struct {
	s    *Sensor
	mu   sync.Mutex
	evs  []event.Event
	err  error
	stop chan struct{}
	done chan struct{}
}

func (w *watcher) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		evs, err := w.s.Next(50 * time.Millisecond)
		w.mu.Lock()
		w.evs = append(w.evs, evs...)
		if err != nil {
			w.err = err
		}
		w.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// find returns the first event of type typ for which match holds.
func (w *watcher) find(typ string, match func(event.Event) bool) (event.Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.evs {
		if e.Type == typ && match(e) {
			return e, true
		}
	}
	return event.Event{}, false
}

// await waits at most 2 s for an event of type typ for which match holds.
func (w *watcher) await(t *testing.T, typ, what string, match func(event.Event) bool) event.Event {
	t.Helper()
	var ev event.Event
	deadline := time.Now().Add(2 * time.Second)
	for {
		var ok bool
		if ev, ok = w.find(typ, match); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 2s for %s %s (the sensor, hooks %s: %+v)", typ, what, w.s.Hooks, w.s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("%s is not a valid event: %v", typ, err)
	}
	return ev
}

func pidIs(pid int) func(event.Event) bool {
	return func(e event.Event) bool { return e.Attrs["pid"] == int64(pid) }
}

func dump(e event.Event) string { return fmt.Sprintf("%s %v", e.Type, e.Attrs) }
