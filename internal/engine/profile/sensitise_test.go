package profile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// twoSources is a profiler that reports every time (suppress 0s), trained
// on two sources that behave alike.
func twoSources(t *testing.T) (engine.Engine, time.Time) {
	t.Helper()
	cfg, reg := load(t, strings.Replace(sourcesConfig, "suppress: 1h", "suppress: 0s", 1))
	e := newEngine(t, cfg, reg, nil)
	rng := rand.New(rand.NewPCG(7, 8))
	ctx := context.Background()
	var at time.Time
	for d := range 3 {
		day := t0.Add(time.Duration(d) * 24 * time.Hour)
		for i := range 24 * 60 {
			svc := "http"
			if rng.IntN(4) == 0 {
				svc = "smtp"
			}
			bytes := 2000 + rng.Float64()*3000
			at = day.Add(time.Duration(i) * time.Minute)
			for _, src := range []string{"198.51.100.7", "198.51.100.8"} {
				if err := e.Handle(ctx, conn(src, svc, bytes, at), func(event.Report) {}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return e, at
}

// TestLoweredThresholdForOneSubjectOnly: with one source's threshold
// lowered, the same middling traffic from both is reported for that
// source only, with the lowered threshold in the report; when the
// request expires, that source is judged by its own threshold again.
func TestLoweredThresholdForOneSubjectOnly(t *testing.T) {
	e, at := twoSources(t)
	s := e.(engine.Sensitiser)
	ctx := context.Background()
	n := 0
	// The same ordinary traffic from both sources, as they were trained
	// on: nothing above a source's own threshold, much above a fifth of
	// it.
	rng := rand.New(rand.NewPCG(9, 10))
	round := func(from time.Time) map[string]int {
		got := map[string]int{}
		for i := range 60 {
			svc := "http"
			if rng.IntN(4) == 0 {
				svc = "smtp"
			}
			bytes := 2000 + rng.Float64()*3000
			for _, src := range []string{"198.51.100.7", "198.51.100.8"} {
				n++
				ev := conn(src, svc, bytes, from.Add(time.Duration(i)*time.Minute))
				ev.ID = fmt.Sprint("ev", n)
				if err := e.Handle(ctx, ev, func(r event.Report) {
					got[r.IP]++
					if r.IP == "198.51.100.7" && r.Attrs["threshold_factor"] != 0.2 {
						t.Errorf("a report of the sensitised source without its factor: %v", r.Attrs)
					}
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return got
	}
	before := round(at.Add(time.Minute))
	if before["198.51.100.7"] != 0 || before["198.51.100.8"] != 0 {
		t.Fatalf("before sensitising, middling traffic was reported: %v", before)
	}
	start := at.Add(time.Hour)
	until := start.Add(time.Hour)
	detail, err := s.Sensitise(engine.Change{ID: "req-1", By: "domain", Action: controlmsg.ActionLowerThreshold,
		Params: map[string]string{"subject": "198.51.100.7", "factor": "0.2"}, Until: until}, start)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, `subject "198.51.100.7" to 0.2 of itself in source`) {
		t.Errorf("detail %q", detail)
	}
	during := round(start.Add(time.Minute))
	t.Logf("reports while sensitised: %v", during)
	if during["198.51.100.7"] == 0 {
		t.Errorf("the sensitised source's middling traffic was not reported: %v", during)
	}
	if during["198.51.100.8"] != 0 {
		t.Errorf("the other source was reported too: %v", during)
	}
	if err := e.Tick(ctx, until, func(event.Report) {}); err != nil {
		t.Fatal(err)
	}
	after := round(until.Add(time.Minute))
	if after["198.51.100.7"] != 0 {
		t.Errorf("after expiry the source is still judged by the lowered threshold: %v", after)
	}
	if _, ok := s.Desensitise("req-1", until); ok {
		t.Error("an expired request could be reverted")
	}
}

func TestLowerThresholdRefusesUnknownSubjectsAndClasses(t *testing.T) {
	e, at := twoSources(t)
	s := e.(engine.Sensitiser)
	for name, c := range map[string]struct {
		p    map[string]string
		want string
	}{
		"unknown subject": {map[string]string{"subject": "203.0.113.1", "factor": "0.5"}, `no class has a profile of subject "203.0.113.1" (classes: source)`},
		"unknown class":   {map[string]string{"subject": "198.51.100.7", "factor": "0.5", "class": "users"}, `no profile class "users"`},
		"bad factor":      {map[string]string{"subject": "198.51.100.7", "factor": "2"}, "above 0 and below 1"},
	} {
		if _, err := s.Sensitise(engine.Change{ID: "x", Action: controlmsg.ActionLowerThreshold, Params: c.p, Until: at.Add(time.Hour)}, at); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
	if _, err := s.Sensitise(engine.Change{ID: "x", Action: controlmsg.ActionEnableGroup, Params: map[string]string{"group": "g"}, Until: at.Add(time.Hour)}, at); err == nil || !strings.Contains(err.Error(), `takes "lower-threshold"`) {
		t.Errorf("another action: %v", err)
	}
	// A revert ends it at once.
	if _, err := s.Sensitise(engine.Change{ID: "y", Action: controlmsg.ActionLowerThreshold, Params: map[string]string{"subject": "198.51.100.7", "factor": "0.5", "class": "source"}, Until: at.Add(time.Hour)}, at); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Desensitise("y", at); !ok {
		t.Error("revert of a request in force")
	}
	if f := e.(*adapter).factor("source", "198.51.100.7"); f != 1 {
		t.Errorf("after the revert the factor is %v", f)
	}
}
