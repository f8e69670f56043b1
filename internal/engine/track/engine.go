package track

import (
	"container/heap"
	"math"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// The engine keeps, per model and key (a host's address, by default), a
// beam of hypotheses. A hypothesis is one explanation of the key's
// observations that the model can emit: each was either produced by the
// model's process (the track) or unrelated noise. An observation extends
// every hypothesis both ways, and may start the track when it has not
// started; the hypotheses are ranked by likelihood, pruned to the beam
// width and to a floor relative to the best, and the best one is the
// top track, whose score is the posterior mass of the target states
// after the normalised forward recursion over its observations.

// Options tune an engine.
type Options struct {
	// Beam is how many hypotheses a (key, model) keeps (default 8).
	Beam int
	// Floor drops hypotheses whose likelihood is below Floor times the
	// best's (default 1e-6).
	Floor float64
	// Step is how far the top track's score must move, without its
	// state changing, to be reported again (default 0.05).
	Step float64
	// Expire ends a (key, model) after that long without an observation
	// the model can emit (default 1h).
	Expire time.Duration
	// MaxKeys bounds the (key, model) pairs kept; the least recently
	// observed go first, counted (default 200,000).
	MaxKeys int
	// MaxEvidence bounds the event ids a report names (default 16, the
	// latest, of the key's latest 32 observations).
	MaxEvidence int
}

func (o *Options) defaults() {
	if o.Beam <= 0 {
		o.Beam = 8
	}
	if o.Floor <= 0 {
		o.Floor = 1e-6
	}
	if o.Step <= 0 {
		o.Step = 0.05
	}
	if o.Expire <= 0 {
		o.Expire = time.Hour
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 200_000
	}
	if o.MaxEvidence <= 0 || o.MaxEvidence > evidenceRing {
		o.MaxEvidence = 16
	}
}

// hyp is one hypothesis about a key's observations.
type hyp struct {
	alpha  []float64 // the track's state distribution; nil: not started
	loglik float64
	n      int // observations assigned to the track
	// evidence marks which of the key's latest observations (bit 0: the
	// latest; see keyState.ring) the track holds.
	evidence uint32
	first    time.Time // the track's first observation
	last     time.Time // its latest
}

// keyState is a (key, model)'s hypotheses and what was last reported.
type keyState struct {
	model *Model
	mi    int // the model's index
	key   string
	// host is, for a track keyed by an address, the host id of the
	// latest host agent's observation made on the machine with that
	// address: the agent's host, which a response needs (a sensor's
	// events name the sensor as their host).
	host string
	hyps []hyp
	seen time.Time // latest observation the model could emit
	// ring holds the ids of the key's latest observations (of this
	// model), the one numbered seq-1 last.
	ring [evidenceRing]string
	seq  uint64

	reported      bool
	repState      int
	repScore      float64
	repSeverity   event.Severity
	repWasStarted bool

	prev, next *keyState // recency list

	// deadline is when a state's timeout next moves the top track's
	// mass (zero: none); heapIdx is the key's place in the timeout heap
	// (-1: not in it).
	deadline time.Time
	heapIdx  int
}

// Report is what the engine concludes about a (key, model): the columns
// of seed 000 Figure 7 and the evidence.
type Report struct {
	Model    *Model
	Key      string
	KeyField string
	// Host is, for a track keyed by an address, the host id its
	// observations came from ("" when none named one).
	Host     string
	State    string
	Score    float64
	Severity event.Severity
	// LastModified is the time of the track's latest observation.
	LastModified time.Time
	Observations int
	Evidence     []string
	// Time is when the conclusion was reached (an event's time, or a
	// tick's).
	Time time.Time

	// Verdict, for a model comparison, says which model explains the
	// key's observations better (Model) than the other (Versus), with
	// the log likelihood ratio that decided it.
	Verdict string
	Versus  *Model
	LLR     float64
}

// Stats count what an engine did.
type Stats struct {
	Events, Observations, Reports uint64
	Keys                          int
	KeysEvicted, KeysExpired      uint64
	HypothesesPruned              uint64
}

// Engine tracks keys through models.
type Engine struct {
	models []*Model
	o      Options
	keys   []map[string]*keyState // by model index, then key
	nkeys  int
	// recency list, most recent first
	head, tail *keyState
	timeouts   timeoutHeap
	scratch    []hyp // reused by observe
	order      []int
	stats      Stats
	now        time.Time
	cmp        []*comparison
}

// New makes an engine running models.
func New(models []*Model, o Options) *Engine {
	o.defaults()
	e := &Engine{models: models, o: o, keys: make([]map[string]*keyState, len(models))}
	for i := range e.keys {
		e.keys[i] = map[string]*keyState{}
	}
	return e
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Keys = e.nkeys
	return s
}

// Handle assigns ev to the tracks of every model that can emit it and
// calls emit for each conclusion worth reporting.
func (e *Engine) Handle(ev *event.Event, emit func(Report)) {
	e.stats.Events++
	if ev.Time.After(e.now) {
		e.Tick(ev.Time, emit)
	}
	// For the comparisons: each model's change of likelihood, and the
	// key and field ev binds to under it.
	var deltas []float64
	var binds []binding
	if len(e.cmp) > 0 {
		deltas, binds = make([]float64, len(e.models)), make([]binding, len(e.models))
	}
	for mi, m := range e.models {
		ei := m.Emission(ev)
		field := m.Key
		if ei >= 0 && m.Emissions[ei].Key != "" {
			field = m.Emissions[ei].Key
		}
		key := ev.Field(field)
		if binds != nil {
			binds[mi] = binding{key, field}
		}
		if ei < 0 {
			if deltas != nil {
				deltas[mi] = math.NaN() // not the model's to explain
			}
			continue
		}
		if key == "" {
			continue
		}
		e.stats.Observations++
		ks := e.state(mi, key)
		if field == "ip" && ev.Host != "" && ev.Source == event.SourceAgent {
			ks.host = ev.Host
		}
		before := ks.best().loglik
		e.observe(ks, ei, ev)
		e.schedule(ks)
		if deltas != nil {
			deltas[mi] = ks.best().loglik - before
		}
		e.maybeReport(ks, field, ev.Time, emit)
	}
	if deltas != nil {
		e.compare(ev, deltas, binds, emit)
	}
}

// binding is the key an event binds to under a model, and the field it
// came from.
type binding struct{ key, field string }

// Tick applies state timeouts and ends expired keys as time passes.
// Only keys whose top track has a timeout due are touched.
func (e *Engine) Tick(now time.Time, emit func(Report)) {
	if !now.After(e.now) {
		return
	}
	e.now = now
	// Expire from the least recently observed.
	for ks := e.tail; ks != nil && now.Sub(ks.seen) > e.o.Expire; ks = e.tail {
		e.drop(ks)
		e.stats.KeysExpired++
	}
	for len(e.timeouts) > 0 && !e.timeouts[0].deadline.After(now) {
		ks := e.timeouts[0]
		at := ks.deadline
		top := ks.best()
		if top.alpha != nil {
			// The distribution may be shared with another hypothesis:
			// change a copy.
			top.alpha = slices.Clone(top.alpha)
		}
		if top.alpha != nil && applyTimeouts(ks.model, top, at) {
			e.maybeReport(ks, ks.model.Key, at, emit)
		}
		e.schedule(ks)
	}
}

// schedule sets ks's next timeout deadline and its place in the heap.
func (e *Engine) schedule(ks *keyState) {
	var d time.Time
	if top := ks.best(); top.alpha != nil {
		for s, t := range ks.model.Timeout {
			if t > 0 && top.alpha[s] > 0 {
				if at := top.last.Add(t); d.IsZero() || at.Before(d) {
					d = at
				}
			}
		}
	}
	ks.deadline = d
	switch {
	case d.IsZero() && ks.heapIdx >= 0:
		heap.Remove(&e.timeouts, ks.heapIdx)
	case d.IsZero():
	case ks.heapIdx >= 0:
		heap.Fix(&e.timeouts, ks.heapIdx)
	default:
		heap.Push(&e.timeouts, ks)
	}
}

// timeoutHeap orders keys by their next timeout deadline.
type timeoutHeap []*keyState

func (h timeoutHeap) Len() int           { return len(h) }
func (h timeoutHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timeoutHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *timeoutHeap) Push(x any) {
	ks := x.(*keyState)
	ks.heapIdx = len(*h)
	*h = append(*h, ks)
}
func (h *timeoutHeap) Pop() any {
	old := *h
	ks := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	ks.heapIdx = -1
	return ks
}

func hasTimeouts(m *Model) bool {
	for _, t := range m.Timeout {
		if t > 0 {
			return true
		}
	}
	return false
}

// applyTimeouts moves the mass of every state whose timeout has passed
// since the track's latest observation to its fallback; true when
// anything moved.
func applyTimeouts(m *Model, h *hyp, now time.Time) bool {
	idle := now.Sub(h.last)
	moved := false
	for s, t := range m.Timeout {
		if t > 0 && idle >= t && h.alpha[s] > 0 {
			h.alpha[m.Fallback[s]] += h.alpha[s]
			h.alpha[s] = 0
			moved = true
		}
	}
	return moved
}

// state finds or makes a (key, model)'s state, most recent first.
func (e *Engine) state(mi int, key string) *keyState {
	ks := e.keys[mi][key]
	if ks == nil {
		if e.nkeys >= e.o.MaxKeys && e.tail != nil {
			e.drop(e.tail)
			e.stats.KeysEvicted++
		}
		ks = &keyState{model: e.models[mi], mi: mi, key: key, hyps: []hyp{{}}, heapIdx: -1}
		e.keys[mi][key] = ks
		e.nkeys++
	} else {
		e.unlink(ks)
	}
	ks.next, ks.prev = e.head, nil
	if e.head != nil {
		e.head.prev = ks
	}
	e.head = ks
	if e.tail == nil {
		e.tail = ks
	}
	return ks
}

func (e *Engine) drop(ks *keyState) {
	if ks.heapIdx >= 0 {
		heap.Remove(&e.timeouts, ks.heapIdx)
	}
	// A comparison's state for the key goes with it.
	for _, c := range e.cmp {
		if e.models[c.a] == ks.model || e.models[c.b] == ks.model {
			delete(c.llr, ks.key)
			delete(c.decided, ks.key)
		}
	}
	e.unlink(ks)
	delete(e.keys[ks.mi], ks.key)
	e.nkeys--
}

func (e *Engine) unlink(ks *keyState) {
	if ks.prev != nil {
		ks.prev.next = ks.next
	} else if e.head == ks {
		e.head = ks.next
	}
	if ks.next != nil {
		ks.next.prev = ks.prev
	} else if e.tail == ks {
		e.tail = ks.prev
	}
	ks.prev, ks.next = nil, nil
}

func (ks *keyState) best() *hyp { return &ks.hyps[0] }

// observe extends the hypotheses of ks with observation ev of emission
// class ei.
func (e *Engine) observe(ks *keyState, ei int, ev *event.Event) {
	m := ks.model
	ks.seen = ev.Time
	k := len(m.States)
	logNoise := math.Log(m.Noise)
	p := m.Emissions[ei].P
	ks.ring[ks.seq%evidenceRing] = ev.ID
	ks.seq++
	next := e.scratch[:0]
	var prior []float64
	if hasTimeouts(m) {
		prior = make([]float64, k)
	}
	for i := range ks.hyps {
		h := &ks.hyps[i]
		// The observation belongs to the track (starting it if need be).
		alpha := make([]float64, k)
		var c float64
		if h.alpha == nil {
			for s := range k {
				alpha[s] = m.Init[s] * p[s]
				c += alpha[s]
			}
		} else {
			from := h.alpha
			if prior != nil {
				copy(prior, h.alpha)
				tmp := hyp{alpha: prior, last: h.last}
				applyTimeouts(m, &tmp, ev.Time)
				from = prior
			}
			for j := range k {
				if p[j] == 0 {
					continue
				}
				var sum float64
				for s, a := range from {
					sum += a * m.Trans[s][j]
				}
				alpha[j] = sum * p[j]
				c += alpha[j]
			}
		}
		if c > 0 {
			for s := range alpha {
				alpha[s] /= c
			}
			first := h.first
			if h.alpha == nil {
				first = ev.Time
			}
			next = append(next, hyp{alpha: alpha, loglik: h.loglik + math.Log(c), n: h.n + 1,
				evidence: h.evidence<<1 | 1, first: first, last: ev.Time})
		}
		// Or it is unrelated.
		nh := *h
		nh.loglik += logNoise
		nh.evidence <<= 1
		next = append(next, nh)
	}
	// Rank by likelihood (indexes, so no hypothesis is moved twice).
	idx := e.order[:0]
	for i := range next {
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpDesc(next[a].loglik, next[b].loglik) })
	// Identical explanations (the same track state reached two ways)
	// are kept once: the likelier.
	floor := next[idx[0]].loglik + math.Log(e.o.Floor)
	kept := ks.hyps[:0]
	for _, i := range idx {
		h := &next[i]
		if len(kept) >= e.o.Beam || h.loglik < floor || duplicate(kept, h) {
			e.stats.HypothesesPruned++
			continue
		}
		kept = append(kept, *h)
	}
	clear(kept[len(kept):cap(kept)])
	ks.hyps = kept
	clear(next)
	e.scratch, e.order = next[:0], idx[:0]
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func duplicate(hs []hyp, h *hyp) bool {
	for i := range hs {
		x := &hs[i]
		if x.n != h.n || (x.alpha == nil) != (h.alpha == nil) {
			continue
		}
		same := true
		for s := range x.alpha {
			if math.Abs(x.alpha[s]-h.alpha[s]) > 1e-12 {
				same = false
				break
			}
		}
		if same && math.Abs(x.loglik-h.loglik) < 1e-12 {
			return true
		}
	}
	return false
}

// evidenceRing is how many of a key's latest observations a track's
// evidence can name: a hypothesis marks its own in a bit mask, so
// extending one costs a shift, and every hypothesis of a key shares one
// ring of ids.
const evidenceRing = 32

// evidenceIDs returns the ids of the latest max observations h holds,
// oldest first.
func (ks *keyState) evidenceIDs(h *hyp, max int) []string {
	var out []string
	for i := evidenceRing - 1; i >= 0; i-- {
		if h.evidence&(1<<i) == 0 || uint64(i) >= ks.seq {
			continue
		}
		out = append(out, ks.ring[(ks.seq-1-uint64(i))%evidenceRing])
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// score is the posterior mass of the states weighted by their score
// weights (the target states' mass, where only they weigh), and the
// likeliest state.
func score(m *Model, h *hyp) (float64, int) {
	if h.alpha == nil {
		return 0, -1
	}
	var s float64
	best := 0
	for i, a := range h.alpha {
		s += a * m.Weight[i]
		if a > h.alpha[best] {
			best = i
		}
	}
	return s, best
}

// Severity is the band of a score under m.
func (m *Model) Severity(score float64) event.Severity {
	switch {
	case score >= m.Red:
		return event.SeverityRed
	case score >= m.Yellow:
		return event.SeverityYellow
	}
	return event.SeverityGreen
}

// maybeReport reports the top track of ks when its state changed or its
// score moved by more than the step since the last report.
func (e *Engine) maybeReport(ks *keyState, field string, at time.Time, emit func(Report)) {
	top := ks.best()
	sc, st := score(ks.model, top)
	if top.alpha == nil {
		if !ks.reported || !ks.repWasStarted {
			return
		}
	} else if ks.reported && ks.repWasStarted && st == ks.repState && math.Abs(sc-ks.repScore) <= e.o.Step && ks.model.Severity(sc) == ks.repSeverity {
		return
	}
	first := !ks.reported
	ks.reported, ks.repState, ks.repScore, ks.repSeverity, ks.repWasStarted = true, st, sc, ks.model.Severity(sc), top.alpha != nil
	if first && ks.repSeverity == event.SeverityGreen && st == argmax(ks.model.Init) {
		// A new track, green, in the state the model starts in: nothing
		// has happened yet. It is the baseline later changes are
		// reported against.
		return
	}
	r := Report{Model: ks.model, Key: ks.key, KeyField: field, Host: ks.host, Score: sc, Severity: ks.model.Severity(sc), LastModified: top.last,
		Observations: top.n, Evidence: ks.evidenceIDs(top, e.o.MaxEvidence), Time: at}
	if st >= 0 {
		r.State = ks.model.States[st]
	} else {
		r.State = "none"
	}
	e.stats.Reports++
	emit(r)
}

func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}
