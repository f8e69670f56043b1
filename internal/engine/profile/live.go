package profile

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
)

// maxShares is how many categories or bins a subject's summary lists per
// measure.
const maxShares = 5

// Summaries describes the subjects that match q, the most recently seen
// first, as of now (intensities decay to it): per measure, the categories
// or bins learnt most (the long-term profile and the current period
// together), or the intensity's level.
func (p *Profiler) Summaries(q engine.SubjectQuery, now time.Time) []engine.Subject {
	type found struct {
		s    *Subject
		subj string
		part string
	}
	var all []found
	for ci, c := range p.classes {
		if q.Class != "" && c.Name != q.Class {
			continue
		}
		for key, s := range p.subjects[ci] {
			subj, part := key, ""
			if c.BusinessHours[1] > 0 {
				if i := strings.LastIndexByte(key, '|'); i >= 0 {
					subj, part = key[:i], key[i+1:]
				}
			}
			if q.Subject != "" && subj != q.Subject && !strings.HasPrefix(subj, q.Subject+",") {
				continue
			}
			all = append(all, found{s, subj, part})
		}
	}
	slices.SortFunc(all, func(a, b found) int {
		if c := b.s.lastSeen.Compare(a.s.lastSeen); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.s.class.Name, b.s.class.Name), cmp.Compare(a.s.Key, b.s.Key))
	})
	if q.Limit > 0 && len(all) > q.Limit {
		all = all[:q.Limit]
	}
	out := make([]engine.Subject, 0, len(all))
	for _, f := range all {
		out = append(out, f.s.summary(f.subj, f.part, now))
	}
	return out
}

// summary describes what the subject has learnt.
func (s *Subject) summary(subj, part string, now time.Time) engine.Subject {
	c := s.class
	out := engine.Subject{Class: c.Name, Subject: subj, Field: c.Subject, Partition: part, Events: s.events,
		LastSeen: s.lastSeen, Updates: s.periods, Scoring: s.periods > 0}
	for i := range c.Measures {
		m := &c.Measures[i]
		ms := &s.m[i]
		sum := engine.MeasureSummary{Name: m.Name, Kind: m.Kind.String()}
		switch m.Kind {
		case Intensity:
			level := ms.level
			if !ms.last.IsZero() && now.After(ms.last) {
				level *= math.Exp2(-now.Sub(ms.last).Seconds() / m.Scale.Seconds())
			}
			sum.Level = math.Round(level*1000) / 1000
			sum.Scale = m.Scale.String()
		case Categorical, Distribution, Continuous:
			if m.Kind != Distribution {
				sum.Field = m.Field
			}
			sum.Top = ms.shares(m)
		}
		out.Measures = append(out.Measures, sum)
	}
	return out
}

// shares are the measure's most frequent categories or bins with their
// shares of what was learnt, most first.
func (ms *mstate) shares(m *Measure) []engine.Share {
	n := len(ms.f.long)
	var total float64
	w := make([]float64, n)
	for k := range n {
		w[k] = float64(ms.f.long[k]) + float64(ms.f.period[k])
		total += w[k]
	}
	if total <= 0 {
		return nil
	}
	idx := make([]int, 0, n)
	for k := range n {
		if w[k] > 0 {
			idx = append(idx, k)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(w[b], w[a]) })
	idx = idx[:min(len(idx), maxShares)]
	out := make([]engine.Share, 0, len(idx))
	for _, k := range idx {
		var name string
		if m.Kind == Continuous {
			name = binName(ms.edges, k)
		} else if k < len(ms.cats) {
			name = ms.cats[k]
		}
		out = append(out, engine.Share{Value: name, Share: math.Round(w[k]/total*1000) / 1000})
	}
	return out
}

// binName names bin k of a continuous measure with edges: "< e0",
// "[a, b)" or ">= e_last".
func binName(edges []float64, k int) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	switch {
	case len(edges) == 0:
		return ""
	case k == 0:
		return "< " + f(edges[0])
	case k >= len(edges):
		return ">= " + f(edges[len(edges)-1])
	}
	return "[" + f(edges[k-1]) + ", " + f(edges[k]) + ")"
}

// Subjects implements engine.SubjectLister.
func (a *adapter) Subjects(q engine.SubjectQuery) []engine.Subject {
	return a.p.Summaries(q, a.now)
}

var _ engine.SubjectLister = (*adapter)(nil)
