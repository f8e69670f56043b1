package population

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
)

// maxShares is how many values a host's summary lists.
const maxShares = 5

// Subjects implements engine.SubjectLister: the hosts that match q, the
// most recently seen first, each with its most frequent values (their
// shares of its aged mix) and its measures' aged means.
func (a *adapter) Subjects(q engine.SubjectQuery) []engine.Subject {
	return a.p.Summaries(q, a.now)
}

// Summaries describes the hosts that match q as of now.
func (p *Population) Summaries(q engine.SubjectQuery, now time.Time) []engine.Subject {
	var hs []*host
	for _, h := range p.hosts {
		if q.Class != "" && p.c.Classes[h.class].Name != q.Class {
			continue
		}
		if q.Subject != "" && h.name != q.Subject {
			continue
		}
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b *host) int { return cmp.Or(b.last.Compare(a.last), cmp.Compare(a.name, b.name)) })
	if q.Limit > 0 && len(hs) > q.Limit {
		hs = hs[:q.Limit]
	}
	out := make([]engine.Subject, 0, len(hs))
	for _, h := range hs {
		s := engine.Subject{Class: p.c.Classes[h.class].Name, Subject: h.name, Field: p.c.HostField, Events: h.events,
			LastSeen: h.last, Scoring: h.weight(now, p.c.HalfLife) >= p.c.MinEvents}
		mix := engine.MeasureSummary{Name: "mix", Kind: "categorical", Field: p.c.Field}
		type vs struct {
			v string
			n float64
		}
		var all []vs
		for v, n := range h.counts {
			all = append(all, vs{v, n})
		}
		slices.SortFunc(all, func(a, b vs) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.v, b.v)) })
		for _, x := range all[:min(len(all), maxShares)] {
			if h.total > 0 {
				mix.Top = append(mix.Top, engine.Share{Value: x.v, Share: math.Round(x.n/h.total*1000) / 1000})
			}
		}
		s.Measures = append(s.Measures, mix)
		for i, m := range p.c.Measures {
			ms := engine.MeasureSummary{Name: m.Name, Kind: "mean", Field: m.Field}
			if h.wsum[i] > 0 {
				ms.Level = math.Round(h.sums[i]/h.wsum[i]*1000) / 1000
			}
			s.Measures = append(s.Measures, ms)
		}
		out = append(out, s)
	}
	return out
}

var _ engine.SubjectLister = (*adapter)(nil)
