package match

import (
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
)

// cond is a compiled condition.
type Cond interface {
	Eval(c *Ctx) bool
}

type andCond []Cond

func (a andCond) Eval(c *Ctx) bool {
	for _, k := range a {
		if !k.Eval(c) {
			return false
		}
	}
	return true
}

type orCond []Cond

func (o orCond) Eval(c *Ctx) bool {
	for _, k := range o {
		if k.Eval(c) {
			return true
		}
	}
	return false
}

type notCond struct{ c Cond }

func (n notCond) Eval(c *Ctx) bool { return !n.c.Eval(c) }

type trueCond struct{}

func (trueCond) Eval(*Ctx) bool { return true }

// Comparison operators.
const (
	opEq = iota
	opContains
	opStartsWith
	opEndsWith
	opRe
	opCIDR
	opGt
	opGte
	opLt
	opLte
	opExists
)

var opNames = map[string]int{"eq": opEq, "contains": opContains, "startswith": opStartsWith, "endswith": opEndsWith, "re": opRe,
	"cidr": opCIDR, "gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte, "exists": opExists}

// cvalue is a compiled value to compare with.
type cvalue struct {
	s      string // as written (lower-cased unless cased)
	isNum  bool
	num    float64
	re     *regexp.Regexp // re, and eq with wildcards
	prefix netip.Prefix
	varIdx int    // >= 0: a sequence variable
	ref    *Field // |fieldref: another field of the same event
	b      bool
}

// Leaf is one field condition.
type Leaf struct {
	f         Field
	tslot     int // where the event's text, prepared for this Leaf, is cached
	op        int
	lower     bool // lower-case the event's value (a transform)
	urldecode bool
	all       bool
	cased     bool
	fieldref  bool // the values name fields of the same event
	folds     bool // text is folded for a literal scan (literal.go)
	values    []cvalue
}

func (l *Leaf) Eval(c *Ctx) bool {
	v, ok := c.Get(&l.f)
	if l.op == opExists {
		present := ok
		if s, isStr := v.(string); isStr && s == "" {
			present = false
		}
		return present == l.values[0].b
	}
	if !ok {
		return false
	}
	if l.fieldref {
		s := l.textOf(c, v)
		return l.each(func(x *cvalue) bool {
			o, ok := x.ref.Get(c.ev)
			return ok && l.strEq(s, l.text(o))
		})
	}
	if list, isList := v.([]string); isList {
		for _, s := range list {
			if l.evalOne(s, c, false) {
				return true
			}
		}
		return false
	}
	return l.evalOne(v, c, true)
}

// evalOne compares one value (not a list): the field's own (whole), or
// an item of its list.
func (l *Leaf) evalOne(v any, c *Ctx, whole bool) bool {
	switch l.op {
	case opGt, opGte, opLt, opLte:
		n, ok := number(v)
		if !ok {
			return false
		}
		return l.each(func(x *cvalue) bool {
			switch l.op {
			case opGt:
				return n > x.num
			case opGte:
				return n >= x.num
			case opLt:
				return n < x.num
			}
			return n <= x.num
		})
	case opCIDR:
		s, ok := v.(string)
		if !ok {
			return false
		}
		var a netip.Addr
		if whole {
			a, ok = c.addrOf(&l.f, s)
		} else {
			p, err := netip.ParseAddr(s)
			a, ok = p.Unmap(), err == nil
		}
		if !ok {
			return false
		}
		return l.each(func(x *cvalue) bool { return x.prefix.Contains(a) })
	case opEq:
		if n, isNum := nonText(v); isNum && !l.urldecode && !l.lower {
			return l.each(func(x *cvalue) bool {
				switch {
				case x.varIdx >= 0:
					return l.strEq(event.FormatValue(v), c.vars[x.varIdx])
				case x.isNum:
					return n == x.num
				case x.re != nil:
					return x.re.MatchString(event.FormatValue(v))
				}
				return l.strEq(event.FormatValue(v), x.s)
			})
		}
	}
	var s string
	if whole {
		s = l.textOf(c, v)
	} else {
		s = l.text(v)
	}
	return l.each(func(x *cvalue) bool {
		switch l.op {
		case opEq:
			switch {
			case x.varIdx >= 0:
				return l.strEq(s, c.vars[x.varIdx])
			case x.re != nil:
				return x.re.MatchString(s)
			case x.isNum:
				if n, err := strconv.ParseFloat(s, 64); err == nil {
					return n == x.num
				}
				return s == x.s
			}
			return l.strEq(s, x.s)
		case opContains:
			return strings.Contains(s, x.s)
		case opStartsWith:
			return strings.HasPrefix(s, x.s)
		case opEndsWith:
			return strings.HasSuffix(s, x.s)
		case opRe:
			return x.re.MatchString(s)
		}
		return false
	})
}

// textOf is l.text(v) for the field's own value v (not an item of its
// list), worked out once per event.
func (l *Leaf) textOf(c *Ctx, v any) string {
	if l.tslot <= 0 || l.tslot >= len(c.txt) {
		return l.text(v)
	}
	t := &c.txt[l.tslot]
	if t.gen != c.gen {
		t.gen, t.s = c.gen, l.text(v)
	}
	return t.s
}

// lowers tells whether the Leaf compares lower-cased text.
func (l *Leaf) lowers() bool { return l.lower || !l.cased && l.op != opRe }

// text prepares an event's value for a string comparison: transforms,
// then lower case unless the comparison is cased.
func (l *Leaf) text(v any) string {
	s, ok := v.(string)
	if !ok {
		s = event.FormatValue(v)
	}
	if l.urldecode {
		s = urlDecode(s)
	}
	if l.folds {
		return fold(s)
	}
	if l.lowers() {
		s = strings.ToLower(s)
	}
	return s
}

func (l *Leaf) strEq(s, want string) bool {
	if l.cased {
		return s == want
	}
	return strings.EqualFold(s, want)
}

// each applies test to the values: any of them, or all with |all.
func (l *Leaf) each(test func(*cvalue) bool) bool {
	if l.all {
		for i := range l.values {
			if !test(&l.values[i]) {
				return false
			}
		}
		return true
	}
	for i := range l.values {
		if test(&l.values[i]) {
			return true
		}
	}
	return false
}

// nonText returns a numeric value that is not text.
func nonText(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

// urlDecode undoes percent-encoding (and '+' for space) as often as it
// changes the text, up to three times: attackers encode twice.
func urlDecode(s string) string {
	for range 3 {
		if !strings.ContainsAny(s, "%+") {
			return s
		}
		d, err := url.QueryUnescape(s)
		if err != nil {
			d = lenientUnescape(s)
		}
		if d == s {
			return s
		}
		s = d
	}
	return s
}

// lenientUnescape decodes the valid %XX escapes and leaves the rest.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		if c == '+' {
			c = ' '
		}
		b.WriteByte(c)
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// globToRegexp turns a Sigma-style wildcard value (* any run, ? one
// character, \ escapes) into an anchored expression; ok is false when the
// value has no wildcard.
func globToRegexp(s string, cased bool) (*regexp.Regexp, bool, error) {
	if !strings.ContainsAny(s, "*?") {
		return nil, false, nil
	}
	var b strings.Builder
	if !cased {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	wild := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`*?\`, s[i+1]) >= 0:
			b.WriteString(regexp.QuoteMeta(s[i+1 : i+2]))
			i++
		case c == '*':
			b.WriteString("(?s:.*)")
			wild = true
		case c == '?':
			b.WriteString("(?s:.)")
			wild = true
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	if !wild {
		return nil, false, nil
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return re, true, err
}

// Field is the field the condition reads.
func (l *Leaf) Field() Field { return l.f }

// URLDecode tells whether the condition url-decodes the field's text.
func (l *Leaf) URLDecode() bool { return l.urldecode }

// EqualityValues are the values of a plain equality (see Equalities), as
// written.
func (l *Leaf) EqualityValues() []string {
	out := make([]string, len(l.values))
	for i := range l.values {
		out[i] = l.values[i].s
	}
	return out
}

// TopLeaves are the field conditions at the top level of an AND: each
// must hold for c to.
func TopLeaves(c Cond) []*Leaf {
	switch x := c.(type) {
	case *Leaf:
		return []*Leaf{x}
	case andCond:
		var out []*Leaf
		for _, k := range x {
			if l, ok := k.(*Leaf); ok {
				out = append(out, l)
			}
		}
		return out
	}
	return nil
}

// Equalities are the top-level plain equalities of c (no transform, no
// wildcard, no variable, not on the event type): an index can file c
// under their values.
func Equalities(c Cond) []*Leaf {
	var out []*Leaf
	for _, l := range TopLeaves(c) {
		if l.op != opEq || l.all || l.lower || l.urldecode || l.fieldref || l.f.top == topType {
			continue
		}
		plain := true
		for _, v := range l.values {
			if v.varIdx >= 0 || v.re != nil {
				plain = false
			}
		}
		if plain {
			out = append(out, l)
		}
	}
	return out
}

// VarJoin is a top-level condition "field equals variable".
type VarJoin struct {
	Var   int
	Field Field
}

// VarJoins are the conditions of the top level of c that compare a field
// with one sequence variable: lookups by the variable's value find the
// instances an event may advance.
func VarJoins(c Cond) []VarJoin {
	var out []VarJoin
	for _, l := range TopLeaves(c) {
		if l.op != opEq || len(l.values) != 1 || l.values[0].varIdx < 0 {
			continue
		}
		out = append(out, VarJoin{l.values[0].varIdx, l.f})
	}
	return out
}
