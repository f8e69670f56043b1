package match

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// CompileOptions are what a condition is compiled with.
type CompileOptions struct {
	// File names the file the condition came from, in problems.
	File string
	// Lists are the named lists values may name (@name).
	Lists map[string][]Value
	// Vars gives the index of each sequence variable in scope (the index
	// into Ctx.SetVars); nil outside sequences, where $name is a mistake.
	Vars map[string]int
	// ListHint ends the message for a list that is not found: where lists
	// come from.
	ListHint string
}

type compiler struct {
	o     CompileOptions
	probs yamlnode.Problems
}

// Compile turns a written condition into one that can be evaluated (nil:
// always true). Every mistake is returned, with its position.
func Compile(d *Condition, o CompileOptions) (Cond, yamlnode.Problems) {
	c := &compiler{o: o}
	return c.compile(d), c.probs
}

func (c *compiler) addf(d *Condition, format string, args ...any) {
	pr := yamlnode.Problem{File: c.o.File, Msg: fmt.Sprintf(format, args...)}
	if d != nil {
		pr.Line, pr.Col, pr.Path = d.line, d.col, d.path
	}
	c.probs = append(c.probs, pr)
}

func (c *compiler) compile(d *Condition) Cond {
	if d == nil {
		return trueCond{}
	}
	switch d.op {
	case "and", "or":
		kids := make([]Cond, 0, len(d.kids))
		for _, k := range d.kids {
			kids = append(kids, c.compile(k))
		}
		if len(kids) == 1 {
			return kids[0]
		}
		if d.op == "and" {
			if len(kids) == 0 {
				return trueCond{}
			}
			return andCond(kids)
		}
		return orCond(kids)
	case "not":
		return notCond{c.compile(d.kids[0])}
	}
	vars := c.o.Vars
	l := &Leaf{f: NewField(d.field), op: opEq}
	for _, m := range d.mods {
		switch m {
		case "lower":
			l.lower = true
		case "urldecode":
			l.urldecode = true
		case "all":
			l.all = true
		case "cased":
			l.cased = true
		case "fieldref":
			l.fieldref = true
		default:
			l.op = opNames[m]
		}
	}
	vals := c.expand(d)
	if l.fieldref && l.op != opEq {
		c.addf(d, "fieldref compares for equality only")
	}
	for _, v := range vals {
		cv := cvalue{varIdx: -1, s: v.s, isNum: v.isNum, num: v.num, b: v.b}
		if l.fieldref {
			if !ValidField(v.s) {
				c.addf(d, "fieldref: %q is not a field name", v.s)
			}
			f := NewField(v.s)
			cv.ref = &f
			l.values = append(l.values, cv)
			continue
		}
		if v.variable != "" {
			idx, ok := vars[v.variable]
			switch {
			case vars == nil:
				c.addf(d, "$%s: variables belong to sequence steps", v.variable)
			case !ok:
				c.addf(d, "$%s is not bound by an earlier step (bind: or by:)", v.variable)
			case l.op != opEq:
				c.addf(d, "$%s: a variable is compared for equality only", v.variable)
			}
			cv.varIdx = idx
			l.values = append(l.values, cv)
			continue
		}
		if !l.cased && l.op != opRe {
			cv.s = strings.ToLower(cv.s)
		}
		switch l.op {
		case opEq:
			re, wild, err := globToRegexp(v.s, l.cased)
			if err != nil {
				c.addf(d, "wildcard value %q: %v", v.s, err)
			}
			if wild {
				cv.re = re
			}
		case opRe:
			re, err := regexp.Compile(v.s)
			if err != nil {
				c.addf(d, "regular expression %q: %v", v.s, err)
				re = regexp.MustCompile(`$^`)
			}
			cv.re = re
		case opCIDR:
			p, ok := yamlnode.ParseCIDR(v.s)
			if !ok {
				c.addf(d, "%q is not an address or prefix", v.s)
			}
			cv.prefix = p
		case opGt, opGte, opLt, opLte:
			if !v.isNum {
				c.addf(d, "%q is not a number", v.s)
			}
		case opExists:
			if !v.isBool {
				c.addf(d, "exists takes true or false")
			}
		}
		l.values = append(l.values, cv)
	}
	if l.op == opExists && len(l.values) != 1 {
		c.addf(d, "exists takes one value, true or false")
	}
	if (l.lower || l.urldecode) && (l.op == opCIDR || l.op == opExists) {
		c.addf(d, "lower and urldecode apply to text comparisons")
	}
	return l
}

// expand replaces @list values with the list's values.
func (c *compiler) expand(d *Condition) []Value {
	var out []Value
	for _, v := range d.values {
		if v.list == "" {
			out = append(out, v)
			continue
		}
		vals, ok := c.o.Lists[v.list]
		if !ok {
			c.addf(d, "@%s: no such list%s", v.list, c.o.ListHint)
			continue
		}
		out = append(out, vals...)
	}
	return out
}
