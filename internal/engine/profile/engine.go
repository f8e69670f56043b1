package profile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// classSample is how often a class's own profile learns: from one event
// in classSample of the class.
const classSample = 8

// Options bound a profiler.
type Options struct {
	// MaxSubjects bounds the subjects kept per class (default 100,000);
	// the least recently seen go first.
	MaxSubjects int
	// Expire forgets a subject not seen for this long (default 30 days).
	Expire time.Duration
}

// Profiler keeps the subjects of its classes. It is not safe for
// concurrent use (a monitor calls its engines from one goroutine).
type Profiler struct {
	classes  []*Class
	subjects []map[string]*Subject // per class
	// classes' own profiles: every event of the class, whatever its
	// subject; a new subject starts from a copy (per class and partition).
	classProfiles []map[string]*Subject
	classSeen     []uint64
	o             Options
	vals          []value
	stats         Stats
	out           []Result
	bufs          [][]MeasureScore // per class, reused
	// removed are the item keys of subjects dropped since the last saved
	// changes; lostTrack says there were too many to list.
	removed   []string
	lostTrack bool
}

// Stats count what the profiler did.
type Stats struct {
	Events, Scored, Subjects, Evicted int64
}

// New makes a profiler of the classes.
func New(classes []*Class, o Options) *Profiler {
	if o.MaxSubjects <= 0 {
		o.MaxSubjects = 100_000
	}
	if o.Expire <= 0 {
		o.Expire = 30 * 24 * time.Hour
	}
	p := &Profiler{classes: classes, o: o}
	n := 0
	for _, c := range classes {
		c.prepare()
		p.subjects = append(p.subjects, map[string]*Subject{})
		p.classProfiles = append(p.classProfiles, map[string]*Subject{})
		p.classSeen = append(p.classSeen, 0)
		n = max(n, len(c.Measures))
	}
	p.vals = make([]value, n)
	p.bufs = make([][]MeasureScore, len(classes))
	return p
}

// Classes are the profiler's classes.
func (p *Profiler) Classes() []*Class { return p.classes }

// Stats reports the counts so far.
func (p *Profiler) Stats() Stats {
	st := p.stats
	for _, m := range p.subjects {
		st.Subjects += int64(len(m))
	}
	return st
}

// Result is an event's score in one class.
type Result struct {
	Class *Class
	Score
}

// Observe takes an event into every class that accepts it and returns
// its scores; with learn false the profiles learn nothing from it. The
// results (and their Measures) are valid until the next call.
func (p *Profiler) Observe(ev *event.Event, learn bool) []Result {
	out := p.out[:0]
	p.stats.Events++
	for ci, c := range p.classes {
		if c.Accept != nil && !c.Accept(ev) {
			continue
		}
		subj := keyOf(ev, c.Subject)
		if subj == "" {
			continue
		}
		key, part := subj, ""
		if c.BusinessHours[1] > 0 {
			part = c.partition(ev.Time)
			key += "|" + part
		}
		vals := p.vals[:len(c.Measures)]
		c.extract(ev, vals)
		cp := p.classProfiles[ci][part]
		if learn {
			if cp == nil {
				cp = newSubject("", c, ev.Time)
				p.classProfiles[ci][part] = cp
			}
			// The class's profile learns from one event in classSample:
			// the same distributions, for an eighth of the cost.
			if p.classSeen[ci]%classSample == 0 {
				cp.observe("", vals, ev.Time, true, p.bufs[ci])
			}
			p.classSeen[ci]++
		}
		s := p.subjects[ci][key]
		if s == nil && !learn {
			// Judged by what the class knows, and forgotten.
			if cp == nil || cp.periods == 0 {
				continue
			}
			s = cp.clone(key)
		}
		if s == nil {
			// A new subject starts from what the class knows, and learns.
			if cp != nil && cp.periods > 0 {
				s = cp.clone(key)
			} else {
				s = newSubject(key, c, ev.Time)
			}
			p.subjects[ci][key] = s
			if len(p.subjects[ci]) > p.o.MaxSubjects {
				p.evict(ci)
			}
		}
		sess := ""
		if c.Session != "" {
			sess = keyOf(ev, c.Session)
		}
		sc := s.observe(sess, vals, ev.Time, learn, p.bufs[ci])
		p.bufs[ci] = sc.Measures
		sc.Subject = subj
		if sc.Ready {
			p.stats.Scored++
		}
		out = append(out, Result{Class: c, Score: sc})
	}
	p.out = out
	return out
}

