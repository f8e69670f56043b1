package population

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
)

// Lowered thresholds: a control request (controlmsg.ActionLowerThreshold,
// the subject a host) multiplies the host's distance threshold and its
// measures' z thresholds by a factor below 1 for a while, so that a host
// a parent suspects is reported on a smaller departure from its peers.
// The requests in force are engine.Grants, each for the host's class.

// Sensitise implements engine.Sensitiser.
func (a *adapter) Sensitise(c engine.Change, now time.Time) (string, error) {
	hostName, class, factor, err := engine.LowerThreshold(c, Kind)
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
	}
	if err := engine.CheckUntil(c, now); err != nil {
		return "", err
	}
	class = a.c.Classes[h.class].Name
	a.grants.Put(c.ID, engine.Grant{Subject: hostName, Classes: []string{class}, Factor: factor, By: c.By, Until: c.Until})
	a.log.Info("host threshold lowered", "engine", a.name, "request", c.ID, "by", c.By, "host", hostName, "class", class, "factor", factor, "until", c.Until)
	return fmt.Sprintf("lowered the population threshold of host %q (class %s) to %g of itself until %s", hostName, class, factor, c.Until.UTC().Format(time.RFC3339)), nil
}

// Desensitise implements engine.Sensitiser.
func (a *adapter) Desensitise(id string, _ time.Time) (string, bool) { return a.grants.End(id) }

// factor is the factor of class and host's threshold (1: none).
func (a *adapter) factor(class, host string) float64 { return a.grants.Factor(class, host) }

var _ engine.Sensitiser = (*adapter)(nil)
