package signature

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

// A rule file holds YAML documents, each a rule (a mapping), a list of
// rules, or a mapping with "lists" (named value lists the rules use as
// @name) and optionally "rules". Parsing keeps every node's position, so
// that each mistake is reported with its line; all mistakes are reported
// at once.

// MaxRuleFileBytes bounds a rule file.
const MaxRuleFileBytes = 8 << 20

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
}

// parser collects the documents of rule files and their problems.
type parser struct {
	file  string
	probs []config.Problem
	rules []*ruleDoc
	// lists are each file's named lists: a rule sees those of its file.
	lists map[string]map[string][]match.Value
	// listPos is where each list was defined, for duplicate messages.
	listPos map[string]string
}

func (p *parser) addf(n *yaml.Node, path, format string, args ...any) {
	pr := config.Problem{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.probs = append(p.probs, pr)
}

// parseFile parses one rule file's bytes.
func (p *parser) parseFile(name string, data []byte) {
	p.file = name
	if len(data) > MaxRuleFileBytes {
		p.addf(nil, "", "file is larger than %d bytes", MaxRuleFileBytes)
		return
	}
	if pr, ok := config.EachDocument(name, data, func(i int, root *yaml.Node) { p.document(root, i) }); !ok {
		p.probs = append(p.probs, pr)
	}
}

func (p *parser) document(n *yaml.Node, doc int) {
	n = resolveAlias(n)
	path := ""
	if doc > 0 {
		path = fmt.Sprintf("doc[%d]", doc)
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p.rule(resolveAlias(item), config.Index(path, i))
		}
	case yaml.MappingNode:
		if lookup(n, "id") != nil {
			p.rule(n, path)
			return
		}
		seen := false
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], resolveAlias(n.Content[j+1])
			switch k.Value {
			case "lists":
				seen = true
				p.listsSection(v, config.Join(path, "lists"))
			case "rules":
				seen = true
				if v.Kind != yaml.SequenceNode {
					p.addf(v, config.Join(path, "rules"), "want a list of rules, not a %s", kindName(v))
					continue
				}
				for i, item := range v.Content {
					p.rule(resolveAlias(item), config.Index(config.Join(path, "rules"), i))
				}
			default:
				p.addf(k, config.Join(path, k.Value), "unknown key %q (a document is a rule with an id, a list of rules, or lists: and rules:)", k.Value)
			}
		}
		if !seen && len(n.Content) == 0 {
			p.addf(n, path, "empty document")
		}
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return
		}
		fallthrough
	default:
		p.addf(n, path, "a document is a rule (a mapping with an id) or a list of rules, not a %s", kindName(n))
	}
}

func (p *parser) listsSection(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "want a mapping of list names to lists of values")
		return
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		lp := config.Join(path, k.Value)
		if !match.ValidName(k.Value) {
			p.addf(k, lp, "list name %q: use letters, digits, '_' and '-'", k.Value)
			continue
		}
		if prev, dup := p.listPos[p.file+"\x00"+k.Value]; dup {
			p.addf(k, lp, "list %q is already defined at %s", k.Value, prev)
			continue
		}
		vals, probs := match.ParseValues(p.file, v, lp, false)
		p.probs = append(p.probs, probs...)
		for _, x := range vals {
			if x.IsRef() {
				p.addf(v, lp, "a list holds plain values, not @lists or $variables")
			}
		}
		if p.lists == nil {
			p.lists, p.listPos = map[string]map[string][]match.Value{}, map[string]string{}
		}
		if p.lists[p.file] == nil {
			p.lists[p.file] = map[string][]match.Value{}
		}
		p.lists[p.file][k.Value] = vals
		p.listPos[p.file+"\x00"+k.Value] = fmt.Sprintf("%s:%d", p.file, k.Line)
	}
}

var ruleKeys = map[string]bool{
	"id": true, "title": true, "description": true, "severity": true, "score": true, "state": true, "report": true,
	"subject": true, "fields": true, "tags": true, "references": true, "suppress": true, "suppress_by": true, "enabled": true, "silent": true,
	"match": true, "threshold": true, "sequence": true, "requires": true, "unless": true, "asserts": true,
	"lists": true,
}

