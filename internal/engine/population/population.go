// Package population is the level-2 aggregator (seed 000 section 5): an
// engine that keeps, per host, the aged mix of its observations (the
// share of each observation type, and the aged mean of named numeric
// measures), derives per host class a robust population profile (the
// median share of each type across the class's hosts, the median and MAD
// of each measure), and reports a host whose mix departs from its peers
// (a distance between the host's distribution and the population's
// above a threshold), naming the values that differ most.
//
// Because the baseline is the hosts' own population, a change every host
// of a class makes together (a new release, a traffic surge) moves the
// baseline with it and is not reported; one host departing is.
package population

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// otherType pools a host's values beyond its max_types.
const otherType = "(other)"

// rescaleAt is the weight above which a host's counts are brought back
// to its current time (the counts are kept relative to a reference time
// so that aging costs nothing per event).
const rescaleAt = 1 << 40

// host is what one host has shown.
type host struct {
	name  string
	class int
	// ref is the time the weights are relative to: an event at t weighs
	// 2^((t-ref)/half-life).
	ref    time.Time
	last   time.Time
	counts map[string]float64
	total  float64
	// sums and weights of the numeric measures, aged alike.
	sums, wsum []float64
	// lastID is the last event's id per value (the evidence of a report).
	lastID map[string]string
	events int64
}

// Population keeps the hosts of a configuration. It is not safe for
// concurrent use (a monitor calls its engines from one goroutine).
type Population struct {
	c     *Config
	hosts map[string]*host
	// Unclassified counts events of hosts in no class.
	Unclassified int64
}

// New makes an empty population.
func New(c *Config) *Population {
	return &Population{c: c, hosts: map[string]*host{}}
}

// Hosts is how many hosts are kept.
func (p *Population) Hosts() int { return len(p.hosts) }

// Observe takes one event into its host's mix; it tells whether the
// event counted.
func (p *Population) Observe(ev *event.Event) bool {
	c := p.c
	if c.Accept != nil && !c.Accept(ev) {
		return false
	}
	name := ev.Field(c.HostField)
	val := ev.Field(c.Field)
	if name == "" || val == "" {
		return false
	}
	h := p.hosts[name]
	if h == nil {
		ci := c.classOf(name, ev)
		if ci < 0 {
			p.Unclassified++
			return false
		}
		h = p.newHost(name, ci, ev.Time)
		p.hosts[name] = h
		if len(p.hosts) > c.MaxHosts {
			p.evict(name)
		}
	}
	w := h.weightAt(ev.Time, c.HalfLife)
	if w > rescaleAt {
		h.rescale(ev.Time, c.HalfLife)
		w = 1
	}
	if _, ok := h.counts[val]; !ok && len(h.counts) >= c.MaxTypes-1 {
		val = otherType
	}
	h.counts[val] += w
	h.total += w
	if ev.ID != "" {
		h.lastID[val] = ev.ID
	}
	for i, m := range c.Measures {
		if v, ok := ev.Num(m.Field); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			h.sums[i] += w * v
			h.wsum[i] += w
		}
	}
	h.events++
	if ev.Time.After(h.last) {
		h.last = ev.Time
	}
	return true
}

func (p *Population) newHost(name string, ci int, t time.Time) *host {
	n := len(p.c.Measures)
	return &host{name: name, class: ci, ref: t, last: t, counts: map[string]float64{}, lastID: map[string]string{},
		sums: make([]float64, n), wsum: make([]float64, n)}
}

// weightAt is the weight of an event at t.
func (h *host) weightAt(t time.Time, hl time.Duration) float64 {
	return math.Exp2(t.Sub(h.ref).Seconds() / hl.Seconds())
}

// rescale makes t the reference time.
func (h *host) rescale(t time.Time, hl time.Duration) {
	f := 1 / h.weightAt(t, hl)
	for k := range h.counts {
		h.counts[k] *= f
	}
	h.total *= f
	for i := range h.sums {
		h.sums[i] *= f
		h.wsum[i] *= f
	}
	h.ref = t
}

// weight is the host's aged count of events at now.
func (h *host) weight(now time.Time, hl time.Duration) float64 {
	return h.total / h.weightAt(now, hl)
}

// evict drops the least recently seen tenth of the hosts, never keep.
func (p *Population) evict(keep string) {
	all := make([]*host, 0, len(p.hosts))
	for _, h := range p.hosts {
		if h.name != keep {
			all = append(all, h)
		}
	}
	slices.SortFunc(all, func(a, b *host) int { return a.last.Compare(b.last) })
	for _, h := range all[:max(1, len(all)/10)] {
		delete(p.hosts, h.name)
	}
}

