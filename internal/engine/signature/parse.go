package signature

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// A rule file holds YAML documents, each a rule (a mapping), a list of
// rules, or a mapping with "lists" (named value lists the rules use as
// @name) and optionally "rules". Parsing keeps every node's position, so
// that each mistake is reported with its line; all mistakes are reported
// at once.

// MaxRuleFileBytes bounds a rule file (the limit of every file Vigil
// reads).
const MaxRuleFileBytes = yamlnode.MaxFileBytes

// MaxRules bounds the rules of one rule set (every file an engine loads);
// the rules past it are not parsed.
const MaxRules = 10000

// ruleDoc is a rule as written, before compilation.
type ruleDoc struct {
	file          string
	path          string
	line, col     int
	ID            string
	Title         string
	Description   string
	Severity      event.Severity
	severitySet   bool
	Score         float64
	scoreSet      bool
	State         string
	Report        string
	Subject       string
	Fields        []string
	Tags          []string
	References    []string
	Suppress      time.Duration
	suppressSet   bool
	SuppressBy    []string
	suppressBySet bool
	Enabled       bool
	Group         string
	Silent        bool
	Match         *match.Doc
	Threshold     *thresholdDoc
	Sequence      *sequenceDoc
	Requires      []factDoc
	Unless        []factDoc
	Asserts       *factDoc
	// source is the rule's canonical text: a rule whose text is unchanged
	// keeps its state across reloads.
	source string
}
type thresholdDoc struct {
	line, col int
	GroupBy   []string
	Count     int
	Distinct  string
	Window    time.Duration
	// Sum names a numeric field whose values are added up instead of
	// counting one per event.
	Sum string
	// Spread asks that the events counted carry at least SpreadCount
	// distinct values of the field Spread within the window.
	Spread      string
	SpreadCount int
	// Tally reports at the end of each window what a group counted,
	// instead of firing as soon as the count is reached.
	Tally bool
}

type sequenceDoc struct {
	line, col int
	By        []string
	Within    time.Duration
	Steps     []stepDoc
	Attempt   *attemptDoc
}

type stepDoc struct {
	line, col int
	path      string
	Name      string
	Match     *match.Doc
	Bind      map[string]string
	bindOrder []string
	Within    time.Duration
	Absent    bool
	Effect    bool
}

// attemptDoc is what a sequence reports when it got as far as the step
// before its effect but the effect never came.
type attemptDoc struct {
	Severity    event.Severity
	severitySet bool
	Score       float64
	scoreSet    bool
	Report      string
}

type factDoc struct {
	line, col int
	path      string
	Fact      string
	Key       []string
	TTL       time.Duration
	// Scope "host" says a fact keyed only by the host is meant to be
	// about the whole host.
	Scope string
}

// parser collects the documents of rule files and their problems.
type parser struct {
	yamlnode.Reader
	rules []*ruleDoc
	// lists are each file's named lists: a rule sees those of its file.
	lists map[string]map[string][]match.Value
	// listPos is where each list was defined, for duplicate messages.
	listPos map[string]string
	// seen counts the rules met, parsed or not, against MaxRules.
	seen int
}

// parseFile parses one rule file's bytes.
func (p *parser) parseFile(name string, data []byte) {
	p.File = name
	p.Documents(data, func(i int, root *yaml.Node) { p.document(root, i) })
}

func (p *parser) document(n *yaml.Node, doc int) {
	n = yamlnode.Resolve(n)
	path := ""
	if doc > 0 {
		path = fmt.Sprintf("doc[%d]", doc)
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p.rule(yamlnode.Resolve(item), yamlnode.Index(path, i))
		}
	case yaml.MappingNode:
		if yamlnode.Lookup(n, "id") != nil {
			p.rule(n, path)
			return
		}
		seen := false
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
			switch k.Value {
			case "lists":
				seen = true
				p.listsSection(v, yamlnode.Join(path, "lists"))
			case "rules":
				seen = true
				if v.Kind != yaml.SequenceNode {
					p.Addf(v, yamlnode.Join(path, "rules"), "want a list of rules, not %s", yamlnode.Describe(v))
					continue
				}
				for i, item := range v.Content {
					p.rule(yamlnode.Resolve(item), yamlnode.Index(yamlnode.Join(path, "rules"), i))
				}
			default:
				p.Addf(k, yamlnode.Join(path, k.Value), "unknown key %q (a document is a rule with an id, a list of rules, or lists: and rules:)", k.Value)
			}
		}
		if !seen && len(n.Content) == 0 {
			p.Addf(n, path, "empty document")
		}
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return
		}
		fallthrough
	default:
		p.Addf(n, path, "a document is a rule (a mapping with an id) or a list of rules, not %s", yamlnode.Describe(n))
	}
}