func (p *parser) rule(n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "a rule is a mapping, not a %s", kindName(n))
		return
	}
	r := &ruleDoc{file: p.file, path: path, line: n.Line, col: n.Column, Enabled: true}
	if out, err := yaml.Marshal(n); err == nil {
		r.source = string(out)
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		kp := config.Join(path, k.Value)
		if !ruleKeys[k.Value] {
			p.addf(k, kp, "unknown key %q%s", k.Value, config.DidYouMean(k.Value, slices.Collect(maps.Keys(ruleKeys))))
			continue
		}
		switch k.Value {
		case "lists":
			// A file of one rule may define its lists beside it.
			p.listsSection(v, kp)
		case "id":
			r.ID = p.str(v, kp)
			if r.ID != "" && !validID(r.ID) {
				p.addf(v, kp, "rule id %q: use letters, digits, '.', '_' and '-' (at most 64)", r.ID)
			}
		case "title":
			r.Title = p.str(v, kp)
		case "description":
			r.Description = p.str(v, kp)
		case "severity":
			r.Severity, r.severitySet = p.severity(v, kp)
		case "score":
			r.Score, r.scoreSet = p.score(v, kp)
		case "state":
			r.State = p.str(v, kp)
		case "report":
			r.Report = p.str(v, kp)
			if len(r.Report) > event.MaxExplanationLen {
				p.addf(v, kp, "longer than %d bytes", event.MaxExplanationLen)
			}
		case "subject":
			r.Subject = p.str(v, kp)
		case "fields":
			r.Fields = p.strs(v, kp)
		case "tags":
			r.Tags = p.strs(v, kp)
		case "references":
			r.References = p.strs(v, kp)
		case "suppress":
			r.Suppress = p.duration(v, kp, true)
			r.suppressSet = true
		case "suppress_by":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				r.SuppressBy = []string{}
			} else {
				r.SuppressBy = p.fields(v, kp)
			}
			r.suppressBySet = true
		case "enabled":
			r.Enabled = p.boolean(v, kp)
		case "silent":
			r.Silent = p.boolean(v, kp)
		case "match":
			r.Match = p.match(v, kp)
		case "threshold":
			r.Threshold = p.threshold(v, kp)
		case "sequence":
			r.Sequence = p.sequence(v, kp)
		case "requires", "unless":
			var facts []factDoc
			if v.Kind != yaml.SequenceNode {
				p.addf(v, kp, "want a list of facts")
				continue
			}
			for i, item := range v.Content {
				if f := p.fact(resolveAlias(item), config.Index(kp, i), false); f != nil {
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
	if r.ID == "" && lookup(n, "id") == nil {
		p.addf(n, path, "missing %q", "id")
	}
	kinds := 0
	for _, set := range []bool{r.Match != nil && r.Threshold == nil, r.Sequence != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case r.Threshold != nil && r.Match == nil && lookup(n, "match") == nil:
		p.addf(n, path, "a threshold rule needs a match (the events it counts)")
	case r.Sequence != nil && lookup(n, "match") != nil:
		p.addf(lookup(n, "match"), config.Join(path, "match"), "a sequence rule matches in its steps, not with match")
	case r.Sequence != nil && r.Threshold != nil:
		p.addf(lookup(n, "threshold"), config.Join(path, "threshold"), "a rule is a threshold or a sequence, not both")
	case kinds == 0 && r.Threshold == nil && lookup(n, "match") == nil:
		p.addf(n, path, "a rule needs match (with threshold, optionally) or sequence")
	}
	p.rules = append(p.rules, r)
}

func (p *parser) threshold(n *yaml.Node, path string) *thresholdDoc {
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "want a mapping with count, window and optionally group_by and distinct")
		return nil
	}
	t := &thresholdDoc{line: n.Line, col: n.Column}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		kp := config.Join(path, k.Value)
		switch k.Value {
		case "group_by":
			t.GroupBy = p.fields(v, kp)
		case "count":
			t.Count = p.integer(v, kp)
			if t.Count < 1 || t.Count > 1_000_000 {
				p.addf(v, kp, "a count from 1 to 1,000,000")
			}
		case "distinct":
			t.Distinct = p.str(v, kp)
			if !match.ValidField(t.Distinct) {
				p.addf(v, kp, "field %q: use letters, digits, '.', '_', ':' and '-'", t.Distinct)
			}
		case "window":
			t.Window = p.duration(v, kp, false)
		default:
			p.addf(k, kp, "unknown key %q in a threshold (group_by, count, distinct, window)", k.Value)
		}
	}
	if lookup(n, "count") == nil {
		p.addf(n, path, "missing %q", "count")
	}
	if lookup(n, "window") == nil {
		p.addf(n, path, "missing %q", "window")
	}
	return t
}

