// Package profile is the statistical profiler of seeds 002 (section 3.3)
// and 004 (section 4), after NIDES: per subject (a host, a source, a
// service, a gateway) it learns what is normal for a declared set of
// measures, without knowledge of attacks and without assuming
// parametric distributions, and scores how far recent behaviour is from
// it.
//
// A profile class names the events it takes, the field that names their
// subject and its measures: categorical (values of an open-ended set),
// continuous (binned values), intensity (events per unit time at several
// scales) and the event distribution (which measures each event
// touches). Per subject a short-term profile is aged at every event
// (half-life in events) and a long-term profile folds in the period's
// counts at each update (daily by default) and is itself aged. Per
// measure the distance Q between the two has its own aged empirical
// distribution; its tail probability P becomes a normal-equivalent score
// S = Φ⁻¹(1 − P/2); T2 = Σ S² is compared with a high percentile of the
// subject's own T2 history.
package profile

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// MeasureKind says what a measure measures.
type MeasureKind int

// The measure kinds of seed 004 section 4.
const (
	Categorical MeasureKind = iota
	Continuous
	Intensity
	Distribution
)

func (k MeasureKind) String() string {
	return [...]string{"categorical", "continuous", "intensity", "distribution"}[k]
}

// Measure is one measure of a profile class.
type Measure struct {
	Name  string
	Kind  MeasureKind
	Field string
	// Edges bound a continuous measure's bins (value < Edges[0] is bin 0,
	// ...); nil with AutoBins: learnt per subject from its first values.
	Edges    []float64
	AutoBins int
	// Scale is an intensity measure's half-life.
	Scale time.Duration
}

// Class is a profile class: the events it takes, their subject, its
// measures and how it learns.
type Class struct {
	Name string
	// Accept tells whether an event belongs to the class (nil: all).
	Accept func(*event.Event) bool
	// Subject is the field naming the subject; Session, if set, the field
	// naming a session: sessions of one subject keep their own short-term
	// profiles, scored against the subject's long-term one. Either may
	// join several fields ("src,sport") or be a literal ("=anonymous").
	Subject, Session string
	Measures         []Measure
	// ShortHalfLife is the short-term profile's half-life in events (0:
	// the short-term profile is the latest event alone).
	ShortHalfLife float64
	// LongHalfLife ages the long-term profile at each update.
	LongHalfLife time.Duration
	// Update is the long-term update period, at UpdateAt into it (daily
	// at a quiet hour by default).
	Update, UpdateAt time.Duration
	// Rare is the long-term probability below which categories pool.
	Rare float64
	// Alert and Red are the percentiles of the subject's own T2 history
	// above which an event is reported (yellow, red).
	Alert, Red float64
	// MinHistory is how much scored history a subject needs before it is
	// reported on.
	MinHistory float64
	// BusinessHours, if set (start and end offsets into a day), splits
	// each subject into two profiles: working days within the hours, and
	// the rest (seed 004 section 4.3 asks this of traffic rates).
	BusinessHours [2]time.Duration

	shortB  float64 // 2^(-1/ShortHalfLife)
	touched map[uint64]string
}

const (
	maxCats  = 24 // categories per measure, besides the pooled rare ones
	rareSlot = 0
	rareName = "RARE"
)

// prepare computes what the class derives from its settings.
func (c *Class) prepare() {
	if c.ShortHalfLife > 0 {
		c.shortB = math.Exp2(-1 / c.ShortHalfLife)
	}
}

// freq is a frequency table: categories (or bins) and their weights in
// the long-term profile and in the current period (folded into the
// long-term profile at the next update).
type freq struct {
	long, period []float32
	longW        float64 // the long-term weights' sum
}

func (f *freq) grow(n int) {
	for len(f.long) < n {
		f.long = append(f.long, 0)
		f.period = append(f.period, 0)
	}
}

// mstate is one measure's state for a subject.
type mstate struct {
	f     freq
	cats  []string  // categorical: slot -> category (slot 0: RARE)
	edges []float64 // continuous: this subject's bin edges
	learn []float32 // continuous with automatic bins: the first values
	q     hist      // the distribution of this measure's Q
	lastQ float64
	// Intensity: the current value and the last event's time.
	level float64
	last  time.Time
	// What the latest event showed, for reports.
	lastCat   string
	lastNum   float64
	lastIsNum bool
	lastS     float64
	// hashes are the categories' hashes (slot -> hash), to find a slot
	// without comparing strings.
	hashes []uint32
}

