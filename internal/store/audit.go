package store

import (
	"context"
	"fmt"
	"time"
)

// Audit is one recorded action on the HTTP interface: a login (failed or
// not), a logout, an undo, an operator's request, an account change.
// Every string may come from a client and is kept as text.
type Audit struct {
	Time time.Time
	// Actor is the account (or the name tried, for a failed login); Role
	// its role then ("" when unknown).
	Actor string
	Role  string
	// Action names what was done: login, login_failed, logout, undo,
	// request, ...
	Action string
	// Target is what it was done to (a decision's id, a subject).
	Target string
	// Remote is the client's address.
	Remote string
	// OK says the action succeeded; Detail says why not, or what it did.
	OK     bool
	Detail string
}

// maxAuditText bounds each text field recorded.
const maxAuditText = 1024

func clip(s string) string {
	if len(s) > maxAuditText {
		return s[:maxAuditText]
	}
	return s
}

// PutAudit records an action at once.
func (s *Store) PutAudit(ctx context.Context, a Audit) error {
	if err := checkTime(a.Time); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer func() { <-s.wsem }()
	ok := 0
	if a.OK {
		ok = 1
	}
	if _, err := s.wconn.ExecContext(ctx, `INSERT INTO audit (time, actor, role, action, target, remote, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Time.UnixNano(), clip(a.Actor), clip(a.Role), clip(a.Action), clip(a.Target), clip(a.Remote), ok, clip(a.Detail)); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit records: by actor and action, in [Since,
// Until), newest first, at most Limit (default DefaultLimit).
type AuditFilter struct {
	Actor, Action string
	Since, Until  time.Time
	Limit         int
}

// AuditLog returns the records f selects, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]Audit, error) {
	q := `SELECT time, actor, role, action, target, remote, ok, detail FROM audit WHERE 1=1`
	var args []any
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		q += ` AND time >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		q += ` AND time < ?`
		args = append(args, f.Until.UnixNano())
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY time DESC, seq DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	defer rows.Close()
	var out []Audit
	for rows.Next() {
		var a Audit
		var t int64
		var ok int
		if err := rows.Scan(&t, &a.Actor, &a.Role, &a.Action, &a.Target, &a.Remote, &ok, &a.Detail); err != nil {
			return nil, fmt.Errorf("store: query audit: %w", err)
		}
		a.Time, a.OK = time.Unix(0, t).UTC(), ok == 1
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	return out, nil
}
