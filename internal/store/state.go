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
