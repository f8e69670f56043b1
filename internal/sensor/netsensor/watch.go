package netsensor

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/event"
)

// Watched addresses: a configuration request (internal/controlmsg's
// watch-address, on the sensor's control subject) makes the sensor keep
// every activity record to or from an address or prefix for a while,
// beyond the per-destination record budget that otherwise holds records
// back under load, each record marked "watched": a monitor that suspects
// an address sees all of what it does (seed 002: raising a sensor's
// detail for an address). Each request ends by itself at its end; a
// revert ends it sooner.

// MaxWatches is the most watch requests in force at once.
const MaxWatches = 64

// watch is one watch-address request in force.
type watch struct {
	id, by string
	prefix netip.Prefix
	until  time.Time
}

// watches holds the requests in force: changed by control requests (any
// goroutine), read on the packet path through an immutable snapshot.
type watches struct {
	mu   sync.Mutex
	byID map[string]watch
	cur  atomic.Pointer[[]watch]
}

// publishLocked makes the packet path's snapshot of the requests.
func (ws *watches) publishLocked() {
	if len(ws.byID) == 0 {
		ws.cur.Store(nil)
		return
	}
	list := make([]watch, 0, len(ws.byID))
	for _, w := range ws.byID {
		list = append(list, w)
	}
	ws.cur.Store(&list)
}

// watched tells whether a record between a and b is watched at the
// sensor's time now.
func (s *Sensor) watched(a, b netip.Addr) bool {
	list := s.watch.cur.Load()
	if list == nil {
		return false
	}
	for _, w := range *list {
		if w.until.After(s.now) && (w.prefix.Contains(a.Unmap()) || w.prefix.Contains(b.Unmap())) {
			return true
		}
	}
	return false
}

// Watching lists the prefixes watched at now, each once.
func (s *Sensor) Watching(now time.Time) []netip.Prefix {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, w := range s.watch.byID {
		if w.until.After(now) && !seen[w.prefix] {
			seen[w.prefix] = true
			out = append(out, w.prefix)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// ApplyControl carries out a configuration request for the sensor (the
// Apply of its control.Receiver): ActionWatchAddress and ActionRevert for
// TargetNetsensor. It may be called from any goroutine.
func (s *Sensor) ApplyControl(req controlmsg.Request, now time.Time) controlmsg.Reply {
	refused := func(format string, args ...any) controlmsg.Reply {
		return controlmsg.Reply{Status: controlmsg.StatusRefused, Detail: fmt.Sprintf(format, args...)}
	}
	if req.Target != controlmsg.TargetNetsensor {
		return refused("no target %q in network sensor %s (targets: %s)", req.Target, s.cfg.ID, controlmsg.TargetNetsensor)
	}
	ws := &s.watch
	ws.mu.Lock()
	defer ws.mu.Unlock()
	defer ws.publishLocked()
	for id, w := range ws.byID {
		if !w.until.After(now) {
			delete(ws.byID, id)
			s.log.Info("watch request expired", "request", id, "by", w.by, "address", w.prefix)
		}
	}
	switch req.Action {
	case controlmsg.ActionWatchAddress:
		p, err := controlmsg.Address(req.Parameters["address"])
		if err != nil {
			return refused("%v", err)
		}
		if _, ok := ws.byID[req.ID]; !ok && len(ws.byID) >= MaxWatches {
			return refused("%d watch requests in force already, at most %d", len(ws.byID), MaxWatches)
		}
		if ws.byID == nil {
			ws.byID = map[string]watch{}
		}
		until := now.Add(time.Duration(req.Duration))
		ws.byID[req.ID] = watch{id: req.ID, by: req.Monitor, prefix: p, until: until}
		s.log.Info("watching an address", "request", req.ID, "by", req.Monitor, "address", p, "until", until)
		return controlmsg.Reply{Status: controlmsg.StatusDone, Expires: until,
			Detail: fmt.Sprintf("network sensor %s keeps every record to or from %s until %s", s.cfg.ID, p, until.UTC().Format(time.RFC3339))}
	case controlmsg.ActionRevert:
		id := req.Parameters["request"]
		w, ok := ws.byID[id]
		if !ok {
			return refused("no watch request %q in force in network sensor %s", id, s.cfg.ID)
		}
		delete(ws.byID, id)
		s.log.Info("watch request reverted", "request", id, "by", req.Monitor, "address", w.prefix)
		return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: fmt.Sprintf("network sensor %s no longer watches %s for request %s", s.cfg.ID, w.prefix, id)}
	}
	return refused("network sensor %s does not %s", s.cfg.ID, req.Action)
}

// watchedRecord tells whether an activity record is to or from a watched
// address (summaries, which have no src and dst, are not).
func (s *Sensor) watchedRecord(ev *event.Event) bool {
	src, _ := ev.Attrs["src"].(string)
	dst, _ := ev.Attrs["dst"].(string)
	a, err1 := netip.ParseAddr(src)
	b, err2 := netip.ParseAddr(dst)
	if err1 != nil || err2 != nil {
		return false
	}
	return s.watched(a, b)
}