// Expire forgets the hosts not seen since now minus the expiry.
func (p *Population) Expire(now time.Time) int {
	n := 0
	for k, h := range p.hosts {
		if now.Sub(h.last) > p.c.Expire {
			delete(p.hosts, k)
			n++
		}
	}
	return n
}

// Share is one value's share of a host's mix beside the population's.
type Share struct {
	Value      string
	Host       float64
	Population float64
	// Z is the robust z of the host's share against the peers' (MAD).
	Z float64
}

// MeasureDiff is one numeric measure of a host beside its peers'.
type MeasureDiff struct {
	Name   string
	Host   float64
	Median float64
	MAD    float64
	Z      float64
	Out    bool
}

// Finding is one host judged against its class.
type Finding struct {
	Host     string
	Class    string
	Distance float64
	// Bar is the distance it had to pass: the threshold, or above it the
	// class's median distance plus spread MADs.
	Bar    float64
	Peers  int
	Events float64
	// Top are the values whose shares differ most, most first.
	Top      []Share
	Measures []MeasureDiff
	// Departs says the host is an outlier (its distance above the bar, or
	// a measure out).
	Departs  bool
	Evidence []string
}

// Evaluate compares every eligible host with its class's population at
// now. factor gives a host's threshold factor (1: none). Findings are
// sorted by class, then distance, most first.
func (p *Population) Evaluate(now time.Time, factor func(class, host string) float64) []Finding {
	c := p.c
	byClass := make([][]*host, len(c.Classes))
	for _, h := range p.hosts {
		if h.weight(now, c.HalfLife) >= c.MinEvents {
			byClass[h.class] = append(byClass[h.class], h)
		}
	}
	var out []Finding
	for ci, hs := range byClass {
		if len(hs)-1 < c.MinPeers {
			continue
		}
		sort.Slice(hs, func(i, j int) bool { return hs[i].name < hs[j].name })
		out = append(out, p.evaluateClass(ci, hs, now, factor)...)
	}
	return out
}

func (p *Population) evaluateClass(ci int, hs []*host, now time.Time, factor func(class, host string) float64) []Finding {
	c := p.c
	cl := c.Classes[ci].Name
	// The values any host shows, and every host's shares.
	index := map[string]int{}
	var values []string
	for _, h := range hs {
		for v := range h.counts {
			if _, ok := index[v]; !ok {
				index[v] = len(values)
				values = append(values, v)
			}
		}
	}
	shares := make([][]float64, len(hs))
	for i, h := range hs {
		s := make([]float64, len(values))
		for v, n := range h.counts {
			s[index[v]] = n / h.total
		}
		shares[i] = s
	}
	// The population: each value's median share, renormalised; its MAD.
	pop := make([]float64, len(values))
	mad := make([]float64, len(values))
	col := make([]float64, len(hs))
	var sum float64
	for k := range values {
		for i := range hs {
			col[i] = shares[i][k]
		}
		pop[k], mad[k] = medianMAD(col)
		sum += pop[k]
	}
	if sum <= 0 {
		// No value is shown by half the hosts: the mean distribution.
		for k := range values {
			pop[k] = 0
			for i := range hs {
				pop[k] += shares[i][k]
			}
			sum += pop[k]
		}
	}
	for k := range pop {
		pop[k] /= sum
	}
	// The measures' medians and MADs.
	type stat struct{ med, mad float64 }
	mstats := make([]stat, len(c.Measures))
	has := make([]bool, len(c.Measures))
	for mi := range c.Measures {
		var xs []float64
		for _, h := range hs {
			if h.wsum[mi] > 0 {
				xs = append(xs, h.sums[mi]/h.wsum[mi])
			}
		}
		if len(xs)-1 >= c.MinPeers {
			med, m := medianMAD(xs)
			mstats[mi], has[mi] = stat{med, m}, true
		}
	}
	dists := make([]float64, len(hs))
	for i := range hs {
		dists[i] = Distance(c.Distance, shares[i], pop)
	}
	dmed, dmad := medianMAD(append([]float64(nil), dists...))
	out := make([]Finding, 0, len(hs))
	for i, h := range hs {
		f := Finding{Host: h.name, Class: cl, Distance: dists[i], Peers: len(hs) - 1, Events: h.weight(now, c.HalfLife)}
		fac := 1.0
		if factor != nil {
			fac = factor(cl, h.name)
		}
		f.Bar = c.Threshold
		if c.Spread > 0 {
			f.Bar = max(f.Bar, dmed+c.Spread*1.4826*dmad)
		}
		f.Bar *= fac
		f.Departs = f.Distance > f.Bar
		for k, v := range values {
			f.Top = append(f.Top, Share{Value: v, Host: shares[i][k], Population: pop[k], Z: robustZ(shares[i][k], pop[k]*sum, mad[k], 0.01)})
		}
		// Most different: the largest terms of the distance.
		slices.SortFunc(f.Top, func(a, b Share) int {
			return cmp.Or(cmp.Compare(term(c.Distance, b.Host, b.Population), term(c.Distance, a.Host, a.Population)), cmp.Compare(a.Value, b.Value))
		})
		f.Top = f.Top[:min(len(f.Top), c.Top)]
		for mi, m := range c.Measures {
			if !has[mi] || h.wsum[mi] <= 0 {
				continue
			}
			x := h.sums[mi] / h.wsum[mi]
			st := mstats[mi]
			floor := max(0.05*math.Abs(st.med), 1e-9)
			d := MeasureDiff{Name: m.Name, Host: x, Median: st.med, MAD: st.mad, Z: robustZ(x, st.med, st.mad, floor)}
			d.Out = math.Abs(d.Z) > m.Threshold*fac
			if d.Out {
				f.Departs = true
			}
			f.Measures = append(f.Measures, d)
		}
		slices.SortStableFunc(f.Measures, func(a, b MeasureDiff) int { return cmp.Compare(math.Abs(b.Z), math.Abs(a.Z)) })
		for _, s := range f.Top {
			if id := h.lastID[s.Value]; id != "" && s.Host > s.Population {
				f.Evidence = append(f.Evidence, id)
			}
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(b.Distance, a.Distance) })
	return out
}