func (p *parser) listsSection(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping of list names to lists of values")
		return
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		lp := yamlnode.Join(path, k.Value)
		if !match.ValidName(k.Value) {
			p.Addf(k, lp, "list name %q: use letters, digits, '_' and '-'", k.Value)
			continue
		}
		if prev, dup := p.listPos[p.File+"\x00"+k.Value]; dup {
			p.Addf(k, lp, "list %q is already defined at %s", k.Value, prev)
			continue
		}
		vals := match.ReadValues(&p.Reader, v, lp, false)
		for _, x := range vals {
			if x.IsRef() {
				p.Addf(v, lp, "a list holds plain values, not @lists or $variables")
			}
		}
		if p.lists == nil {
			p.lists, p.listPos = map[string]map[string][]match.Value{}, map[string]string{}
		}
		if p.lists[p.File] == nil {
			p.lists[p.File] = map[string][]match.Value{}
		}
		p.lists[p.File][k.Value] = vals
		p.listPos[p.File+"\x00"+k.Value] = fmt.Sprintf("%s:%d", p.File, k.Line)
	}
}

var ruleKeys = map[string]bool{
	"id": true, "title": true, "description": true, "severity": true, "score": true, "state": true, "report": true,
	"subject": true, "fields": true, "tags": true, "references": true, "suppress": true, "suppress_by": true, "enabled": true, "silent": true, "group": true,
	"match": true, "threshold": true, "sequence": true, "requires": true, "unless": true, "asserts": true,
	"lists": true,
}

func (p *parser) rule(n *yaml.Node, path string) {
	if p.seen++; p.seen > MaxRules {
		if p.seen == MaxRules+1 {
			p.Addf(n, path, "more than %d rules: the limit of a rule set (the rest are not read)", MaxRules)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "a rule is a mapping, not %s", yamlnode.Describe(n))
		return
	}
	r := &ruleDoc{file: p.File, path: path, line: n.Line, col: n.Column, Enabled: true}
	if out, err := yaml.Marshal(n); err == nil {
		r.source = string(out)
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		if !ruleKeys[k.Value] {
			p.UnknownKey(k, kp, slices.Collect(maps.Keys(ruleKeys)))
			continue
		}
		switch k.Value {
		case "lists":
			// A file of one rule may define its lists beside it.
			p.listsSection(v, kp)
		case "id":
			r.ID = p.String(v, kp)
			if r.ID != "" && !validID(r.ID) {
				p.Addf(v, kp, "rule id %q: use letters, digits, '.', '_' and '-' (at most 64)", r.ID)
			}
		case "title":
			r.Title = p.String(v, kp)
		case "description":
			r.Description = p.String(v, kp)
		case "severity":
			r.Severity, r.severitySet = p.Severity(v, kp)
		case "score":
			r.Score, r.scoreSet = p.score(v, kp)
		case "state":
			r.State = p.String(v, kp)
		case "report":
			r.Report = p.String(v, kp)
			if len(r.Report) > event.MaxExplanationLen {
				p.Addf(v, kp, "longer than %d bytes", event.MaxExplanationLen)
			}
		case "subject":
			r.Subject = p.String(v, kp)
		case "fields":
			r.Fields = p.OneOrMore(v, kp)
		case "tags":
			r.Tags = p.OneOrMore(v, kp)
		case "references":
			r.References = p.OneOrMore(v, kp)
		case "suppress":
			r.Suppress = p.Duration(v, kp, true)
			r.suppressSet = true
		case "suppress_by":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				r.SuppressBy = []string{}
			} else {
				r.SuppressBy = p.fields(v, kp)
			}
			r.suppressBySet = true
		case "enabled":
			r.Enabled = p.Bool(v, kp)
		case "group":
			r.Group = p.String(v, kp)
			if r.Group != "" && !validID(r.Group) {
				p.Addf(v, kp, "group %q: use letters, digits, '.', '_' and '-' (at most 64)", r.Group)
			}
		case "silent":
			r.Silent = p.Bool(v, kp)
		case "match":
			r.Match = p.match(v, kp)
		case "threshold":
			r.Threshold = p.threshold(v, kp)
		case "sequence":
			r.Sequence = p.sequence(v, kp)
		case "requires", "unless":
			var facts []factDoc
			if v.Kind != yaml.SequenceNode {
				p.Addf(v, kp, "want a list of facts")
				continue
			}
			for i, item := range v.Content {
				if f := p.fact(yamlnode.Resolve(item), yamlnode.Index(kp, i), false); f != nil {
					facts = append(facts, *f)
				}
			}
			if k.Value == "requires" {
				r.Requires = facts
			} else {
				r.Unless = facts
			}
		case "asserts":
			r.Asserts = p.fact(v, kp, true)
		}
	}
	if r.ID == "" && yamlnode.Lookup(n, "id") == nil {
		p.Missing(n, path, "id", "")
	}
	kinds := 0
	for _, set := range []bool{r.Match != nil && r.Threshold == nil, r.Sequence != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case r.Threshold != nil && r.Match == nil && yamlnode.Lookup(n, "match") == nil:
		p.Addf(n, path, "a threshold rule needs a match (the events it counts)")
	case r.Sequence != nil && yamlnode.Lookup(n, "match") != nil:
		p.Addf(yamlnode.Lookup(n, "match"), yamlnode.Join(path, "match"), "a sequence rule matches in its steps, not with match")
	case r.Sequence != nil && r.Threshold != nil:
		p.Addf(yamlnode.Lookup(n, "threshold"), yamlnode.Join(path, "threshold"), "a rule is a threshold or a sequence, not both")
	case kinds == 0 && r.Threshold == nil && yamlnode.Lookup(n, "match") == nil:
		p.Addf(n, path, "a rule needs match (with threshold, optionally) or sequence")
	}
	p.rules = append(p.rules, r)
}

