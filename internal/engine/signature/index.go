package signature

import (
	"slices"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

// index finds the matchers an event can satisfy, so that an event meets
// only the matchers that can fire: by its type (exact, prefix "NET.*", or
// "*"), then, within a type, each matcher is filed once, under the most
// selective of
//
//   - a field it requires to equal one of a few values (the bucket of the
//     event's value is looked up),
//   - literals it requires the text of a field to contain (one
//     Aho-Corasick scan of the field's text names the matchers whose
//     literals occur; see literal.go),
//   - or nothing: evaluated for every event of the type.
//
// Candidates come out once each, in the order of the rule files.
type index struct {
	exact    map[string][]*matcher
	prefixes []prefixMatchers
	all      []*matcher

	// buckets are built on first sight of a type. A rule set is used by
	// one engine, from one goroutine.
	buckets map[string]*bucket
	rs      *RuleSet

	// byOrd are the matchers by their order in the rule set.
	byOrd []*matcher
	// Reused by candidates: the output (as orders: sorting integers
	// costs no write barriers), and the stamps that keep a matcher from
	// coming out twice.
	cand  []int32
	stamp []uint32
	gen   uint32
}

type prefixMatchers struct {
	prefix string
	ms     []*matcher
}

// bucket holds the matchers of one event type.
type bucket struct {
	plain  []*matcher // evaluated for every event of the type
	fields []fieldIndex
	lits   []litIndex
}

type fieldIndex struct {
	f     match.Field
	byStr map[string][]*matcher // lower-cased text of the value
	byNum map[float64][]*matcher
}

// litIndex finds the matchers of a bucket whose literals the text of one
// field (url-decoded or not) contains.
type litIndex struct {
	f  match.Field
	tl match.LiteralText // how the text is prepared, and where it is cached
	ac *acMachine
}

// maxBuckets bounds the per-type cache (types are open-ended).
const maxBuckets = 4096

func buildIndex(rs *RuleSet) *index {
	ix := &index{exact: map[string][]*matcher{}, buckets: map[string]*bucket{}, rs: rs, stamp: make([]uint32, rs.nmatchers), byOrd: make([]*matcher, rs.nmatchers)}
	add := func(m *matcher) {
		ix.byOrd[m.ord] = m
		for _, t := range m.types {
			switch {
			case t == "*":
				ix.all = append(ix.all, m)
			case strings.HasSuffix(t, "*"):
				p := strings.TrimSuffix(t, "*")
				found := false
				for i := range ix.prefixes {
					if ix.prefixes[i].prefix == p {
						ix.prefixes[i].ms = append(ix.prefixes[i].ms, m)
						found = true
					}
				}
				if !found {
					ix.prefixes = append(ix.prefixes, prefixMatchers{p, []*matcher{m}})
				}
			default:
				ix.exact[t] = append(ix.exact[t], m)
			}
		}
	}
	for _, r := range rs.Rules {
		if r.match != nil {
			add(r.match)
		}
		if r.seq != nil {
			for i := range r.seq.steps {
				add(r.seq.steps[i].m)
			}
		}
	}
	return ix
}

// candidates returns the matchers that may match c's event, each once, in
// rule order, as their orders (byOrd holds them). The slice is reused by
// the next call.
func (ix *index) candidates(c *match.Ctx) []int32 {
	ev := c.Event()
	b := ix.bucket(ev.Type)
	ix.gen++
	if ix.gen == 0 {
		clear(ix.stamp)
		ix.gen = 1
	}
	ix.cand = ix.cand[:0]
	add := func(m *matcher) {
		if ix.stamp[m.ord] != ix.gen {
			ix.stamp[m.ord] = ix.gen
			ix.cand = append(ix.cand, int32(m.ord))
		}
	}
	for _, m := range b.plain {
		add(m)
	}
	for i := range b.fields {
		fi := &b.fields[i]
		v, ok := c.Get(&fi.f)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			for _, m := range fi.byStr[lowerASCII(x)] {
				add(m)
			}
		case int64:
			for _, m := range fi.byNum[float64(x)] {
				add(m)
			}
		case float64:
			for _, m := range fi.byNum[x] {
				add(m)
			}
		case bool:
			for _, m := range fi.byStr[event.FormatValue(x)] {
				add(m)
			}
		case []string:
			for _, s := range x {
				for _, m := range fi.byStr[lowerASCII(s)] {
					add(m)
				}
			}
		}
	}
	for i := range b.lits {
		li := &b.lits[i]
		v, ok := c.Get(&li.f)
		if !ok {
			continue
		}
		if list, isList := v.([]string); isList {
			for _, s := range list {
				li.ac.scan(li.tl.Text(s), add)
			}
			continue
		}
		li.ac.scan(li.tl.TextOf(c, v), add)
	}
	// In rule order: plain matchers came first, the others as found.
	slices.Sort(ix.cand)
	return ix.cand
}

