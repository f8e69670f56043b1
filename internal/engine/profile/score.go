package profile

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// MeasureScore is one measure's part in a score.
type MeasureScore struct {
	Name string `json:"measure"`
	// What the event showed: a category, or a number (IsNum).
	Cat   string  `json:"-"`
	Num   float64 `json:"-"`
	IsNum bool    `json:"-"`
	// Q is the distance between the short- and long-term profiles (for
	// intensity, the intensity), P its tail probability in the measure's
	// own history, S the normal-equivalent score.
	Q float64 `json:"q"`
	P float64 `json:"p"`
	S float64 `json:"s"`
	// LongTerm is the long-term probability of the event's category or
	// bin (categorical and continuous measures).
	LongTerm float64 `json:"long_term,omitempty"`
}

// Value is what the event showed, as text.
func (m MeasureScore) Value() string {
	if m.IsNum {
		return strconv.FormatFloat(m.Num, 'g', 6, 64)
	}
	return m.Cat
}

// Top returns the n most outlying measures (highest S first).
func (sc Score) Top(n int) []MeasureScore {
	out := slices.Clone(sc.Measures)
	slices.SortStableFunc(out, func(a, b MeasureScore) int {
		switch {
		case a.S > b.S:
			return -1
		case a.S < b.S:
			return 1
		}
		return 0
	})
	return out[:min(n, len(out))]
}

// Score is the profiler's judgement of one event for its subject.
type Score struct {
	Subject string
	T2      float64
	// Rank is the fraction of the subject's T2 history below T2.
	Rank float64
	// Threshold is the subject's alert percentile of T2.
	Threshold float64
	// Ready: the subject has a long-term profile and enough scored
	// history for its T2 to be judged.
	Ready bool
	// Measures are the measures' parts, in the class's order. The slice
	// is reused by the profiler's next Observe.
	Measures []MeasureScore
}

// minQHistory is how much history a measure's Q needs before its tail
// probabilities mean anything; minQ is the distance between the short-
// and long-term frequencies below which they agree (a 7% shift between
// two even categories).
const (
	minQHistory = 20
	minQ        = 0.02
)

// observe takes one event of the subject (values as extracted): it
// updates the short-term profile, and, once the subject has a long-term
// profile, scores the event. With learn false nothing is learnt: the
// profiles, histories and period counts stay as they were (the short-term
// profile still moves, as it must to be scored).
func (s *Subject) observe(sessKey string, vals []value, now time.Time, learn bool, buf []MeasureScore) Score {
	c := s.class
	s.dirty = true
	s.maybeUpdate(now)
	s.lastSeen = now
	s.events++
	ss := &s.main
	if c.Session != "" && sessKey != "" {
		if s.sessions == nil {
			s.sessions = map[string]*session{}
		}
		if ss = s.sessions[sessKey]; ss == nil {
			ss = newSession(len(c.Measures))
			s.sessions[sessKey] = ss
		}
	}
	ss.seen = now
	trained := s.periods > 0
	sc := Score{Subject: s.Key, Measures: buf[:0]}
	for i := range c.Measures {
		m := &c.Measures[i]
		ms := &s.m[i]
		v := vals[i]
		var q float64
		fresh := false
		k := -1 // the event's slot or bin
		switch m.Kind {
		case Intensity:
			dt := 0.0
			if !ms.last.IsZero() {
				dt = max(now.Sub(ms.last).Seconds(), 0) // late events count as now
			}
			ms.level = 1 + math.Exp2(-dt/m.Scale.Seconds())*ms.level
			if now.After(ms.last) {
				ms.last = now
			}
			q, fresh = ms.level, true
			ms.lastNum, ms.lastIsNum = ms.level, true
		case Categorical, Continuous, Distribution:
			if !v.ok {
				break
			}
			// Learning makes slots and bins; scoring alone finds them (an
			// unknown category is RARE).
			switch {
			case !learn:
				k = ms.find(m, v)
			case m.Kind == Continuous:
				k = ms.bin(m, v.num)
			default:
				k = ms.slot(v.cat)
			}
			ms.lastCat, ms.lastNum, ms.lastIsNum = v.cat, v.num, m.Kind == Continuous
			if k < 0 {
				break // still learning the bins
			}
			ss.add(i, k, len(ms.f.long), c.shortB)
			short, n := ss.short[i], &ss.n[i]
			if learn {
				ms.f.period[k]++
			}
			if trained && ms.f.longW > 0 {
				q = chi(short, *n, ms.f.long, ms.f.longW, c.Rare)
				fresh = true
			}
		}
		if !trained {
			continue
		}
		if fresh {
			p := 1.0
			// A frequency measure whose short- and long-term profiles agree
			// within sampling noise is ordinary, however rarely the
			// subject's history saw so small a difference.
			small := m.Kind != Intensity && q < minQ
			if ms.q.total >= minQHistory && !small {
				p = ms.q.tail(q)
			}
			if learn {
				ms.q.add(q)
			}
			ms.lastQ, ms.lastS = q, normalScore(p)
			ms2 := MeasureScore{Name: m.Name, Cat: ms.lastCat, Num: ms.lastNum, IsNum: ms.lastIsNum, Q: q, P: p, S: ms.lastS}
			if m.Kind != Intensity && ms.f.longW > 0 && k >= 0 {
				ms2.LongTerm = float64(ms.f.long[k]) / ms.f.longW
			}
			sc.Measures = append(sc.Measures, ms2)
		} else if ms.lastS > 0 {
			sc.Measures = append(sc.Measures, MeasureScore{Name: m.Name, Cat: ms.lastCat, Num: ms.lastNum, IsNum: ms.lastIsNum, Q: ms.lastQ, S: ms.lastS, P: math.NaN()})
		}
		sc.T2 += ms.lastS * ms.lastS
	}
	if !trained {
		return sc
	}
	sc.Rank = s.t2.rank(sc.T2)
	sc.Threshold = s.t2.percentile(c.Alert)
	sc.Ready = float64(s.t2.total) >= c.MinHistory
	if learn {
		s.t2.add(sc.T2)
	}
	return sc
}

