package store

import (
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// TestHosts checks that every host is listed once, in order, with the time
// and address of its latest event, whatever order they were written in.
func TestHosts(t *testing.T) {
	s := openTest(t, Options{})
	if hs, err := s.Hosts(t.Context()); err != nil || len(hs) != 0 {
		t.Fatalf("empty store: %v %v", hs, err)
	}
	evs := []eventSpec{
		{"a1", 3, "web-3", "10.0.0.3"},
		{"a2", 9, "web-3", "10.0.0.33"}, // the host moved address
		{"a3", 5, "web-3", "10.0.0.3"},
		{"b1", 1, "db-1", "10.0.0.9"},
		{"c1", 7, "gw", ""},
	}
	for _, e := range evs {
		ev := mkEvent(e.id, t0.Add(time.Duration(e.sec)*time.Second), "PROC.SPAWN", e.host, e.ip)
		if _, err := s.WriteEvents(t.Context(), []event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := s.Hosts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []HostSeen{
		{"db-1", "10.0.0.9", t0.Add(time.Second)},
		{"gw", "", t0.Add(7 * time.Second)},
		{"web-3", "10.0.0.33", t0.Add(9 * time.Second)},
	}
	if len(hs) != len(want) {
		t.Fatalf("hosts %+v, want %+v", hs, want)
	}
	for i := range want {
		if hs[i].Host != want[i].Host || hs[i].IP != want[i].IP || !hs[i].Last.Equal(want[i].Last) {
			t.Errorf("host %d: %+v, want %+v", i, hs[i], want[i])
		}
	}
}

type eventSpec struct {
	id   string
	sec  int
	host string
	ip   string
}
