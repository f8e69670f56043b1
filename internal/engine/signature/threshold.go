package signature

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/match"
)

// A threshold counts, per group, the matching events (or the distinct
// values of a field, or the total of a numeric field) within a sliding
// window, and fires when the count reaches the rule's; with a spread, only
// once the events counted also come from enough distinct values of
// another field (reports from several monitors). A tally instead reports
// at the end of each window what the group counted, when it reached the
// rule's count. Its state is bounded: a group keeps at most count
// timestamps (exact) or, past exactCount and for sums, 16 bucket
// counters (the window is then measured to within 1/16 of itself); a
// distinct count keeps the count most recent distinct values, a spread at
// most maxSpreadKept. Groups are bounded per rule, least recently active
// dropped first. A group that fires starts again from nothing.

// exactCount is the largest count kept as exact timestamps.
const exactCount = 64

// evidenceKept is how many event ids a group keeps for its report.
const evidenceKept = 8

// maxSpreadKept bounds the values a spread keeps beyond its count (the
// names a report lists).
const maxSpreadKept = 32

type group struct {
	key  string // its key among its rule's groups
	vals []string
	// Exact counting: a ring of the latest times.
	times []int64
	n     int
	head  int // the oldest, when full
	// Bucketed counting and sums.
	buckets [16]uint64
	cur     int64 // the latest bucket index
	// Distinct counting: value -> last seen.
	distinct *distinctSet
	// spread: the values of the rule's spread field seen, with when.
	spread *distinctSet
	// A tally in progress: what it counted, since when, and which timer
	// ends it.
	tallying   bool
	tallyN     uint64
	tallyStart int64
	tallyGen   uint64

	evidence [evidenceKept]string
	evTimes  [evidenceKept]int64
	ne       int
}

type thrState struct {
	groups *lru[*group]
}

func newThrState(r *Rule, maxGroups int) *thrState {
	return &thrState{groups: newLRU[*group](maxGroups)}
}

// amount is what ev adds to its group: 1, or for a sum the field's value
// (a whole number of at least 1; false when ev lacks it).
func (t *thrSpec) amount(ev *event.Event) (uint64, bool) {
	if t.sum == nil {
		return 1, true
	}
	v, ok := t.sum.Get(ev)
	if !ok {
		return 0, false
	}
	var f float64
	switch x := v.(type) {
	case int64:
		f = float64(x)
	case float64:
		f = x
	default:
		return 0, false
	}
	if !(f >= 1) || f > 1e15 {
		return 0, false
	}
	return uint64(f), true
}

// added is what adding an event to a threshold did.
type added struct {
	g     *group
	fired bool
	// total is what the group counted when it fired.
	total uint64
	// tallyStarted: the event opened a tally's window, whose end needs a
	// timer.
	tallyStarted bool
}

// add counts ev in its group and reports whether the group reached the
// rule's count.
func (st *thrState) add(r *Rule, ev *event.Event, c *match.Ctx, buf *[]byte) added {
	t := r.thr
	amount, ok := t.amount(ev)
	if !ok {
		return added{}
	}
	var spreadVal any
	if t.spread != nil {
		if spreadVal, ok = t.spread.Get(ev); !ok {
			return added{}
		}
	}
	*buf, ok = appendGroupKey((*buf)[:0], t.groupBy, c)
	if !ok {
		return added{}
	}
	var g *group
	if e, found := st.groups.getBytes(*buf); found {
		g = e.val
	} else {
		key, vals, _ := groupKey(t.groupBy, ev)
		g = &group{key: key, vals: vals}
		st.groups.put(key, g)
	}
	now := ev.Time.UnixNano()
	g.evidence[g.ne%evidenceKept], g.evTimes[g.ne%evidenceKept] = ev.ID, now
	g.ne++
	win := int64(t.window)
	if t.distinct != nil {
		v, ok := t.distinct.Get(ev)
		if !ok {
			return added{g: g}
		}
		if g.distinct == nil {
			g.distinct = newDistinctSet(t.count)
		}
		*buf = appendValue((*buf)[:0], v)
		g.distinct.see(*buf, now)
		fired := g.distinct.len() >= t.count && now-g.distinct.oldest() <= win
		return added{g: g, fired: fired, total: uint64(t.count)}
	}
	if t.spread != nil {
		if g.spread == nil {
			g.spread = newDistinctSet(max(t.spreadCount, maxSpreadKept))
		}
		*buf = appendValue((*buf)[:0], spreadVal)
		g.spread.see(*buf, now)
	}
	if t.tally {
		a := added{g: g}
		if !g.tallying {
			g.tallying, g.tallyN, g.tallyStart = true, 0, now
			g.tallyGen++
			a.tallyStarted = true
		}
		g.tallyN += amount
		return a
	}
	if t.sum == nil && t.count <= exactCount {
		if g.times == nil {
			g.times = make([]int64, t.count)
		}
		if g.n < t.count {
			g.times[(g.head+g.n)%t.count] = now
			g.n++
		} else {
			g.times[g.head] = now
			g.head = (g.head + 1) % t.count
		}
		fired := g.n == t.count && now-g.times[g.head] <= win && g.spreadHolds(t, now)
		return added{g: g, fired: fired, total: uint64(t.count)}
	}
	sum, ok := g.bucketAdd(now, win, amount)
	if !ok {
		return added{g: g} // older than the window
	}
	return added{g: g, fired: sum >= uint64(t.count) && g.spreadHolds(t, now), total: sum}
}