func (p *parser) sequence(n *yaml.Node, path string) *sequenceDoc {
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "want a mapping with steps, and optionally by, within and attempt")
		return nil
	}
	s := &sequenceDoc{line: n.Line, col: n.Column}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		kp := config.Join(path, k.Value)
		switch k.Value {
		case "by":
			s.By = p.fields(v, kp)
		case "within":
			s.Within = p.duration(v, kp, false)
		case "steps":
			if v.Kind != yaml.SequenceNode || len(v.Content) < 2 {
				p.addf(v, kp, "a sequence has a list of at least two steps")
				continue
			}
			for i, item := range v.Content {
				s.Steps = append(s.Steps, p.step(resolveAlias(item), config.Index(kp, i)))
			}
		case "attempt":
			s.Attempt = p.attempt(v, kp)
		default:
			p.addf(k, kp, "unknown key %q in a sequence (by, within, steps, attempt)", k.Value)
		}
	}
	if lookup(n, "steps") == nil {
		p.addf(n, path, "missing %q", "steps")
	}
	return s
}

func (p *parser) step(n *yaml.Node, path string) stepDoc {
	st := stepDoc{line: n.Line, col: n.Column, path: path}
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "a step is a mapping with match, and optionally name, bind, within, absent, effect")
		return st
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		kp := config.Join(path, k.Value)
		switch k.Value {
		case "name":
			st.Name = p.str(v, kp)
		case "match":
			st.Match = p.match(v, kp)
		case "bind":
			if v.Kind != yaml.MappingNode {
				p.addf(v, kp, "bind maps variable names to the fields they take their values from")
				continue
			}
			st.Bind = map[string]string{}
			for b := 0; b+1 < len(v.Content); b += 2 {
				name, field := v.Content[b].Value, p.str(resolveAlias(v.Content[b+1]), config.Join(kp, v.Content[b].Value))
				if !match.ValidName(name) {
					p.addf(v.Content[b], config.Join(kp, name), "variable name %q: use letters, digits, '_' and '-'", name)
					continue
				}
				if !match.ValidField(field) {
					p.addf(v.Content[b+1], config.Join(kp, name), "field %q: use letters, digits, '.', '_', ':' and '-'", field)
					continue
				}
				st.Bind[name] = field
				st.bindOrder = append(st.bindOrder, name)
			}
		case "within":
			st.Within = p.duration(v, kp, false)
		case "absent":
			st.Absent = p.boolean(v, kp)
		case "effect":
			st.Effect = p.boolean(v, kp)
		default:
			p.addf(k, kp, "unknown key %q in a step (name, match, bind, within, absent, effect)", k.Value)
		}
	}
	if lookup(n, "match") == nil {
		p.addf(n, path, "missing %q", "match")
	}
	return st
}

