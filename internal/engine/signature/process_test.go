package signature

import (
	"log/slog"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
)

// A report of a rule over a host event names the process as the decision
// unit's process subject needs it: pid, start time and executable, copied
// by default; a network event's report has none of them. A sequence whose
// variables name a pid keeps that pid, and takes the start time and
// executable only from an event of that process.
func TestReportsNameTheProcess(t *testing.T) {
	rs := mustParse(t, `
id: shell
suppress: 0s
match: {type: PROC.EXEC, where: {name: sh}}
---
id: conn
suppress: 0s
match: {type: NET.CONN}
---
id: shell-then-other
suppress: 0s
sequence:
  by: [host]
  within: 1m
  steps:
    - match: {type: PROC.EXEC, where: {name: sh}}
      bind: {pid: pid}
    - match: {type: PROC.EXEC, where: {name: curl}}
`)
	e := New(rs, Limits{}, slog.New(slog.DiscardHandler))
	got := map[string]map[string]any{}
	emit := func(r event.Report) { got[r.Model] = r.Attrs }
	for _, ev := range []event.Event{
		{ID: "e1", Time: t0, Type: "PROC.EXEC", Host: "h", Attrs: map[string]any{"name": "sh", "pid": int64(300), "start": int64(98765), "exe": "/usr/bin/dash"}},
		{ID: "e2", Time: t0, Type: "NET.CONN", Host: "h", Attrs: map[string]any{"src": "192.0.2.1", "dst": "192.0.2.2", "dport": int64(22)}},
		{ID: "e3", Time: t0, Type: "PROC.EXEC", Host: "h", Attrs: map[string]any{"name": "curl", "pid": int64(301), "start": int64(98770), "exe": "/usr/bin/curl"}},
	} {
		e.Handle(&ev, emit)
	}
	if a := got["shell"]; a["pid"] != int64(300) || a["start"] != int64(98765) || a["exe"] != "/usr/bin/dash" {
		t.Errorf("shell report %v: want pid 300, start 98765, exe /usr/bin/dash", a)
	}
	if a := got["conn"]; a == nil || a["pid"] != nil || a["start"] != nil || a["exe"] != nil {
		t.Errorf("conn report %v: want no process", a)
	}
	if a := got["shell-then-other"]; a == nil || a["pid"] != "300" || a["start"] != nil || a["exe"] != nil {
		t.Errorf("sequence report %v: want the bound pid 300 and nothing of curl's process", a)
	}
}