// bucketAdd adds amount at now to the group's buckets and returns their
// total within the window; false when now is older than the window.
func (g *group) bucketAdd(now, win int64, amount uint64) (uint64, bool) {
	w := max(win/int64(len(g.buckets)), 1)
	idx := now / w
	switch {
	case g.cur == 0 && g.buckets == [16]uint64{}:
		g.cur = idx
	case idx > g.cur:
		if idx-g.cur >= int64(len(g.buckets)) {
			g.buckets = [16]uint64{}
		} else {
			for i := g.cur + 1; i <= idx; i++ {
				g.buckets[i%int64(len(g.buckets))] = 0
			}
		}
		g.cur = idx
	case g.cur-idx >= int64(len(g.buckets)):
		return 0, false
	}
	g.buckets[idx%int64(len(g.buckets))] += amount
	var sum uint64
	for _, b := range g.buckets {
		sum += b
	}
	return sum, true
}

// spreadHolds tells whether the group's events within the window before
// now came from the spread's count of distinct values (always, without a
// spread).
func (g *group) spreadHolds(t *thrSpec, now int64) bool {
	if t.spread == nil {
		return true
	}
	return g.spread != nil && g.spread.countSince(now-int64(t.window)) >= t.spreadCount
}

// spreadValues returns the spread's values seen since since, sorted.
func (g *group) spreadValues(since int64) []string {
	if g.spread == nil {
		return nil
	}
	return g.spread.valuesSince(since, maxSpreadKept)
}

// reset empties a group that fired.
func (g *group) reset() {
	g.n, g.head = 0, 0
	g.buckets, g.cur = [16]uint64{}, 0
	if g.distinct != nil {
		g.distinct.reset()
	}
	if g.spread != nil {
		g.spread.reset()
	}
	g.tallying, g.tallyN = false, 0
	g.ne = 0
}

// evidenceIDs returns the ids kept of events within the window before
// now, oldest first.
func (g *group) evidenceIDs(now, window int64) []string {
	n := min(g.ne, evidenceKept)
	out := make([]string, 0, n)
	for i := g.ne - n; i < g.ne; i++ {
		if now-g.evTimes[i%evidenceKept] <= window {
			out = append(out, g.evidence[i%evidenceKept])
		}
	}
	return out
}

// distinctValues returns up to n of the group's distinct values, most
// recent first.
func (g *group) distinctValues(n int) []string {
	if g.distinct == nil {
		return nil
	}
	return g.distinct.values(n)
}

// distinctSet keeps the most recent distinct values of a field, up to a
// bound (the threshold's count), each with when it was last seen. Small
// sets are a slice searched in place (no map per group); large ones an
// LRU.
type distinctSet struct {
	small []distinctEntry
	large *lru[int64]
	cap   int
}

type distinctEntry struct {
	val string
	t   int64
}

// maxSmallDistinct is the largest bound kept as a slice.
const maxSmallDistinct = 64

func newDistinctSet(capacity int) *distinctSet {
	d := &distinctSet{cap: capacity}
	if capacity > maxSmallDistinct {
		d.large = newLRU[int64](capacity)
	}
	return d
}

