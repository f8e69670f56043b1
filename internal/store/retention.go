package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultRetentionChunk is the most rows one retention transaction
// deletes, so that the writer waits for the write connection only briefly.
const DefaultRetentionChunk = 10000

// retentionEvery is how often the retention goroutine runs: a tenth of the
// retention, at most a minute, at least 100 ms.
func retentionEvery(retention time.Duration) time.Duration {
	return min(max(retention/10, 100*time.Millisecond), time.Minute)
}

func (s *Store) retentionLoop(ctx context.Context) {
	defer close(s.retentionEnd)
	if s.opts.Retention == 0 {
		return
	}
	t := time.NewTicker(retentionEvery(s.opts.Retention))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		n, err := s.ApplyRetention(ctx)
		switch {
		case err != nil && (errors.Is(err, ErrClosed) || ctx.Err() != nil):
			return
		case err != nil:
			s.log.Error("retention failed", "deleted", n, "err", err)
		case n > 0:
			s.log.Info("retention deleted old rows", "deleted", n, "took", time.Since(start))
		}
	}
}

// ApplyRetention deletes the events and reports older than
// Options.Retention, measured from Options.Clock's now, in transactions of
// at most DefaultRetentionChunk rows, and returns how many rows it
// deleted. With no retention it does nothing. The retention goroutine calls
// it periodically; tests and operators may call it directly.
func (s *Store) ApplyRetention(ctx context.Context) (deleted int64, err error) {
	if s.opts.Retention == 0 {
		return 0, nil
	}
	before := s.opts.Clock.Now().Add(-s.opts.Retention)
	if before.Before(minTime) {
		return 0, nil // nothing stored is that old (a clock at its zero time)
	}
	if before.After(maxTime) {
		before = maxTime
	}
	cutoff := before.UnixNano()
	for _, t := range []struct {
		name string
		stmt execStmt
	}{{"events", s.stmts.delEvents}, {"reports", s.stmts.delReports}} {
		for {
			n, err := s.deleteChunk(ctx, t.stmt, cutoff)
			deleted += n
			if err != nil {
				if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
					s.stats.setError(err)
				}
				return deleted, fmt.Errorf("store: retention of %s: %w", t.name, err)
			}
			if n < int64(s.retentionChunk) {
				break
			}
		}
	}
	return deleted, nil
}

// deleteChunk deletes up to s.retentionChunk rows older than cutoff in one
// transaction.
func (s *Store) deleteChunk(ctx context.Context, stmt execStmt, cutoff int64) (int64, error) {
	if err := s.acquireWrite(ctx); err != nil {
		return 0, err
	}
	defer func() { <-s.wsem }()
	var n int64
	err := s.inTx(func() error {
		a := &s.stmts.delArgs
		a[0].Value = cutoff
		a[1].Value = int64(s.retentionChunk)
		var err error
		n, err = exec(stmt, a[:])
		return err
	})
	if err != nil {
		return 0, err
	}
	s.stats.deleted.Add(uint64(n))
	s.kickCheckpointer()
	return n, nil
}
