package signature

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
)

// Standby groups: rules written `enabled: false` with a `group` are
// compiled and indexed but skipped until a control request turns their
// group on for a while (engine.Sensitiser); when the last request in
// force for the group ends, by its time or by a revert, the rules go back
// to standby and forget what they had counted or followed meanwhile (a
// summary of reports held back still comes when its quiet time ends).

// groupGrant is one control request in force that turned a group on.
type groupGrant struct {
	group string
	by    string
	until time.Time
}

// groupOn tells whether a request in force holds group on.
func (e *Engine) groupOn(group string) bool {
	for _, g := range e.grants {
		if g.group == group {
			return true
		}
	}
	return false
}

// StandbyGroups returns the groups that hold standby rules, sorted.
func (e *Engine) StandbyGroups() []string {
	var out []string
	for _, r := range e.set.Rules {
		if r.Standby && !slices.Contains(out, r.Group) {
			out = append(out, r.Group)
		}
	}
	slices.Sort(out)
	return out
}

// standbyRules are the ids of group's standby rules.
func (e *Engine) standbyRules(group string) []string {
	var ids []string
	for _, r := range e.set.Rules {
		if r.Standby && r.Group == group {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// EnableGroup turns group's standby rules on until until, under request
// id (a request of the same id in force is replaced), and says what it
// turned on. A group without standby rules, or an until not after now, is
// refused.
func (e *Engine) EnableGroup(id, group, by string, until, now time.Time) (string, error) {
	ids := e.standbyRules(group)
	if len(ids) == 0 {
		groups := e.StandbyGroups()
		if len(groups) == 0 {
			return "", fmt.Errorf("no rule group %q: this engine holds no standby rules (rules with enabled: false and a group)", group)
		}
		return "", fmt.Errorf("no rule group %q with standby rules (groups: %s)", group, strings.Join(groups, ", "))
	}
	if !until.After(now) {
		return "", fmt.Errorf("the change would end at %s, not after now (%s)", until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if e.grants == nil {
		e.grants = map[string]groupGrant{}
	}
	e.grants[id] = groupGrant{group: group, by: by, until: until}
	e.applyGroups()
	e.log.Info("rule group enabled", "request", id, "by", by, "group", group, "rules", ids, "until", until)
	return fmt.Sprintf("enabled the %d standby rule(s) of group %s (%s) until %s", len(ids), group, strings.Join(ids, ", "), until.UTC().Format(time.RFC3339)), nil
}

// EndGrant ends request id's group now, when it is in force.
func (e *Engine) EndGrant(id string) (string, bool) {
	g, ok := e.grants[id]
	if !ok {
		return "", false
	}
	delete(e.grants, id)
	e.applyGroups()
	state := "back in standby"
	if e.groupOn(g.group) {
		state = "still on for another request"
	}
	e.log.Info("rule group request reverted", "request", id, "group", g.group, "state", state)
	return fmt.Sprintf("ended request %s: group %s %s", id, g.group, state), true
}

// expireGrants ends the requests whose time is up at now.
func (e *Engine) expireGrants(now time.Time) {
	if len(e.grants) == 0 {
		return
	}
	var ended []string
	for id, g := range e.grants {
		if !g.until.After(now) {
			delete(e.grants, id)
			ended = append(ended, id)
			e.log.Info("rule group request expired", "request", id, "by", g.by, "group", g.group, "until", g.until)
		}
	}
	if len(ended) > 0 {
		e.applyGroups()
	}
}

// applyGroups sets each standby rule on or off by the requests in force;
// a rule going back to standby starts afresh when next turned on.
func (e *Engine) applyGroups() {
	for _, r := range e.set.Rules {
		if !r.Standby {
			continue
		}
		st := r.st
		off := !e.groupOn(r.Group)
		if off && !st.off {
			e.resetState(st)
		}
		st.off = off
	}
}

// resetState drops what a rule counted and followed: timers of its
// partial sequences are skipped. Its suppression stays, so that what a
// quiet time held back is still summarised at its end.
func (e *Engine) resetState(st *ruleState) {
	r := st.rule
	switch r.kind {
	case kindThreshold:
		st.thr = newThrState(r, e.limits.MaxGroups)
	case kindSequence:
		for en := st.seq.live.head; en != nil; en = en.next {
			en.val.dead = true
		}
		st.seq = newSeqState(r, e.limits.MaxInstances)
	}
}

// Sensitise implements engine.Sensitiser: it takes
// controlmsg.ActionEnableGroup.
func (a *adapter) Sensitise(c engine.Change, now time.Time) (string, error) {
	if c.Action != controlmsg.ActionEnableGroup {
		return "", fmt.Errorf("a signature engine takes %q, not %q", controlmsg.ActionEnableGroup, c.Action)
	}
	return a.e.EnableGroup(c.ID, c.Params["group"], c.By, c.Until, now)
}

// Desensitise implements engine.Sensitiser.
func (a *adapter) Desensitise(id string, _ time.Time) (string, bool) {
	return a.e.EndGrant(id)
}

var _ engine.Sensitiser = (*adapter)(nil)
