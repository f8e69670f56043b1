package signature

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
	"github.com/vigil-ids/vigil/internal/yamlnode"
	"github.com/vigil-ids/vigil/rules"
)

// Rule kinds.
const (
	kindMatch = iota
	kindThreshold
	kindSequence
)

// Rule is a compiled rule.
type Rule struct {
	ID, Title, Description string
	Tags, References       []string
	Severity               event.Severity
	Score                  float64
	State                  string
	File                   string
	Line                   int
	// Group is the rule's group; Standby says the rule is off until a
	// control request turns its group on for a while (written `enabled:
	// false` with a group, and neither disabled nor overridden by the
	// engine's settings).
	Group   string
	Standby bool

	kind     int
	silent   bool // makes its fact, reports nothing
	report   tmpl
	subject  *match.Field
	fields   []match.Field
	suppress time.Duration
	// suppressBy, when set, are the fields whose values (with the
	// subject) key suppression, instead of the default.
	suppressBy    []match.Field
	suppressBySet bool
	// printed are the entity fields (entityFields) the report texts
	// print: with the subject, and the sequence's variables, they key
	// suppression by default.
	printed []match.Field
	// textKeyed: the suppression key holds every value the report texts
	// print, so all the texts it holds back are the same.
	textKeyed bool

	match *matcher // match and threshold rules
	thr   *thrSpec
	seq   *seqSpec

	requires, unless []factRef
	asserts          *factRef

	// hash identifies the rule's text and the settings applied to it: an
	// unchanged hash keeps the rule's state across reloads.
	hash string

	// st is the rule's state in the engine running its rule set (a rule
	// set runs in one engine).
	st *ruleState
}

// matcher is a compiled match: the event types it applies to and its
// condition. Sequence steps each have one.
type matcher struct {
	rule  *Rule
	ord   int // its place in the rule set: candidates come in this order
	step  int // -1 for a rule's own match
	types []string
	cond  match.Cond
}

type thrSpec struct {
	groupBy  []match.Field
	count    int
	distinct *match.Field
	window   time.Duration
	// sum: the count is the total of this numeric field, not one per
	// event.
	sum *match.Field
	// spread: the events counted must carry spreadCount distinct values
	// of this field within the window.
	spread      *match.Field
	spreadCount int
	// tally: report each window's count at its end (when it reached
	// count), rather than as soon as the count is reached.
	tally bool
}

type seqSpec struct {
	steps   []seqStep
	vars    []string // variable names, by index
	total   time.Duration
	effect  int // index of the effect step, -1 when none
	attempt *attemptSpec
	// identity are the variables bound by the first step: a new first
	// event for an identity already waiting replaces it.
	identity []int
}

type seqStep struct {
	name   string
	m      *matcher
	binds  []bindSpec
	joins  []bindSpec // var == field, looked up by key
	within time.Duration
	absent bool
}

type bindSpec struct {
	v int
	f match.Field
}

type attemptSpec struct {
	severity event.Severity
	score    float64
	report   tmpl
}

type factRef struct {
	name string
	key  []match.Field
	ttl  time.Duration
}

// hostOnly tells whether a fact's key names nothing narrower than the
// event's host (host, ip, or no field at all).
func hostOnly(key []string) bool {
	for _, k := range key {
		if k != "host" && k != "ip" {
			return false
		}
	}
	return true
}

// Override changes a rule's settings for one monitor.
type Override struct {
	Enabled  *bool          `yaml:"enabled"`
	Severity string         `yaml:"severity"`
	Count    int            `yaml:"count"`
	Window   time.Duration  `yaml:"window"`
	Suppress *time.Duration `yaml:"suppress"`
}

// Options are what a monitor's resource object adds to its rule files.
type Options struct {
	// Lists replace the rule files' lists of the same name.
	Lists map[string][]string
	// Overrides change rules by id.
	Overrides map[string]Override
	// Disable turns rules off by id.
	Disable []string
	// Suppress is the default suppression of rules that name none (nil:
	// DefaultSuppress).
	Suppress *time.Duration
}

// DefaultSuppress is how long a rule stays quiet about a subject it
// reported, unless the rule or the engine says otherwise.
const DefaultSuppress = time.Minute

// RuleSet is a compiled set of rules with its index.
type RuleSet struct {
	Rules []*Rule
	index *index

	// Warnings are what is legal but likely a mistake (a fact about a
	// whole host that does not say so), with their lines: vigil check
	// prints them, a monitor logs them.
	Warnings []yamlnode.Problem

	// Slots of the conditions (slots.go) and the number of matchers.
	slots     match.Slots
	nmatchers int
}

