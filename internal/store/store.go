// Package store owns Vigil's history: the SQLite database that keeps every
// event and report, de-duplicated by id, for queries and for replays.
//
// It owns the database file and its schema (versioned in a meta table), the
// one connection that writes, a pool of read connections, a connection that
// checkpoints the write-ahead log in the background, the write queue with
// its writer goroutine, and the retention goroutine that deletes old rows.
//
// Events are indexed by time, host and time, and type and time; reports by
// time, host and time, and monitor and time. A query by IP address alone
// has no index of its own (an index on ip and time cut the write throughput
// by about 30%): it walks the time index newest first, which is quick for
// an address seen recently and a full scan for one never seen.
//
// Writes go through a bounded queue (Enqueue) to a single writer goroutine
// that commits them in batches: one transaction for up to Options.BatchSize
// items, or whatever arrived within Options.FlushInterval. A full queue
// blocks Enqueue (backpressure); nothing is ever dropped. Each item's Done
// callback runs only after the transaction holding it has committed; a
// batch that fails to commit is retried, whole, with capped backoff.
//
// Durability: the database runs in WAL journal mode with synchronous=NORMAL.
// A committed batch survives the process being killed (kill -9); a crash of
// the operating system or a power loss may lose the batches committed in the
// last moments before it, but never corrupts the database.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"
)

// Defaults of Options.
const (
	DefaultBatchSize     = 16384
	DefaultFlushInterval = 5 * time.Millisecond
	DefaultQueueSize     = 65536
	DefaultBusyTimeout   = 5 * time.Second
	DefaultCloseTimeout  = 30 * time.Second
)

// Retry backoff of a batch whose commit failed.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 5 * time.Second
)

// ErrClosed is returned by the methods of a store that is closed or closing.
var ErrClosed = errors.New("store closed")

// ErrFull is returned by TryEnqueue when the write queue is full.
var ErrFull = errors.New("store queue full")

// Options configure a Store. Only Path is required.
type Options struct {
	// Path is the SQLite database file; its directory is created if
	// missing.
	Path string
	// Retention: events and reports older than this (by their own time)
	// are deleted. 0 keeps everything.
	Retention time.Duration
	// BatchSize is the largest number of items in one write transaction
	// (default DefaultBatchSize).
	BatchSize int
	// FlushInterval is the longest an item waits for its batch to fill
	// before the batch commits (default DefaultFlushInterval).
	FlushInterval time.Duration
	// QueueSize is the capacity of the write queue (default
	// DefaultQueueSize). Enqueue blocks while it is full.
	QueueSize int
	// BusyTimeout is how long a connection waits for a lock held by
	// another connection or process before its statement fails with
	// SQLITE_BUSY (default DefaultBusyTimeout).
	BusyTimeout time.Duration
	// CloseTimeout bounds how long Close keeps retrying a batch that fails
	// to commit (default DefaultCloseTimeout); CloseContext takes a context
	// instead.
	CloseTimeout time.Duration
	// Clock tells the time retention measures against (default
	// clock.Real{}).
	Clock clock.Clock
	// Logger receives the store's logs (default slog.Default()).
	Logger *slog.Logger
	// AfterCommit, when set, is called by the writer goroutine after each
	// batch has committed, after that batch's Done callbacks. Like Done it
	// must not wait for the writer.
	AfterCommit func()
}

