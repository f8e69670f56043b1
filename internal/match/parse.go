package match

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Doc is a match as written: the event types it applies to and its
// condition (nil: every event of the types).
type Doc struct {
	Line, Col int
	Types     []string
	Where     *Condition
}

// Condition is a condition as written: a field condition (field,
// modifiers, values) or a combination of conditions, with its position.
type Condition struct {
	line, col int
	path      string
	op        string // "and", "or", "not", "leaf"
	kids      []*Condition
	field     string
	mods      []string
	values    []Value
}

// Value is a value as written in a condition or a list.
type Value struct {
	line, col int
	s         string
	isNum     bool
	num       float64
	isBool    bool
	b         bool
	list      string // @name
	variable  string // $name
}

// PlainValue is s as a value of a list (a number when it reads as one).
func PlainValue(s string) Value {
	v := Value{s: s}
	if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		v.isNum, v.num = true, n
	}
	return v
}

// IsRef tells whether the value names a list (@name) or a variable
// ($name) rather than being one.
func (v Value) IsRef() bool { return v.list != "" || v.variable != "" }

// String is the value as written.
func (v Value) String() string {
	switch {
	case v.list != "":
		return "@" + v.list
	case v.variable != "":
		return "$" + v.variable
	}
	return v.s
}

// parser reads conditions with a yamlnode.Reader, which collects the
// problems.
type parser struct{ *yamlnode.Reader }

// ReadDoc reads the match written at n (a mapping with type and where)
// found at path; nil when it is not a mapping. Every mistake is added to
// r, with its position.
func ReadDoc(r *yamlnode.Reader, n *yaml.Node, path string) *Doc {
	return parser{r}.doc(yamlnode.Resolve(n), path)
}

// ReadCondition reads the condition written at n (a where).
func ReadCondition(r *yamlnode.Reader, n *yaml.Node, path string) *Condition {
	return parser{r}.cond(yamlnode.Resolve(n), path)
}

// ReadValues reads a value or a list of values at n. With refs, @name
// names a list and $name a variable (write \@ and \$ for the characters).
func ReadValues(r *yamlnode.Reader, n *yaml.Node, path string, refs bool) []Value {
	return parser{r}.values(yamlnode.Resolve(n), path, refs)
}

func (p parser) doc(n *yaml.Node, path string) *Doc {
	if !p.Mapping(n, path, "a mapping with type and where") {
		return nil
	}
	m := &Doc{Line: n.Line, Col: n.Column}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "type":
			m.Types = p.OneOrMore(v, kp)
			for _, t := range m.Types {
				base := strings.TrimSuffix(t, "*")
				if t == "*" {
					continue
				}
				if err := event.CheckType(strings.TrimSuffix(base, ".")); err != nil {
					p.Addf(v, kp, "event type %q: %v", t, err)
				}
			}
			if len(m.Types) == 0 {
				p.Addf(v, kp, "at least one event type (or \"*\")")
			}
		case "where":
			m.Where = p.cond(v, kp)
		default:
			p.UnknownKey(k, kp, []string{"type", "where"})
		}
	}
	if yamlnode.Lookup(n, "type") == nil {
		p.Missing(n, path, "type", "the event types it applies to; \"*\" for all")
	}
	return m
}

// Modifiers of a field condition.
var (
	compareMods   = map[string]bool{"eq": true, "contains": true, "startswith": true, "endswith": true, "re": true, "cidr": true, "gt": true, "gte": true, "lt": true, "lte": true, "exists": true}
	transformMods = map[string]bool{"lower": true, "urldecode": true}
	flagMods      = map[string]bool{"all": true, "cased": true, "fieldref": true}
)

func (p parser) cond(n *yaml.Node, path string) *Condition {
	switch n.Kind {
	case yaml.MappingNode:
	case yaml.SequenceNode:
		// A list is "any of" its items (Sigma's list of selections).
		c := &Condition{line: n.Line, col: n.Column, path: path, op: "or"}
		for i, item := range n.Content {
			if k := p.cond(yamlnode.Resolve(item), yamlnode.Index(path, i)); k != nil {
				c.kids = append(c.kids, k)
			}
		}
		return c
	default:
		p.Addf(n, path, "a condition is a mapping of field: value (or all/any/not), not %s", yamlnode.Describe(n))
		return nil
	}
	c := &Condition{line: n.Line, col: n.Column, path: path, op: "and"}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "all", "any":
			if v.Kind != yaml.SequenceNode {
				p.Addf(v, kp, "%s takes a list of conditions", k.Value)
				continue
			}
			op := "and"
			if k.Value == "any" {
				op = "or"
			}
			sub := &Condition{line: v.Line, col: v.Column, path: kp, op: op}
			for i, item := range v.Content {
				if kid := p.cond(yamlnode.Resolve(item), yamlnode.Index(kp, i)); kid != nil {
					sub.kids = append(sub.kids, kid)
				}
			}
			c.kids = append(c.kids, sub)
		case "not":
			if kid := p.cond(v, kp); kid != nil {
				c.kids = append(c.kids, &Condition{line: v.Line, col: v.Column, path: kp, op: "not", kids: []*Condition{kid}})
			}
		default:
			if leaf := p.leaf(k, v, kp); leaf != nil {
				c.kids = append(c.kids, leaf)
			}
		}
	}
	return c
}