// session is a short-term profile: per measure, the aged weight of the
// events that showed it and its aged weights by category or bin.
//
// Aging every weight at every event would cost a pass over them; instead
// each new event weighs g, which grows by 1/b per event (b the aging
// factor): the ratios, which are all the profile is used for, are the
// same. The weights are scaled back down when g grows large.
type session struct {
	n     []float64
	g     []float64
	short [][]float32
	seen  time.Time
}

// add counts an event in slot k of measure i (of slots slots).
func (ss *session) add(i, k, slots int, b float64) {
	for len(ss.short[i]) < slots {
		ss.short[i] = append(ss.short[i], 0)
	}
	short := ss.short[i]
	if b == 0 { // the latest event alone
		clear(short)
		short[k], ss.n[i], ss.g[i] = 1, 1, 1
		return
	}
	g := ss.g[i] / b
	if g > 1e18 {
		for j := range short {
			short[j] = float32(float64(short[j]) / g)
		}
		ss.n[i] /= g
		g = 1
	}
	ss.g[i] = g
	short[k] += float32(g)
	ss.n[i] += g
}

// normalized returns the short-term weights and totals scaled to an
// event weight of 1 (the form kept in exports).
func (ss *session) normalized() ([]float64, [][]float32) {
	n := make([]float64, len(ss.n))
	short := make([][]float32, len(ss.short))
	for i := range ss.n {
		g := ss.g[i]
		if g == 0 {
			g = 1
		}
		n[i] = ss.n[i] / g
		short[i] = make([]float32, len(ss.short[i]))
		for k, w := range ss.short[i] {
			short[i][k] = float32(float64(w) / g)
		}
	}
	return n, short
}

// Subject is what the profiler knows of one subject (in one partition).
type Subject struct {
	Key      string
	class    *Class
	m        []mstate
	sessions map[string]*session
	main     session // without sessions
	t2       hist
	events   int64
	// periods counts the long-term updates folded in; the subject is
	// scored from the first.
	periods  int
	lastUp   time.Time
	lastSeen time.Time
	// dirty: changed since the profiler last saved its changes.
	dirty bool
}

func newSession(n int) *session {
	ss := &session{n: make([]float64, n), g: make([]float64, n), short: make([][]float32, n)}
	for i := range ss.g {
		ss.g[i] = 1
	}
	return ss
}

// slotsOf is how many categories or bins a measure may come to hold.
func slotsOf(m *Measure) int {
	switch m.Kind {
	case Categorical, Distribution:
		return maxCats + 1
	case Continuous:
		if m.Edges != nil {
			return len(m.Edges) + 1
		}
		return 32 // learnt quantile edges and the widening ones
	}
	return 0
}

// newSubject makes a subject with nothing learnt. Its measures' tables
// (long-term, period and short-term weights, category hashes) are cut
// from one block each, so an event touches a few neighbouring lines of
// memory rather than a table per measure scattered over the heap.
func newSubject(key string, c *Class, now time.Time) *Subject {
	s := &Subject{Key: key, class: c, m: make([]mstate, len(c.Measures)), lastUp: now}
	s.main = *newSession(len(c.Measures))
	total, cats := 0, 0
	for i := range c.Measures {
		total += slotsOf(&c.Measures[i])
		if k := c.Measures[i].Kind; k == Categorical || k == Distribution {
			cats++
		}
	}
	weights := make([]float32, 3*total)
	hashes := make([]uint32, cats*(maxCats+1))
	names := make([]string, cats*(maxCats+1))
	for i := range c.Measures {
		m := &c.Measures[i]
		ms := &s.m[i]
		n := slotsOf(m)
		ms.f.long, ms.f.period, s.main.short[i] = weights[0:0:n], weights[n:n:2*n], weights[2*n:2*n:3*n]
		weights = weights[3*n:]
		switch m.Kind {
		case Categorical, Distribution:
			ms.cats = names[0 : 1 : maxCats+1]
			ms.cats[0] = rareName
			ms.hashes = hashes[0 : 1 : maxCats+1]
			hashes, names = hashes[maxCats+1:], names[maxCats+1:]
			ms.f.grow(1)
		case Continuous:
			if m.Edges != nil {
				ms.edges = m.Edges
				ms.f.grow(len(m.Edges) + 1)
			}
		}
	}
	return s
}

// clone copies the subject's learnt state (long-term profile, period
// counts, histories) for a new subject key; its short-term profile
// starts empty.
func (s *Subject) clone(key string) *Subject {
	n := &Subject{Key: key, class: s.class, m: make([]mstate, len(s.m)), t2: s.t2, periods: s.periods,
		lastUp: s.lastUp, lastSeen: s.lastSeen}
	n.main = *newSession(len(s.m))
	for i := range s.m {
		o, d := &s.m[i], &n.m[i]
		*d = *o
		d.cats = slices.Clone(o.cats)
		d.hashes = slices.Clone(o.hashes)
		d.learn = slices.Clone(o.learn)
		d.f.long = slices.Clone(o.f.long)
		d.f.period = make([]float32, len(o.f.period))
		d.level, d.last, d.lastS, d.lastQ = 0, time.Time{}, 0, 0
	}
	return n
}

