package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Limits of a query's result.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// Filter selects events or reports. Every field set must match; zero
// fields match everything.
type Filter struct {
	// Host and IP match the subject exactly. IP has no index of its own
	// (see the package documentation); with Host or Type it is cheap.
	Host, IP string
	// IDs, when given, are the only records wanted (at most MaxIDs): a
	// report's evidence, for example.
	IDs []string
	// Type matches an event's type exactly; it applies to events only
	// (a report filter may name event.TypeReport, which all reports match).
	Type string
	// Monitor, Engine and Model match a report's exactly; they apply to
	// reports only.
	Monitor, Engine, Model string
	// MinSeverity keeps the reports of at least this severity; it applies
	// to reports only.
	MinSeverity *event.Severity
	// Since (inclusive) and Until (exclusive) bound the record's time; a
	// zero time is unbounded.
	Since, Until time.Time
	// Limit is the most records returned: DefaultLimit when 0 or less, at
	// most MaxLimit.
	Limit int
}

func (f *Filter) limit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// where builds a parameterised WHERE clause: conds are fixed SQL text, the
// values go into args.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(column, value string) {
	if value != "" {
		w.conds = append(w.conds, column+" = ?")
		w.args = append(w.args, value)
	}
}

func (w *where) add(cond string, arg any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, arg)
}

// MaxIDs bounds the ids a query may name.
const MaxIDs = 256

func (w *where) ids(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > MaxIDs {
		return fmt.Errorf("%d ids: at most %d", len(ids), MaxIDs)
	}
	w.conds = append(w.conds, "id IN (?"+strings.Repeat(", ?", len(ids)-1)+")")
	for _, id := range ids {
		w.args = append(w.args, id)
	}
	return nil
}

func (w *where) timeRange(f *Filter) {
	if !f.Since.IsZero() {
		w.add("time >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		w.add("time < ?", f.Until.UnixNano())
	}
}

func (w *where) query(columns, table string, limit int) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(columns)
	b.WriteString(" FROM ")
	b.WriteString(table)
	w.writeWhere(&b)
	b.WriteString(" ORDER BY time DESC, seq DESC LIMIT ?")
	w.args = append(w.args, limit)
	return b.String()
}

// eventsQuery returns the query of Events and its arguments.
func eventsQuery(f *Filter) (string, []any, error) {
	if f.Monitor != "" || f.Engine != "" || f.Model != "" || f.MinSeverity != nil {
		return "", nil, errors.New("the monitor, engine, model and severity filters apply to reports only")
	}
	var w where
	w.eq("host", f.Host)
	w.eq("ip", f.IP)
	w.eq("type", f.Type)
	if err := w.ids(f.IDs); err != nil {
		return "", nil, err
	}
	w.timeRange(f)
	q := w.query("id, time, type, host, ip, source, attrs", "events", f.limit())
	return q, w.args, nil
}

// reportSubjects is the condition on a report's subject and origin.
func reportSubjects(f *Filter) where {
	var w where
	w.eq("host", f.Host)
	w.eq("ip", f.IP)
	w.eq("monitor", f.Monitor)
	w.eq("engine", f.Engine)
	w.eq("model", f.Model)
	return w
}

// reportsQuery returns the query of Reports and its arguments.
func reportsQuery(f *Filter) (string, []any, error) {
	if f.Type != "" && f.Type != event.TypeReport {
		return "", nil, fmt.Errorf("the type filter applies to events only (reports are of type %s)", event.TypeReport)
	}
	w := reportSubjects(f)
	if f.MinSeverity != nil {
		w.add("severity >= ?", int64(*f.MinSeverity))
	}
	if err := w.ids(f.IDs); err != nil {
		return "", nil, err
	}
	w.timeRange(f)
	q := w.query("id, time, monitor, engine, model, host, ip, score, severity, state, evidence, explanation, attrs",
		"reports", f.limit())
	return q, w.args, nil
}

// Events returns the events that match f, newest first.
func (s *Store) Events(ctx context.Context, f Filter) ([]event.Event, error) {
	q, args, err := eventsQuery(&f)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	if s.isClosing() {
		return nil, fmt.Errorf("store: events: %w", ErrClosed)
	}
	limit := f.limit()
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query events: %w", err)
	}
	defer rows.Close()
	out := make([]event.Event, 0, min(limit, 256))
	for rows.Next() {
		var ev event.Event
		var ns int64
		var attrs sql.NullString
		if err := rows.Scan(&ev.ID, &ns, &ev.Type, &ev.Host, &ev.IP, &ev.Source, &attrs); err != nil {
			return nil, fmt.Errorf("store: read event row: %w", err)
		}
		ev.Time = time.Unix(0, ns).UTC()
		if attrs.Valid {
			if ev.Attrs, err = event.DecodeAttrsJSON([]byte(attrs.String)); err != nil {
				return nil, fmt.Errorf("store: event %s: decode attrs: %w", ev.ID, err)
			}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query events: %w", err)
	}
	return out, nil
}

// Reports returns the reports that match f, newest first.
func (s *Store) Reports(ctx context.Context, f Filter) ([]event.Report, error) {
	q, args, err := reportsQuery(&f)
	if err != nil {
		return nil, fmt.Errorf("store: reports: %w", err)
	}
	if s.isClosing() {
		return nil, fmt.Errorf("store: reports: %w", ErrClosed)
	}
	return s.scanReports(ctx, q, args, f.limit())
}

// scanReports runs a query of report rows.
func (s *Store) scanReports(ctx context.Context, q string, args []any, limit int) ([]event.Report, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query reports: %w", err)
	}
	defer rows.Close()
	out := make([]event.Report, 0, min(limit, 256))
	for rows.Next() {
		var r event.Report
		var ns, sev int64
		var evidence, attrs sql.NullString
		if err := rows.Scan(&r.ID, &ns, &r.Monitor, &r.Engine, &r.Model, &r.Host, &r.IP, &r.Score, &sev,
			&r.State, &evidence, &r.Explanation, &attrs); err != nil {
			return nil, fmt.Errorf("store: read report row: %w", err)
		}
		r.Time = time.Unix(0, ns).UTC()
		if sev < 0 || sev > int64(event.SeverityRed) {
			return nil, fmt.Errorf("store: report %s: unknown severity %d", r.ID, sev)
		}
		r.Severity = event.Severity(sev)
		if evidence.Valid {
			if r.Evidence, err = event.DecodeStringsJSON([]byte(evidence.String)); err != nil {
				return nil, fmt.Errorf("store: report %s: decode evidence: %w", r.ID, err)
			}
			if len(r.Evidence) == 0 {
				r.Evidence = nil
			}
		}
		if attrs.Valid {
			if r.Attrs, err = event.DecodeAttrsJSON([]byte(attrs.String)); err != nil {
				return nil, fmt.Errorf("store: report %s: decode attrs: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query reports: %w", err)
	}
	return out, nil
}

// Count returns the number of events and reports stored.
func (s *Store) Count(ctx context.Context) (events, reports int64, err error) {
	if s.isClosing() {
		return 0, 0, fmt.Errorf("store: count: %w", ErrClosed)
	}
	err = s.rdb.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM reports)`).Scan(&events, &reports)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count rows: %w", err)
	}
	return events, reports, nil
}
