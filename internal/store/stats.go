package store

import (
	"sync/atomic"
	"time"
)

// Stats are the store's counters since Open.
type Stats struct {
	// Queued is the number of items accepted by Enqueue and not yet
	// committed (the store's lag, in items).
	Queued int
	// OldestQueued is how long the oldest of those items has waited (the
	// store's lag, in time); 0 when there are none.
	OldestQueued time.Duration
	// EventsWritten and ReportsWritten count the rows inserted.
	EventsWritten, ReportsWritten uint64
	// Duplicates counts the records ignored because their id was already
	// stored.
	Duplicates uint64
	// Batches counts the committed write transactions.
	Batches uint64
	// WriteErrors counts the write transactions that failed (each failed
	// attempt of a retried batch counts once).
	WriteErrors uint64
	// Deleted counts the rows removed by retention.
	Deleted uint64
	// LastError is the last write or retention error, or "".
	LastError string
	// WriteFailing is the error of the writer's last commit while it
	// fails (it retries with what is queued kept), "" once a commit
	// succeeds again.
	WriteFailing string
}

type counters struct {
	queued                atomic.Int64
	oldest                atomic.Int64 // queued.at of the oldest item waiting; 0 when none
	events, reports, dups atomic.Uint64
	batches, writeErrors  atomic.Uint64
	deleted               atomic.Uint64
	lastError             atomic.Pointer[string]
	failing               atomic.Pointer[string] // the writer's error while its commits fail
}

func (c *counters) add(r batchResult) {
	if r.events > 0 {
		c.events.Add(r.events)
	}
	if r.reports > 0 {
		c.reports.Add(r.reports)
	}
	if r.duplicates > 0 {
		c.dups.Add(r.duplicates)
	}
	if r.rows()+r.duplicates > 0 {
		c.batches.Add(1)
	}
}

func (c *counters) failed(err error) {
	c.writeErrors.Add(1)
	c.setError(err)
}

func (c *counters) setError(err error) {
	msg := err.Error()
	c.lastError.Store(&msg)
}

// Stats returns the store's counters. It is cheap and safe to call from any
// goroutine, also after Close.
func (s *Store) Stats() Stats {
	c := &s.stats
	st := Stats{
		Queued:         int(max(c.queued.Load(), 0)),
		EventsWritten:  c.events.Load(),
		ReportsWritten: c.reports.Load(),
		Duplicates:     c.dups.Load(),
		Batches:        c.batches.Load(),
		WriteErrors:    c.writeErrors.Load(),
		Deleted:        c.deleted.Load(),
	}
	if at := c.oldest.Load(); at > 0 && st.Queued > 0 {
		st.OldestQueued = max(time.Since(s.epoch)-time.Duration(at-1), 0)
	}
	if p := c.lastError.Load(); p != nil {
		st.LastError = *p
	}
	if p := c.failing.Load(); p != nil {
		st.WriteFailing = *p
	}
	return st
}