func (p *parser) attempt(n *yaml.Node, path string) *attemptDoc {
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "want a mapping with severity, score and report")
		return nil
	}
	a := &attemptDoc{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		kp := config.Join(path, k.Value)
		switch k.Value {
		case "severity":
			a.Severity, a.severitySet = p.severity(v, kp)
		case "score":
			a.Score, a.scoreSet = p.score(v, kp)
		case "report":
			a.Report = p.str(v, kp)
		default:
			p.addf(k, kp, "unknown key %q in an attempt (severity, score, report)", k.Value)
		}
	}
	return a
}

func (p *parser) fact(n *yaml.Node, path string, assert bool) *factDoc {
	if n.Kind != yaml.MappingNode {
		p.addf(n, path, "want a mapping with fact and key")
		return nil
	}
	f := &factDoc{line: n.Line, col: n.Column, path: path}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], resolveAlias(n.Content[j+1])
		kp := config.Join(path, k.Value)
		switch k.Value {
		case "fact":
			f.Fact = p.str(v, kp)
			if !match.ValidName(f.Fact) {
				p.addf(v, kp, "fact name %q: use letters, digits, '_' and '-'", f.Fact)
			}
		case "key":
			f.Key = p.fields(v, kp)
		case "ttl":
			if !assert {
				p.addf(k, kp, "ttl belongs to asserts, where the fact is made")
				continue
			}
			f.TTL = p.duration(v, kp, false)
		default:
			p.addf(k, kp, "unknown key %q (fact, key%s)", k.Value, map[bool]string{true: ", ttl"}[assert])
		}
	}
	if lookup(n, "fact") == nil {
		p.addf(n, path, "missing %q", "fact")
	}
	if assert && f.TTL == 0 {
		f.TTL = time.Hour
	}
	return f
}

// Scalars.

func (p *parser) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.addf(n, path, "want a string, not a %s", kindName(n))
		return ""
	}
	return n.Value
}

func (p *parser) strs(n *yaml.Node, path string) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{p.str(n, path)}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for i, it := range n.Content {
			out = append(out, p.str(resolveAlias(it), config.Index(path, i)))
		}
		return out
	}
	p.addf(n, path, "want a string or a list of strings, not a %s", kindName(n))
	return nil
}

func (p *parser) fields(n *yaml.Node, path string) []string {
	fs := p.strs(n, path)
	for _, f := range fs {
		if !match.ValidField(f) {
			p.addf(n, path, "field %q: use letters, digits, '.', '_', ':' and '-'", f)
		}
	}
	return fs
}

func (p *parser) integer(n *yaml.Node, path string) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.addf(n, path, "want a whole number, not %q", n.Value)
		return 0
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v > 1<<31 || v < -(1<<31) {
		p.addf(n, path, "want a whole number, not %q", n.Value)
		return 0
	}
	return int(v)
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.addf(n, path, "want true or false, not %q", n.Value)
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

func (p *parser) duration(n *yaml.Node, path string, zeroOK bool) time.Duration {
	if n.Kind != yaml.ScalarNode {
		p.addf(n, path, "want a duration such as 10s or 5m, not a %s", kindName(n))
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d < 0 || d == 0 && !zeroOK {
		p.addf(n, path, "want a positive duration such as 10s or 5m, not %q", n.Value)
		return 0
	}
	if d > 30*24*time.Hour {
		p.addf(n, path, "at most 720h")
	}
	return d
}

func (p *parser) severity(n *yaml.Node, path string) (event.Severity, bool) {
	s := p.str(n, path)
	sev, err := event.ParseSeverity(s)
	if err != nil {
		if s != "" {
			p.addf(n, path, "severity %q: want green, yellow or red", s)
		}
		return 0, false
	}
	return sev, true
}

func (p *parser) score(n *yaml.Node, path string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		p.addf(n, path, "want a number from 0 to 1")
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || f < 0 || f > 1 {
		p.addf(n, path, "want a number from 0 to 1, not %q", n.Value)
		return 0, false
	}
	return f, true
}

// Helpers.

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func lookup(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			return n.Content[j+1]
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "scalar"
	}
	return "node"
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
	d, probs := match.ParseDoc(p.file, n, path)
	p.probs = append(p.probs, probs...)
	return d
}
