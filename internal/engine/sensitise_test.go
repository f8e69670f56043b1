package engine

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
)

// TestGrantsLowestFactorHolds applies two lowered thresholds of one
// subject and one of another class: the lowest factor of a class and
// subject holds, ending one leaves the other, each ends by itself at its
// time, and each end is logged and said in the engine's words.
func TestGrantsLowestFactorHolds(t *testing.T) {
	now := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	var logs strings.Builder
	gs := NewGrants("peers", "host", slog.New(slog.NewTextHandler(&logs, nil)))
	if f := gs.Factor("web", "web-2"); f != 1 {
		t.Fatalf("factor with none in force: %v", f)
	}
	gs.Put("a", Grant{Subject: "web-2", Classes: []string{"web"}, Factor: 0.5, Until: now.Add(time.Hour)})
	gs.Put("b", Grant{Subject: "web-2", Classes: []string{"web", "db"}, Factor: 0.25, By: "ent", Until: now.Add(time.Minute)})
	if f, g := gs.Factor("web", "web-2"), gs.Factor("db", "web-2"); f != 0.25 || g != 0.25 {
		t.Errorf("factors %v %v, want the lowest, 0.25", f, g)
	}
	if f := gs.Factor("web", "web-3"); f != 1 {
		t.Errorf("another subject lowered: %v", f)
	}
	gs.Expire(now.Add(time.Minute))
	if f, g := gs.Factor("web", "web-2"), gs.Factor("db", "web-2"); f != 0.5 || g != 1 {
		t.Errorf("after b ended: %v %v, want 0.5 and 1", f, g)
	}
	if !strings.Contains(logs.String(), `msg="host threshold request expired" engine=peers request=b by=ent host=web-2`) {
		t.Errorf("log %s", logs.String())
	}
	if _, ok := gs.End("b"); ok {
		t.Error("ended b twice")
	}
	detail, ok := gs.End("a")
	if !ok || detail != `ended request a: host "web-2" back to its own threshold unless another request holds it` || gs.Factor("web", "web-2") != 1 {
		t.Errorf("ending a: %q %v, factor %v", detail, ok, gs.Factor("web", "web-2"))
	}
}

func TestLowerThresholdReadsTheChange(t *testing.T) {
	now := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	c := Change{ID: "r", Action: controlmsg.ActionLowerThreshold, Params: map[string]string{"subject": "web-2", "class": "web", "factor": "0.5"}, Until: now}
	subject, class, factor, err := LowerThreshold(c, "population")
	if err != nil || subject != "web-2" || class != "web" || factor != 0.5 {
		t.Errorf("%q %q %v %v", subject, class, factor, err)
	}
	if err := CheckUntil(c, now); err == nil || !strings.Contains(err.Error(), "not after now") {
		t.Errorf("a change ending now: %v", err)
	}
	c.Action = controlmsg.ActionEnableGroup
	if _, _, _, err := LowerThreshold(c, "profile"); err == nil || !strings.HasPrefix(err.Error(), `a profile engine takes "lower-threshold", not "enable-group"`) {
		t.Errorf("another action: %v", err)
	}
}
