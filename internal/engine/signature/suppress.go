package signature

import (
	"container/heap"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// Suppression: after a rule reports, it stays quiet for its suppress time
// about the same thing: the same subject and, by default, the same values
// of what its report prints (the threshold's group, the sequence's
// variables, the event fields of its text), or the fields of suppress_by.
// What it holds back is counted per rule and kept, bounded: when the quiet
// time ends, a summary report says how many reports were held back and
// what they would have said.

// maxHeldTexts bounds the distinct texts a summary lists, maxHeldText
// the bytes kept of each, and maxHeldEvidence the ids of the held-back
// events it carries (the latest).
const (
	maxHeldTexts    = 5
	maxHeldText     = 512
	maxHeldEvidence = 16
)

type suppressEntry struct {
	until time.Time
	held  *heldBack // nil while nothing is held back
}

// heldBack is what a quiet time held back.
type heldBack struct {
	count       uint64
	texts       []string // distinct, in the order they came, up to maxHeldTexts
	moreTexts   bool     // texts beyond those were held back too
	evidence    []string
	host, ip    string
	severity    event.Severity
	score       float64
	state       string
	first, last time.Time
}

// summaryTimer is the end of a quiet time that held something back.
type summaryTimer struct {
	at  time.Time
	st  *ruleState
	key string
	seq uint64 // ties in time keep the order they were made in
}

type summaryTimers []summaryTimer

func (t summaryTimers) Len() int { return len(t) }
func (t summaryTimers) Less(i, j int) bool {
	if !t[i].at.Equal(t[j].at) {
		return t[i].at.Before(t[j].at)
	}
	return t[i].seq < t[j].seq
}
func (t summaryTimers) Swap(i, j int) { t[i], t[j] = t[j], t[i] }
func (t *summaryTimers) Push(x any)   { *t = append(*t, x.(summaryTimer)) }
func (t *summaryTimers) Pop() any {
	old := *t
	x := old[len(old)-1]
	old[len(old)-1] = summaryTimer{}
	*t = old[:len(old)-1]
	return x
}

// suppressionKey is what tells one occurrence of r's report from another
// for suppression.
func suppressionKey(r *Rule, rep *event.Report, ev *event.Event, attrs map[string]any, vars map[string]string) string {
	var b strings.Builder
	b.WriteString(rep.Host)
	b.WriteByte(0)
	b.WriteString(rep.IP)
	b.WriteByte(0)
	b.WriteString(rep.State) // an attempt does not hold back the attack
	field := func(name string, text func() string) {
		b.WriteByte(0)
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else if ev != nil {
			b.WriteString(text())
		}
	}
	if r.suppressBySet {
		for _, f := range r.suppressBy {
			field(f.Name(), func() string { return f.Text(ev) })
		}
		return b.String()
	}
	switch r.kind {
	case kindThreshold:
		// The report is about the group: the other fields it prints are
		// examples from the event that completed the count.
		b.WriteByte(1)
		for _, f := range r.thr.groupBy {
			b.WriteByte(0)
			b.WriteString(event.FormatValue(attrs[f.Name()]))
		}
		return b.String()
	case kindSequence:
		b.WriteByte(2)
		for _, name := range r.seq.vars {
			b.WriteByte(0)
			b.WriteString(vars[name])
		}
	}
	b.WriteByte(3)
	for _, f := range r.printed {
		field(f.Name(), func() string { return f.Text(ev) })
	}
	return b.String()
}

// suppressed tells whether the report rep of st's rule is held back, and
// when it is, counts it and keeps what it would have said. A report that
// ends a quiet time which held something back is preceded by that quiet
// time's summary.
func (e *Engine) suppressed(st *ruleState, rep *event.Report, render func() string, key string, emit engine.Emit) bool {
	r := st.rule
	en, ok := st.suppress.get(key)
	if ok && rep.Time.Before(en.val.until) {
		e.stats.Suppressed++
		e.suppressedBy[r.ID]++
		h := en.val.held
		if h == nil {
			h = &heldBack{host: rep.Host, ip: rep.IP, first: rep.Time}
			en.val.held = h
			e.sumSeq++
			e.compactSums()
			heap.Push(&e.sums, summaryTimer{at: en.val.until, st: st, key: key, seq: e.sumSeq})
		}
		h.count++
		h.last = rep.Time
		if h.count == 1 || rep.Severity > h.severity || (rep.Severity == h.severity && rep.Score > h.score) {
			h.severity, h.score, h.state = rep.Severity, rep.Score, rep.State
		}
		if !h.moreTexts && (!r.textKeyed || len(h.texts) == 0) {
			text := render()
			if len(text) > maxHeldText {
				text = strings.ToValidUTF8(text[:maxHeldText], "") + "…"
			}
			known := false
			for _, t := range h.texts {
				if t == text {
					known = true
					break
				}
			}
			if !known {
				if len(h.texts) < maxHeldTexts {
					h.texts = append(h.texts, text)
				} else {
					h.moreTexts = true
				}
			}
		}
		for _, id := range rep.Evidence {
			if len(h.evidence) >= maxHeldEvidence {
				h.evidence = append(h.evidence[:0], h.evidence[1:]...)
			}
			h.evidence = append(h.evidence, id)
		}
		return true
	}
	if ok {
		if en.val.held != nil {
			e.summarize(st, en, emit)
		}
		en.val = suppressEntry{until: rep.Time.Add(r.suppress)}
	} else {
		st.suppress.put(key, suppressEntry{until: rep.Time.Add(r.suppress)})
	}
	return false
}

// compactSums drops the timers whose quiet time went (its key evicted, or
// its rule changed), so the timers stay as many as the quiet times that
// hold something back.
func (e *Engine) compactSums() {
	if len(e.sums) < max(e.sumsCompactAt, 1024) {
		return
	}
	live := e.sums[:0]
	for _, t := range e.sums {
		if e.byID[t.st.rule.ID] != t.st {
			continue
		}
		if en, ok := t.st.suppress.peek(t.key); ok && en.val.held != nil && en.val.until.Equal(t.at) {
			live = append(live, t)
		}
	}
	clear(e.sums[len(live):])
	e.sums = live
	heap.Init(&e.sums)
	e.sumsCompactAt = 2 * len(e.sums)
}

// summaryDue emits the summary of the quiet time a timer ends, unless a
// report ended it already or its rule's state went.
func (e *Engine) summaryDue(t summaryTimer, emit engine.Emit) {
	if e.byID[t.st.rule.ID] != t.st {
		return
	}
	en, ok := t.st.suppress.peek(t.key)
	if !ok || en.val.held == nil || t.at.Before(en.val.until) {
		return
	}
	e.summarize(t.st, en, emit)
}

// summarize reports what a quiet time held back, at its end.
func (e *Engine) summarize(st *ruleState, en *lruEntry[suppressEntry], emit engine.Emit) {
	h, r := en.val.held, st.rule
	en.val.held = nil
	texts := append([]string(nil), h.texts...)
	n := "1 more report"
	if h.count > 1 {
		n = fmt.Sprintf("%d more reports", h.count)
	}
	expl := fmt.Sprintf("%s held back within %s: %s", n, windowText(r.suppress), strings.Join(texts, " | "))
	if h.moreTexts {
		expl += " | ..."
	}
	if len(expl) > event.MaxExplanationLen {
		expl = strings.ToValidUTF8(expl[:event.MaxExplanationLen], "")
	}
	attrs := map[string]any{
		"suppressed":       int64(h.count),
		"suppressed_texts": texts,
		"suppressed_first": h.first.UTC().Format(time.RFC3339Nano),
		"suppressed_last":  h.last.UTC().Format(time.RFC3339Nano),
		"title":            r.Title,
	}
	if h.moreTexts {
		attrs["suppressed_texts_more"] = true
	}
	if len(r.Tags) > 0 {
		attrs["tags"] = r.Tags
	}
	rep := event.Report{
		Time: en.val.until, Model: r.ID, Host: h.host, IP: h.ip,
		Score: h.score, Severity: h.severity, State: h.state,
		Evidence: append([]string(nil), h.evidence...), Explanation: expl, Attrs: attrs,
	}
	e.stats.Summaries++
	e.stats.Reports++
	emit(rep)
}