func (p parser) leaf(k, v *yaml.Node, path string) *Condition {
	parts := strings.Split(k.Value, "|")
	c := &Condition{line: k.Line, col: k.Column, path: path, op: "leaf", field: parts[0]}
	if !ValidField(c.field) {
		p.Addf(k, path, "field %q: use letters, digits, '.', '_', ':' and '-'", c.field)
		return nil
	}
	compares := 0
	for _, m := range parts[1:] {
		switch {
		case compareMods[m]:
			compares++
		case transformMods[m], flagMods[m]:
		default:
			p.Addf(k, path, "unknown modifier %q (contains, startswith, endswith, re, cidr, gt, gte, lt, lte, exists, eq; lower, urldecode; all, cased, fieldref)", m)
			return nil
		}
		c.mods = append(c.mods, m)
	}
	if compares > 1 {
		p.Addf(k, path, "one comparison modifier per field condition")
		return nil
	}
	c.values = p.values(v, path, true)
	if len(c.values) == 0 {
		p.Addf(v, path, "no value to compare with")
		return nil
	}
	return c
}

// values reads a scalar or a list of scalars.
func (p parser) values(n *yaml.Node, path string, refs bool) []Value {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		for _, it := range n.Content {
			items = append(items, yamlnode.Resolve(it))
		}
	default:
		p.Addf(n, path, "want a value or a list of values, not %s", yamlnode.Describe(n))
		return nil
	}
	var out []Value
	for i, it := range items {
		ip := path
		if n.Kind == yaml.SequenceNode {
			ip = yamlnode.Index(path, i)
		}
		if it.Kind != yaml.ScalarNode {
			p.Addf(it, ip, "want a plain value, not %s", yamlnode.Describe(it))
			continue
		}
		v := Value{line: it.Line, col: it.Column, s: it.Value}
		switch it.Tag {
		case "!!int", "!!float":
			f, err := strconv.ParseFloat(strings.ReplaceAll(it.Value, "_", ""), 64)
			if err == nil {
				v.isNum, v.num = true, f
			} else if n, err := strconv.ParseInt(strings.ReplaceAll(it.Value, "_", ""), 0, 64); err == nil {
				v.isNum, v.num, v.s = true, float64(n), strconv.FormatInt(n, 10)
			}
		case "!!bool":
			v.isBool = true
			v.b = strings.EqualFold(it.Value, "true") || it.Value == "yes" || it.Value == "on"
			v.s = strconv.FormatBool(v.b)
		case "!!null":
			p.Addf(it, ip, "an empty value: write \"\" for the empty string, or use |exists: false")
			continue
		}
		// "@name" is a list and "$name" a sequence variable; "\@" and
		// "\$" write the characters themselves.
		if it.Tag == "!!str" {
			switch {
			case strings.HasPrefix(it.Value, `\@`), strings.HasPrefix(it.Value, `\$`):
				v.s = it.Value[1:]
			case refs && strings.HasPrefix(it.Value, "@") && ValidName(it.Value[1:]):
				v.list = it.Value[1:]
			case refs && strings.HasPrefix(it.Value, "$") && ValidName(it.Value[1:]):
				v.variable = it.Value[1:]
			}
		}
		out = append(out, v)
	}
	return out
}

// MisplacedVar tells whether a $variable appears anywhere but alone in a
// field condition directly in the top-level mapping of c (where it is a
// join the engine looks sequence instances up by).
func (c *Condition) MisplacedVar() bool {
	if c.op != "and" {
		return anyVar(c)
	}
	for _, k := range c.kids {
		if k.op == "leaf" {
			if hasVar(k.values) && len(k.values) > 1 {
				return true
			}
			continue
		}
		if anyVar(k) {
			return true
		}
	}
	return false
}

func anyVar(d *Condition) bool {
	if d.op == "leaf" {
		return hasVar(d.values)
	}
	for _, k := range d.kids {
		if anyVar(k) {
			return true
		}
	}
	return false
}

func hasVar(vs []Value) bool {
	for _, v := range vs {
		if v.variable != "" {
			return true
		}
	}
	return false
}
