package match

import (
	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Match is a compiled match: the event types it applies to and a
// condition on the event.
type Match struct {
	types []string
	cond  Cond
}

// New compiles a match as written (nil: every event).
func New(d *Doc, o CompileOptions) (*Match, yamlnode.Problems) {
	if d == nil {
		return &Match{types: []string{"*"}, cond: trueCond{}}, nil
	}
	c, probs := Compile(d.Where, o)
	return &Match{types: d.Types, cond: c}, probs
}

// Parse reads and compiles the match written at n, a mapping with type
// and where, found at path of r's file. Values may name the given lists
// (@name). Every mistake is added to r, with its position; the match is
// nil when it could not be read.
func Parse(r *yamlnode.Reader, n *yaml.Node, path string, lists map[string][]string) *Match {
	d := ReadDoc(r, n, path)
	if d == nil {
		return nil
	}
	o := CompileOptions{File: r.File, Lists: map[string][]Value{}, ListHint: " (lists: beside the match)"}
	for k, vals := range lists {
		for _, s := range vals {
			o.Lists[k] = append(o.Lists[k], PlainValue(s))
		}
	}
	m, probs := New(d, o)
	r.Add(probs...)
	return m
}

// Types are the event types the match applies to (exact, a prefix
// ending in "*", or "*").
func (m *Match) Types() []string { return m.types }

// Cond is the match's condition.
func (m *Match) Cond() Cond { return m.cond }

// Matches tells whether ev is of one of the types and meets the
// condition.
func (m *Match) Matches(ev *event.Event) bool {
	if !m.TypeMatches(ev.Type) {
		return false
	}
	var c Ctx
	c.Reset(ev)
	return m.cond.Eval(&c)
}

// TypeMatches tells whether events of type typ are of the match's types.
func (m *Match) TypeMatches(typ string) bool {
	for _, t := range m.types {
		if TypeMatches(t, typ) {
			return true
		}
	}
	return false
}

// TypeMatches tells whether an event type matches pattern: the type
// itself, a prefix ending in "*", or "*".
func TypeMatches(pattern, typ string) bool {
	switch {
	case pattern == "*":
		return true
	case len(pattern) > 0 && pattern[len(pattern)-1] == '*':
		return len(typ) >= len(pattern)-1 && typ[:len(pattern)-1] == pattern[:len(pattern)-1]
	}
	return pattern == typ
}
