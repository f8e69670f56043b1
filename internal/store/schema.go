package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// SchemaVersion is the version of the schema this package writes, kept in
// the meta table under "schema_version".
const SchemaVersion = 5

// schemaV5 adds the audit log (audit.go): one row per operator or admin
// action on the HTTP interface, and every login, failed or not.
var schemaV5 = []string{
	`CREATE TABLE audit (
		seq    INTEGER PRIMARY KEY,
		time   INTEGER NOT NULL,
		actor  TEXT    NOT NULL,
		role   TEXT    NOT NULL,
		action TEXT    NOT NULL,
		target TEXT    NOT NULL,
		remote TEXT    NOT NULL,
		ok     INTEGER NOT NULL,
		detail TEXT    NOT NULL
	)`,
	`CREATE INDEX audit_time ON audit (time)`,
}

// schemaV4 adds the resolver's decisions (responses.go): one row per
// decision, its status updated as it is executed, expires or is undone.
// subject, reports and outcome hold JSON; expires and undone are Unix
// nanoseconds or NULL.
var schemaV4 = []string{
	`CREATE TABLE responses (
		seq     INTEGER PRIMARY KEY,
		id      TEXT    NOT NULL UNIQUE,
		time    INTEGER NOT NULL,
		mode    TEXT    NOT NULL,
		policy  TEXT    NOT NULL,
		method  TEXT    NOT NULL,
		kind    TEXT    NOT NULL,
		key     TEXT    NOT NULL,
		subject TEXT    NOT NULL,
		reports TEXT,
		reason  TEXT    NOT NULL,
		status  TEXT    NOT NULL,
		outcome TEXT,
		expires INTEGER,
		undone  INTEGER
	)`,
	`CREATE INDEX responses_time ON responses (time)`,
	`CREATE INDEX responses_key_time ON responses (key, time)`,
	`CREATE INDEX responses_status ON responses (status, expires)`,
}

// schemaV3 keeps an engine's state as items (a profiler's subjects, one row
// each), so that a save writes only what changed.
var schemaV3 = []string{
	`CREATE TABLE engine_state_items (
		name TEXT NOT NULL,
		key  TEXT NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (name, key)
	) WITHOUT ROWID`,
}

// schemaV2 adds the engines' saved state (a profiler's learnt profiles):
// one row per engine, its latest state.
var schemaV2 = []string{
	`CREATE TABLE engine_state (
		name TEXT PRIMARY KEY,
		time INTEGER NOT NULL,
		data BLOB NOT NULL
	)`,
}

// schemaV1 creates the tables and indexes of version 1.
//
// Times are Unix nanoseconds. attrs columns hold a JSON object (the event
// form's "attrs", written by event.AppendAttrsJSON) or NULL when there are
// none; evidence holds a JSON array of event ids or NULL when empty. seq is
// the insertion order and breaks ties between equal times. Queries are
// newest first, so every index ends with time (and implicitly seq).
var schemaV1 = []string{
	`CREATE TABLE events (
		seq    INTEGER PRIMARY KEY,
		id     TEXT    NOT NULL UNIQUE,
		time   INTEGER NOT NULL,
		type   TEXT    NOT NULL,
		host   TEXT    NOT NULL,
		ip     TEXT    NOT NULL,
		source TEXT    NOT NULL,
		attrs  TEXT
	)`,
	`CREATE INDEX events_time ON events (time)`,
	`CREATE INDEX events_host_time ON events (host, time)`,
	`CREATE INDEX events_type_time ON events (type, time)`,
	`CREATE TABLE reports (
		seq         INTEGER PRIMARY KEY,
		id          TEXT    NOT NULL UNIQUE,
		time        INTEGER NOT NULL,
		monitor     TEXT    NOT NULL,
		engine      TEXT    NOT NULL,
		model       TEXT    NOT NULL,
		host        TEXT    NOT NULL,
		ip          TEXT    NOT NULL,
		score       REAL    NOT NULL,
		severity    INTEGER NOT NULL,
		state       TEXT    NOT NULL,
		evidence    TEXT,
		explanation TEXT    NOT NULL,
		attrs       TEXT
	)`,
	`CREATE INDEX reports_time ON reports (time)`,
	`CREATE INDEX reports_host_time ON reports (host, time)`,
	`CREATE INDEX reports_monitor_time ON reports (monitor, time)`,
}

// migrate brings the schema on conn to SchemaVersion, in one transaction.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create meta table: %w", err)
	}
	var v string
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v)
	version := 0
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	default:
		if version, err = strconv.Atoi(v); err != nil || version < 1 {
			return fmt.Errorf("meta table holds schema version %q, not a positive number", v)
		}
	}
	if version > SchemaVersion {
		return fmt.Errorf("database schema version %d is newer than this program's %d", version, SchemaVersion)
	}
	if version == SchemaVersion {
		return tx.Commit()
	}
	// A new database gets version 1, then every later version's changes.
	if version == 0 {
		for _, q := range schemaV1 {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("create schema version 1: %w", err)
			}
		}
	}
	if version < 2 {
		for _, q := range schemaV2 {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrate to schema version 2: %w", err)
			}
		}
	}
	if version < 3 {
		for _, q := range schemaV3 {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrate to schema version 3: %w", err)
			}
		}
	}
	if version < 4 {
		for _, q := range schemaV4 {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrate to schema version 4: %w", err)
			}
		}
	}
	if version < 5 {
		for _, q := range schemaV5 {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migrate to schema version 5: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`,
		strconv.Itoa(SchemaVersion)); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
