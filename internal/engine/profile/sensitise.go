package profile

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
)

// Lowered thresholds: a control request multiplies one subject's alarm
// threshold (the T2 above which an event is reported) by a factor below 1
// for a while, in every class holding the subject or in one. While it
// holds, an event of the subject is reported when its T2 is above the
// lowered threshold, whatever its rank in the subject's history; the
// report says so (threshold_factor, and the lowered threshold).

// thresholdGrant is one control request in force.
type thresholdGrant struct {
	subject string
	classes []string
	factor  float64
	by      string
	until   time.Time
}

// holds tells whether class ci has learnt subject (in either part of the
// week, when the class splits it).
func (p *Profiler) holds(ci int, subject string) bool {
	m := p.subjects[ci]
	if _, ok := m[subject]; ok {
		return true
	}
	_, b := m[subject+"|business"]
	_, o := m[subject+"|off-hours"]
	return b || o
}

// Sensitise implements engine.Sensitiser: it takes
// controlmsg.ActionLowerThreshold.
func (a *adapter) Sensitise(c engine.Change, now time.Time) (string, error) {
	if c.Action != controlmsg.ActionLowerThreshold {
		return "", fmt.Errorf("a profile engine takes %q, not %q", controlmsg.ActionLowerThreshold, c.Action)
	}
	subject, class := c.Params["subject"], c.Params["class"]
	factor, err := controlmsg.Factor(c.Params["factor"])
	if err != nil {
		return "", err
	}
	var classes, names []string
	for ci, cl := range a.p.classes {
		names = append(names, cl.Name)
		if class != "" && cl.Name != class {
			continue
		}
		if a.p.holds(ci, subject) {
			classes = append(classes, cl.Name)
		}
	}
	switch {
	case class != "" && !contains(names, class):
		return "", fmt.Errorf("no profile class %q (classes: %s)", class, strings.Join(names, ", "))
	case len(classes) == 0 && class != "":
		return "", fmt.Errorf("class %s has no profile of subject %q", class, subject)
	case len(classes) == 0:
		return "", fmt.Errorf("no class has a profile of subject %q (classes: %s)", subject, strings.Join(names, ", "))
	case !c.Until.After(now):
		return "", fmt.Errorf("the change would end at %s, not after now (%s)", c.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if a.grants == nil {
		a.grants = map[string]thresholdGrant{}
	}
	a.grants[c.ID] = thresholdGrant{subject: subject, classes: classes, factor: factor, by: c.By, until: c.Until}
	a.applyGrants()
	a.log.Info("subject threshold lowered", "engine", a.name, "request", c.ID, "by", c.By, "subject", subject, "classes", classes, "factor", factor, "until", c.Until)
	return fmt.Sprintf("lowered the alarm threshold of subject %q to %g of itself in %s until %s", subject, factor, strings.Join(classes, ", "), c.Until.UTC().Format(time.RFC3339)), nil
}

// Desensitise implements engine.Sensitiser.
func (a *adapter) Desensitise(id string, _ time.Time) (string, bool) {
	g, ok := a.grants[id]
	if !ok {
		return "", false
	}
	delete(a.grants, id)
	a.applyGrants()
	a.log.Info("subject threshold request reverted", "engine", a.name, "request", id, "subject", g.subject)
	return fmt.Sprintf("ended request %s: subject %q back to its own threshold unless another request holds it", id, g.subject), true
}

// expireGrants ends the requests whose time is up at now.
func (a *adapter) expireGrants(now time.Time) {
	ended := false
	for id, g := range a.grants {
		if !g.until.After(now) {
			delete(a.grants, id)
			ended = true
			a.log.Info("subject threshold request expired", "engine", a.name, "request", id, "by", g.by, "subject", g.subject, "until", g.until)
		}
	}
	if ended {
		a.applyGrants()
	}
}

// applyGrants computes each class and subject's factor: the lowest of the
// requests in force.
func (a *adapter) applyGrants() {
	a.lowered = nil
	for _, g := range a.grants {
		if a.lowered == nil {
			a.lowered = map[string]float64{}
		}
		for _, c := range g.classes {
			k := c + "\x00" + g.subject
			if f, ok := a.lowered[k]; !ok || g.factor < f {
				a.lowered[k] = g.factor
			}
		}
	}
}

// factor is the factor of class and subject's threshold (1: none).
func (a *adapter) factor(class, subject string) float64 {
	if a.lowered == nil {
		return 1
	}
	if f, ok := a.lowered[class+"\x00"+subject]; ok {
		return f
	}
	return 1
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

var _ engine.Sensitiser = (*adapter)(nil)