// value is what an event shows for a measure: a category or a number.
type value struct {
	ok  bool
	cat string
	num float64
}

// extract reads the class's measures from an event.
func (c *Class) extract(ev *event.Event, out []value) {
	var touched uint64
	for i, m := range c.Measures {
		out[i] = value{}
		switch m.Kind {
		case Categorical:
			if s := ev.Field(m.Field); s != "" {
				out[i] = value{ok: true, cat: s}
				touched |= 1 << i
			}
		case Continuous:
			if v, ok := numField(ev, m.Field); ok {
				out[i] = value{ok: true, num: v}
				touched |= 1 << i
			}
		}
	}
	for i, m := range c.Measures {
		if m.Kind == Distribution {
			out[i] = value{ok: true, cat: c.touchedName(touched)}
		}
	}
}

// touchedName is the event distribution's category for a set of
// measures: their names joined by "+" (made once per set).
func (c *Class) touchedName(mask uint64) string {
	if name, ok := c.touched[mask]; ok {
		return name
	}
	var names []string
	for i, m := range c.Measures {
		if mask&(1<<i) != 0 {
			names = append(names, m.Name)
		}
	}
	name := strings.Join(names, "+")
	if c.touched == nil {
		c.touched = map[uint64]string{}
	}
	if len(c.touched) < 4096 {
		c.touched[mask] = name
	}
	return name
}

func numField(ev *event.Event, name string) (float64, bool) {
	if v, ok := ev.Num(name); ok {
		return v, true
	}
	if s, ok := ev.Attrs[name].(string); ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}

// slot finds (or makes) the slot of category cat; new categories past
// the bound pool in RARE.
func (ms *mstate) slot(cat string) int {
	h := hashString(cat)
	if i := ms.lookup(cat, h); i > 0 {
		return i
	}
	// Reuse a slot the long-term profile has forgotten.
	for i := 1; i < len(ms.cats); i++ {
		if ms.cats[i] == "" {
			ms.cats[i], ms.hashes[i] = cat, h
			return i
		}
	}
	if len(ms.cats) > maxCats {
		return rareSlot
	}
	ms.cats = append(ms.cats, cat)
	ms.hashes = append(ms.hashes, h)
	ms.f.grow(len(ms.cats))
	return len(ms.cats) - 1
}

// lookup is the slot of cat (hash h), or RARE's when it has none.
func (ms *mstate) lookup(cat string, h uint32) int {
	for i := 1; i < len(ms.hashes); i++ {
		if ms.hashes[i] == h && ms.cats[i] == cat {
			return i
		}
	}
	return rareSlot
}

// hashString is FNV-1a.
func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// bin finds a continuous value's bin, learning the subject's edges first
// when they are automatic; -1 while learning.
func (ms *mstate) bin(m *Measure, v float64) int {
	if ms.edges == nil {
		ms.learn = append(ms.learn, float32(v))
		if len(ms.learn) < m.AutoBins {
			return -1
		}
		ms.edges = quantileEdges(ms.learn, 16)
		ms.learn = nil
		ms.f.grow(len(ms.edges) + 1)
	}
	i, _ := slices.BinarySearch(ms.edges, v)
	if i < len(ms.edges) && ms.edges[i] == v {
		i++
	}
	return i
}

// quantileEdges are up to n-1 distinct edges splitting the values into n
// bins of about equal counts.
func quantileEdges(vals []float32, n int) []float64 {
	s := make([]float64, len(vals))
	for i, v := range vals {
		s[i] = float64(v)
	}
	slices.Sort(s)
	var edges []float64
	for k := 1; k < n; k++ {
		e := s[k*len(s)/n]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	if len(edges) == 0 {
		edges = []float64{s[0]}
	}
	// Values beyond those first ones get bins of their own, wider and
	// wider, so that a later shift shows how far it went.
	lo, hi := s[0], s[len(s)-1]
	span := hi - lo
	if span <= 0 {
		span = math.Max(math.Abs(hi), 1)
	}
	var below, above []float64
	for k := range 4 {
		w := span * math.Exp2(float64(k))
		below = append(below, lo-w)
		above = append(above, hi+w)
	}
	slices.Reverse(below)
	out := append(below, edges...)
	if hi > edges[len(edges)-1] {
		out = append(out, hi)
	}
	return append(out, above...)
}
