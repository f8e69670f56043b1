package monitor

import (
	"cmp"
	"slices"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// inspect runs fn on the runner's engine while the engine is not working,
// and reports whether it ran (not once the engine's loop has ended).
func (r *runner) inspect(fn func(engine.Engine)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return false
	}
	fn(r.eng)
	return true
}

// LiveTracks returns the current top tracks of the monitor's engines that
// follow tracks (engine.TrackLister), stamped with the monitor's and the
// engine's names, the most recently observed first: the tracks the store
// holds reports of, and those nothing has happened to yet. It is safe to
// call at any time; an engine that has stopped answers nothing.
func (m *Monitor) LiveTracks(q engine.TrackQuery) []event.Report {
	var out []event.Report
	for _, r := range m.runners {
		r.inspect(func(e engine.Engine) {
			tl, ok := e.(engine.TrackLister)
			if !ok {
				return
			}
			for _, rep := range tl.Tracks(q) {
				rep.Monitor, rep.Engine = m.cfg.Monitor.Name, r.name
				out = append(out, rep)
			}
		})
	}
	slices.SortStableFunc(out, func(a, b event.Report) int { return b.Time.Compare(a.Time) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// ProfileSubjects describes the subjects of the monitor's engines that
// learn per subject (engine.SubjectLister), stamped with the monitor's
// and the engine's names, the most recently seen first. engineName, when
// set, asks only that engine.
func (m *Monitor) ProfileSubjects(engineName string, q engine.SubjectQuery) []engine.Subject {
	var out []engine.Subject
	for _, r := range m.runners {
		if engineName != "" && r.name != engineName {
			continue
		}
		r.inspect(func(e engine.Engine) {
			sl, ok := e.(engine.SubjectLister)
			if !ok {
				return
			}
			for _, s := range sl.Subjects(q) {
				s.Monitor, s.Engine = m.cfg.Monitor.Name, r.name
				out = append(out, s)
			}
		})
	}
	slices.SortStableFunc(out, func(a, b engine.Subject) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Engine, b.Engine))
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}