// keyOf reads a subject or session: a field, several joined ("src,sport"
// gives "198.51.100.7,40123"), or a literal ("=anonymous": every event
// of the class shares one subject). A missing field gives "".
func keyOf(ev *event.Event, spec string) string {
	if v, ok := strings.CutPrefix(spec, "="); ok {
		return v
	}
	if !strings.Contains(spec, ",") {
		return ev.Field(spec)
	}
	var b strings.Builder
	for i, f := range strings.Split(spec, ",") {
		v := ev.Field(strings.TrimSpace(f))
		if v == "" {
			return ""
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v)
	}
	return b.String()
}

// partition names the part of the week t falls in.
func (c *Class) partition(t time.Time) string {
	d := t.Sub(t.Truncate(24 * time.Hour))
	wd := t.Weekday()
	if wd != time.Saturday && wd != time.Sunday && d >= c.BusinessHours[0] && d < c.BusinessHours[1] {
		return "business"
	}
	return "off-hours"
}

// Fold makes a long-term update of every subject now, whatever the
// schedule (training from recorded events ends with one).
func (p *Profiler) Fold() {
	for ci, m := range p.subjects {
		for _, s := range m {
			s.Fold(1)
		}
		for _, s := range p.classProfiles[ci] {
			s.Fold(1)
		}
	}
}

// Expire forgets the subjects not seen since now minus the expiry, and
// sessions idle for a day.
func (p *Profiler) Expire(now time.Time) {
	for _, m := range p.subjects {
		for k, s := range m {
			if now.Sub(s.lastSeen) > p.o.Expire {
				delete(m, k)
				p.forget(s)
				p.stats.Evicted++
				continue
			}
			for sk, ss := range s.sessions {
				if now.Sub(ss.seen) > 24*time.Hour {
					delete(s.sessions, sk)
				}
			}
		}
	}
}

// evict drops the least recently seen tenth of class ci's subjects.
func (p *Profiler) evict(ci int) {
	m := p.subjects[ci]
	all := make([]*Subject, 0, len(m))
	for _, s := range m {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b *Subject) int { return a.lastSeen.Compare(b.lastSeen) })
	for _, s := range all[:max(1, len(all)/10)] {
		delete(m, s.Key)
		p.forget(s)
		p.stats.Evicted++
	}
}

// forget notes a subject dropped, for the next saved changes.
func (p *Profiler) forget(s *Subject) {
	if len(p.removed) < 1<<20 {
		p.removed = append(p.removed, itemKey(s.class.Name, s.Key, false))
	} else {
		p.lostTrack = true // too many to list: the next save writes everything
	}
}

// Explain says, in a line, why a score is what it is.
func Explain(class string, sc Score, top int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): T2 %.1f, above %.0f%% of its history (alert above %.1f)", sc.Subject, class, sc.T2, sc.Rank*100, sc.Threshold)
	n := 0
	for _, m := range sc.Top(top) {
		if m.S < 1 {
			break
		}
		if n == 0 {
			b.WriteString("; most outlying: ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s (S %.1f", m.Name, m.Value(), m.S)
		if m.LongTerm > 0 {
			fmt.Fprintf(&b, ", long-term %.2g%%", m.LongTerm*100)
		}
		b.WriteString(")")
		n++
	}
	return b.String()
}
