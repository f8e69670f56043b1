package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Item is one unit of the write queue.
type Item struct {
	Event  *event.Event  // stored when not nil
	Report *event.Report // stored when not nil
	// Done, when set, is called from the writer goroutine once the
	// transaction holding the item has committed, in enqueue order. It is
	// never called for an item that was not committed. An item with neither
	// Event nor Report is a marker: it carries only Done, which is called
	// in order with its batch. Done should be quick and must not wait for
	// the writer (Enqueue on a full queue, Flush, Close): the writer waits
	// for it.
	Done func()
	// Inserted, when set and Event is not nil, is called once the
	// transaction holding the item has committed, just before Done, with
	// whether the event was new to the store (false: an event of its id
	// was stored already, a redelivery). It must be quick, like Done.
	Inserted func(fresh bool)
}

// eventRow is an event as the writer binds it: the arguments of
// insertEventSQL. Enqueue builds it in the caller's goroutine, so that the
// writer goroutine, the bottleneck, neither encodes nor allocates.
type eventRow [7]driver.Value // id, time, type, host, ip, source, attrs

func makeEventRow(ev *event.Event) eventRow {
	var attrs driver.Value
	if len(ev.Attrs) > 0 {
		attrs = string(event.AppendAttrsJSON(make([]byte, 0, 256), ev.Attrs))
	}
	return eventRow{ev.ID, ev.Time.UnixNano(), ev.Type, ev.Host, ev.IP, ev.Source, attrs}
}

// reportRow is a report as the writer binds it: the arguments of
// insertReportSQL.
type reportRow [13]driver.Value

func makeReportRow(r *event.Report) reportRow {
	var evidence, attrs driver.Value
	if len(r.Evidence) > 0 {
		evidence = string(event.AppendStringsJSON(nil, r.Evidence))
	}
	if len(r.Attrs) > 0 {
		attrs = string(event.AppendAttrsJSON(nil, r.Attrs))
	}
	return reportRow{r.ID, r.Time.UnixNano(), r.Monitor, r.Engine, r.Model, r.Host, r.IP, r.Score,
		int64(r.Severity), r.State, evidence, r.Explanation, attrs}
}

// queued is an item in the write queue. Enqueue encodes the item's records
// there, in the caller's goroutine, so the caller may reuse them as soon as
// Enqueue returns and the writer goroutine only binds and inserts.
type queued struct {
	ev       eventRow
	rep      *reportRow
	done     func()
	inserted func(bool)
	at       int64 // enqueue time: nanoseconds since Store.epoch, plus 1
	hasEvent bool
	fresh    bool // the event was new to the store (set by writeBatch)
	flush    bool // commit the batch now (Flush's marker; not counted in Stats)
}

// Enqueue queues it for the writer. It blocks while the queue is full and
// returns ctx's error if ctx ends first (the item is then not queued), or
// ErrClosed once Close has started. Enqueue reads the item's event and
// report before it returns; the caller may reuse them afterwards.
func (s *Store) Enqueue(ctx context.Context, it Item) error {
	q, err := makeQueued(it)
	if err != nil {
		return err
	}
	return s.send(ctx, q, true)
}

// TryEnqueue is Enqueue without waiting: when the queue is full it returns
// ErrFull at once and the item is not queued. Sources that must never be
// held back (at-most-once streams) use it and count what the store missed.
func (s *Store) TryEnqueue(it Item) error {
	if len(s.queue) == cap(s.queue) {
		return ErrFull // do not encode what cannot be queued
	}
	q, err := makeQueued(it)
	if err != nil {
		return err
	}
	return s.send(context.Background(), q, false)
}

func makeQueued(it Item) (queued, error) {
	q := queued{done: it.Done}
	if it.Event != nil {
		q.inserted = it.Inserted
		if err := validateEvent(it.Event); err != nil {
			return q, fmt.Errorf("store: enqueue: %w", err)
		}
		q.ev = makeEventRow(it.Event)
		q.hasEvent = true
	}
	if it.Report != nil {
		if err := validateReport(it.Report); err != nil {
			return q, fmt.Errorf("store: enqueue: %w", err)
		}
		row := makeReportRow(it.Report)
		q.rep = &row
	}
	return q, nil
}