func (o *Options) setDefaults() error {
	if o.Path == "" {
		return errors.New("store: options: Path is required")
	}
	if o.Retention < 0 {
		return fmt.Errorf("store: options: Retention %v is negative", o.Retention)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Store is the history database. Its methods are safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger

	// The write side: one connection, used only while holding wsem (the
	// writer goroutine per batch, WriteEvents, WriteReports, retention).
	wdb   *sql.DB
	wconn *sql.Conn
	wsem  chan struct{}
	stmts writeStmts

	// The read side: a pool of query-only connections.
	rdb *sql.DB

	// The queue. mu guards the transition to closed: Enqueue holds it for
	// reading while it sends, so that Close can close queue once no sender
	// is left.
	mu        sync.RWMutex
	closed    bool
	queue     chan queued
	closing   chan struct{} // closed when Close starts: no more items accepted
	abort     chan struct{} // closed when Close's context ends: stop retrying
	writerEnd chan struct{} // closed when the writer goroutine returns
	lost      atomic.Int64  // items the writer gave up on at Close

	// Background goroutines: checkpointer and retention.
	ckdb           *sql.DB // the checkpointer's connection
	ckptKick       chan struct{}
	ckptEnd        chan struct{}
	retentionEnd   chan struct{}
	stopBackground context.CancelFunc

	closeOnce sync.Once
	closeErr  error

	retentionChunk int       // rows per retention transaction
	epoch          time.Time // monotonic base of queued.at
	stats          counters
}

// Open opens (creating if needed) the database at opts.Path, creates or
// migrates its schema, and starts the writer and, when opts.Retention is
// set, the retention goroutine. ctx bounds the opening only; the store runs
// until Close.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("store: resolve path %q: %w", opts.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory of %s: %w", path, err)
	}
	s := &Store{
		opts:         opts,
		log:          opts.Logger.With("component", "store", "path", path),
		wsem:         make(chan struct{}, 1),
		queue:        make(chan queued, opts.QueueSize),
		closing:      make(chan struct{}),
		abort:        make(chan struct{}),
		writerEnd:    make(chan struct{}),
		ckptKick:     make(chan struct{}, 1),
		ckptEnd:      make(chan struct{}),
		retentionEnd: make(chan struct{}),

		retentionChunk: DefaultRetentionChunk,
		epoch:          time.Now(),
	}
	if err := s.openDBs(ctx, path); err != nil {
		if cerr := s.closeDBs(); cerr != nil {
			s.log.Warn("closing after a failed open", "err", cerr)
		}
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	go s.writeLoop()
	go s.checkpointLoop(bg)
	go s.retentionLoop(bg)
	s.log.Info("store opened", "retention", opts.Retention, "batch_size", opts.BatchSize,
		"flush_interval", opts.FlushInterval, "queue_size", opts.QueueSize)
	return s, nil
}

// dsn returns the data source name of the file at path (absolute) with the
// given pragmas, which the driver runs on every new connection.
func dsn(path string, pragmas ...string) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: path}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return u.String() + "?" + q.Encode()
}

func (s *Store) openDBs(ctx context.Context, path string) error {
	busy := "busy_timeout(" + strconv.FormatInt(max(s.opts.BusyTimeout.Milliseconds(), 1), 10) + ")"
	var err error
	// synchronous=NORMAL: in WAL mode a commit writes the log without
	// fsync; checkpoints fsync. A 64 MiB page cache (cache_size is in KiB
	// when negative) holds the hot pages of every index.
	s.wdb, err = sql.Open("sqlite", dsn(path, busy, "synchronous(NORMAL)", "cache_size(-65536)", "temp_store(MEMORY)"))
	if err != nil {
		return fmt.Errorf("store: open %s for writing: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	s.wconn, err = s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connect to %s for writing: %w", path, err)
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("store: set journal mode of %s: %w", path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("store: %s: journal mode is %q, not wal (is the file on a filesystem without shared memory?)", path, mode)
	}
	var page int64
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&page); err != nil {
		return fmt.Errorf("store: read page size of %s: %w", path, err)
	}
	if page <= 0 {
		return fmt.Errorf("store: %s: page size %d", path, page)
	}
	for _, p := range []string{
		"PRAGMA wal_autocheckpoint = " + strconv.FormatInt(walAutoCheckpointBytes/page, 10),
		"PRAGMA journal_size_limit = " + strconv.Itoa(walSizeLimitBytes),
	} {
		if _, err := s.wconn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("store: %s on %s: %w", p, path, err)
		}
	}
	if err := migrate(ctx, s.wconn); err != nil {
		return fmt.Errorf("store: schema of %s: %w", path, err)
	}
	if err := s.prepareWrites(ctx); err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}

	s.ckdb, err = sql.Open("sqlite", dsn(path, busy, "synchronous(NORMAL)"))
	if err != nil {
		return fmt.Errorf("store: open %s for checkpoints: %w", path, err)
	}
	s.ckdb.SetMaxOpenConns(1)
	s.ckdb.SetMaxIdleConns(1)
	s.ckdb.SetConnMaxIdleTime(0)
	if err := s.ckdb.PingContext(ctx); err != nil {
		return fmt.Errorf("store: connect to %s for checkpoints: %w", path, err)
	}

	s.rdb, err = sql.Open("sqlite", dsn(path, busy, "query_only(1)", "cache_size(-8192)"))
	if err != nil {
		return fmt.Errorf("store: open %s for reading: %w", path, err)
	}
	s.rdb.SetMaxOpenConns(8)
	s.rdb.SetMaxIdleConns(8)
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("store: connect to %s for reading: %w", path, err)
	}
	return nil
}