func (p *parser) threshold(n *yaml.Node, path string) *thresholdDoc {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping with count, window and optionally group_by and distinct")
		return nil
	}
	t := &thresholdDoc{line: n.Line, col: n.Column}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "group_by":
			t.GroupBy = p.fields(v, kp)
		case "count":
			t.Count = p.Int(v, kp)
			if t.Count < 1 || t.Count > 1_000_000 {
				p.Addf(v, kp, "a count from 1 to 1,000,000")
			}
		case "distinct":
			t.Distinct = p.String(v, kp)
			if !match.ValidField(t.Distinct) {
				p.Addf(v, kp, "field %q: use letters, digits, '.', '_', ':' and '-'", t.Distinct)
			}
		case "window":
			t.Window = p.Duration(v, kp, false)
		case "sum":
			t.Sum = p.String(v, kp)
			if !match.ValidField(t.Sum) {
				p.Addf(v, kp, "field %q: use letters, digits, '.', '_', ':' and '-'", t.Sum)
			}
		case "spread":
			p.spread(t, v, kp)
		case "tally":
			t.Tally = p.Bool(v, kp)
		default:
			p.UnknownKey(k, kp, []string{"group_by", "count", "distinct", "sum", "spread", "tally", "window"})
		}
	}
	if t.Distinct != "" {
		for _, o := range []struct {
			key string
			set bool
		}{{"sum", t.Sum != ""}, {"spread", t.Spread != ""}, {"tally", t.Tally}} {
			if key := o.key; o.set {
				p.Addf(yamlnode.Lookup(n, key), yamlnode.Join(path, key), "%s goes with a count of events, not with distinct (which counts values)", key)
			}
		}
	}
	if yamlnode.Lookup(n, "count") == nil {
		p.Missing(n, path, "count", "")
	}
	if yamlnode.Lookup(n, "window") == nil {
		p.Missing(n, path, "window", "")
	}
	return t
}

// spread reads a threshold's spread: {field: F, count: N}.
func (p *parser) spread(t *thresholdDoc, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping with field and count (the distinct values of field the events must come from)")
		return
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "field":
			t.Spread = p.String(v, kp)
			if !match.ValidField(t.Spread) {
				p.Addf(v, kp, "field %q: use letters, digits, '.', '_', ':' and '-'", t.Spread)
			}
		case "count":
			t.SpreadCount = p.Int(v, kp)
			if t.SpreadCount < 1 || t.SpreadCount > 1000 {
				p.Addf(v, kp, "a count from 1 to 1,000")
			}
		default:
			p.UnknownKey(k, kp, []string{"field", "count"})
		}
	}
	if yamlnode.Lookup(n, "field") == nil {
		p.Missing(n, path, "field", "")
	}
	if yamlnode.Lookup(n, "count") == nil {
		p.Missing(n, path, "count", "")
	}
}

func (p *parser) sequence(n *yaml.Node, path string) *sequenceDoc {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping with steps, and optionally by, within and attempt")
		return nil
	}
	s := &sequenceDoc{line: n.Line, col: n.Column}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "by":
			s.By = p.fields(v, kp)
		case "within":
			s.Within = p.Duration(v, kp, false)
		case "steps":
			if v.Kind != yaml.SequenceNode || len(v.Content) < 2 {
				p.Addf(v, kp, "a sequence has a list of at least two steps")
				continue
			}
			for i, item := range v.Content {
				s.Steps = append(s.Steps, p.step(yamlnode.Resolve(item), yamlnode.Index(kp, i)))
			}
		case "attempt":
			s.Attempt = p.attempt(v, kp)
		default:
			p.UnknownKey(k, kp, []string{"by", "within", "steps", "attempt"})
		}
	}
	if yamlnode.Lookup(n, "steps") == nil {
		p.Missing(n, path, "steps", "")
	}
	return s
}