func (s *Store) send(ctx context.Context, q queued, wait bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	q.at = int64(time.Since(s.epoch)) + 1
	counted := !q.flush
	if counted {
		s.stats.queued.Add(1)
	}
	select {
	case s.queue <- q:
		return nil
	default:
	}
	if !wait {
		if counted {
			s.stats.queued.Add(-1)
		}
		return ErrFull
	}
	select {
	case s.queue <- q:
		return nil
	case <-ctx.Done():
		if counted {
			s.stats.queued.Add(-1)
		}
		return ctx.Err()
	case <-s.closing:
		if counted {
			s.stats.queued.Add(-1)
		}
		return ErrClosed
	}
}

// Flush returns once everything enqueued before the call has committed (or
// ctx ends, or the store closes without storing it). It makes the writer
// commit its current batch at once rather than wait for it to fill.
func (s *Store) Flush(ctx context.Context) error {
	done := make(chan struct{})
	if err := s.send(ctx, queued{flush: true, done: func() { close(done) }}, true); err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: flush: %w", ctx.Err())
	case <-s.writerEnd:
		select {
		case <-done:
			return nil
		default:
			return fmt.Errorf("store: flush: the store closed before the items were stored: %w", ErrClosed)
		}
	}
}

// writeLoop is the writer goroutine: it gathers items into batches and
// commits them until the queue is closed and drained, or Close gives up.
func (s *Store) writeLoop() {
	defer close(s.writerEnd)
	batch := make([]queued, 0, s.opts.BatchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var q queued
		var ok bool
		select {
		case q, ok = <-s.queue:
		default:
			s.stats.oldest.Store(0) // idle: nothing waits
			q, ok = <-s.queue
		}
		if !ok {
			return
		}
		s.stats.oldest.Store(q.at)
		batch = append(batch[:0], q)
		open, flush := true, q.flush
		// Take what is already waiting (group commit: what queued during
		// the last commit goes into this one).
	drain:
		for !flush && len(batch) < cap(batch) {
			select {
			case q, ok := <-s.queue:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, q)
				flush = q.flush
			default:
				break drain
			}
		}
		// Then wait for more, but never beyond FlushInterval after the
		// first item was queued.
		if wait := s.opts.FlushInterval - (time.Since(s.epoch) - time.Duration(batch[0].at-1)); open && !flush && len(batch) < cap(batch) && wait > 0 {
			timer.Reset(wait)
		fill:
			for len(batch) < cap(batch) {
				select {
				case q, ok := <-s.queue:
					if !ok {
						open = false
						break fill
					}
					batch = append(batch, q)
					if q.flush {
						break fill
					}
				case <-timer.C:
					break fill
				}
			}
			timer.Stop()
		}
		if !s.commit(batch) {
			s.giveUp(batch)
			return
		}
		clear(batch)
		if !open {
			return
		}
	}
}

// commit writes batch in one transaction, retrying with backoff until it
// commits (true) or Close's context ends (false). After the commit it calls
// the items' Done callbacks in order, then AfterCommit.
func (s *Store) commit(batch []queued) bool {
	backoff := retryMin
	var timer *time.Timer
	for attempt := 1; ; attempt++ {
		res, err := s.writeBatch(batch)
		if err == nil {
			s.stats.failing.Store(nil)
			s.stats.add(res)
			var items int64
			for i := range batch {
				if !batch[i].flush {
					items++
				}
			}
			s.stats.queued.Add(-items)
			if attempt > 1 {
				s.log.Info("batch committed after retries", "attempts", attempt, "items", items)
			}
			s.kickCheckpointer()
			for i := range batch {
				if batch[i].inserted != nil {
					batch[i].inserted(batch[i].fresh)
				}
				if batch[i].done != nil && !batch[i].flush {
					batch[i].done()
				}
			}
			if s.opts.AfterCommit != nil {
				s.opts.AfterCommit()
			}
			// Flush returns only once the batch is wholly done, AfterCommit
			// included (a monitor's acknowledgements, say).
			for i := range batch {
				if batch[i].done != nil && batch[i].flush {
					batch[i].done()
				}
			}
			return true
		}
		s.stats.failed(err)
		msg := err.Error()
		s.stats.failing.Store(&msg)
		s.log.Error("batch commit failed; retrying", "items", len(batch), "attempt", attempt,
			"retry_in", backoff, "err", err)
		if timer == nil {
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-timer.C:
		case <-s.abort:
			timer.Stop()
			return false
		}
		backoff = min(2*backoff, retryMax)
	}
}

