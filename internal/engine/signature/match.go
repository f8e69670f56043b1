package signature

import (
	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// Match is a compiled match of the rule language (type and where; see
// docs/RULES.md), for other engines' files to use: process models say
// with it which events a state can emit.
type Match struct {
	types []string
	cond  cond
}

// ParseMatch compiles the match written at n, a mapping with type and
// where, found at path of file. Values may name the given lists (@name).
// Every mistake is returned, with its line.
func ParseMatch(file string, n *yaml.Node, path string, lists map[string][]string) (*Match, []config.Problem) {
	p := &parser{file: file}
	d := p.match(n, path)
	c := &compiler{probs: p.probs, engLists: map[string][]valueDoc{}, cur: &ruleDoc{file: file}}
	for k, vals := range lists {
		for _, s := range vals {
			c.engLists[k] = append(c.engLists[k], plainValue(s))
		}
	}
	c.lists = c.engLists
	if d == nil {
		return nil, c.probs
	}
	m := &Match{types: d.Types, cond: c.compileCond(d.Where, nil)}
	return m, c.probs
}

// Types are the event types the match applies to (exact, a prefix
// ending in "*", or "*").
func (m *Match) Types() []string { return m.types }

// Matches tells whether ev is of one of the types and meets the
// condition.
func (m *Match) Matches(ev *event.Event) bool {
	ok := false
	for _, t := range m.types {
		if typeMatches(t, ev.Type) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	c := evalCtx{ev: ev}
	return m.cond.eval(&c)
}

func typeMatches(pattern, typ string) bool {
	switch {
	case pattern == "*":
		return true
	case len(pattern) > 0 && pattern[len(pattern)-1] == '*':
		return len(typ) >= len(pattern)-1 && typ[:len(pattern)-1] == pattern[:len(pattern)-1]
	}
	return pattern == typ
}
