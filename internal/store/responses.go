package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Response is one decision of a monitor's resolver, as the audit keeps it:
// what was decided, by which policy, about what, why, and what became of
// it. Subject and Outcome are the resolver's JSON, kept as they are.
type Response struct {
	ID      string
	Time    time.Time
	Mode    string // monitor or enforce
	Policy  string // "" for an operator's own request
	Method  string
	Kind    string
	Key     string // what idempotence compares
	Subject json.RawMessage
	Reports []string // the triggering reports' ids
	Reason  string
	Status  string
	Outcome json.RawMessage
	Expires time.Time // zero: does not expire
	Undone  time.Time // zero: not undone
}

// Statuses of a response.
const (
	StatusPlanned    = "planned"    // decided in monitor mode: nothing executed
	StatusDryRun     = "dry-run"    // planned by a dry-run policy
	StatusDone       = "done"       // executed, in force until it expires or is undone
	StatusFailed     = "failed"     // execution failed
	StatusSuppressed = "suppressed" // beyond a rate budget, or already active
	StatusRefused    = "refused"    // the safety rules refused it
	StatusExpired    = "expired"    // undone on time
	StatusUndone     = "undone"     // undone by an operator
)

// ErrNoResponse is returned for a response id the store does not hold.
var ErrNoResponse = errors.New("no such response")

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// PutResponse records a decision, or replaces the one with the same id.
// It is written at once (decisions are few, and an action must not be
// lost to a crash once taken).
func (s *Store) PutResponse(ctx context.Context, r Response) error {
	return s.PutResponses(ctx, []Response{r})
}

const putResponseSQL = `INSERT INTO responses
		(id, time, mode, policy, method, kind, key, subject, reports, reason, status, outcome, expires, undone)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET time = excluded.time, mode = excluded.mode, policy = excluded.policy,
		method = excluded.method, kind = excluded.kind, key = excluded.key, subject = excluded.subject,
		reports = excluded.reports, reason = excluded.reason, status = excluded.status, outcome = excluded.outcome,
		expires = excluded.expires, undone = excluded.undone`

