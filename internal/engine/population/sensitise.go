package population

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
)

// Lowered thresholds: a control request (controlmsg.ActionLowerThreshold,
// the subject a host) multiplies the host's distance threshold and its
// measures' z thresholds by a factor below 1 for a while, so that a host
// a parent suspects is reported on a smaller departure from its peers.

// grant is one control request in force.
type grant struct {
	host   string
	class  string
	factor float64
	by     string
	until  time.Time
}

// Sensitise implements engine.Sensitiser.
func (a *adapter) Sensitise(c engine.Change, now time.Time) (string, error) {
	if c.Action != controlmsg.ActionLowerThreshold {
		return "", fmt.Errorf("a population engine takes %q, not %q", controlmsg.ActionLowerThreshold, c.Action)
	}
	hostName, class := c.Params["subject"], c.Params["class"]
	factor, err := controlmsg.Factor(c.Params["factor"])
	if err != nil {
		return "", err
	}
	var names []string
	for _, cl := range a.c.Classes {
		names = append(names, cl.Name)
	}
	h := a.p.hosts[hostName]
	switch {
	case class != "" && !slices.Contains(names, class):
		return "", fmt.Errorf("no host class %q (classes: %s)", class, strings.Join(names, ", "))
	case h == nil:
		return "", fmt.Errorf("no host %q in the population", hostName)
	case class != "" && a.c.Classes[h.class].Name != class:
		return "", fmt.Errorf("host %q is in class %s, not %s", hostName, a.c.Classes[h.class].Name, class)
	case !c.Until.After(now):
		return "", fmt.Errorf("the change would end at %s, not after now (%s)", c.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	class = a.c.Classes[h.class].Name
	if a.grants == nil {
		a.grants = map[string]grant{}
	}
	a.grants[c.ID] = grant{host: hostName, class: class, factor: factor, by: c.By, until: c.Until}
	a.applyGrants()
	a.log.Info("host threshold lowered", "engine", a.name, "request", c.ID, "by", c.By, "host", hostName, "class", class, "factor", factor, "until", c.Until)
	return fmt.Sprintf("lowered the population threshold of host %q (class %s) to %g of itself until %s", hostName, class, factor, c.Until.UTC().Format(time.RFC3339)), nil
}

// Desensitise implements engine.Sensitiser.
func (a *adapter) Desensitise(id string, _ time.Time) (string, bool) {
	g, ok := a.grants[id]
	if !ok {
		return "", false
	}
	delete(a.grants, id)
	a.applyGrants()
	a.log.Info("host threshold request reverted", "engine", a.name, "request", id, "host", g.host)
	return fmt.Sprintf("ended request %s: host %q back to its own threshold unless another request holds it", id, g.host), true
}

// expireGrants ends the requests whose time is up at now.
func (a *adapter) expireGrants(now time.Time) {
	ended := false
	for id, g := range a.grants {
		if !g.until.After(now) {
			delete(a.grants, id)
			ended = true
			a.log.Info("host threshold request expired", "engine", a.name, "request", id, "by", g.by, "host", g.host, "until", g.until)
		}
	}
	if ended {
		a.applyGrants()
	}
}

// applyGrants computes each host's factor: the lowest in force.
func (a *adapter) applyGrants() {
	a.lowered = nil
	for _, g := range a.grants {
		if a.lowered == nil {
			a.lowered = map[string]float64{}
		}
		k := g.class + "\x00" + g.host
		if f, ok := a.lowered[k]; !ok || g.factor < f {
			a.lowered[k] = g.factor
		}
	}
}

// factor is a host's threshold factor (1: none).
func (a *adapter) factor(class, host string) float64 {
	if f, ok := a.lowered[class+"\x00"+host]; ok {
		return f
	}
	return 1
}

var _ engine.Sensitiser = (*adapter)(nil)
