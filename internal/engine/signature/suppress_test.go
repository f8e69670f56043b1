package signature

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/rules"
)

// spawn is a host agent's PROC.SPAWN on web-2, sec seconds after t0.
func spawn(id string, sec int, name string, pid int64, exe string) *event.Event {
	return &event.Event{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Type: "PROC.SPAWN", Host: "web-2", IP: "10.0.0.22",
		Attrs: map[string]any{"name": name, "pid": pid, "parent_name": "sh", "ppid": int64(700), "exe": exe}}
}

// recorder keeps the reports an engine makes.
type recorder struct{ reps []event.Report }

func (r *recorder) emit(rep event.Report) { r.reps = append(r.reps, rep) }

func (r *recorder) explanations() []string {
	var out []string
	for _, rep := range r.reps {
		out = append(out, rep.Explanation)
	}
	return out
}

const writableDirRule = `
id: exec-from-tmp
severity: red
match: {type: PROC.SPAWN, where: {exe|startswith: [/tmp/, /dev/shm/]}}
report: "{name} (pid {pid}) on {host} runs from {exe}"
`

// TestSuppressionKeyedByWhatTheReportNames: a rule holds back only the
// reports that name the same things (its subject and the processes,
// users and addresses its text prints), so a benign program from /tmp
// does not hide another from /dev/shm on the same host.
func TestSuppressionKeyedByWhatTheReportNames(t *testing.T) {
	e := New(mustParse(t, writableDirRule), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	e.Handle(spawn("a", 0, "pip", 7100, "/tmp/pip-build/bin/pip"), rec.emit)
	e.Handle(spawn("b", 20, "kswapd0", 7210, "/dev/shm/.x/kswapd0"), rec.emit)
	// The same process seen again within the minute says nothing new.
	e.Handle(spawn("b2", 30, "kswapd0", 7210, "/dev/shm/.x/kswapd0"), rec.emit)
	want := []string{
		"pip (pid 7100) on web-2 runs from /tmp/pip-build/bin/pip",
		"kswapd0 (pid 7210) on web-2 runs from /dev/shm/.x/kswapd0",
	}
	if got := rec.explanations(); !slices.Equal(got, want) {
		t.Fatalf("reports %q, want %q", got, want)
	}
	if st := e.Stats(); st.Suppressed != 1 || st.SuppressedByRule["exec-from-tmp"] != 1 {
		t.Errorf("held back %d (by rule %v), want 1", st.Suppressed, st.SuppressedByRule)
	}
}

// TestWholeHostQuietTimeIsSaid: a report that names nothing but the host
// has one quiet time for the whole host, which vigil check warns about
// unless the rule says suppress_by: [].
func TestWholeHostQuietTimeIsSaid(t *testing.T) {
	const vague = "id: vague\nmatch: {type: PROC.SPAWN}\nreport: \"a program started on {host}\"\n"
	for _, c := range []struct {
		text  string
		warns int
	}{{vague, 1}, {vague + "suppress_by: []\n", 0}} {
		rs := mustParse(t, c.text)
		if len(rs.Warnings) != c.warns {
			t.Errorf("%q: warnings %v, want %d", c.text, rs.Warnings, c.warns)
		}
		if c.warns > 0 && !strings.Contains(rs.Warnings[0].String(), "test.yaml:1:1: report: the report names nothing narrower than the host") {
			t.Errorf("warning %s", rs.Warnings[0])
		}
		e := New(rs, Limits{}, slog.New(slog.DiscardHandler))
		var rec recorder
		for i := range 3 {
			e.Handle(spawn(fmt.Sprint("v", i), i, "a", int64(100+i), "/bin/a"), rec.emit)
		}
		if len(rec.reps) != 1 || e.Stats().Suppressed != 2 {
			t.Errorf("%q: %d reports, %d held back; want 1 and 2", c.text, len(rec.reps), e.Stats().Suppressed)
		}
	}
}

// TestQuietTimeEndsWithSummary: when a quiet time that held reports back
// ends, with or without a later event, one summary report says how many
// and what they would have said (up to 5 distinct texts, the latest 16
// events as evidence).
func TestQuietTimeEndsWithSummary(t *testing.T) {
	e := New(mustParse(t, "id: host-wide\nseverity: red\nsuppress_by: []\nmatch: {type: PROC.SPAWN}\nreport: \"{name} (pid {pid}) started\"\n"), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	e.Handle(spawn("first", 0, "first", 1, "/bin/first"), rec.emit)
	names := []string{"a", "b", "a", "c", "d", "e", "f", "g"}
	for i := range 20 {
		n := names[i%len(names)]
		e.Handle(spawn(fmt.Sprint("h", i), 1+i, n, 10, "/bin/"+n), rec.emit)
	}
	if len(rec.reps) != 1 {
		t.Fatalf("reports within the quiet time: %q", rec.explanations())
	}
	e.Tick(t0.Add(59*time.Second), rec.emit)
	if len(rec.reps) != 1 {
		t.Fatalf("a summary before the quiet time ended: %q", rec.explanations())
	}
	e.Tick(t0.Add(90*time.Second), rec.emit)
	if len(rec.reps) != 2 {
		t.Fatalf("no summary when the quiet time ended: %q", rec.explanations())
	}
	sum := rec.reps[1]
	if !sum.Time.Equal(t0.Add(time.Minute)) || sum.Model != "host-wide" || sum.Host != "web-2" || sum.Severity != event.SeverityRed {
		t.Errorf("summary %+v: want at the quiet time's end, of the rule, about web-2, red", sum)
	}
	texts, _ := sum.Attrs["suppressed_texts"].([]string)
	wantTexts := []string{"a (pid 10) started", "b (pid 10) started", "c (pid 10) started", "d (pid 10) started", "e (pid 10) started"}
	if sum.Attrs["suppressed"] != int64(20) || !slices.Equal(texts, wantTexts) || sum.Attrs["suppressed_texts_more"] != true {
		t.Errorf("summary attrs %v", sum.Attrs)
	}
	if want := "20 more reports held back within 1m: a (pid 10) started | b (pid 10) started | c (pid 10) started | d (pid 10) started | e (pid 10) started | ..."; sum.Explanation != want {
		t.Errorf("summary says %q, want %q", sum.Explanation, want)
	}
	if len(sum.Evidence) != 16 || sum.Evidence[0] != "h4" || sum.Evidence[15] != "h19" {
		t.Errorf("evidence %v, want the latest 16 (h4..h19)", sum.Evidence)
	}
	// Once said, not again; the next occurrence is reported as new.
	e.Tick(t0.Add(10*time.Minute), rec.emit)
	e.Handle(spawn("later", 601, "later", 99, "/bin/later"), rec.emit)
	if got := rec.explanations(); len(got) != 3 || got[2] != "later (pid 99) started" {
		t.Errorf("after the summary: %q", got)
	}
	if st := e.Stats(); st.Summaries != 1 || st.SuppressedByRule["host-wide"] != 20 {
		t.Errorf("summaries %d, held back %v", st.Summaries, st.SuppressedByRule)
	}
}

// TestSummaryPrecedesTheReportEndingTheQuietTime: an occurrence after the
// quiet time, with no tick between, comes after the summary.
func TestSummaryPrecedesTheReportEndingTheQuietTime(t *testing.T) {
	e := New(mustParse(t, writableDirRule), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	for i, sec := range []int{0, 10, 70} {
		e.Handle(spawn(fmt.Sprint("x", i), sec, "x", 5, "/tmp/x"), rec.emit)
	}
	want := []string{"x (pid 5) on web-2 runs from /tmp/x", "1 more report held back within 1m: x (pid 5) on web-2 runs from /tmp/x", "x (pid 5) on web-2 runs from /tmp/x"}
	if got := rec.explanations(); !slices.Equal(got, want) {
		t.Errorf("reports %q, want %q", got, want)
	}
	if _, ok := rec.reps[2].Attrs["suppressed"]; ok {
		t.Errorf("the report after the summary carries suppressed: %v", rec.reps[2].Attrs)
	}
}

// TestAttemptDoesNotHoldBackTheAttack: an attempt and the attack that
// succeeds say different things, and neither holds back the other.
func TestAttemptDoesNotHoldBackTheAttack(t *testing.T) {
	e := New(mustParse(t, `
id: guessed
severity: red
sequence:
  by: [src, dst]
  within: 10s
  steps:
    - match: {type: NET.FTP, where: {reply: 530}}
    - {effect: true, match: {type: NET.FTP, where: {reply: 230}}}
  attempt: {report: "failed logins from {src} to {dst}"}
report: "{src} logged in to {dst}"
`), Limits{}, slog.New(slog.DiscardHandler))
	var rec recorder
	ftp := func(sec int, reply int64) *event.Event {
		return &event.Event{ID: fmt.Sprint("f", sec), Time: t0.Add(time.Duration(sec) * time.Second), Type: "NET.FTP", IP: "10.0.0.4",
			Attrs: map[string]any{"src": "203.0.113.9", "dst": "10.0.0.4", "reply": reply}}
	}
	for _, ev := range []*event.Event{ftp(0, 530), ftp(12, 530), ftp(13, 230)} {
		e.Handle(ev, rec.emit)
	}
	want := []string{"failed logins from 203.0.113.9 to 10.0.0.4", "203.0.113.9 logged in to 10.0.0.4"}
	if got := rec.explanations(); !slices.Equal(got, want) {
		t.Errorf("reports %q, want %q", got, want)
	}
}

// TestFactScope: a fact keyed only by the host is a warning unless the
// rule says scope: host; a fact about a process is not.
func TestFactScope(t *testing.T) {
	rs := mustParse(t, `
rules:
  - id: shell
    silent: true
    match: {type: PROC.SPAWN}
    asserts: {fact: shell, key: [host]}
  - id: download
    match: {type: PROC.SPAWN}
    requires: [{fact: shell, key: [host]}]
    report: "{name} (pid {pid})"
  - id: shell-process
    silent: true
    match: {type: PROC.SPAWN}
    asserts: {fact: shell-process, key: [host, pid]}
  - id: host-wide
    silent: true
    match: {type: PROC.SPAWN}
    asserts: {fact: shell-host, key: [host], scope: host}
`)
	var got []string
	for _, w := range rs.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`test.yaml:6:14: rules[0].asserts: fact "shell" is keyed only by the host: it holds for every process, user and address there, so it can blame an unrelated one; key it by what it is about (such as [host, pid]), or say scope: host`,
		`test.yaml:9:16: rules[1].requires[0]: fact "shell" is keyed only by the host: it holds for every process, user and address there, so it can blame an unrelated one; key it by what it is about (such as [host, pid]), or say scope: host`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err := Parse("test.yaml", []byte("id: x\nsilent: true\nmatch: {type: X}\nasserts: {fact: f, key: [host], scope: process}\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), `test.yaml:4:40: asserts.scope: scope "process": the one scope a fact names is host`) {
		t.Errorf("a scope other than host: %v", err)
	}
}

// TestHostPackSaysWhatItIsAbout: the host pack's facts and reports name
// what they are about; the one host-wide fact says so.
func TestHostPackSaysWhatItIsAbout(t *testing.T) {
	rs, _, err := Load([]string{rules.Prefix + "host.yaml"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rs.Warnings {
		t.Errorf("host pack: %s", w)
	}
}

// TestSuppressedMetricPerRule: the reports each rule held back reach the
// monitor's /metrics as vigil_reports_suppressed_total{rule}.
func TestSuppressedMetricPerRule(t *testing.T) {
	dir := t.TempDir()
	reg := engine.NewRegistry()
	if err := reg.Register(Factory()); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]byte("monitor: {name: m}\nengines:\n  - kind: signature\n    rules: [builtin:host.yaml]\n"), dir+"/m.yaml", config.Registries{Engines: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	metrics := prometheus.NewRegistry()
	eng, err := reg.Build(context.Background(), cfg.Engines[0], engine.Deps{Monitor: "m", Name: cfg.Engines[0].Name, Clock: clk, Resolve: cfg.Resolve, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	// The same miner seen three times: reported once, held back twice.
	for i := range 3 {
		ev := spawn(fmt.Sprint("m", i), i, "kswapd0", 7210, "/dev/shm/.x/kswapd0")
		clk.Set(ev.Time)
		_ = eng.Tick(context.Background(), ev.Time, rec.emit)
		_ = eng.Handle(context.Background(), ev, rec.emit)
	}
	clk.Set(t0.Add(2 * time.Minute))
	_ = eng.Tick(context.Background(), clk.Now(), rec.emit)
	if len(rec.reps) != 2 || rec.reps[1].Attrs["suppressed"] != int64(2) {
		t.Fatalf("reports %q", rec.explanations())
	}
	fams, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range fams {
		if f.GetName() != "vigil_reports_suppressed_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["rule"] == "exec-from-writable-dir" && labels["engine"] == cfg.Engines[0].Name && labels["monitor"] == "m" {
				found = true
				if v := m.GetCounter().GetValue(); v != 2 {
					t.Errorf("vigil_reports_suppressed_total{rule=exec-from-writable-dir} = %v, want 2", v)
				}
			}
		}
	}
	if !found {
		t.Error("no vigil_reports_suppressed_total for exec-from-writable-dir")
	}
}

// TestHeldBackStateBounded: what quiet times hold back stays bounded when
// an attacker makes many distinct things to report (each held back once,
// its key then evicted) and long texts: the pending summaries follow the
// suppression keys the table keeps, and each text is cut.
func TestHeldBackStateBounded(t *testing.T) {
	e := New(mustParse(t, writableDirRule), Limits{MaxSuppress: 10}, slog.New(slog.DiscardHandler))
	var rec recorder
	long := "/tmp/" + strings.Repeat("x", 2000)
	for i := range 5000 {
		exe := fmt.Sprint("/tmp/p", i)
		if i == 4999 {
			exe = long
		}
		e.Handle(spawn(fmt.Sprint("a", i), 0, "p", int64(i), exe), rec.emit)
		e.Handle(spawn(fmt.Sprint("b", i), 1, "p", int64(i), exe), rec.emit)
	}
	if len(rec.reps) != 5000 || e.Stats().Suppressed != 5000 {
		t.Fatalf("%d reports, %d held back", len(rec.reps), e.Stats().Suppressed)
	}
	if len(e.sums) > 2048 {
		t.Errorf("%d pending summaries for %d suppression keys", len(e.sums), e.Stats().SuppressKeys)
	}
	rec = recorder{}
	e.Tick(t0.Add(2*time.Minute), rec.emit)
	if len(rec.reps) != 10 {
		t.Errorf("%d summaries, want one per key the table kept (10)", len(rec.reps))
	}
	last := rec.reps[len(rec.reps)-1]
	texts, _ := last.Attrs["suppressed_texts"].([]string)
	if len(texts) != 1 || len(texts[0]) > maxHeldText+len("…") || !strings.HasSuffix(texts[0], "…") {
		t.Errorf("a long held-back text kept as %d bytes", len(texts[0]))
	}
	if len(last.Explanation) > event.MaxExplanationLen {
		t.Errorf("summary explanation of %d bytes", len(last.Explanation))
	}
}

// TestEntityFieldsDocumented: docs/RULES.md names every field that keys
// suppression by default.
func TestEntityFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(doc), "The entity fields are those")
	if i < 0 {
		t.Fatal("docs/RULES.md does not list the entity fields")
	}
	para := string(doc[i:])
	para = para[:strings.Index(para, "\n\n")]
	for _, f := range entityFieldNames() {
		if !strings.Contains(para, "`"+f+"`") {
			t.Errorf("docs/RULES.md's list of entity fields lacks %s", f)
		}
	}
}