// PutResponses records decisions in one transaction (a flood's
// suppressed decisions): all of them, or none and an error.
func (s *Store) PutResponses(ctx context.Context, rs []Response) (err error) {
	type row struct {
		r       *Response
		reports any
		subject string
	}
	rows := make([]row, 0, len(rs))
	for i := range rs {
		r := &rs[i]
		if r.ID == "" {
			return errors.New("store: response without an id")
		}
		if err := checkTime(r.Time); err != nil {
			return fmt.Errorf("store: response %s: %w", r.ID, err)
		}
		w := row{r: r, subject: string(r.Subject)}
		if len(r.Reports) > 0 {
			b, err := json.Marshal(r.Reports)
			if err != nil {
				return fmt.Errorf("store: response %s: %w", r.ID, err)
			}
			w.reports = string(b)
		}
		if w.subject == "" {
			w.subject = "{}"
		}
		rows = append(rows, w)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer func() { <-s.wsem }()
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record responses: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, putResponseSQL)
	if err != nil {
		return fmt.Errorf("store: record responses: %w", err)
	}
	defer stmt.Close()
	for _, w := range rows {
		r := w.r
		if _, err := stmt.ExecContext(ctx, r.ID, r.Time.UnixNano(), r.Mode, r.Policy, r.Method, r.Kind, r.Key, w.subject, w.reports, r.Reason,
			r.Status, nullJSON(r.Outcome), nullTime(r.Expires), nullTime(r.Undone)); err != nil {
			return fmt.Errorf("store: record response %s: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record responses: %w", err)
	}
	return nil
}

// UpdateResponse changes a decision's status (and, when given, its reason,
// outcome, expiry and undo time).
func (s *Store) UpdateResponse(ctx context.Context, id, status, reason string, outcome json.RawMessage, expires, undone time.Time) error {
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer func() { <-s.wsem }()
	res, err := s.wconn.ExecContext(ctx, `UPDATE responses SET status = ?,
		reason = CASE WHEN ? = '' THEN reason ELSE ? END,
		outcome = COALESCE(?, outcome), expires = COALESCE(?, expires), undone = COALESCE(?, undone) WHERE id = ?`,
		status, reason, reason, nullJSON(outcome), nullTime(expires), nullTime(undone), id)
	if err != nil {
		return fmt.Errorf("store: update response %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: response %s: %w", id, ErrNoResponse)
	}
	return nil
}

const responseCols = `id, time, mode, policy, method, kind, key, subject, reports, reason, status, outcome, expires, undone`

func scanResponse(sc interface{ Scan(...any) error }) (Response, error) {
	var r Response
	var t int64
	var subject string
	var reports, outcome sql.NullString
	var expires, undone sql.NullInt64
	if err := sc.Scan(&r.ID, &t, &r.Mode, &r.Policy, &r.Method, &r.Kind, &r.Key, &subject, &reports, &r.Reason,
		&r.Status, &outcome, &expires, &undone); err != nil {
		return r, err
	}
	r.Time = time.Unix(0, t).UTC()
	r.Subject = json.RawMessage(subject)
	if reports.Valid {
		if err := json.Unmarshal([]byte(reports.String), &r.Reports); err != nil {
			return r, fmt.Errorf("response %s: reports: %w", r.ID, err)
		}
	}
	if outcome.Valid {
		r.Outcome = json.RawMessage(outcome.String)
	}
	if expires.Valid {
		r.Expires = time.Unix(0, expires.Int64).UTC()
	}
	if undone.Valid {
		r.Undone = time.Unix(0, undone.Int64).UTC()
	}
	return r, nil
}

// GetResponse returns the decision id; an error wrapping ErrNoResponse
// when there is none.
func (s *Store) GetResponse(ctx context.Context, id string) (Response, error) {
	r, err := scanResponse(s.rdb.QueryRowContext(ctx, `SELECT `+responseCols+` FROM responses WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("response %q: %w", id, ErrNoResponse)
	}
	if err != nil {
		return r, fmt.Errorf("store: read response %s: %w", id, err)
	}
	return r, nil
}

// ResponseFilter selects decisions; zero fields match everything.
type ResponseFilter struct {
	// Statuses keeps the decisions in one of these statuses.
	Statuses []string
	// Key and Policy match exactly.
	Key, Policy string
	// Since (inclusive) and Until (exclusive) bound the decision's time.
	Since, Until time.Time
	// Limit: DefaultLimit when 0 or less, at most MaxLimit.
	Limit int
	// Oldest orders oldest first (default newest first).
	Oldest bool
}

func (f *ResponseFilter) where() (string, []any) {
	var conds []string
	var args []any
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.Key != "" {
		conds = append(conds, "key = ?")
		args = append(args, f.Key)
	}
	if f.Policy != "" {
		conds = append(conds, "policy = ?")
		args = append(args, f.Policy)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < ?")
		args = append(args, f.Until.UnixNano())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Responses returns the decisions f selects, newest first unless f says
// otherwise.
func (s *Store) Responses(ctx context.Context, f ResponseFilter) ([]Response, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	w, args := f.where()
	order := " ORDER BY time DESC, seq DESC"
	if f.Oldest {
		order = " ORDER BY time, seq"
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+responseCols+` FROM responses`+w+order+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: query responses: %w", err)
	}
	defer rows.Close()
	var out []Response
	for rows.Next() {
		r, err := scanResponse(rows)
		if err != nil {
			return nil, fmt.Errorf("store: query responses: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query responses: %w", err)
	}
	return out, nil
}

// CountResponses counts the decisions f selects (its Limit and order do
// not apply).
func (s *Store) CountResponses(ctx context.Context, f ResponseFilter) (int, error) {
	w, args := f.where()
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM responses`+w, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count responses: %w", err)
	}
	return n, nil
}

// ActiveResponses returns every decision in force (status done), oldest
// first: what a restarted resolver must expire on time and hand to its
// methods to reconcile.
func (s *Store) ActiveResponses(ctx context.Context) ([]Response, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+responseCols+` FROM responses WHERE status = ? ORDER BY time, seq`, StatusDone)
	if err != nil {
		return nil, fmt.Errorf("store: query active responses: %w", err)
	}
	defer rows.Close()
	var out []Response
	for rows.Next() {
		r, err := scanResponse(rows)
		if err != nil {
			return nil, fmt.Errorf("store: query active responses: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query active responses: %w", err)
	}
	return out, nil
}
