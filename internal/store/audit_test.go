package store

import (
	"testing"
	"time"
)

// TestAuditLogKeepsActionsNewestFirst records actions, hostile text
// included, and reads them back filtered, newest first, as stored.
func TestAuditLogKeepsActionsNewestFirst(t *testing.T) {
	s := openTest(t, Options{Path: t.TempDir() + "/a.db"})
	ctx := t.Context()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i, a := range []Audit{
		{Actor: "alice", Role: "admin", Action: "login", Remote: "10.0.0.1", OK: true},
		{Actor: "<script>x</script>", Action: "login_failed", Remote: "10.0.0.2", Detail: "unknown user or wrong password"},
		{Actor: "alice", Role: "admin", Action: "undo", Target: "d-1", Remote: "10.0.0.1", OK: true},
	} {
		a.Time = at.Add(time.Duration(i) * time.Second)
		if err := s.PutAudit(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditLog(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Action != "undo" || all[0].Target != "d-1" || !all[0].OK || !all[0].Time.Equal(at.Add(2*time.Second)) {
		t.Fatalf("log %+v", all)
	}
	if all[1].Actor != "<script>x</script>" || all[1].OK {
		t.Errorf("failed login %+v", all[1])
	}
	mine, _ := s.AuditLog(ctx, AuditFilter{Actor: "alice", Action: "login"})
	if len(mine) != 1 || mine[0].Remote != "10.0.0.1" {
		t.Errorf("alice's logins %+v", mine)
	}
	recent, _ := s.AuditLog(ctx, AuditFilter{Since: at.Add(time.Second), Limit: 1})
	if len(recent) != 1 || recent[0].Action != "undo" {
		t.Errorf("since, limit 1: %+v", recent)
	}
}