// compiler compiles parsed rules.
type compiler struct {
	probs yamlnode.Problems
	warns yamlnode.Problems
	// lists are those the current rule sees: its file's, with the
	// engine's replacing them by name.
	lists     map[string][]match.Value
	fileLists map[string]map[string][]match.Value
	engLists  map[string][]match.Value
	cur       *ruleDoc
}

func (c *compiler) addAt(line, col int, path, format string, args ...any) {
	pr := yamlnode.Problem{Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)}
	if c.cur != nil {
		pr.File = c.cur.file
		if !strings.HasPrefix(path, c.cur.path) {
			pr.Path = yamlnode.Join(c.cur.path, path)
		}
	}
	c.probs = append(c.probs, pr)
}

// Load reads, parses and compiles rule files (paths or glob patterns).
// Every mistake of every file is returned at once, with its line, as a
// *yamlnode.Error.
func Load(patterns []string, o Options) (*RuleSet, []string, error) {
	var files []string
	for _, pat := range patterns {
		if strings.HasPrefix(pat, rules.Prefix) {
			files = append(files, pat)
			continue
		}
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, nil, fmt.Errorf("rule files %q: %w", pat, err)
		}
		if len(matches) == 0 {
			if strings.ContainsAny(pat, "*?[") {
				return nil, nil, fmt.Errorf("rule files %q: no file matches", pat)
			}
			matches = []string{pat}
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	p := &parser{}
	for _, f := range files {
		data, err := readRules(f)
		if err != nil {
			p.Problems = append(p.Problems, yamlnode.Problem{File: f, Msg: fmt.Sprintf("reading rules: %v", err)})
			continue
		}
		p.parseFile(f, data)
	}
	rs, err := compileAll(p, o)
	return rs, files, err
}

// readRules reads a rule file, or a pack shipped in the binary
// (builtin:name).
func readRules(f string) ([]byte, error) {
	if name, ok := strings.CutPrefix(f, rules.Prefix); ok {
		data, found := rules.Builtin(name)
		if !found {
			return nil, fmt.Errorf("no pack %q is built in (gateway.yaml, host.yaml, domain.yaml, enterprise.yaml)", name)
		}
		return data, nil
	}
	return yamlnode.ReadFile(f)
}

// Parse parses and compiles rules from one file's bytes.
func Parse(name string, data []byte, o Options) (*RuleSet, error) {
	p := &parser{}
	p.parseFile(name, data)
	return compileAll(p, o)
}

func compileAll(p *parser, o Options) (*RuleSet, error) {
	c := &compiler{probs: p.Problems, fileLists: p.lists, engLists: map[string][]match.Value{}}
	for k, vals := range o.Lists {
		list := make([]match.Value, 0, len(vals))
		for _, s := range vals {
			list = append(list, match.PlainValue(s))
		}
		c.engLists[k] = list
	}
	disabled := map[string]bool{}
	for _, id := range o.Disable {
		disabled[id] = true
	}
	seen := map[string]*ruleDoc{}
	rs := &RuleSet{}
	for _, d := range p.rules {
		if d.ID != "" {
			if prev, dup := seen[d.ID]; dup {
				c.cur = d
				c.addAt(d.line, d.col, "id", "rule %q is already defined at %s:%d", d.ID, prev.file, prev.line)
				continue
			}
			seen[d.ID] = d
		}
		ov := o.Overrides[d.ID]
		enabled := d.Enabled && !disabled[d.ID]
		if ov.Enabled != nil {
			enabled = *ov.Enabled
		}
		// Disabled rules are compiled too: their mistakes are reported.
		suppress := DefaultSuppress
		if o.Suppress != nil {
			suppress = *o.Suppress
		}
		standby := !enabled && !d.Enabled && d.Group != "" && !disabled[d.ID] && ov.Enabled == nil
		warned := len(c.warns)
		if r := c.compileRule(d, ov, suppress); r != nil && (enabled || standby) {
			r.Standby = standby
			rs.Rules = append(rs.Rules, r)
		} else if !enabled && !standby {
			c.warns = c.warns[:warned] // a rule that does not run warns of nothing
		}
	}
	for id := range o.Overrides {
		if seen[id] == nil {
			c.probs = append(c.probs, yamlnode.Problem{Path: "overrides." + id, Msg: fmt.Sprintf("no rule %q to override", id)})
		}
	}
	for _, id := range o.Disable {
		if seen[id] == nil {
			c.probs = append(c.probs, yamlnode.Problem{Path: "disable", Msg: fmt.Sprintf("no rule %q to disable", id)})
		}
	}
	if len(c.probs) > 0 {
		c.probs.Sort()
		return nil, &yamlnode.Error{Problems: c.probs}
	}
	c.warns.Sort()
	rs.Warnings = c.warns
	rs.assignSlots()
	rs.index = buildIndex(rs)
	return rs, nil
}

// defaultScore is a report's score when the rule names none.
func defaultScore(s event.Severity) float64 {
	switch s {
	case event.SeverityRed:
		return 0.95
	case event.SeverityYellow:
		return 0.7
	}
	return 0.3
}

func (c *compiler) compileRule(d *ruleDoc, ov Override, defSuppress time.Duration) *Rule {
	c.cur = d
	c.lists = map[string][]match.Value{}
	for k, v := range c.fileLists[d.file] {
		c.lists[k] = v
	}
	for k, v := range c.engLists {
		c.lists[k] = v
	}
	before := len(c.probs)
	r := &Rule{
		ID: d.ID, Title: d.Title, Description: d.Description, Tags: d.Tags, References: d.References, Group: d.Group,
		Severity: event.SeverityYellow, State: d.State, File: d.file, Line: d.line, suppress: defSuppress,
	}
	if d.severitySet {
		r.Severity = d.Severity
	}
	if ov.Severity != "" {
		sev, err := event.ParseSeverity(ov.Severity)
		if err != nil {
			c.probs = append(c.probs, yamlnode.Problem{Path: "overrides." + d.ID + ".severity", Msg: fmt.Sprintf("want a severity (green, yellow or red), not %q", ov.Severity)})
		}
		r.Severity = sev
	}
	r.Score = defaultScore(r.Severity)
	if d.scoreSet && ov.Severity == "" {
		r.Score = d.Score
	}
	if r.State == "" {
		r.State = "Detected"
	}
	if r.Title == "" {
		r.Title = r.ID
	}
	if d.suppressSet {
		r.suppress = d.Suppress
	}
	r.silent = d.Silent
	if d.suppressBySet {
		r.suppressBySet = true
		for _, f := range d.SuppressBy {
			r.suppressBy = append(r.suppressBy, match.NewField(f))
		}
	}
	if r.silent && d.Asserts == nil {
		c.addAt(d.line, d.col, "silent", "a silent rule reports nothing: it needs asserts to make a fact")
	}
	if ov.Suppress != nil {
		r.suppress = *ov.Suppress
	}
	text := d.Report
	if text == "" {
		text = r.Title
	}
	r.report = c.template(d, text)
	if d.Subject != "" {
		if !match.ValidField(d.Subject) {
			c.addAt(d.line, d.col, "subject", "field %q: use letters, digits, '.', '_', ':' and '-'", d.Subject)
		}
		f := match.NewField(d.Subject)
		r.subject = &f
	}
	for _, name := range d.Fields {
		r.fields = append(r.fields, match.NewField(name))
	}
	switch {
	case d.Sequence != nil:
		r.kind = kindSequence
		r.seq = c.sequence(r, d.Sequence)
	case d.Threshold != nil:
		r.kind = kindThreshold
		r.match = c.matcher(r, -1, d.Match, nil)
		t := d.Threshold
		r.thr = &thrSpec{count: t.Count, window: t.Window}
		if ov.Count > 0 {
			r.thr.count = ov.Count
		}
		if ov.Window > 0 {
			r.thr.window = ov.Window
		}
		for _, g := range t.GroupBy {
			r.thr.groupBy = append(r.thr.groupBy, match.NewField(g))
		}
		if t.Distinct != "" {
			f := match.NewField(t.Distinct)
			r.thr.distinct = &f
		}
		if t.Sum != "" {
			f := match.NewField(t.Sum)
			r.thr.sum = &f
		}
		if t.Spread != "" {
			f := match.NewField(t.Spread)
			r.thr.spread, r.thr.spreadCount = &f, t.SpreadCount
		}
		r.thr.tally = t.Tally
	default:
		r.kind = kindMatch
		r.match = c.matcher(r, -1, d.Match, nil)
		if ov.Count > 0 || ov.Window > 0 {
			c.probs = append(c.probs, yamlnode.Problem{Path: "overrides." + d.ID, Msg: "count and window apply to threshold rules"})
		}
	}
	r.requires = c.facts(d.Requires)
	r.unless = c.facts(d.Unless)
	if d.Asserts != nil {
		fs := c.facts([]factDoc{*d.Asserts})
		if len(fs) == 1 {
			r.asserts = &fs[0]
		}
	}
	c.suppression(d, r)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%+v\x00%v\x00%v", d.source, ov, defSuppress, c.listsUsed(d))))
	r.hash = fmt.Sprintf("%x", sum[:12])
	if len(c.probs) > before || d.ID == "" || (d.Match == nil && d.Sequence == nil) {
		return nil
	}
	return r
}

// listsUsed renders the lists a rule's text names, so a changed list
// changes the rule's hash.
func (c *compiler) listsUsed(d *ruleDoc) string {
	var b strings.Builder
	for name, vals := range c.lists {
		if strings.Contains(d.source, "@"+name) {
			fmt.Fprintf(&b, "%s=%v;", name, vals)
		}
	}
	return b.String()
}

func (c *compiler) matcher(r *Rule, step int, d *match.Doc, vars map[string]int) *matcher {
	if d == nil {
		m, _ := match.New(nil, match.CompileOptions{})
		return &matcher{rule: r, step: step, types: m.Types(), cond: m.Cond()}
	}
	cond, probs := match.Compile(d.Where, match.CompileOptions{File: c.cur.file, Lists: c.lists, Vars: vars, ListHint: " (lists: in a rule file, or the engine's lists)"})
	c.probs = append(c.probs, probs...)
	return &matcher{rule: r, step: step, types: d.Types, cond: cond}
}

func (c *compiler) sequence(r *Rule, d *sequenceDoc) *seqSpec {
	s := &seqSpec{total: d.Within, effect: -1}
	vars := map[string]int{}
	addVar := func(name string) int {
		if i, ok := vars[name]; ok {
			return i
		}
		vars[name] = len(s.vars)
		s.vars = append(s.vars, name)
		return vars[name]
	}
	for _, f := range d.By {
		addVar(f)
	}
	for i, sd := range d.Steps {
		st := seqStep{name: sd.Name, within: sd.Within, absent: sd.Absent}
		if st.name == "" {
			st.name = fmt.Sprintf("step%d", i+1)
		}
		// Variables in scope: those bound by the steps before.
		scope := map[string]int{}
		if i > 0 {
			for name, idx := range vars {
				scope[name] = idx
			}
		}
		st.m = c.matcher(r, i, sd.Match, scope)
		if i == 0 {
			for _, f := range d.By {
				st.binds = append(st.binds, bindSpec{vars[f], match.NewField(f)})
			}
		} else {
			for _, f := range d.By {
				st.joins = append(st.joins, bindSpec{vars[f], match.NewField(f)})
			}
		}
		// $var equalities at the top of the step's condition are joins.
		for _, j := range match.VarJoins(st.m.cond) {
			st.joins = append(st.joins, bindSpec{j.Var, j.Field})
		}
		if sd.Match != nil && sd.Match.Where != nil && sd.Match.Where.MisplacedVar() {
			c.addAt(sd.line, sd.col, sd.path, "a $variable may only be compared for equality, alone, at the top level of a step's where")
		}
		for _, name := range sd.bindOrder {
			if i > 0 && contains(d.By, name) {
				c.addAt(sd.line, sd.col, sd.path+".bind", "%s is already bound by by:", name)
			}
			st.binds = append(st.binds, bindSpec{addVar(name), match.NewField(sd.Bind[name])})
		}
		if sd.Absent {
			switch {
			case i == 0:
				c.addAt(sd.line, sd.col, sd.path, "the first step cannot be absent: absence is measured from a step before")
			case sd.Within == 0:
				c.addAt(sd.line, sd.col, sd.path, "an absent step needs within: the time in which it must not happen")
			case len(sd.Bind) > 0:
				c.addAt(sd.line, sd.col, sd.path, "an absent step binds nothing")
			}
		}
		if sd.Effect {
			switch {
			case s.effect >= 0:
				c.addAt(sd.line, sd.col, sd.path, "one effect step per sequence")
			case sd.Absent:
				c.addAt(sd.line, sd.col, sd.path, "the effect step is an event that happens, not an absence")
			case i == 0:
				c.addAt(sd.line, sd.col, sd.path, "the effect step follows the steps whose effect it shows")
			}
			s.effect = i
		}
		if i == 0 && sd.Within > 0 {
			c.addAt(sd.line, sd.col, sd.path+".within", "within on the first step has nothing to measure from (use the sequence's within)")
		}
		s.steps = append(s.steps, st)
	}
	if len(s.steps) > 0 {
		for _, b := range s.steps[0].binds {
			s.identity = append(s.identity, b.v)
		}
	}
	if d.Attempt != nil {
		if s.effect < 0 {
			c.addAt(d.line, d.col, "sequence.attempt", "attempt is reported when the effect step does not come: mark one step effect: true")
		}
		a := &attemptSpec{severity: event.SeverityGreen, report: c.template(c.cur, d.Attempt.Report)}
		if d.Attempt.severitySet {
			a.severity = d.Attempt.Severity
		}
		a.score = defaultScore(a.severity)
		if d.Attempt.scoreSet {
			a.score = d.Attempt.Score
		}
		if d.Attempt.Report == "" {
			a.report = c.template(c.cur, "attempt: "+r.Title)
		}
		s.attempt = a
	}
	return s
}

func attemptText(r *Rule) tmpl {
	if r.seq == nil || r.seq.attempt == nil {
		return nil
	}
	return r.seq.attempt.report
}

// computedPlaceholders are the values a rule adds to its report text: they
// say how much, not what about, and do not key suppression.
var computedPlaceholders = map[string]bool{"count": true, "window": true, "distinct": true, "values": true, "spread": true, "steps": true, "rule": true, "title": true}

// entityFields are the fields that name what a report is about: a host or
// address, a process, a user. Printed in a report's text, they key its
// suppression by default; the other fields it prints (ports, flags,
// paths, replies, measurements) are details of one occurrence, which a
// quiet time's summary lists instead.
var entityFields = map[string]bool{
	"host": true, "ip": true, "source": true, "subject": true,
	"src": true, "dst": true, "data_addr": true,
	"pid": true, "ppid": true, "name": true, "exe": true, "parent_name": true, "parent_exe": true, "comm": true,
	"uid": true, "user": true,
}

// entityFieldNames lists the fields that key a rule's suppression by
// default when its report prints them, sorted.
func entityFieldNames() []string {
	out := make([]string, 0, len(entityFields))
	for k := range entityFields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suppression works out the rule's default suppression key: the entities
// its report names.
func (c *compiler) suppression(d *ruleDoc, r *Rule) {
	seen := map[string]bool{}
	narrow := false // the key names something narrower than the host
	add := func(t tmpl) {
		for _, p := range t {
			if p.name == "" || computedPlaceholders[p.name] || !entityFields[p.name] || seen[p.name] {
				continue
			}
			seen[p.name] = true
			r.printed = append(r.printed, p.f)
			if p.name != "host" && p.name != "ip" {
				narrow = true
			}
		}
	}
	add(r.report)
	if r.seq != nil && r.seq.attempt != nil {
		add(r.seq.attempt.report)
	}
	if r.seq != nil {
		for _, v := range r.seq.vars {
			if v != "host" && v != "ip" {
				narrow = true
			}
		}
	}
	// When the key holds every value the text prints, the texts held back
	// are all the first one: it is rendered once.
	r.textKeyed = !d.suppressBySet && r.kind != kindThreshold
	vars := map[string]bool{}
	if r.seq != nil {
		for _, v := range r.seq.vars {
			vars[v] = true
		}
	}
	for _, t := range []tmpl{r.report, attemptText(r)} {
		for _, p := range t {
			if p.name != "" && p.name != "rule" && p.name != "title" && !entityFields[p.name] && !vars[p.name] {
				r.textKeyed = false
			}
		}
	}
	if d.suppressBySet || r.kind == kindThreshold || r.subject != nil || r.silent || narrow {
		return
	}
	c.warns = append(c.warns, yamlnode.Problem{File: d.file, Line: d.line, Col: d.col, Path: yamlnode.Join(d.path, "report"),
		Msg: "the report names nothing narrower than the host, so one quiet time holds back the rule's reports about anything on the host: print what it is about (a {pid}, {user}, {src}), or say suppress_by: [] to mean it"})
}

func (c *compiler) facts(ds []factDoc) []factRef {
	var out []factRef
	for _, d := range ds {
		if d.Scope == "" && hostOnly(d.Key) {
			what := "is keyed only by the host"
			if len(d.Key) == 0 {
				what = "has no key"
			}
			c.warns = append(c.warns, yamlnode.Problem{File: c.cur.file, Line: d.line, Col: d.col, Path: d.path,
				Msg: fmt.Sprintf("fact %q %s: it holds for every process, user and address there, so it can blame an unrelated one; key it by what it is about (such as [host, pid]), or say scope: host", d.Fact, what)})
		}
		f := factRef{name: d.Fact, ttl: d.TTL}
		for _, k := range d.Key {
			f.key = append(f.key, match.NewField(k))
		}
		out = append(out, f)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseNumber(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}
