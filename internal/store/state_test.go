package store

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestEngineState checks that an engine's state is kept, replaced, and
// survives reopening the store.
func TestEngineState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(t.Context(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if data, _, err := s.LoadState(t.Context(), "profiles"); err != nil || data != nil {
		t.Fatalf("nothing saved yet: %q, %v", data, err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, v := range []string{"first", "second"} {
		if err := s.SaveState(t.Context(), "profiles", []byte(v), at.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Path: path})
	data, when, err := s.LoadState(t.Context(), "profiles")
	if err != nil || string(data) != "second" || !when.Equal(at.Add(time.Minute)) {
		t.Errorf("after reopening: %q at %v, %v", data, when, err)
	}
}

// TestMigratesVersion1 opens a database of schema version 1 (before
// engine state) and finds it migrated.
func TestMigratesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(t.Context(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE engine_state`, `UPDATE meta SET value = '1' WHERE key = 'schema_version'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s = openTest(t, Options{Path: path})
	if err := s.SaveState(t.Context(), "x", []byte("y"), time.Now()); err != nil {
		t.Errorf("after migrating: %v", err)
	}
}
