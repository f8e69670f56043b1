package signature

import (
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
)

// field names where a value comes from: the event's own fields (type, id,
// host, ip, source) or an attribute.
type field struct {
	name string
	top  int // topNone, or which top-level field
	// slot is where an evaluation caches the field's value for the event
	// at hand (0: not cached); see RuleSet.assignSlots.
	slot int
}

const (
	topNone = iota
	topType
	topID
	topHost
	topIP
	topSource
)

func newField(name string) field {
	switch name {
	case "type":
		return field{name: name, top: topType}
	case "id":
		return field{name: name, top: topID}
	case "host":
		return field{name: name, top: topHost}
	case "ip":
		return field{name: name, top: topIP}
	case "source":
		return field{name: name, top: topSource}
	}
	return field{name: name}
}

// get returns the field's value in ev: a string, int64, float64, bool or
// []string; false when the event has none.
func (f field) get(ev *event.Event) (any, bool) {
	switch f.top {
	case topType:
		return ev.Type, true
	case topID:
		return ev.ID, ev.ID != ""
	case topHost:
		return ev.Host, ev.Host != ""
	case topIP:
		return ev.IP, ev.IP != ""
	case topSource:
		return ev.Source, ev.Source != ""
	}
	v, ok := ev.Attrs[f.name]
	return v, ok
}

// text returns the field's value as text ("" when missing).
func (f field) text(ev *event.Event) string {
	v, ok := f.get(ev)
	if !ok {
		return ""
	}
	return event.FormatValue(v)
}

// evalCtx is what a condition is evaluated against: the event, a
// sequence instance's variables, and what was already worked out about
// the event (field values, transformed text, parsed addresses), so that a
// thousand rules looking at the same field read and transform it once.
type evalCtx struct {
	ev   *event.Event
	vars []string // a sequence instance's bound variables
	gen  uint32   // the event's generation: slots of another are stale
	raw  []rawSlot
	txt  []txtSlot
}

type rawSlot struct {
	gen  uint32
	ok   bool
	addr uint8 // 0: not parsed yet, 1: an address, 2: not an address
	v    any
	a    netip.Addr
}

type txtSlot struct {
	gen uint32
	s   string
}

// newEvalCtx makes a context with room for a rule set's slots.
func newEvalCtx(rs *RuleSet) evalCtx {
	return evalCtx{raw: make([]rawSlot, rs.nraw), txt: make([]txtSlot, rs.ntxt)}
}

// reset starts on a new event.
func (c *evalCtx) reset(ev *event.Event) {
	c.ev, c.vars = ev, nil
	c.gen++
	if c.gen == 0 { // wrapped: no slot may look current
		clear(c.raw)
		clear(c.txt)
		c.gen = 1
	}
}

// get is f.get(c.ev), read once per event.
func (c *evalCtx) get(f *field) (any, bool) {
	if f.slot <= 0 || f.slot >= len(c.raw) {
		return f.get(c.ev)
	}
	r := &c.raw[f.slot]
	if r.gen != c.gen {
		v, ok := f.get(c.ev)
		*r = rawSlot{gen: c.gen, ok: ok, v: v}
	}
	return r.v, r.ok
}

// addrOf parses the text v of field f as an address, once per event.
func (c *evalCtx) addrOf(f *field, s string) (netip.Addr, bool) {
	if f.slot <= 0 || f.slot >= len(c.raw) || c.raw[f.slot].gen != c.gen {
		a, err := netip.ParseAddr(s)
		return a.Unmap(), err == nil
	}
	r := &c.raw[f.slot]
	if r.addr == 0 {
		r.addr = 2
		if a, err := netip.ParseAddr(s); err == nil {
			r.a, r.addr = a.Unmap(), 1
		}
	}
	return r.a, r.addr == 1
}

// cond is a compiled condition.
type cond interface {
	eval(c *evalCtx) bool
}

type andCond []cond

func (a andCond) eval(c *evalCtx) bool {
	for _, k := range a {
		if !k.eval(c) {
			return false
		}
	}
	return true
}

type orCond []cond

func (o orCond) eval(c *evalCtx) bool {
	for _, k := range o {
		if k.eval(c) {
			return true
		}
	}
	return false
}

