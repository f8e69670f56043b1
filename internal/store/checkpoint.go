package store

import (
	"context"
	"time"
)

// Checkpoints copy the pages of the write-ahead log back into the database
// file and fsync both; an fsync can cost milliseconds of waiting for the
// disk (about 6 ms on a virtual disk). Left to SQLite's automatic checkpoint they would
// run in the writer goroutine after a commit every few megabytes of log and
// stall the write queue. Instead a checkpointer goroutine with its own
// connection runs passive checkpoints next to the writer (a passive
// checkpoint never blocks the writer nor waits for it), so the writer
// hardly ever has anything left to copy or sync.
//
// A log can only start over from its beginning when a write transaction
// begins after a checkpoint that copied every frame, which a busy writer
// never lets the checkpointer achieve. So the writer keeps SQLite's
// automatic checkpoint, at a high threshold (walAutoCheckpointBytes): when
// the log reaches it, the writer checkpoints the few frames the
// checkpointer has not yet copied, and its next transaction restarts the
// log.
const (
	checkpointEvery        = 100 * time.Millisecond
	walAutoCheckpointBytes = 64 << 20
	walSizeLimitBytes      = 64 << 20 // journal_size_limit: the log file is truncated to this after a restart
)

// kickCheckpointer tells the checkpointer that the writer committed.
func (s *Store) kickCheckpointer() {
	select {
	case s.ckptKick <- struct{}{}:
	default:
	}
}

// checkpointLoop runs a passive checkpoint after commits, at most every
// checkpointEvery, until ctx ends.
func (s *Store) checkpointLoop(ctx context.Context) {
	defer close(s.ckptEnd)
	t := time.NewTimer(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ckptKick:
		}
		var busy, frames, copied int64
		err := s.ckdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("checkpoint failed", "err", err)
		}
		t.Reset(checkpointEvery)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
