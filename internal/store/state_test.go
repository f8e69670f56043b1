package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
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

// TestMigratesOlderVersions opens databases of schema versions 1 (before
// engine state), 2 (before state items) and 3 (before responses) and finds
// them migrated.
func TestMigratesOlderVersions(t *testing.T) {
	for _, tc := range []struct {
		version string
		undo    []string
	}{
		{"1", []string{`DROP TABLE engine_state`, `DROP TABLE engine_state_items`, `DROP TABLE responses`, `DROP TABLE audit`}},
		{"2", []string{`DROP TABLE engine_state_items`, `DROP TABLE responses`, `DROP TABLE audit`}},
		{"3", []string{`DROP TABLE responses`, `DROP TABLE audit`}},
		{"4", []string{`DROP TABLE audit`}},
	} {
		t.Run("version "+tc.version, func(t *testing.T) {
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
			for _, q := range append(tc.undo, `UPDATE meta SET value = '`+tc.version+`' WHERE key = 'schema_version'`) {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			s = openTest(t, Options{Path: path})
			if err := s.SaveState(t.Context(), "x", []byte("y"), time.Now()); err != nil {
				t.Errorf("after migrating: %v", err)
			}
			if err := s.SaveStateItems(t.Context(), "x", map[string][]byte{"a": []byte("1")}, nil, false, time.Now()); err != nil {
				t.Errorf("after migrating: %v", err)
			}
			if err := s.PutResponse(t.Context(), Response{ID: "r1", Time: time.Now(), Status: "planned"}); err != nil {
				t.Errorf("after migrating: %v", err)
			}
			if err := s.PutAudit(t.Context(), Audit{Time: time.Now(), Actor: "alice", Role: "admin", Action: "login", OK: true}); err != nil {
				t.Errorf("after migrating: %v", err)
			}
		})
	}
}

// TestStateItems saves a state as items, changes some, deletes some,
// replaces them all, and reads them back in key order after reopening.
func TestStateItems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s := openTest(t, Options{Path: path})
	ctx := t.Context()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	read := func(s *Store, name string) (string, time.Time, bool) {
		var b strings.Builder
		when, found, err := s.LoadStateItems(ctx, name, func(k string, d []byte) error {
			fmt.Fprintf(&b, "%s=%s;", k, d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String(), when, found
	}
	steps := []struct {
		put     map[string][]byte
		del     []string
		replace bool
		want    string
	}{
		{map[string][]byte{"": []byte("h"), "b": []byte("1"), "a": []byte("1")}, nil, false, "=h;a=1;b=1;"},
		{map[string][]byte{"b": []byte("2"), "c": []byte("1")}, []string{"a", "nope"}, false, "=h;b=2;c=1;"},
		{map[string][]byte{"": []byte("h2"), "d": []byte("1")}, nil, true, "=h2;d=1;"},
	}
	for i, st := range steps {
		if err := s.SaveStateItems(ctx, "profile/x", st.put, st.del, st.replace, at.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := read(s, "profile/x"); got != st.want {
			t.Errorf("step %d: items %q, want %q", i, got, st.want)
		}
	}
	if got, _, found := read(s, "profile/other"); found || got != "" {
		t.Errorf("another engine's items: %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Path: path})
	got, when, found := read(s, "profile/x")
	if !found || got != "=h2;d=1;" || !when.Equal(at.Add(2*time.Minute)) {
		t.Errorf("after reopening: %q at %v (found %v)", got, when, found)
	}
}
