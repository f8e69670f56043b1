package signature

import (
	"container/heap"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

// A sequence rule follows partial matches, instances, each waiting for
// its next step: its variables bound so far, its evidence, and a deadline
// (the step's within, the sequence's within, or for an absent step the end
// of the time in which the step must not happen). Instances waiting for a
// step are found by the values the step's event must share with them (the
// by: fields and $variables), so an event meets only the instances it can
// advance. Instances are bounded per rule, least recently advanced
// dropped first.

type instance struct {
	st       *seqState
	vars     []string
	next     int // the step awaited
	first    time.Time
	at       time.Time // of the latest step
	evidence []string
	last     *event.Event
	deadline time.Time
	gen      uint64 // changes whenever the instance moves; stale timers are skipped
	waitKey  string
	idKey    string
	entry    *lruEntry[*instance]
	dead     bool
}

type seqState struct {
	rule *Rule
	// waiting[k] holds the instances awaiting step k (k >= 1), by join key.
	waiting []map[string][]*instance
	// fresh holds, by identity, the instance awaiting step 1: a repeated
	// first step refreshes it rather than starting another.
	fresh map[string]*instance
	live  *lru[*instance]
	seq   uint64
}

func newSeqState(r *Rule, maxInstances int) *seqState {
	st := &seqState{rule: r, waiting: make([]map[string][]*instance, len(r.seq.steps)), fresh: map[string]*instance{}}
	for i := range st.waiting {
		st.waiting[i] = map[string][]*instance{}
	}
	st.live = newLRU[*instance](maxInstances)
	st.live.onEvict = func(e *lruEntry[*instance]) {
		st.unwait(e.val)
		e.val.dead = true
		e.val.gen++
	}
	return st
}

// stepKey is the key an instance waits under for step k, from its
// variables.
func (st *seqState) stepKey(inst *instance, k int) string {
	joins := st.rule.seq.steps[k].joins
	switch len(joins) {
	case 0:
		return ""
	case 1:
		return inst.vars[joins[0].v]
	}
	parts := make([]string, len(joins))
	for i, j := range joins {
		parts[i] = inst.vars[j.v]
	}
	return strings.Join(parts, "\x00")
}

// appendEventKey appends to b the key an event looks instances up under
// for step k (the same as stepKey makes from an instance's variables);
// false when the event lacks a field.
func appendEventKey(b []byte, step *seqStep, c *match.Ctx) ([]byte, bool) {
	for i := range step.joins {
		v, ok := c.Get(&step.joins[i].f)
		if !ok {
			return b, false
		}
		if i > 0 {
			b = append(b, 0)
		}
		b = appendValue(b, v)
	}
	return b, true
}

// appendValue appends event.FormatValue(v) without making a string.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(b, x...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	}
	return append(b, event.FormatValue(v)...)
}

func (st *seqState) wait(inst *instance) {
	inst.waitKey = st.stepKey(inst, inst.next)
	m := st.waiting[inst.next]
	m[inst.waitKey] = append(m[inst.waitKey], inst)
	if inst.next == 1 {
		inst.idKey = identityKey(st.rule.seq, inst.vars)
		st.fresh[inst.idKey] = inst
	}
}

func (st *seqState) unwait(inst *instance) {
	if inst.next <= 0 || inst.next >= len(st.waiting) {
		return
	}
	m := st.waiting[inst.next]
	list := m[inst.waitKey]
	for i, x := range list {
		if x == inst {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(m, inst.waitKey)
	} else {
		m[inst.waitKey] = list
	}
	if inst.next == 1 && st.fresh[inst.idKey] == inst {
		delete(st.fresh, inst.idKey)
	}
}

// drop ends an instance.
func (st *seqState) drop(inst *instance) {
	st.unwait(inst)
	if inst.entry != nil {
		st.live.remove(inst.entry)
	}
	inst.dead = true
	inst.gen++
}

func identityKey(s *seqSpec, vars []string) string {
	if len(s.identity) == 1 {
		return vars[s.identity[0]]
	}
	parts := make([]string, len(s.identity))
	for i, v := range s.identity {
		parts[i] = vars[v]
	}
	return strings.Join(parts, "\x00")
}

// bind sets the variables a step binds from ev; false when ev lacks a
// field.
func bind(binds []bindSpec, ev *event.Event, vars []string) bool {
	for _, b := range binds {
		v, ok := b.f.Get(ev)
		if !ok {
			return false
		}
		vars[b.v] = event.FormatValue(v)
	}
	return true
}

// setDeadline gives an instance awaiting a step its deadline (zero: none).
func (st *seqState) setDeadline(inst *instance) {
	s := st.rule.seq
	step := &s.steps[inst.next]
	var d time.Time
	if step.within > 0 {
		d = inst.at.Add(step.within)
	}
	if s.total > 0 && !step.absent {
		if t := inst.first.Add(s.total); d.IsZero() || t.Before(d) {
			d = t
		}
	}
	inst.deadline = d
}

// timers orders instance deadlines.
type timer struct {
	at   time.Time
	inst *instance
	gen  uint64
}

type timers []timer

func (t timers) Len() int           { return len(t) }
func (t timers) Less(i, j int) bool { return t[i].at.Before(t[j].at) }
func (t timers) Swap(i, j int)      { t[i], t[j] = t[j], t[i] }
func (t *timers) Push(x any)        { *t = append(*t, x.(timer)) }
func (t *timers) Pop() any {
	old := *t
	x := old[len(old)-1]
	old[len(old)-1] = timer{}
	*t = old[:len(old)-1]
	return x
}

func (t *timers) schedule(inst *instance) {
	if inst.deadline.IsZero() {
		return
	}
	heap.Push(t, timer{at: inst.deadline, inst: inst, gen: inst.gen})
}