type notCond struct{ c cond }

func (n notCond) eval(c *evalCtx) bool { return !n.c.eval(c) }

type trueCond struct{}

func (trueCond) eval(*evalCtx) bool { return true }

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
	ref    *field // |fieldref: another field of the same event
	b      bool
}

// leaf is one field condition.
type leaf struct {
	f         field
	tslot     int // where the event's text, prepared for this leaf, is cached
	op        int
	lower     bool // lower-case the event's value (a transform)
	urldecode bool
	all       bool
	cased     bool
	fieldref  bool // the values name fields of the same event
	folds     bool // text is folded for a literal scan (literal.go)
	values    []cvalue
}

func (l *leaf) eval(c *evalCtx) bool {
	v, ok := c.get(&l.f)
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
			o, ok := x.ref.get(c.ev)
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
func (l *leaf) evalOne(v any, c *evalCtx, whole bool) bool {
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
func (l *leaf) textOf(c *evalCtx, v any) string {
	if l.tslot <= 0 || l.tslot >= len(c.txt) {
		return l.text(v)
	}
	t := &c.txt[l.tslot]
	if t.gen != c.gen {
		t.gen, t.s = c.gen, l.text(v)
	}
	return t.s
}

// lowers tells whether the leaf compares lower-cased text.
func (l *leaf) lowers() bool { return l.lower || !l.cased && l.op != opRe }

// text prepares an event's value for a string comparison: transforms,
// then lower case unless the comparison is cased.
func (l *leaf) text(v any) string {
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

func (l *leaf) strEq(s, want string) bool {
	if l.cased {
		return s == want
	}
	return strings.EqualFold(s, want)
}

// each applies test to the values: any of them, or all with |all.
func (l *leaf) each(test func(*cvalue) bool) bool {
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

// compileCond turns a written condition into a compiled one. lists expand
// @name values; vars gives the index of each sequence variable in scope
// (nil outside sequences).
func (c *compiler) compileCond(d *condDoc, vars map[string]int) cond {
	if d == nil {
		return trueCond{}
	}
	switch d.op {
	case "and", "or":
		kids := make([]cond, 0, len(d.kids))
		for _, k := range d.kids {
			kids = append(kids, c.compileCond(k, vars))
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
		return notCond{c.compileCond(d.kids[0], vars)}
	}
	l := &leaf{f: newField(d.field), op: opEq}
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
			if !validField(v.s) {
				c.addf(d, "fieldref: %q is not a field name", v.s)
			}
			f := newField(v.s)
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
			p, err := netip.ParsePrefix(v.s)
			if err != nil {
				a, aerr := netip.ParseAddr(v.s)
				if aerr != nil {
					c.addf(d, "%q is not an address or prefix", v.s)
				} else {
					a = a.Unmap()
					p = netip.PrefixFrom(a, a.BitLen())
				}
			} else if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			cv.prefix = p.Masked()
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
func (c *compiler) expand(d *condDoc) []valueDoc {
	var out []valueDoc
	for _, v := range d.values {
		if v.list == "" {
			out = append(out, v)
			continue
		}
		vals, ok := c.lists[v.list]
		if !ok {
			c.addf(d, "@%s: no such list (lists: in a rule file, or the engine's lists)", v.list)
			continue
		}
		out = append(out, vals...)
	}
	return out
}

// indexKey finds, at the top level of an AND, a plain equality on a field
// that an index can hold: its field and values.
func indexKey(cn cond) (*leaf, bool) {
	var leaves []cond
	switch c := cn.(type) {
	case andCond:
		leaves = c
	case *leaf:
		leaves = []cond{c}
	}
	var best *leaf
	for _, k := range leaves {
		l, ok := k.(*leaf)
		if !ok || l.op != opEq || l.all || l.lower || l.urldecode || l.fieldref || l.f.top == topType {
			continue
		}
		plain := true
		for _, v := range l.values {
			if v.varIdx >= 0 || v.re != nil {
				plain = false
			}
		}
		if plain && (best == nil || len(l.values) < len(best.values)) {
			best = l
		}
	}
	return best, best != nil
}
