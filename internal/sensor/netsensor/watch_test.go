package netsensor

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestWatchedAddressPassesTheBudget: with a budget of 5 records per
// destination, a scan of 30 ports keeps 5 records; once a monitor asks the
// sensor to watch the scanner, all of its attempts are kept and marked
// watched, while another source's beyond the budget are still held back;
// the watch ends by itself at its end (the sensor's time), or sooner by a
// revert.
func TestWatchedAddressPassesTheBudget(t *testing.T) {
	r := newRig(t, Config{ID: "gw", RecordBudget: 5, SummaryInterval: time.Hour})
	sport := uint16(40000)
	scan := func(src string, ports int) {
		sport++ // each scan's attempts are new flows
		for p := 1; p <= ports; p++ {
			r.feed(time.Millisecond,
				tcpPkt(t, src, sport, "10.0.0.3", uint16(p), "S", ""),
				tcpPkt(t, "10.0.0.3", uint16(p), src, sport, "RA", ""))
		}
	}
	conns := func(src string) (kept, watched int) {
		for _, ev := range r.of(TypeConn) {
			if ev.Attrs["src"] == src {
				kept++
				if ev.Attrs["watched"] == true {
					watched++
				}
			}
		}
		return
	}
	scan("198.51.100.7", 30)
	if kept, _ := conns("198.51.100.7"); kept != 5 {
		t.Fatalf("unwatched scan: %d records kept, want the budget's 5", kept)
	}
	req := controlmsg.Request{Version: controlmsg.Version, ID: "w1", Monitor: "dom", Target: controlmsg.TargetNetsensor,
		Action: controlmsg.ActionWatchAddress, Parameters: map[string]string{"address": "198.51.100.0/29"}, Duration: controlmsg.Duration(time.Minute)}
	rep := r.s.ApplyControl(req, r.now)
	if rep.Status != controlmsg.StatusDone || !rep.Expires.Equal(r.now.Add(time.Minute)) || !strings.Contains(rep.Detail, "198.51.100.0/29") {
		t.Fatalf("watch request: %+v", rep)
	}
	r.records = nil
	scan("198.51.100.7", 30)
	scan("198.51.100.9", 30)
	if kept, watched := conns("198.51.100.7"); kept != 30 || watched != 30 {
		t.Errorf("watched scan: %d records kept, %d marked watched, want 30 and 30", kept, watched)
	}
	if kept, watched := conns("198.51.100.9"); kept != 0 || watched != 0 {
		t.Errorf("an unwatched source past the spent budget: %d kept, %d watched", kept, watched)
	}
	// The watch ends at its time on the sensor's clock (the packets').
	r.now = r.now.Add(2 * time.Minute)
	r.records = nil
	scan("198.51.100.7", 30)
	if kept, _ := conns("198.51.100.7"); kept > 5 {
		t.Errorf("after the watch's end: %d records kept", kept)
	}
	if got := r.s.Watching(r.now); len(got) != 0 {
		t.Errorf("still watching %v after the end", got)
	}
	// A revert ends one sooner; an unknown one is refused.
	r.s.ApplyControl(req, r.now)
	rev := controlmsg.Request{Version: controlmsg.Version, ID: "r1", Monitor: "dom", Target: controlmsg.TargetNetsensor,
		Action: controlmsg.ActionRevert, Parameters: map[string]string{"request": "w1"}}
	if rep := r.s.ApplyControl(rev, r.now); rep.Status != controlmsg.StatusDone || len(r.s.Watching(r.now)) != 0 {
		t.Errorf("revert: %+v, watching %v", rep, r.s.Watching(r.now))
	}
	if rep := r.s.ApplyControl(rev, r.now); rep.Status != controlmsg.StatusRefused {
		t.Errorf("revert of nothing: %+v", rep)
	}
}

// TestWatchRequestsRefused: another target, another action, a bad
// address, and more than MaxWatches requests are refused.
func TestWatchRequestsRefused(t *testing.T) {
	s := New(Config{ID: "gw"}, nil, func(event.Event) {}, testutil.Quiet())
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	base := controlmsg.Request{Version: controlmsg.Version, ID: "w", Monitor: "dom", Target: controlmsg.TargetNetsensor,
		Action: controlmsg.ActionWatchAddress, Parameters: map[string]string{"address": "192.0.2.1"}, Duration: controlmsg.Duration(time.Minute)}
	for name, mod := range map[string]func(*controlmsg.Request){
		"target":  func(r *controlmsg.Request) { r.Target = "sampler" },
		"action":  func(r *controlmsg.Request) { r.Action = controlmsg.ActionRaiseSampling },
		"address": func(r *controlmsg.Request) { r.Parameters = map[string]string{"address": "host-7"} },
	} {
		r := base
		mod(&r)
		if rep := s.ApplyControl(r, now); rep.Status != controlmsg.StatusRefused {
			t.Errorf("%s: %+v", name, rep)
		}
	}
	for i := 0; i < MaxWatches; i++ {
		r := base
		r.ID = "w" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		if rep := s.ApplyControl(r, now); rep.Status != controlmsg.StatusDone {
			t.Fatalf("request %d: %+v", i, rep)
		}
	}
	if rep := s.ApplyControl(base, now); rep.Status != controlmsg.StatusRefused || !strings.Contains(rep.Detail, "at most") {
		t.Errorf("one request too many: %+v", rep)
	}
}
