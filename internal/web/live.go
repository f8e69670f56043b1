package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
)

// Live is a running monitor's view of what its engines follow now (the
// monitor implements it): the top tracks of its track engines, including
// those nothing has happened to yet, and the subjects its profilers have
// learnt. Without it the API answers from the store alone.
type Live interface {
	LiveTracks(q engine.TrackQuery) []event.Report
	ProfileSubjects(engineName string, q engine.SubjectQuery) []engine.Subject
}

// hostsWindow is how far back the hosts overview takes reports into
// account by default (live tracks always count).
const hostsWindow = time.Hour

func queryLimit(f *store.Filter) int {
	switch {
	case f.Limit <= 0:
		return store.DefaultLimit
	case f.Limit > store.MaxLimit:
		return store.MaxLimit
	}
	return f.Limit
}

// trackKey names a track: monitor, engine, model and subject.
// trackKey is a track's identity: its subject is its address when it has
// one (a track keyed by address names its host too once it is known), else
// its host, as the store groups them.
type trackKey struct{ monitor, engine, model, subject string }

func keyOf(r *event.Report) trackKey {
	subject := r.IP
	if subject == "" {
		subject = r.Host
	}
	return trackKey{r.Monitor, r.Engine, r.Model, subject}
}

// tracks answers the newest report per subject and model from the store,
// with the running engines' live tracks in place of (or beside) them, the
// newest first.
func (s *Server) tracks(ctx context.Context, f store.Filter) ([]event.Report, error) {
	stored, err := s.o.Store.Tracks(ctx, f)
	if err != nil || s.o.Live == nil {
		return stored, err
	}
	limit := queryLimit(&f)
	key := f.IP
	if key == "" {
		key = f.Host
	}
	live := s.o.Live.LiveTracks(engine.TrackQuery{Key: key, Model: f.Model, Limit: limit})
	at := make(map[trackKey]int, len(stored))
	for i := range stored {
		at[keyOf(&stored[i])] = i
	}
	for _, r := range live {
		if !liveMatches(&r, &f) {
			continue
		}
		if i, ok := at[keyOf(&r)]; ok {
			// The engine's current view replaces its latest report
			// (whose id and explanation it would only repeat).
			stored[i] = r
			continue
		}
		at[keyOf(&r)] = len(stored)
		stored = append(stored, r)
	}
	slices.SortStableFunc(stored, func(a, b event.Report) int { return b.Time.Compare(a.Time) })
	if len(stored) > limit {
		stored = stored[:limit]
	}
	return stored, nil
}

// liveMatches applies the filter the store applies to reports.
func liveMatches(r *event.Report, f *store.Filter) bool {
	switch {
	case f.Host != "" && r.Host != f.Host, f.IP != "" && r.IP != f.IP:
		return false
	case f.Monitor != "" && r.Monitor != f.Monitor, f.Engine != "" && r.Engine != f.Engine:
		return false
	case f.MinSeverity != nil && r.Severity < *f.MinSeverity:
		return false
	case !f.Since.IsZero() && r.Time.Before(f.Since), !f.Until.IsZero() && !r.Time.Before(f.Until):
		return false
	}
	return true
}

// getProfiles answers with the subjects the running monitor's profilers
// have learnt, the most recently seen first.
func (s *Server) getProfiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "engine", "class", "subject", "limit":
		default:
			writeError(w, http.StatusBadRequest, errors.New("unknown parameter "+strconv.Quote(k)))
			return
		}
	}
	sq := engine.SubjectQuery{Class: q.Get("class"), Subject: q.Get("subject"), Limit: store.DefaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter \"limit\": want an integer from 1 to %d, got %q", store.MaxLimit, v))
			return
		}
		sq.Limit = n
	}
	if s.o.Live == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server runs no monitor: profiles are only known to a running one"))
		return
	}
	subjects := s.o.Live.ProfileSubjects(q.Get("engine"), sq)
	if subjects == nil {
		subjects = []engine.Subject{}
	}
	writeJSON(w, http.StatusOK, subjects)
}

// hostRow is one row of the hosts overview: the host's worst current
// conclusion (severity, score and why) and its latest observation.
type hostRow struct {
	Host     string  `json:"host"`
	IP       string  `json:"ip"`
	Severity string  `json:"severity"`
	Score    float64 `json:"score"`
	// Reason is the explanation of the conclusion that sets the
	// severity, with the engine, model and state behind it.
	Reason string `json:"reason"`
	Engine string `json:"engine,omitempty"`
	Model  string `json:"model,omitempty"`
	State  string `json:"state,omitempty"`
	// Conclusions counts the host's current tracks and reports.
	Conclusions int `json:"conclusions"`
	// LastObservation is the time of its latest event (none when only
	// reports name it).
	LastObservation *time.Time `json:"last_observation"`

	sev event.Severity
}

// getHosts answers with the hosts overview, the most severe first: every
// host the store has events of or a report about, with its worst
// conclusion among the live tracks and the newest report per engine and
// model since ?since= (default an hour ago).
func (s *Server) getHosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "since" {
			writeError(w, http.StatusBadRequest, errors.New("unknown parameter "+strconv.Quote(k)))
			return
		}
	}
	since := s.o.Clock.Now().Add(-hostsWindow)
	if v := q.Get("since"); v != "" {
		t, err := s.parseTime("since", v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		since = t
	}
	rows, err := s.hosts(r.Context(), since)
	if err != nil {
		s.o.Logger.Error("querying the hosts overview", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("query failed"))
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) hosts(ctx context.Context, since time.Time) ([]hostRow, error) {
	seen, err := s.o.Store.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	conclusions, err := s.tracks(ctx, store.Filter{Since: since, Limit: store.MaxLimit})
	if err != nil {
		return nil, err
	}
	rows := make([]hostRow, 0, len(seen))
	byHost := map[string]int{}
	byIP := map[string]int{}
	for _, h := range seen {
		last := h.Last
		byHost[h.Host] = len(rows)
		if h.IP != "" {
			byIP[h.IP] = len(rows)
		}
		rows = append(rows, hostRow{Host: h.Host, IP: h.IP, LastObservation: &last})
	}
	for i := range conclusions {
		c := &conclusions[i]
		at, ok := -1, false
		if c.Host != "" {
			at, ok = byHost[c.Host]
		}
		if !ok && c.IP != "" {
			at, ok = byIP[c.IP]
		}
		if !ok {
			// A host known only from reports about it.
			at = len(rows)
			rows = append(rows, hostRow{Host: c.Host, IP: c.IP})
			if c.Host != "" {
				byHost[c.Host] = at
			}
			if c.IP != "" {
				byIP[c.IP] = at
			}
		}
		row := &rows[at]
		row.Conclusions++
		if row.Conclusions == 1 || c.Severity > row.sev || c.Severity == row.sev && c.Score > row.Score {
			row.sev, row.Score, row.Reason, row.Engine, row.Model, row.State = c.Severity, c.Score, c.Explanation, c.Engine, c.Model, c.State
		}
	}
	for i := range rows {
		rows[i].Severity = rows[i].sev.String()
	}
	slices.SortStableFunc(rows, func(a, b hostRow) int {
		return cmp.Or(cmp.Compare(b.sev, a.sev), cmp.Compare(b.Score, a.Score), cmp.Compare(a.Host, b.Host), cmp.Compare(a.IP, b.IP))
	})
	return rows, nil
}