// giveUp accounts for the items the writer could not store when Close's
// context ended: those of the failing batch and those still queued.
func (s *Store) giveUp(batch []queued) {
	var n int64
	for i := range batch {
		if !batch[i].flush {
			n++
		}
	}
	for q := range s.queue { // closed by Close before it can abort
		if !q.flush {
			n++
		}
	}
	s.stats.queued.Add(-n)
	s.stats.oldest.Store(0)
	s.lost.Store(n)
	s.log.Error("giving up: items not stored", "items", n, "last_error", s.Stats().LastError)
}

// batchResult counts what a committed transaction inserted.
type batchResult struct {
	events, reports, duplicates uint64
}

func (r batchResult) rows() uint64 { return r.events + r.reports }

// writeBatch inserts the batch's records in one transaction.
func (s *Store) writeBatch(batch []queued) (batchResult, error) {
	var res batchResult
	rows := 0
	for i := range batch {
		if batch[i].hasEvent {
			rows++
		}
		if batch[i].rep != nil {
			rows++
		}
	}
	if rows == 0 {
		return res, nil // markers only
	}
	s.wsem <- struct{}{}
	defer func() { <-s.wsem }()
	err := s.inTx(func() error {
		for i := range batch {
			q := &batch[i]
			if q.hasEvent {
				before := res.events
				if err := s.insertEvent(&q.ev, &res); err != nil {
					return err
				}
				q.fresh = res.events > before
			}
			if q.rep != nil {
				if err := s.insertReport(q.rep, &res); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, err
}

// WriteEvents stores evs in one transaction and returns how many were
// inserted; events whose id is already stored are skipped (and counted in
// Stats.Duplicates). It does not go through the queue.
func (s *Store) WriteEvents(ctx context.Context, evs []event.Event) (inserted int, err error) {
	for i := range evs {
		if err := validateEvent(&evs[i]); err != nil {
			return 0, fmt.Errorf("store: write events: item %d: %w", i, err)
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	res, err := s.writeSync(ctx, func(res *batchResult) error {
		for i := range evs {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			row := makeEventRow(&evs[i])
			if err := s.insertEvent(&row, res); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: write %d events: %w", len(evs), err)
	}
	return int(res.events), nil
}

// WriteReports stores rs in one transaction and returns how many were
// inserted; reports whose id is already stored are skipped (and counted in
// Stats.Duplicates). It does not go through the queue.
func (s *Store) WriteReports(ctx context.Context, rs []event.Report) (inserted int, err error) {
	for i := range rs {
		if err := validateReport(&rs[i]); err != nil {
			return 0, fmt.Errorf("store: write reports: item %d: %w", i, err)
		}
	}
	if len(rs) == 0 {
		return 0, nil
	}
	res, err := s.writeSync(ctx, func(res *batchResult) error {
		for i := range rs {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			row := makeReportRow(&rs[i])
			if err := s.insertReport(&row, res); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: write %d reports: %w", len(rs), err)
	}
	return int(res.reports), nil
}

// writeSync runs f in a transaction on the write connection, outside the
// queue, and counts its result once committed.
func (s *Store) writeSync(ctx context.Context, f func(*batchResult) error) (batchResult, error) {
	var res batchResult
	if err := s.acquireWrite(ctx); err != nil {
		return res, err
	}
	defer func() { <-s.wsem }()
	if err := s.inTx(func() error { return f(&res) }); err != nil {
		s.stats.failed(err)
		return batchResult{}, err
	}
	s.stats.add(res)
	s.kickCheckpointer()
	return res, nil
}

// acquireWrite takes the write connection for a caller other than the
// writer goroutine.
func (s *Store) acquireWrite(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosing() {
		return ErrClosed
	}
	select {
	case s.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
}

// execStmt is a prepared statement of the driver.
type execStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

// writeStmts are the write connection's prepared statements. They are
// prepared on the driver connection held by Store.wconn and used only
// inside wconn.Raw callbacks, which always receive that same connection,
// while holding wsem.
type writeStmts struct {
	begin, commit, rollback execStmt
	insEvent, insReport     execStmt
	delEvents, delReports   execStmt
	prepared                []execStmt

	// Argument buffers, reused for every row.
	evArgs  [7]driver.NamedValue
	repArgs [13]driver.NamedValue
	delArgs [2]driver.NamedValue
}

const (
	insertEventSQL = `INSERT INTO events (id, time, type, host, ip, source, attrs)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	insertReportSQL = `INSERT INTO reports (id, time, monitor, engine, model, host, ip, score, severity,
		state, evidence, explanation, attrs)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	deleteEventsSQL = `DELETE FROM events WHERE seq IN
		(SELECT seq FROM events WHERE time < ? ORDER BY time LIMIT ?)`
	deleteReportsSQL = `DELETE FROM reports WHERE seq IN
		(SELECT seq FROM reports WHERE time < ? ORDER BY time LIMIT ?)`
)

func (s *Store) prepareWrites(ctx context.Context) error {
	st := &s.stmts
	for i := range st.evArgs {
		st.evArgs[i].Ordinal = i + 1
	}
	for i := range st.repArgs {
		st.repArgs[i].Ordinal = i + 1
	}
	for i := range st.delArgs {
		st.delArgs[i].Ordinal = i + 1
	}
	return s.wconn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
		}
		for _, p := range []struct {
			dst *execStmt
			sql string
		}{
			{&st.begin, "BEGIN IMMEDIATE"},
			{&st.commit, "COMMIT"},
			{&st.rollback, "ROLLBACK"},
			{&st.insEvent, insertEventSQL},
			{&st.insReport, insertReportSQL},
			{&st.delEvents, deleteEventsSQL},
			{&st.delReports, deleteReportsSQL},
		} {
			ds, err := pc.PrepareContext(ctx, p.sql)
			if err != nil {
				return fmt.Errorf("prepare %q: %w", p.sql, err)
			}
			es, ok := ds.(execStmt)
			if !ok {
				_ = ds.Close()
				return fmt.Errorf("driver statement %T cannot execute with a context", ds)
			}
			*p.dst = es
			st.prepared = append(st.prepared, es)
		}
		return nil
	})
}

func (s *Store) closeWriteStmts() error {
	st := &s.stmts
	if len(st.prepared) == 0 {
		return nil
	}
	return s.wconn.Raw(func(any) error {
		var errs []error
		for _, p := range st.prepared {
			if err := p.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		st.prepared = nil
		return errors.Join(errs...)
	})
}

// exec runs a write statement. The context has no deadline on purpose: the
// driver would start a goroutine per statement to watch it. Waits for
// locks are bounded by the busy timeout instead.
func exec(st execStmt, args []driver.NamedValue) (int64, error) {
	r, err := st.ExecContext(context.Background(), args)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// inTx runs f inside BEGIN IMMEDIATE ... COMMIT on the write connection,
// rolling back when f or the commit fails. The caller holds wsem.
func (s *Store) inTx(f func() error) error {
	return s.wconn.Raw(func(any) error {
		st := &s.stmts
		if _, err := exec(st.begin, nil); err != nil {
			// A transaction left open by a failure we could not roll back
			// makes BEGIN fail; roll it back so the next attempt can work.
			_, _ = exec(st.rollback, nil)
			return fmt.Errorf("begin transaction: %w", err)
		}
		err := f()
		if err == nil {
			if _, err = exec(st.commit, nil); err != nil {
				err = fmt.Errorf("commit: %w", err)
			}
		}
		if err != nil {
			// After a failed COMMIT SQLite may or may not have rolled back
			// already; "no transaction is active" is then expected.
			_, _ = exec(st.rollback, nil)
			return err
		}
		return nil
	})
}

func (s *Store) insertEvent(r *eventRow, res *batchResult) error {
	a := &s.stmts.evArgs
	for i := range a {
		a[i].Value = r[i]
	}
	n, err := exec(s.stmts.insEvent, a[:])
	if err != nil {
		return fmt.Errorf("insert event %v: %w", r[0], err)
	}
	if n == 0 {
		res.duplicates++
	} else {
		res.events++
	}
	return nil
}

func (s *Store) insertReport(r *reportRow, res *batchResult) error {
	a := &s.stmts.repArgs
	for i := range a {
		a[i].Value = r[i]
	}
	n, err := exec(s.stmts.insReport, a[:])
	if err != nil {
		return fmt.Errorf("insert report %v: %w", r[0], err)
	}
	if n == 0 {
		res.duplicates++
	} else {
		res.reports++
	}
	return nil
}