// indexChoice is one way of filing a matcher.
type indexChoice struct {
	eq   *match.Leaf // an equality
	lit  *match.Leaf // or a literal condition
	lits []string    // its literals
}

func (ix *index) bucket(typ string) *bucket {
	if b, ok := ix.buckets[typ]; ok {
		return b
	}
	var ms []*matcher
	ms = append(ms, ix.exact[typ]...)
	for _, p := range ix.prefixes {
		if strings.HasPrefix(typ, p.prefix) {
			ms = append(ms, p.ms...)
		}
	}
	ms = append(ms, ix.all...)
	// A matcher whose types name this one twice comes once.
	seen := make(map[*matcher]bool, len(ms))
	uniq := ms[:0]
	for _, m := range ms {
		if !seen[m] {
			seen[m] = true
			uniq = append(uniq, m)
		}
	}
	ms = uniq

	// How many matchers could be filed under each equality value: a
	// matcher goes where it shares its bucket with the fewest others.
	eqKey := func(l *match.Leaf, v string) string { return l.Field().Name() + "\x00" + strings.ToLower(v) }
	popularity := map[string]int{}
	choices := make([][]indexChoice, len(ms))
	for i, m := range ms {
		for _, l := range match.Equalities(m.cond) {
			choices[i] = append(choices[i], indexChoice{eq: l})
			for _, v := range l.EqualityValues() {
				popularity[eqKey(l, v)]++
			}
		}
		for _, l := range match.TopLeaves(m.cond) {
			if lits, ok := l.Literals(); ok {
				choices[i] = append(choices[i], indexChoice{lit: l, lits: lits})
			}
		}
	}
	// The expected number of events meeting a matcher is unknown; the
	// cost of a choice is estimated by what it shares: the sum of its
	// buckets' sizes for an equality, and for literals a fixed share
	// that shrinks with their length (a scan finds a long literal
	// rarely).
	cost := func(ch indexChoice) float64 {
		if ch.eq != nil {
			n := 0
			for _, v := range ch.eq.EqualityValues() {
				n += popularity[eqKey(ch.eq, v)]
			}
			return float64(n)
		}
		return float64(len(ch.lits)) * 64 / float64(shortest(ch.lits))
	}
	b := &bucket{}
	litGroups := map[string]map[string][]*matcher{}
	litLeaf := map[string]*match.Leaf{}
	var litOrder []string
	for i, m := range ms {
		best := -1
		for k, ch := range choices[i] {
			if best < 0 || cost(ch) < cost(choices[i][best]) {
				best = k
			}
		}
		if best < 0 {
			b.plain = append(b.plain, m)
			continue
		}
		ch := choices[i][best]
		if ch.lit != nil {
			key := ch.lit.Field().Name()
			if ch.lit.URLDecode() {
				key += "|urldecode"
			}
			if litGroups[key] == nil {
				litGroups[key] = map[string][]*matcher{}
				litLeaf[key] = ch.lit
				litOrder = append(litOrder, key)
			}
			for _, s := range ch.lits {
				if !containsMatcher(litGroups[key][s], m) {
					litGroups[key][s] = append(litGroups[key][s], m)
				}
			}
			continue
		}
		l := ch.eq
		var fi *fieldIndex
		for k := range b.fields {
			if b.fields[k].f.Name() == l.Field().Name() {
				fi = &b.fields[k]
			}
		}
		if fi == nil {
			f := l.Field()
			ix.rs.slots.Field(&f)
			b.fields = append(b.fields, fieldIndex{f: f, byStr: map[string][]*matcher{}, byNum: map[float64][]*matcher{}})
			fi = &b.fields[len(b.fields)-1]
		}
		for _, v := range l.EqualityValues() {
			key := strings.ToLower(v)
			if !containsMatcher(fi.byStr[key], m) {
				fi.byStr[key] = append(fi.byStr[key], m)
			}
			if n, err := parseNumber(v); err == nil && !containsMatcher(fi.byNum[n], m) {
				fi.byNum[n] = append(fi.byNum[n], m)
			}
		}
	}
	for _, key := range litOrder {
		l := litLeaf[key]
		f := l.Field()
		ix.rs.slots.Field(&f)
		b.lits = append(b.lits, litIndex{f: f, tl: ix.rs.slots.LiteralText(f, l.URLDecode()), ac: newACMachine(litGroups[key])})
	}
	if len(ix.buckets) >= maxBuckets {
		clear(ix.buckets)
	}
	ix.buckets[typ] = b
	return b
}

func containsMatcher(ms []*matcher, m *matcher) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
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

// shortest is the length of the shortest literal of set.
func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}
