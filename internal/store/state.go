package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SaveState keeps an engine's state (what it learnt) under its name,
// replacing the previous one.
func (s *Store) SaveState(ctx context.Context, name string, data []byte, at time.Time) error {
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer func() { <-s.wsem }()
	if _, err := s.wconn.ExecContext(ctx, `INSERT INTO engine_state (name, time, data) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET time = excluded.time, data = excluded.data`, name, at.UnixNano(), data); err != nil {
		return fmt.Errorf("save the state of %s: %w", name, err)
	}
	return nil
}

// LoadState returns the state saved under name and when, or nil when
// there is none.
func (s *Store) LoadState(ctx context.Context, name string) ([]byte, time.Time, error) {
	var data []byte
	var ns int64
	err := s.rdb.QueryRowContext(ctx, `SELECT data, time FROM engine_state WHERE name = ?`, name).Scan(&data, &ns)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("load the state of %s: %w", name, err)
	}
	return data, time.Unix(0, ns).UTC(), nil
}

// SaveStateItems changes the items of an engine's state under name in one
// transaction: with replace, every item saved before is dropped first; then
// the items in del are deleted and those in put written. The state's time
// becomes at, and its single-value form (SaveState) is emptied: the items
// are the state from now on.
func (s *Store) SaveStateItems(ctx context.Context, name string, put map[string][]byte, del []string, replace bool, at time.Time) (err error) {
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer func() { <-s.wsem }()
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save the state of %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if replace {
		if _, err := tx.ExecContext(ctx, `DELETE FROM engine_state_items WHERE name = ?`, name); err != nil {
			return fmt.Errorf("save the state of %s: %w", name, err)
		}
	}
	for _, k := range del {
		if _, err := tx.ExecContext(ctx, `DELETE FROM engine_state_items WHERE name = ? AND key = ?`, name, k); err != nil {
			return fmt.Errorf("save the state of %s: %w", name, err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO engine_state_items (name, key, data) VALUES (?, ?, ?)
		ON CONFLICT (name, key) DO UPDATE SET data = excluded.data`)
	if err != nil {
		return fmt.Errorf("save the state of %s: %w", name, err)
	}
	defer stmt.Close()
	for k, v := range put {
		if _, err := stmt.ExecContext(ctx, name, k, v); err != nil {
			return fmt.Errorf("save the state of %s, item %q: %w", name, k, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO engine_state (name, time, data) VALUES (?, ?, x'')
		ON CONFLICT (name) DO UPDATE SET time = excluded.time, data = excluded.data`, name, at.UnixNano()); err != nil {
		return fmt.Errorf("save the state of %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save the state of %s: %w", name, err)
	}
	return nil
}

// LoadStateItems hands fn the items of the state under name, in key
// order, and returns when they were saved; found is false when there are
// none.
func (s *Store) LoadStateItems(ctx context.Context, name string, fn func(key string, data []byte) error) (at time.Time, found bool, err error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT key, data FROM engine_state_items WHERE name = ? ORDER BY key`, name)
	if err != nil {
		return at, false, fmt.Errorf("load the state of %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var d []byte
		if err := rows.Scan(&k, &d); err != nil {
			return at, found, fmt.Errorf("load the state of %s: %w", name, err)
		}
		found = true
		if err := fn(k, d); err != nil {
			return at, found, err
		}
	}
	if err := rows.Err(); err != nil {
		return at, found, fmt.Errorf("load the state of %s: %w", name, err)
	}
	if found {
		var ns int64
		if err := s.rdb.QueryRowContext(ctx, `SELECT time FROM engine_state WHERE name = ?`, name).Scan(&ns); err == nil {
			at = time.Unix(0, ns).UTC()
		}
	}
	return at, found, nil
}
