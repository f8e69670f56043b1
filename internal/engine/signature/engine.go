// Package signature is the signature engine (seed 002 section 3.4, seed
// 004 section 5): rules that match single events, count events or
// distinct values per group within a sliding window, or follow sequences
// of events with bound variables, timeouts, preconditions, absences and a
// state-changing effect step, each reporting with its severity and text.
// A rule stays quiet for a while about what it just reported (the subject
// and the entities its report names), counts what it holds back, and
// says what that was when the quiet time ends (suppress.go).
//
// Rules are compiled once and indexed by event type and by an equality
// they require, so an event meets only the rules that can fire. All state
// (threshold groups, partial sequences, facts, suppression) is bounded
// per rule, least recently used dropped first and counted. Time is the
// events' time and the monitor's clock; the engine never reads the wall
// clock. Rule files can change while the engine runs: a reload keeps the
// state of every rule whose text did not change.
//
// The rule language is documented in docs/RULES.md.
package signature

import (
	"cmp"
	"container/heap"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

// Limits are the bounds on an engine's state.
type Limits struct {
	MaxGroups    int // threshold groups per rule (default 100,000)
	MaxInstances int // partial sequences per rule (default 10,000)
	MaxFacts     int // facts (default 100,000)
	MaxSuppress  int // suppression keys per rule (default 100,000)
}

func (l *Limits) defaults() {
	if l.MaxGroups <= 0 {
		l.MaxGroups = 100_000
	}
	if l.MaxInstances <= 0 {
		l.MaxInstances = 10_000
	}
	if l.MaxFacts <= 0 {
		l.MaxFacts = 100_000
	}
	if l.MaxSuppress <= 0 {
		l.MaxSuppress = 100_000
	}
}

// Stats count what an engine did.
type Stats struct {
	Events, Reports, Suppressed             uint64
	Attempts                                uint64 // sequences reported as attempts
	GroupsEvicted, InstancesEvicted         uint64
	FactsEvicted, SuppressEvicted           uint64
	Reloads, ReloadErrors                   uint64
	Groups, Instances, Facts, SuppressKeys  int
	Rules                                   int
	PreconditionsUnmet, ExpiredInstances    uint64
	AbsencesSatisfied, SequencesBrokenEarly uint64
	// Summaries are the reports of what a quiet time held back (counted
	// in Reports too); SuppressedByRule counts the reports held back, by
	// rule id.
	Summaries        uint64
	SuppressedByRule map[string]uint64
}

// ruleState is one rule's state.
type ruleState struct {
	rule     *Rule
	thr      *thrState
	seq      *seqState
	suppress *lru[suppressEntry]
	// off: a standby rule whose group no control request has turned on
	// (standby.go).
	off bool
}

// Engine runs a rule set. It is used from one goroutine.
type Engine struct {
	set    *RuleSet
	states map[*Rule]*ruleState
	byID   map[string]*ruleState
	facts  *lru[int64]
	timers timers
	// sums are the ends of quiet times that held reports back.
	sums   summaryTimers
	sumSeq uint64
	// tallies are the ends of tallies' windows (threshold.go).
	tallies  tallyTimers
	tallySeq uint64
	// sumsCompactAt is the number of timers at which stale ones are
	// dropped.
	sumsCompactAt int
	suppressedBy  map[string]uint64
	limits        Limits
	log           *slog.Logger
	stats         Stats
	now           time.Time
	ctx           match.Ctx
	keyBuf        []byte // reused for group and join keys
	// grants are the control requests in force that turned standby
	// groups on, by request id (standby.go).
	grants map[string]groupGrant

	// Reloading.
	patterns []string
	opts     Options
	files    map[string]fileStamp
	every    time.Duration
	next     time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New returns an engine running rs.
func New(rs *RuleSet, l Limits, log *slog.Logger) *Engine {
	l.defaults()
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{limits: l, log: log, facts: newLRU[int64](l.MaxFacts), suppressedBy: map[string]uint64{}, states: map[*Rule]*ruleState{}, byID: map[string]*ruleState{}}
	e.swap(rs)
	return e
}

// Rules returns the rules running.
func (e *Engine) Rules() []*Rule { return e.set.Rules }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := e.stats
	st.Rules = len(e.set.Rules)
	st.Facts = e.facts.len()
	st.FactsEvicted = e.facts.evicted
	st.SuppressedByRule = make(map[string]uint64, len(e.suppressedBy))
	for id, n := range e.suppressedBy {
		st.SuppressedByRule[id] = n
	}
	for _, rs := range e.byID {
		if rs.thr != nil {
			st.Groups += rs.thr.groups.len()
			st.GroupsEvicted += rs.thr.groups.evicted
		}
		if rs.seq != nil {
			st.Instances += rs.seq.live.len()
			st.InstancesEvicted += rs.seq.live.evicted
		}
		st.SuppressKeys += rs.suppress.len()
		st.SuppressEvicted += rs.suppress.evicted
	}
	return st
}

// Swap replaces the rule set. A rule whose id and text are unchanged keeps
// its state; the others start afresh.
func (e *Engine) Swap(rs *RuleSet) { e.swap(rs) }

func (e *Engine) swap(rs *RuleSet) {
	old := e.byID
	e.set = rs
	e.ctx = rs.slots.NewCtx()
	e.states = make(map[*Rule]*ruleState, len(rs.Rules))
	e.byID = make(map[string]*ruleState, len(rs.Rules))
	for _, r := range rs.Rules {
		st, ok := old[r.ID]
		if ok && st.rule.hash == r.hash {
			st.rule = r
			if st.seq != nil {
				st.seq.rule = r
			}
			delete(old, r.ID)
		} else {
			st = &ruleState{rule: r, suppress: newLRU[suppressEntry](e.limits.MaxSuppress)}
			switch r.kind {
			case kindThreshold:
				st.thr = newThrState(r, e.limits.MaxGroups)
			case kindSequence:
				st.seq = newSeqState(r, e.limits.MaxInstances)
			}
		}
		e.states[r] = st
		e.byID[r.ID] = st
		r.st = st
		st.off = r.Standby && !e.groupOn(r.Group)
	}
	// The state of rules removed or changed goes; their timers are skipped.
	for _, st := range old {
		if st.seq != nil {
			for en := st.seq.live.head; en != nil; en = en.next {
				en.val.dead = true
			}
		}
	}
}

// Handle runs ev through the rules that can fire on it.
func (e *Engine) Handle(ev *event.Event, emit engine.Emit) {
	e.stats.Events++
	if ev.Time.After(e.now) {
		e.advance(ev.Time, emit)
	}
	e.ctx.Reset(ev)
	ix := e.set.index
	for _, o := range ix.candidates(&e.ctx) {
		m := ix.byOrd[o]
		st := m.rule.st
		if st == nil || st.off {
			continue
		}
		switch m.rule.kind {
		case kindMatch:
			if m.cond.Eval(&e.ctx) {
				e.fire(st, ev, ev.Time, []string{ev.ID}, nil, nil, nil, false, emit)
			}
		case kindThreshold:
			if m.cond.Eval(&e.ctx) {
				e.threshold(st, ev, emit)
			}
		case kindSequence:
			e.sequenceStep(st, m.step, ev, emit)
		}
	}
}

// Tick moves time on: absences are satisfied, sequences time out, and
// standby groups whose time is up go back to standby.
func (e *Engine) Tick(now time.Time, emit engine.Emit) {
	e.expireGrants(now)
	if now.After(e.now) {
		e.advance(now, emit)
	}
}

func (e *Engine) advance(now time.Time, emit engine.Emit) {
	e.now = now
	for {
		// In time order; at the same time, a quiet time's summary first,
		// then the end of a tally, then a sequence's timeout.
		which, at := -1, time.Time{}
		if len(e.sums) > 0 && !e.sums[0].at.After(now) {
			which, at = 0, e.sums[0].at
		}
		if len(e.tallies) > 0 && !e.tallies[0].at.After(now) && (which < 0 || e.tallies[0].at.Before(at)) {
			which, at = 1, e.tallies[0].at
		}
		if len(e.timers) > 0 && !e.timers[0].at.After(now) && (which < 0 || e.timers[0].at.Before(at)) {
			which = 2
		}
		switch which {
		case -1:
			return
		case 0:
			e.summaryDue(heap.Pop(&e.sums).(summaryTimer), emit)
		case 1:
			e.tallyDue(heap.Pop(&e.tallies).(tallyTimer), emit)
		default:
			t := heap.Pop(&e.timers).(timer)
			inst := t.inst
			if inst.dead || inst.gen != t.gen {
				continue
			}
			e.expire(inst, t.at, emit)
		}
	}
}

func (e *Engine) threshold(st *ruleState, ev *event.Event, emit engine.Emit) {
	a := st.thr.add(st.rule, ev, &e.ctx, &e.keyBuf)
	if a.tallyStarted {
		e.tallySeq++
		heap.Push(&e.tallies, tallyTimer{at: ev.Time.Add(st.rule.thr.window), st: st, g: a.g, gen: a.g.tallyGen, seq: e.tallySeq})
	}
	if !a.fired {
		return
	}
	g := a.g
	t := st.rule.thr
	extra, attrs := thresholdValues(t, g, a.total, ev.Time.UnixNano())
	evidence := g.evidenceIDs(ev.Time.UnixNano(), int64(t.window))
	g.reset()
	e.fire(st, ev, ev.Time, evidence, extra, attrs, nil, false, emit)
}

// thresholdValues are what a threshold's report adds to its text and
// attributes: the count (what was counted: the total of a sum or a
// tally), the window, the group's fields, and the distinct or spread
// values seen.
func thresholdValues(t *thrSpec, g *group, total uint64, now int64) (map[string]string, map[string]any) {
	extra := map[string]string{"count": strconv.FormatUint(total, 10), "window": windowText(t.window)}
	attrs := map[string]any{"count": int64(min(total, 1<<62)), "window": windowText(t.window)}
	for i, f := range t.groupBy {
		extra[f.Name()] = g.vals[i]
		if !reportOwnField(f.Name()) {
			attrs[f.Name()] = g.vals[i]
		}
	}
	if t.distinct != nil {
		vals := g.distinctValues(32)
		slices.SortFunc(vals, compareValues)
		extra["distinct"] = t.distinct.Name()
		extra["values"] = strings.Join(vals, ",")
		attrs["distinct"] = t.distinct.Name()
		attrs["values"] = vals
	}
	if t.spread != nil {
		since := now - int64(t.window)
		if t.tally {
			since = g.tallyStart
		}
		vals := g.spreadValues(since)
		extra["spread"] = t.spread.Name()
		extra["values"] = strings.Join(vals, ",")
		attrs["spread"] = t.spread.Name()
		attrs["values"] = vals
	}
	return extra, attrs
}

// tallyDue ends a tally's window: the group's count is reported when it
// reached the rule's (and came from the spread's values), and the group
// starts again.
func (e *Engine) tallyDue(tt tallyTimer, emit engine.Emit) {
	st, g := tt.st, tt.g
	if e.byID[st.rule.ID] != st || st.thr == nil {
		return
	}
	if en, ok := st.thr.groups.peek(g.key); !ok || en.val != g || !g.tallying || g.tallyGen != tt.gen {
		return
	}
	t := st.rule.thr
	total := g.tallyN
	if total < uint64(t.count) || (t.spread != nil && (g.spread == nil || g.spread.countSince(g.tallyStart) < t.spreadCount)) {
		g.reset()
		return
	}
	extra, attrs := thresholdValues(t, g, total, tt.at.UnixNano())
	evidence := g.evidenceIDs(tt.at.UnixNano(), int64(t.window))
	vars := make(map[string]string, len(t.groupBy))
	for i, f := range t.groupBy {
		vars[f.Name()] = g.vals[i]
	}
	g.reset()
	if st.off {
		return
	}
	e.fire(st, nil, tt.at, evidence, extra, attrs, vars, false, emit)
}

func (e *Engine) sequenceStep(st *ruleState, k int, ev *event.Event, emit engine.Emit) {
	s := st.rule.seq
	step := &s.steps[k]
	if k == 0 {
		if !step.m.cond.Eval(&e.ctx) {
			return
		}
		vars := make([]string, len(s.vars))
		if !bind(step.binds, ev, vars) {
			return
		}
		id := identityKey(s, vars)
		inst, ok := st.seq.fresh[id]
		if ok && !inst.dead {
			// The same first step again: start over from it.
			st.seq.unwait(inst)
			if len(inst.evidence) >= maxFirstEvidence {
				inst.evidence = append(inst.evidence[:0], inst.evidence[1:]...)
			}
			inst.vars, inst.first, inst.at, inst.evidence, inst.last = vars, ev.Time, ev.Time, append(inst.evidence, ev.ID), ev
			inst.gen++
			st.seq.live.touch(inst.entry)
		} else {
			st.seq.seq++
			inst = &instance{st: st.seq, vars: vars, first: ev.Time, at: ev.Time, evidence: []string{ev.ID}, last: ev, next: 1}
			inst.entry = st.seq.live.put(strconv.FormatUint(st.seq.seq, 36), inst)
		}
		inst.next = 1
		st.seq.wait(inst)
		st.seq.setDeadline(inst)
		e.timers.schedule(inst)
		return
	}
	if len(st.seq.waiting[k]) == 0 {
		return // nobody awaits this step
	}
	var ok bool
	e.keyBuf, ok = appendEventKey(e.keyBuf[:0], step, &e.ctx)
	if !ok {
		return
	}
	list := st.seq.waiting[k][string(e.keyBuf)]
	if len(list) == 0 {
		return
	}
	for _, inst := range slices.Clone(list) {
		if inst.dead {
			continue
		}
		// Lazily expired: the timer has not run yet.
		if !inst.deadline.IsZero() && ev.Time.After(inst.deadline) {
			continue
		}
		e.ctx.SetVars(inst.vars)
		matched := step.m.cond.Eval(&e.ctx)
		e.ctx.SetVars(nil)
		if !matched {
			continue
		}
		if step.absent {
			// It happened within the time it must not: the sequence is off.
			e.stats.SequencesBrokenEarly++
			st.seq.drop(inst)
			continue
		}
		st.seq.unwait(inst)
		if !bind(step.binds, ev, inst.vars) {
			st.seq.drop(inst)
			continue
		}
		inst.evidence = append(inst.evidence, ev.ID)
		inst.last, inst.at = ev, ev.Time
		e.stepDone(st, inst, ev.Time, emit)
	}
}

// maxFirstEvidence bounds the evidence a repeated first step gathers.
const maxFirstEvidence = 16

// stepDone moves an instance past the step it awaited: complete, or
// waiting for the next.
func (e *Engine) stepDone(st *ruleState, inst *instance, at time.Time, emit engine.Emit) {
	s := st.rule.seq
	inst.next++
	inst.gen++
	if inst.next == len(s.steps) {
		vars := e.varMap(s, inst)
		extra := map[string]string{"steps": strconv.Itoa(len(s.steps))}
		attrs := map[string]any{"steps": int64(len(s.steps)), "duration_s": at.Sub(inst.first).Seconds()}
		evidence := inst.evidence
		last := inst.last
		st.seq.drop(inst)
		e.fire(st, last, at, evidence, extra, attrs, vars, false, emit)
		return
	}
	st.seq.live.touch(inst.entry)
	st.seq.wait(inst)
	st.seq.setDeadline(inst)
	e.timers.schedule(inst)
}

// expire handles an instance's deadline: an absence is satisfied, or the
// sequence ran out of time (an attempt, when it got as far as its effect).
func (e *Engine) expire(inst *instance, at time.Time, emit engine.Emit) {
	st := e.byID[inst.st.rule.ID]
	if st == nil || st.seq != inst.st {
		return
	}
	s := st.rule.seq
	if s.steps[inst.next].absent && (s.total == 0 || !at.After(inst.first.Add(s.total))) {
		e.stats.AbsencesSatisfied++
		st.seq.unwait(inst)
		inst.at = at
		e.stepDone(st, inst, at, emit)
		return
	}
	e.stats.ExpiredInstances++
	if s.attempt != nil && inst.next == s.effect {
		vars := e.varMap(s, inst)
		evidence, last := inst.evidence, inst.last
		st.seq.drop(inst)
		e.fire(st, last, at, evidence, map[string]string{"steps": strconv.Itoa(s.effect)}, map[string]any{"steps": int64(s.effect), "effect_seen": false}, vars, true, emit)
		return
	}
	st.seq.drop(inst)
}

func (e *Engine) varMap(s *seqSpec, inst *instance) map[string]string {
	m := make(map[string]string, len(s.vars))
	for i, name := range s.vars {
		if inst.vars[i] != "" {
			m[name] = inst.vars[i]
		}
	}
	return m
}

// defaultFields are copied from the event that fired a rule into its
// report when the rule names none (those the event lacks are left out):
// the addresses and ports of a network event; the process of a host
// event, named as the decision unit's process subject needs it, by pid,
// start time (clock ticks since boot) and executable.
var defaultFields = []match.Field{
	match.NewField("src"), match.NewField("dst"), match.NewField("sport"), match.NewField("dport"), match.NewField("proto"),
	match.NewField("pid"), match.NewField("start"), match.NewField("exe"),
}

// fire checks a rule's preconditions and suppression, makes its fact, and
// reports.
func (e *Engine) fire(st *ruleState, ev *event.Event, at time.Time, evidence []string, extra map[string]string, attrs map[string]any, vars map[string]string, attempt bool, emit engine.Emit) {
	r := st.rule
	for _, f := range r.requires {
		if !e.factHolds(f, ev, vars, at) {
			e.stats.PreconditionsUnmet++
			return
		}
	}
	for _, f := range r.unless {
		if e.factHolds(f, ev, vars, at) {
			e.stats.PreconditionsUnmet++
			return
		}
	}
	if r.asserts != nil && !attempt {
		if key, ok := factKey(*r.asserts, ev, vars); ok {
			exp := at.Add(r.asserts.ttl).UnixNano()
			if en, found := e.facts.get(key); found {
				en.val = max(en.val, exp)
			} else {
				e.facts.put(key, exp)
			}
		}
	}
	if r.silent {
		return
	}
	rep := event.Report{Time: at, Model: r.ID, Score: r.Score, Severity: r.Severity, State: r.State, Evidence: evidence}
	text := r.report
	if attempt {
		a := r.seq.attempt
		rep.Score, rep.Severity, rep.State, text = a.score, a.severity, "Attempted", a.report
		e.stats.Attempts++
	}
	// The subject: a field of the event, or the event's own.
	if r.subject != nil {
		var s string
		if v, ok := vars[r.subject.Name()]; ok {
			s = v
		} else if ev != nil {
			s = r.subject.Text(ev)
		}
		if a, err := netip.ParseAddr(s); err == nil {
			rep.IP = a.Unmap().String()
		} else {
			rep.Host = s
		}
	} else if ev != nil {
		rep.Host, rep.IP = ev.Host, ev.IP
	}
	if rep.Host == "" && rep.IP == "" {
		rep.Host = "unknown"
	}
	// Suppression, per rule and what the report is about.
	if r.suppress > 0 {
		key := suppressionKey(r, &rep, ev, attrs, vars)
		render := func() string { return text.render(ev, withRule(extra, r), vars) }
		if e.suppressed(st, &rep, render, key, emit) {
			return
		}
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	fields := r.fields
	if fields == nil {
		fields = defaultFields
	}
	if ev != nil {
		// A process is named by its pid, start time and executable
		// together, all from one event: when the rule's variables name
		// a pid, that pid stands, and the event's start and executable
		// are copied only when the event is of that process.
		bound, boundPID := vars["pid"]
		for _, f := range fields {
			if _, set := attrs[f.Name()]; set || reservedReportAttr(f.Name()) {
				continue
			}
			if processField(f.Name()) && boundPID && (f.Name() == "pid" || ev.Str("pid") != bound) {
				continue
			}
			if v, ok := f.Get(ev); ok {
				attrs[f.Name()] = v
			}
		}
	}
	for k, v := range vars {
		if _, set := attrs[k]; !set && !reservedReportAttr(k) {
			attrs[k] = v
		}
	}
	// The report's source address could not have been forged when the
	// event behind it shows a completed handshake (the resolver blocks no
	// other address).
	if ev != nil && attrs["src"] != nil && attrs["src"] == ev.Attrs["src"] && event.SourceVerified(ev) {
		attrs[event.AttrSrcVerified] = true
	}
	attrs["title"] = r.Title
	if len(r.Tags) > 0 {
		attrs["tags"] = r.Tags
	}
	rep.Explanation = text.render(ev, withRule(extra, r), vars)
	rep.Attrs = attrs
	e.stats.Reports++
	emit(rep)
}

// compareValues orders numbers as numbers (ports: 21, 80, 443) and
// before text, and text as text.
func compareValues(a, b string) int {
	x, errx := strconv.ParseFloat(a, 64)
	y, erry := strconv.ParseFloat(b, 64)
	switch {
	case errx == nil && erry == nil:
		return cmp.Compare(x, y)
	case errx == nil:
		return -1
	case erry == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// processField says whether an attribute is part of a process's name
// (the decision unit's process subject).
func processField(k string) bool { return k == "pid" || k == "start" || k == "exe" }

// reportOwnField tells whether k is a report's own field, which its
// attributes may not repeat (a threshold grouped by a report's model, in
// an enterprise's rules over its domains' reports, names it in its
// subject or text instead).
func reportOwnField(k string) bool {
	switch k {
	case "monitor", "engine", "model", "score", "severity", "state", "evidence", "explanation":
		return true
	}
	return false
}

func reservedReportAttr(k string) bool {
	switch k {
	case "monitor", "engine", "model", "score", "severity", "state", "evidence", "explanation", "id", "time", "type", "host", "ip", "source":
		return true
	}
	return false
}

// withRule adds the rule's own placeholders to the values a report text
// may print.
func withRule(extra map[string]string, r *Rule) map[string]string {
	if extra == nil {
		extra = map[string]string{}
	}
	extra["rule"], extra["title"] = r.ID, r.Title
	return extra
}

func factKey(f factRef, ev *event.Event, vars map[string]string) (string, bool) {
	var b strings.Builder
	b.WriteString(f.name)
	for _, k := range f.key {
		b.WriteByte(0)
		if v, ok := vars[k.Name()]; ok {
			b.WriteString(v)
			continue
		}
		if ev == nil {
			return "", false
		}
		v, ok := k.Get(ev)
		if !ok {
			return "", false
		}
		b.WriteString(event.FormatValue(v))
	}
	return b.String(), true
}

func (e *Engine) factHolds(f factRef, ev *event.Event, vars map[string]string, at time.Time) bool {
	key, ok := factKey(f, ev, vars)
	if !ok {
		return false
	}
	en, found := e.facts.peek(key)
	return found && en.val > at.UnixNano()
}

// Reloading.

// WatchFiles makes the engine reload its rule files when they change,
// checked every interval of the monitor's clock.
func (e *Engine) WatchFiles(patterns []string, o Options, files []string, every time.Duration) {
	e.patterns, e.opts, e.every = patterns, o, every
	e.files = stamps(files)
}

func stamps(files []string) map[string]fileStamp {
	m := make(map[string]fileStamp, len(files))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			m[f] = fileStamp{fi.ModTime(), fi.Size()}
		} else {
			m[f] = fileStamp{}
		}
	}
	return m
}

// checkFiles reloads the rules when a file changed, appeared or went.
func (e *Engine) checkFiles(now time.Time) {
	if e.every <= 0 || now.Before(e.next) {
		return
	}
	e.next = now.Add(e.every)
	var files []string
	for _, pat := range e.patterns {
		if m, err := filepath.Glob(pat); err == nil && len(m) > 0 {
			files = append(files, m...)
		} else {
			files = append(files, pat)
		}
	}
	cur := stamps(files)
	changed := len(cur) != len(e.files)
	for f, s := range cur {
		if old, ok := e.files[f]; !ok || !old.mod.Equal(s.mod) || old.size != s.size {
			changed = true
		}
	}
	if !changed {
		return
	}
	e.files = cur
	rs, _, err := Load(e.patterns, e.opts)
	if err != nil {
		e.stats.ReloadErrors++
		e.log.Error("rules not reloaded; the running rules stay", "err", err)
		return
	}
	e.swap(rs)
	e.stats.Reloads++
	e.log.Info("rules reloaded", "rules", len(rs.Rules))
}

func (r *Rule) String() string { return fmt.Sprintf("%s (%s:%d)", r.ID, r.File, r.Line) }