// find is the slot or bin of v, without creating one.
func (ms *mstate) find(m *Measure, v value) int {
	if m.Kind == Continuous {
		if ms.edges == nil {
			return -1
		}
		i, _ := slices.BinarySearch(ms.edges, v.num)
		if i < len(ms.edges) && ms.edges[i] == v.num {
			i++
		}
		return i
	}
	return ms.lookup(v.cat, hashString(v.cat))
}

// chi is NIDES's Q for a frequency measure: Σ (f − p)² / p over the
// categories, with p floored at half the rare threshold so that a
// never-seen category counts as very rare, not infinitely so.
func chi(short []float32, n float64, long []float32, longW, rare float64) float64 {
	floor := math.Max(rare/2, 1e-4)
	var q float64
	for k, l := range long {
		f := 0.0
		if k < len(short) && n > 0 {
			f = float64(short[k]) / n
		}
		if l == 0 && f == 0 {
			continue // neither has it
		}
		p := max(float64(l)/longW, floor)
		d := f - p
		q += d * d / p
	}
	return q
}

// maybeUpdate folds the period's counts into the long-term profile at
// each update boundary passed since the last.
func (s *Subject) maybeUpdate(now time.Time) {
	c := s.class
	if c.Update <= 0 {
		return
	}
	next := nextBoundary(s.lastUp, c.Update, c.UpdateAt)
	if now.Before(next) {
		return
	}
	periods := 1 + int(now.Sub(next)/c.Update)
	s.Fold(periods)
	s.lastUp = now
}

// nextBoundary is the first update time after t: multiples of period,
// shifted by at.
func nextBoundary(t time.Time, period, at time.Duration) time.Time {
	base := t.Add(-at).Truncate(period).Add(at)
	if !base.After(t) {
		base = base.Add(period)
	}
	return base
}

// Fold makes a long-term update now: the long-term profile, aged over
// the given number of periods, takes in the period's counts; categories
// that became rare pool into RARE; the Q and T2 histories age at the same
// rate.
func (s *Subject) Fold(periods int) {
	c := s.class
	s.dirty = true
	b := 1.0
	if c.LongHalfLife > 0 && c.Update > 0 {
		b = math.Exp2(-float64(periods) * c.Update.Seconds() / c.LongHalfLife.Seconds())
	}
	any := false
	for i := range s.m {
		ms := &s.m[i]
		ms.q.age(b)
		f := &ms.f
		var w float64
		for k := range f.long {
			f.long[k] = f.long[k]*float32(b) + f.period[k]
			if f.period[k] > 0 {
				any = true
			}
			f.period[k] = 0
			w += float64(f.long[k])
		}
		f.longW = w
		if c.Measures[i].Kind == Categorical && w > 0 {
			s.pool(i)
		}
	}
	s.t2.age(b)
	if any || s.periods > 0 {
		s.periods++
	}
}

// pool merges the categories of measure i whose long-term probability
// fell below the rare threshold into RARE, freeing their slots.
func (s *Subject) pool(i int) {
	ms := &s.m[i]
	f := &ms.f
	for k := 1; k < len(ms.cats); k++ {
		if ms.cats[k] == "" || float64(f.long[k])/f.longW >= s.class.Rare {
			continue
		}
		f.long[rareSlot] += f.long[k]
		f.long[k] = 0
		ms.cats[k], ms.hashes[k] = "", 0
		for _, ss := range s.allSessions() {
			if k < len(ss.short[i]) {
				ss.short[i][rareSlot] += ss.short[i][k]
				ss.short[i][k] = 0
			}
		}
	}
}

func (s *Subject) allSessions() []*session {
	out := []*session{&s.main}
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}