// closeDBs closes the connections; the write connection last, so that it
// is the one to checkpoint the log and remove it.
func (s *Store) closeDBs() error {
	var errs []error
	if s.rdb != nil {
		if err := s.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close read connections: %w", err))
		}
	}
	if s.ckdb != nil {
		if err := s.ckdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close checkpoint connection: %w", err))
		}
	}
	if s.wconn != nil {
		if err := s.closeWriteStmts(); err != nil {
			errs = append(errs, fmt.Errorf("store: close write statements: %w", err))
		}
		if err := s.wconn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: release write connection: %w", err))
		}
	}
	if s.wdb != nil {
		if err := s.wdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close write connection: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close stops accepting items, commits everything already enqueued (calling
// the items' Done callbacks), stops the goroutines and closes the database.
// If commits keep failing it gives up after Options.CloseTimeout and
// returns an error counting the items it could not store. It is
// idempotent: later calls return the first call's result.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout)
	defer cancel()
	return s.CloseContext(ctx)
}

// CloseContext is Close with a context: when ctx ends while a batch still
// fails to commit, the store stops retrying, logs and returns how many
// items were not stored, and closes anyway.
func (s *Store) CloseContext(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Store) close(ctx context.Context) error {
	close(s.closing)
	// Wait for the senders in flight: each either sent or saw closing.
	s.mu.Lock()
	s.closed = true
	close(s.queue)
	s.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { close(s.abort) })
	<-s.writerEnd
	stop()

	s.stopBackground()
	<-s.retentionEnd
	<-s.ckptEnd
	// Wait for a WriteEvents, WriteReports or ApplyRetention in progress;
	// later ones see closing and do not wait.
	s.wsem <- struct{}{}

	var errs []error
	if n := s.lost.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("store: closed with %d items not stored: %w (last error: %s)",
			n, context.Cause(ctx), s.Stats().LastError))
	}
	if err := s.closeDBs(); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		s.log.Error("store closed with errors", "err", err)
	} else {
		s.log.Info("store closed")
	}
	return err
}

// isClosing reports whether Close has started.
func (s *Store) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Times the store can keep: those whose Unix nanoseconds fit an int64.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func checkTime(t time.Time) error {
	if t.IsZero() {
		return errors.New("without a time")
	}
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("time %v out of the range the store keeps (%d to %d)", t, minTime.Year(), maxTime.Year())
	}
	return nil
}

// validateEvent checks what the store relies on: an id and a time it can
// keep. Anything else an event holds can be stored, so an event that passes
// can never make a batch fail for good.
func validateEvent(ev *event.Event) error {
	if ev.ID == "" {
		return errors.New("event without an id")
	}
	if err := checkTime(ev.Time); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	return nil
}

// validateReport checks what the store relies on: an id, a time, a finite
// score and a known severity.
func validateReport(r *event.Report) error {
	if r.ID == "" {
		return errors.New("report without an id")
	}
	if err := checkTime(r.Time); err != nil {
		return fmt.Errorf("report %s: %w", r.ID, err)
	}
	if math.IsNaN(r.Score) || math.IsInf(r.Score, 0) {
		return fmt.Errorf("report %s: score %v is not a finite number", r.ID, r.Score)
	}
	if r.Severity > event.SeverityRed {
		return fmt.Errorf("report %s: unknown severity %d", r.ID, r.Severity)
	}
	return nil
}