func (p *parser) step(n *yaml.Node, path string) stepDoc {
	st := stepDoc{line: n.Line, col: n.Column, path: path}
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "a step is a mapping with match, and optionally name, bind, within, absent, effect")
		return st
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "name":
			st.Name = p.String(v, kp)
		case "match":
			st.Match = p.match(v, kp)
		case "bind":
			if v.Kind != yaml.MappingNode {
				p.Addf(v, kp, "bind maps variable names to the fields they take their values from")
				continue
			}
			st.Bind = map[string]string{}
			for b := 0; b+1 < len(v.Content); b += 2 {
				name, field := v.Content[b].Value, p.String(yamlnode.Resolve(v.Content[b+1]), yamlnode.Join(kp, v.Content[b].Value))
				if !match.ValidName(name) {
					p.Addf(v.Content[b], yamlnode.Join(kp, name), "variable name %q: use letters, digits, '_' and '-'", name)
					continue
				}
				if !match.ValidField(field) {
					p.Addf(v.Content[b+1], yamlnode.Join(kp, name), "field %q: use letters, digits, '.', '_', ':' and '-'", field)
					continue
				}
				st.Bind[name] = field
				st.bindOrder = append(st.bindOrder, name)
			}
		case "within":
			st.Within = p.Duration(v, kp, false)
		case "absent":
			st.Absent = p.Bool(v, kp)
		case "effect":
			st.Effect = p.Bool(v, kp)
		default:
			p.UnknownKey(k, kp, []string{"name", "match", "bind", "within", "absent", "effect"})
		}
	}
	if yamlnode.Lookup(n, "match") == nil {
		p.Missing(n, path, "match", "")
	}
	return st
}

func (p *parser) attempt(n *yaml.Node, path string) *attemptDoc {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping with severity, score and report")
		return nil
	}
	a := &attemptDoc{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "severity":
			a.Severity, a.severitySet = p.Severity(v, kp)
		case "score":
			a.Score, a.scoreSet = p.score(v, kp)
		case "report":
			a.Report = p.String(v, kp)
		default:
			p.UnknownKey(k, kp, []string{"severity", "score", "report"})
		}
	}
	return a
}

func (p *parser) fact(n *yaml.Node, path string, assert bool) *factDoc {
	if n.Kind != yaml.MappingNode {
		p.Addf(n, path, "want a mapping with fact and key")
		return nil
	}
	f := &factDoc{line: n.Line, col: n.Column, path: path}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], yamlnode.Resolve(n.Content[j+1])
		kp := yamlnode.Join(path, k.Value)
		switch k.Value {
		case "fact":
			f.Fact = p.String(v, kp)
			if !match.ValidName(f.Fact) {
				p.Addf(v, kp, "fact name %q: use letters, digits, '_' and '-'", f.Fact)
			}
		case "key":
			f.Key = p.fields(v, kp)
		case "scope":
			f.Scope = p.String(v, kp)
			if f.Scope != "host" {
				p.Addf(v, kp, "scope %q: the one scope a fact names is host (a fact keyed only by the host, on purpose)", f.Scope)
			}
		case "ttl":
			if !assert {
				p.Addf(k, kp, "ttl belongs to asserts, where the fact is made")
				continue
			}
			f.TTL = p.Duration(v, kp, false)
		default:
			known := []string{"fact", "key", "scope"}
			if assert {
				known = append(known, "ttl")
			}
			p.UnknownKey(k, kp, known)
		}
	}
	if yamlnode.Lookup(n, "fact") == nil {
		p.Missing(n, path, "fact", "")
	}
	if assert && f.TTL == 0 {
		f.TTL = time.Hour
	}
	return f
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (p *parser) match(n *yaml.Node, path string) *match.Doc {
	return match.ReadDoc(&p.Reader, n, path)
}
func (p *parser) fields(n *yaml.Node, path string) []string {
	fs := p.OneOrMore(n, path)
	for _, f := range fs {
		if !match.ValidField(f) {
			p.Addf(n, path, "field %q: use letters, digits, '.', '_', ':' and '-'", f)
		}
	}
	return fs
}

// score reads a score (0 to 1) and tells whether one was given.
func (p *parser) score(n *yaml.Node, path string) (float64, bool) {
	before := len(p.Problems)
	f := p.Fraction(n, path, true)
	return f, len(p.Problems) == before
}
