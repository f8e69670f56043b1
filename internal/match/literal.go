package match

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Literal prefiltering. A matcher that no equality can index is still
// skipped for most events when one of its top-level conditions requires
// the text of a field to contain one of a few literals (a contains,
// startswith or endswith value, the fixed part of a wildcard, a literal a
// regular expression cannot match without). One scan of the field's text
// by an Aho-Corasick automaton over all such literals of an event type
// then names the matchers worth evaluating.
//
// Literals and text are compared folded: lower case, with the two
// non-ASCII letters whose case folding reaches ASCII (U+017F long s and
// U+212A Kelvin sign) mapped to it. Folding is applied character by
// character to both, so whenever a condition holds, the folded text
// contains the folded literal; a literal is a necessary condition, never a
// sufficient one: the matcher is evaluated in full.

// minLiteral is the shortest literal worth indexing: shorter ones occur in
// nearly every text, and cost a scan for nothing.
const minLiteral = 2

// fold lower-cases s for literal comparison (see above).
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return lowerASCII(s)
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 0x17F:
			return 's'
		case 0x212A:
			return 'k'
		}
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}
		return unicode.ToLower(r)
	}, s)
}

// Literals returns literals of which the text of l's field (after
// l's urldecode, folded) contains at least one whenever l holds.
func (l *Leaf) Literals() ([]string, bool) {
	if l.fieldref || l.lower && l.op == opRe || l.f.top == topType || len(l.values) == 0 {
		return nil, false
	}
	var sets [][]string
	for i := range l.values {
		x := &l.values[i]
		if x.varIdx >= 0 {
			return nil, false
		}
		var set []string
		switch l.op {
		case opContains, opStartsWith, opEndsWith:
			set = []string{fold(x.s)}
		case opEq:
			switch {
			case x.re != nil:
				var ok bool
				if set, ok = regexpLiterals(x.re.String()); !ok {
					return nil, false
				}
			case x.isNum:
				// Numbers compare as numbers: "80" and 80.0 are equal.
				return nil, false
			default:
				// Equality folds case fully: only ASCII folds the same way.
				for i := 0; i < len(x.s); i++ {
					if x.s[i] >= utf8.RuneSelf {
						return nil, false
					}
				}
				set = []string{fold(x.s)}
			}
		case opRe:
			var ok bool
			if set, ok = regexpLiterals(x.re.String()); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
		for _, s := range set {
			if len(s) < minLiteral {
				return nil, false
			}
		}
		sets = append(sets, set)
	}
	if l.all {
		// Every value must hold: any one's literals are required; take
		// the most selective.
		best := sets[0]
		for _, s := range sets[1:] {
			if shortest(s) > shortest(best) {
				best = s
			}
		}
		return best, true
	}
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	return out, true
}

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// regexpLiterals returns literals of which any text the expression matches
// contains one (folded), or false when it has no such literals.
func regexpLiterals(expr string) ([]string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return required(re.Simplify())
}

func required(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			// Folding an ASCII letter may reach a non-ASCII one (and
			// back): only ASCII literals fold safely.
			for _, r := range re.Rune {
				if r >= utf8.RuneSelf {
					return nil, false
				}
			}
		}
		s := fold(string(re.Rune))
		return []string{s}, s != ""
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if set, ok := required(sub); ok && (best == nil || shortest(set) > shortest(best)) {
				best = set
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set, ok := required(sub)
			if !ok {
				return nil, false
			}
			out = append(out, set...)
		}
		return out, len(out) > 0
	}
	return nil, false
}

// lowerASCII lower-cases s, allocating only when it has upper-case
// letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// LiteralText prepares a field's text for a literal scan: url-decoded
// when the conditions whose literals are scanned for decode it, and
// folded as their literals are.
type LiteralText struct{ l Leaf }

// LiteralText returns how to prepare f's text (url-decoded or not) for a
// literal scan, cached in this set's slots.
func (s *Slots) LiteralText(f Field, urldecode bool) LiteralText {
	return LiteralText{Leaf{f: f, urldecode: urldecode, folds: true, op: opContains, tslot: s.foldSlot(f.name, urldecode)}}
}

// Text prepares v, a value of the field or an item of its list.
func (t *LiteralText) Text(v any) string { return t.l.text(v) }

// TextOf prepares the field's own value v, once per event of c.
func (t *LiteralText) TextOf(c *Ctx, v any) string { return t.l.textOf(c, v) }
