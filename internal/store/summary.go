package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
)

// TypeCount is how many events of one type a subject (host and address)
// produced: a cell of seed 000 Table 2, the observation types by host.
type TypeCount struct {
	Host  string `json:"host"`
	IP    string `json:"ip"`
	Type  string `json:"type"`
	Count int64  `json:"count"`
}

// maxTypeCounts bounds TypeCounts' rows.
const maxTypeCounts = 100_000

// TypeCounts counts the events that match f (host, ip, type, time range)
// by subject and type, ordered by host, address and type. Reports are not
// events here.
func (s *Store) TypeCounts(ctx context.Context, f Filter) ([]TypeCount, error) {
	if f.Monitor != "" || f.Engine != "" || f.Model != "" || f.MinSeverity != nil {
		return nil, errors.New("store: type counts: the monitor, engine, model and severity filters apply to reports only")
	}
	if s.isClosing() {
		return nil, fmt.Errorf("store: type counts: %w", ErrClosed)
	}
	var w where
	w.eq("host", f.Host)
	w.eq("ip", f.IP)
	w.eq("type", f.Type)
	w.timeRange(&f)
	var b strings.Builder
	b.WriteString("SELECT host, ip, type, count(*) FROM events")
	w.writeWhere(&b)
	b.WriteString(" GROUP BY host, ip, type ORDER BY host, ip, type LIMIT ?")
	rows, err := s.rdb.QueryContext(ctx, b.String(), append(w.args, maxTypeCounts)...)
	if err != nil {
		return nil, fmt.Errorf("store: query type counts: %w", err)
	}
	defer rows.Close()
	var out []TypeCount
	for rows.Next() {
		var c TypeCount
		if err := rows.Scan(&c.Host, &c.IP, &c.Type, &c.Count); err != nil {
			return nil, fmt.Errorf("store: read type count row: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query type counts: %w", err)
	}
	return out, nil
}

// Tracks returns, for every subject (its address, else its host) and monitor, engine
// and model among the reports that match f, the newest report: the live
// track table of seed 000 Figure 7 when the engine is a track engine.
// Verdicts of model comparisons are not tracks and are left out. The
// newest come first.
func (s *Store) Tracks(ctx context.Context, f Filter) ([]event.Report, error) {
	if f.Type != "" && f.Type != event.TypeReport {
		return nil, fmt.Errorf("store: tracks: the type filter applies to events only")
	}
	if s.isClosing() {
		return nil, fmt.Errorf("store: tracks: %w", ErrClosed)
	}
	w := reportSubjects(&f)
	w.add("state != ?", "Verdict")
	w.timeRange(&f)
	var inner strings.Builder
	inner.WriteString("SELECT max(seq) FROM reports")
	w.writeWhere(&inner)
	// A subject is its address when it has one: a track keyed by address
	// names its host too once the host's agent was heard, and stays one
	// track.
	inner.WriteString(" GROUP BY monitor, engine, model, CASE WHEN ip != '' THEN ip ELSE host END")
	var sev where
	sev.args = w.args
	cond := "seq IN (" + inner.String() + ")"
	if f.MinSeverity != nil {
		// The band applies to the newest report, not to older ones.
		cond += " AND severity >= ?"
		sev.args = append(sev.args, int64(*f.MinSeverity))
	}
	sev.conds = []string{cond}
	q := sev.query("id, time, monitor, engine, model, host, ip, score, severity, state, evidence, explanation, attrs", "reports", f.limit())
	return s.scanReports(ctx, q, sev.args, f.limit())
}

// writeWhere writes the conditions as a WHERE clause.
func (w *where) writeWhere(b *strings.Builder) {
	for i, c := range w.conds {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(c)
	}
}