// see records value v (as text) seen at t.
func (d *distinctSet) see(v []byte, t int64) {
	if d.large != nil {
		if e, found := d.large.getBytes(v); found {
			e.val = max(e.val, t)
		} else {
			d.large.put(string(v), t)
		}
		return
	}
	for i := range d.small {
		if d.small[i].val == string(v) {
			d.small[i].t = max(d.small[i].t, t)
			return
		}
	}
	if len(d.small) < d.cap {
		d.small = append(d.small, distinctEntry{string(v), t})
		return
	}
	// Full: the least recently seen makes room.
	old := 0
	for i := range d.small {
		if d.small[i].t < d.small[old].t {
			old = i
		}
	}
	d.small[old] = distinctEntry{string(v), t}
}

func (d *distinctSet) len() int {
	if d.large != nil {
		return d.large.len()
	}
	return len(d.small)
}

// oldest is when the least recently seen value was seen.
func (d *distinctSet) oldest() int64 {
	if d.large != nil {
		return d.large.tail.val
	}
	o := d.small[0].t
	for _, e := range d.small[1:] {
		o = min(o, e.t)
	}
	return o
}

// countSince counts the values last seen at since or later.
func (d *distinctSet) countSince(since int64) int {
	n := 0
	if d.large != nil {
		for e := d.large.head; e != nil; e = e.next {
			if e.val >= since {
				n++
			}
		}
		return n
	}
	for _, e := range d.small {
		if e.t >= since {
			n++
		}
	}
	return n
}

// valuesSince returns up to n of the values last seen at since or later,
// sorted (numbers as numbers).
func (d *distinctSet) valuesSince(since int64, n int) []string {
	var out []string
	if d.large != nil {
		for e := d.large.head; e != nil && len(out) < n; e = e.next {
			if e.val >= since {
				out = append(out, e.key)
			}
		}
	} else {
		for _, e := range d.small {
			if e.t >= since && len(out) < n {
				out = append(out, e.val)
			}
		}
	}
	slices.SortFunc(out, compareValues)
	return out
}

// values returns up to n values, most recently seen first.
func (d *distinctSet) values(n int) []string {
	var out []string
	if d.large != nil {
		for e := d.large.head; e != nil && len(out) < n; e = e.next {
			out = append(out, e.key)
		}
		return out
	}
	es := slices.Clone(d.small)
	slices.SortStableFunc(es, func(a, b distinctEntry) int { return cmp.Compare(b.t, a.t) })
	for _, e := range es[:min(n, len(es))] {
		out = append(out, e.val)
	}
	return out
}

func (d *distinctSet) reset() {
	if d.large != nil {
		d.large.clear()
		return
	}
	d.small = d.small[:0]
}

// appendGroupKey appends groupKey's key to b without allocating.
func appendGroupKey(b []byte, fields []match.Field, c *match.Ctx) ([]byte, bool) {
	for i := range fields {
		v, ok := c.Get(&fields[i])
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

// groupKey joins the group-by fields' values; false when ev lacks one.
func groupKey(fields []match.Field, ev *event.Event) (string, []string, bool) {
	if len(fields) == 0 {
		return "", nil, true
	}
	vals := make([]string, len(fields))
	for i, f := range fields {
		v, ok := f.Get(ev)
		if !ok {
			return "", nil, false
		}
		vals[i] = event.FormatValue(v)
	}
	if len(vals) == 1 {
		return vals[0], vals, true
	}
	return strings.Join(vals, "\x00"), vals, true
}

// windowText renders a window for reports: 10s, 5m, 1h30m.
func windowText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// tallyTimer is the end of a tally's window.
type tallyTimer struct {
	at  time.Time
	st  *ruleState
	g   *group
	gen uint64
	seq uint64 // ties in time keep the order they were made in
}

type tallyTimers []tallyTimer

func (t tallyTimers) Len() int { return len(t) }
func (t tallyTimers) Less(i, j int) bool {
	if !t[i].at.Equal(t[j].at) {
		return t[i].at.Before(t[j].at)
	}
	return t[i].seq < t[j].seq
}
func (t tallyTimers) Swap(i, j int) { t[i], t[j] = t[j], t[i] }
func (t *tallyTimers) Push(x any)   { *t = append(*t, x.(tallyTimer)) }
func (t *tallyTimers) Pop() any {
	old := *t
	x := old[len(old)-1]
	old[len(old)-1] = tallyTimer{}
	*t = old[:len(old)-1]
	return x
}
