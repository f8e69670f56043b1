package track

import (
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// Top returns the top track of every (key, model) that matches q, the most
// recently observed first: the live track table, including the tracks
// that have not been reported because nothing happened to them yet.
// Tracks that have not started are left out.
func (e *Engine) Top(q engine.TrackQuery) []Report {
	var out []Report
	for ks := e.head; ks != nil; ks = ks.next {
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		if q.Key != "" && ks.key != q.Key || q.Model != "" && ks.model.ID != q.Model {
			continue
		}
		top := ks.best()
		if top.alpha == nil {
			continue
		}
		// As of the track's latest observation (a report made on it
		// carries the same time, a later one a later time).
		sc, st := score(ks.model, top)
		r := Report{Model: ks.model, Key: ks.key, KeyField: ks.model.Key, Host: ks.host, State: ks.model.States[st], Score: sc,
			Severity: ks.model.Severity(sc), LastModified: top.last, Observations: top.n,
			Evidence: ks.evidenceIDs(top, e.o.MaxEvidence), Time: top.last}
		out = append(out, r)
	}
	return out
}

// Tracks implements engine.TrackLister.
func (a *adapter) Tracks(q engine.TrackQuery) []event.Report {
	top := a.e.Top(q)
	out := make([]event.Report, len(top))
	for i, r := range top {
		out[i] = r.Event()
	}
	return out
}

var _ engine.TrackLister = (*adapter)(nil)
