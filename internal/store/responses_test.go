package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestResponses records decisions, changes their status, and finds them
// by id, key, status and time, after reopening too.
func TestResponses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s := openTest(t, Options{Path: path})
	ctx := t.Context()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	put := func(id string, at time.Time, key, status string, expires time.Time) {
		t.Helper()
		err := s.PutResponse(ctx, Response{ID: id, Time: at, Mode: "enforce", Policy: "p", Method: "m", Kind: "k", Key: key,
			Subject: json.RawMessage(`{"addr":"192.0.2.7"}`), Reports: []string{"r1", "r2"}, Reason: "because", Status: status, Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("a", t0, "m|addr=192.0.2.7", StatusDone, t0.Add(10*time.Minute))
	put("b", t0.Add(time.Minute), "m|addr=192.0.2.7", StatusSuppressed, time.Time{})
	put("c", t0.Add(2*time.Minute), "m|addr=192.0.2.8", StatusDone, time.Time{})
	if err := s.UpdateResponse(ctx, "c", StatusUndone, "undone by admin", json.RawMessage(`{"detail":"x"}`), time.Time{}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateResponse(ctx, "nope", StatusUndone, "", nil, time.Time{}, time.Time{}); !errors.Is(err, ErrNoResponse) {
		t.Errorf("update of an unknown id: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Path: path})
	a, err := s.GetResponse(ctx, "a")
	if err != nil || !a.Expires.Equal(t0.Add(10*time.Minute)) || len(a.Reports) != 2 || string(a.Subject) != `{"addr":"192.0.2.7"}` || !a.Time.Equal(t0) {
		t.Errorf("a: %+v, %v", a, err)
	}
	c, err := s.GetResponse(ctx, "c")
	if err != nil || c.Status != StatusUndone || c.Reason != "undone by admin" || !c.Undone.Equal(t0.Add(3*time.Minute)) || string(c.Outcome) != `{"detail":"x"}` {
		t.Errorf("c: %+v, %v", c, err)
	}
	if _, err := s.GetResponse(ctx, "nope"); !errors.Is(err, ErrNoResponse) {
		t.Errorf("unknown id: %v", err)
	}
	active, err := s.ActiveResponses(ctx)
	if err != nil || len(active) != 1 || active[0].ID != "a" {
		t.Errorf("active: %+v, %v", active, err)
	}
	n, err := s.CountResponses(ctx, ResponseFilter{Key: "m|addr=192.0.2.7", Statuses: []string{StatusDone, StatusExpired}})
	if err != nil || n != 1 {
		t.Errorf("count by key: %d, %v", n, err)
	}
	all, err := s.Responses(ctx, ResponseFilter{})
	if err != nil || len(all) != 3 || all[0].ID != "c" {
		t.Errorf("newest first: %+v, %v", all, err)
	}
	since, err := s.Responses(ctx, ResponseFilter{Since: t0.Add(time.Minute), Oldest: true})
	if err != nil || len(since) != 2 || since[0].ID != "b" {
		t.Errorf("since: %+v, %v", since, err)
	}
}
