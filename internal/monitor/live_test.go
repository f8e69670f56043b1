package monitor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// listingEngine is a count engine that also describes what it follows:
// a track per host (with how many events it had) and a subject per host.
// Its maps are written by Handle and read by the listings, so a listing
// that ran beside Handle is found by the race detector.
type listingEngine struct {
	countEngine
	last map[string]time.Time
}

func (e *listingEngine) Handle(ctx context.Context, ev *event.Event, emit engine.Emit) error {
	e.last[ev.Host] = ev.Time
	return e.countEngine.Handle(ctx, ev, emit)
}

func (e *listingEngine) hosts() []string {
	var hs []string
	for h := range e.seen {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b string) int { return e.last[b].Compare(e.last[a]) })
	return hs
}

func (e *listingEngine) Tracks(q engine.TrackQuery) []event.Report {
	var out []event.Report
	for _, h := range e.hosts() {
		if q.Key != "" && h != q.Key {
			continue
		}
		out = append(out, event.Report{Time: e.last[h], Model: "count", Host: h, State: "Seen", Severity: event.SeverityGreen,
			Attrs: map[string]any{"observations": int64(len(e.seen[h]))}})
	}
	return out
}

func (e *listingEngine) Subjects(q engine.SubjectQuery) []engine.Subject {
	var out []engine.Subject
	for _, h := range e.hosts() {
		out = append(out, engine.Subject{Class: "host", Subject: h, Events: int64(len(e.seen[h])), LastSeen: e.last[h]})
	}
	return out
}

// TestLiveViews runs a monitor whose engines describe what they follow,
// asks for its live tracks and subjects while events flow (under -race,
// never beside the engines' work), and after it stopped.
func TestLiveViews(t *testing.T) {
	_, conn := startBus(t)
	reg := testRegistry(t)
	if err := reg.Register(engine.Factory{
		Kind:        "listing",
		NewSettings: func() config.Settings { return &countSettings{Threshold: 1000} },
		New: func(_ context.Context, s config.Settings, _ engine.Deps) (engine.Engine, error) {
			return &listingEngine{countEngine: countEngine{threshold: s.(*countSettings).Threshold, seen: map[string][]string{}}, last: map[string]time.Time{}}, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, "monitor: {name: m}\nsources: [{name: obs, subjects: [\"vigil.obs.>\"]}]\nengines:\n  - {kind: listing, name: a}\n  - {kind: count, name: plain}\n  - {kind: listing, name: b}\n", reg)
	mon := run(t, Options{Config: cfg, Engines: reg, Conn: conn("m"), DataDir: t.TempDir()})
	pub := conn("pub")
	ids := event.NewRandomIDs()
	start := time.Now().UTC()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mon.m.LiveTracks(engine.TrackQuery{})
			mon.m.ProfileSubjects("", engine.SubjectQuery{})
		}
	}()
	for h := range 20 {
		evs := hostEvents(ids, start.Add(time.Duration(h)*time.Minute), fmt.Sprint("h", h), event.TypeSysCPU, 3)
		if _, err := pub.PublishEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the engines to see every host", func() bool {
		return len(mon.m.LiveTracks(engine.TrackQuery{})) == 40 && len(mon.m.ProfileSubjects("", engine.SubjectQuery{})) == 40
	})
	close(stop)
	wg.Wait()

	tracks := mon.m.LiveTracks(engine.TrackQuery{Limit: 3})
	if len(tracks) != 3 {
		t.Fatalf("limited to 3: %d", len(tracks))
	}
	// The most recent first (h19's events are the latest), stamped with
	// the monitor and engine.
	if r := tracks[0]; r.Host != "h19" || r.Monitor != "m" || (r.Engine != "a" && r.Engine != "b") || r.Attrs["observations"] != int64(3) {
		t.Errorf("first live track %+v", r)
	}
	if got := mon.m.LiveTracks(engine.TrackQuery{Key: "h7"}); len(got) != 2 || got[0].Host != "h7" || got[0].Engine == got[1].Engine {
		t.Errorf("h7's tracks: %+v", got)
	}
	subs := mon.m.ProfileSubjects("b", engine.SubjectQuery{})
	if len(subs) != 20 || subs[0].Engine != "b" || subs[0].Monitor != "m" || subs[0].Subject != "h19" || subs[0].Events != 3 {
		t.Errorf("engine b's subjects: %d, first %+v", len(subs), subs[0])
	}
	if got := mon.m.ProfileSubjects("plain", engine.SubjectQuery{}); len(got) != 0 {
		t.Errorf("an engine that lists nothing listed %+v", got)
	}
	// Once stopped, the engines answer nothing (and nothing breaks).
	mon.stop()
	if got := mon.m.LiveTracks(engine.TrackQuery{}); len(got) != 0 {
		t.Errorf("after the stop: %d live tracks", len(got))
	}
}
