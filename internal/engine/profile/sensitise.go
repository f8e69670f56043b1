package profile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
)

// Lowered thresholds: a control request multiplies one subject's alarm
// threshold (the T2 above which an event is reported) by a factor below 1
// for a while, in every class holding the subject or in one. While it
// holds, an event of the subject is reported when its T2 is above the
// lowered threshold, whatever its rank in the subject's history; the
// report says so (threshold_factor, and the lowered threshold). The
// requests in force are engine.Grants.

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
	subject, class, factor, err := engine.LowerThreshold(c, Kind)
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
	case class != "" && !slices.Contains(names, class):
		return "", fmt.Errorf("no profile class %q (classes: %s)", class, strings.Join(names, ", "))
	case len(classes) == 0 && class != "":
		return "", fmt.Errorf("class %s has no profile of subject %q", class, subject)
	case len(classes) == 0:
		return "", fmt.Errorf("no class has a profile of subject %q (classes: %s)", subject, strings.Join(names, ", "))
	}
	if err := engine.CheckUntil(c, now); err != nil {
		return "", err
	}
	a.grants.Put(c.ID, engine.Grant{Subject: subject, Classes: classes, Factor: factor, By: c.By, Until: c.Until})
	a.log.Info("subject threshold lowered", "engine", a.name, "request", c.ID, "by", c.By, "subject", subject, "classes", classes, "factor", factor, "until", c.Until)
	return fmt.Sprintf("lowered the alarm threshold of subject %q to %g of itself in %s until %s", subject, factor, strings.Join(classes, ", "), c.Until.UTC().Format(time.RFC3339)), nil
}

// Desensitise implements engine.Sensitiser.
func (a *adapter) Desensitise(id string, _ time.Time) (string, bool) { return a.grants.End(id) }

// factor is the factor of class and subject's threshold (1: none).
func (a *adapter) factor(class, subject string) float64 { return a.grants.Factor(class, subject) }

var _ engine.Sensitiser = (*adapter)(nil)