// robustZ is (x - med) / (1.4826 MAD), the MAD floored at floor.
func robustZ(x, med, mad, floor float64) float64 {
	return (x - med) / (1.4826 * max(mad, floor))
}

// medianMAD returns the median of xs and the median absolute deviation
// from it; xs is reordered.
func medianMAD(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	med := median(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - med)
	}
	return med, median(dev)
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// term is one value's part of the named distance between a host's share
// p and the population's q (before the square root of hellinger).
func term(kind string, p, q float64) float64 {
	switch kind {
	case JS:
		m := (p + q) / 2
		var d float64
		if p > 0 {
			d += p * math.Log2(p/m) / 2
		}
		if q > 0 {
			d += q * math.Log2(q/m) / 2
		}
		return d
	case ChiSquare:
		if p+q > 0 {
			return (p - q) * (p - q) / (p + q) / 2
		}
		return 0
	}
	d := math.Sqrt(p) - math.Sqrt(q)
	return d * d / 2
}

// Distance is the named distance between distributions p and q (each
// summing to 1), between 0 (alike) and 1 (disjoint): hellinger
// sqrt(1 - sum sqrt(p q)); js the Jensen-Shannon divergence in bits;
// chi2 the symmetric chi-square, sum (p-q)^2/(p+q) / 2.
func Distance(kind string, p, q []float64) float64 {
	var d float64
	for k := range p {
		d += term(kind, p[k], q[k])
	}
	if kind != JS && kind != ChiSquare {
		// Hellinger: half the sum of squared root differences is
		// 1 - sum sqrt(p q) for distributions.
		d = math.Sqrt(max(0, d))
	}
	return min(max(d, 0), 1)
}

// Explain says in a line why a host departs.
func (f *Finding) Explain(metric string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) departs from its %d peers: %s distance %.3f above %.3f", f.Host, f.Class, f.Peers, metric, f.Distance, f.Bar)
	for i, s := range f.Top {
		if i == 0 {
			b.WriteString("; most different: ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(s.String())
	}
	for _, m := range f.Measures {
		if m.Out {
			b.WriteString("; ")
			b.WriteString(m.String())
		}
	}
	return b.String()
}

// String is "PROC.EXEC 31.0% vs peers 0.5%".
func (s Share) String() string {
	return fmt.Sprintf("%s %.1f%% vs peers %.1f%%", s.Value, s.Host*100, s.Population*100)
}

// String is "bytes 5123 vs peers' median 410 (z 12.1)".
func (m MeasureDiff) String() string {
	return fmt.Sprintf("%s %.4g vs peers' median %.4g (z %.1f)", m.Name, m.Host, m.Median, m.Z)
}
