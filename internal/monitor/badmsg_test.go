package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/store"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct{ testutil.LockedBuffer }

// lines are the log records that say a message was skipped.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(ln), &rec); err != nil {
			t.Fatalf("log line %q: %v", ln, err)
		}
		if rec["msg"] == "message on the bus is not an event; skipped" {
			out = append(out, rec)
		}
	}
	return out
}

// TestGarbageOnBusLogged publishes messages that are not events on an
// observation subject of a real bus: each subject gets a line at most
// every ten seconds (of the monitor's clock) saying what was skipped
// since, with the subject, the size and the error escaped, and the good
// events published after them are stored.
func TestGarbageOnBusLogged(t *testing.T) {
	_, conn := startBus(t)
	var logs lockedBuffer
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg := loadConfig(t, crashCfg, nil)
	mon := run(t, Options{Config: cfg, Conn: conn("m"), Clock: clk, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	<-mon.m.Ready()
	pub := conn("pub")
	ctx := context.Background()
	garbage := "\x1b[31mnot\x00an event\xff\u202e"
	subj := bus.ObsSubject("evil")
	publish := func(subject, data string) {
		t.Helper()
		if _, err := pub.JS.Publish(ctx, subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		publish(subj, garbage)
	}
	publish(bus.ObsSubject("other"), "{\"type\": 7}")
	evs := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "h", event.TypeSysCPU, 10)
	if _, err := pub.PublishEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the good events stored", func() bool { return mon.m.Store().Stats().EventsWritten == 10 })
	if n := promtest.ToFloat64(mon.m.met.decodeErrors.WithLabelValues("obs")); n != 6 {
		t.Errorf("decode errors %v, want 6", n)
	}
	lines := logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines for 2 subjects with garbage within 10 s: %v", len(lines), lines)
	}
	first := lines[0]
	if first["subject"] != subj || first["source"] != "obs" || first["bytes"] != float64(len(garbage)) || first["skipped_since_last"] != float64(0) {
		t.Errorf("first line: %v", first)
	}
	if e, _ := first["err"].(string); e == "" {
		t.Errorf("no error in %v", first)
	}
	head, _ := first["head"].(string)
	if head != `\x1b[31mnot\x00an event\xff\u202e` {
		t.Errorf("head %q: not the message's bytes escaped", head)
	}
	for _, rec := range lines {
		for k, v := range rec {
			if s, ok := v.(string); ok && strings.ContainsAny(s, "\x1b\x00\u202e") {
				t.Errorf("%s: %q holds a raw control character", k, s)
			}
		}
	}

	// Ten seconds on: the next garbage on the subject is logged with the
	// four that were skipped.
	clk.Advance(10 * time.Second)
	publish(subj, garbage)
	more := hostEvents(event.NewRandomIDs(), time.Now().UTC(), "h", event.TypeSysCPU, 3)
	if _, err := pub.PublishEvents(ctx, more); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "the later events stored", func() bool { return mon.m.Store().Stats().EventsWritten == 13 })
	lines = logs.lines(t)
	if len(lines) != 3 {
		t.Fatalf("%d lines after the interval, want 3", len(lines))
	}
	if last := lines[2]; last["subject"] != subj || last["skipped_since_last"] != float64(4) {
		t.Errorf("line after the interval: %v", last)
	}
}

// TestBadLogBounded checks that a publisher inventing subjects cannot
// grow the rate limiter: past its bound they share one entry.
func TestBadLogBounded(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	var logs lockedBuffer
	b := newBadLog(slog.New(slog.NewJSONHandler(&logs, nil)), clk)
	for i := range 3 * badLogSubjects {
		b.note("obs", "vigil.obs.h"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26)), []byte("x"), errBad)
	}
	if n := len(b.subj); n > badLogSubjects {
		t.Errorf("%d subjects tracked, bound %d", n, badLogSubjects)
	}
	lines := logs.lines(t)
	if len(lines) > badLogSubjects+1 {
		t.Errorf("%d lines within one interval", len(lines))
	}
	if lines[len(lines)-1]["subject"] != otherSubjects {
		t.Errorf("the last line is for %v, want the shared entry", lines[len(lines)-1]["subject"])
	}
	// Once the interval is over, idle entries make room again.
	clk.Advance(badLogEvery)
	b.note("obs", "vigil.obs.new", []byte("x"), errBad)
	if b.subj["vigil.obs.new"] == nil {
		t.Error("a new subject gets no entry of its own after the interval")
	}
}

var errBad = errorString("bad \x00 message")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":             "plain text",
		"a\\b":                   `a\\b`,
		"\x00\n\x1b":             `\x00\n\x1b`,
		"\xff\xfe":               `\xff\xfe`,
		"é\u202e":                `\u00e9\u202e`,
		"\ufffd":                 `\ufffd`,
		strings.Repeat("a", 300): strings.Repeat("a", 200) + "...",
	} {
		if got := printable(in, 200); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestObservationAboutAnotherHostDropped publishes, on host a's
// observation subject, observations about host b (as an agent for a
// might try): the monitor drops and counts them, logs a line, and stores
// a's own observations stamped with their publisher, whatever their
// payload claimed.
func TestObservationAboutAnotherHostDropped(t *testing.T) {
	_, conn := startBus(t)
	var logs lockedBuffer
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg := loadConfig(t, crashCfg, nil)
	mon := run(t, Options{Config: cfg, Conn: conn("m"), Clock: clk, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	<-mon.m.Ready()
	pub := conn("pub")
	ctx := context.Background()
	ids := event.NewRandomIDs()
	forged := hostEvents(ids, time.Now().UTC(), "host-b", event.TypeSysCPU, 4)
	for i := range forged {
		if _, err := pub.JS.Publish(ctx, bus.ObsSubject("host-a"), forged[i].AppendCompact(nil)); err != nil {
			t.Fatal(err)
		}
	}
	own := hostEvents(ids, time.Now().UTC(), "host-a", event.TypeSysCPU, 3)
	for i := range own {
		own[i].Attrs["published_by"] = "host-b" // a claim the monitor ignores
	}
	if _, err := pub.PublishEvents(ctx, own); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, "host-a's events stored", func() bool { return mon.m.Store().Stats().EventsWritten == 3 })
	if n := promtest.ToFloat64(mon.m.met.misrouted.WithLabelValues("obs")); n != 4 {
		t.Errorf("misrouted %v, want 4", n)
	}
	stored, err := mon.m.Store().Events(ctx, store.Filter{Type: event.TypeSysCPU})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("%d events stored, want host-a's 3", len(stored))
	}
	for _, ev := range stored {
		if ev.Host != "host-a" || ev.Attrs[AttrPublishedBy] != "host-a" {
			t.Errorf("stored %s host %q published_by %v, want host-a's own", ev.ID, ev.Host, ev.Attrs[AttrPublishedBy])
		}
	}
	n := 0
	for _, ln := range strings.Split(logs.String(), "\n") {
		if strings.Contains(ln, "observation about another host than its publisher") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d log lines for one subject within 10 s, want 1", n)
	}
}

func TestStampPublisher(t *testing.T) {
	for _, c := range []struct {
		subject, host, ip string
		ok                bool
		stamp             any
	}{
		{"vigil.obs.web-1", "web-1", "", true, "web-1"},
		{"vigil.live.web_1", "web.1", "", true, "web_1"}, // the token of the host
		{"vigil.obs.10_0_0_3", "", "10.0.0.3", true, "10_0_0_3"},
		{"vigil.obs.gw-1", "", "10.0.0.3", true, "gw-1"}, // a record about an address names no host
		{"vigil.obs.web-1", "web-2", "", false, nil},
		{"vigil.live.web-1", "web-2", "10.0.0.3", false, nil},
		{"vigil.obs.web-1.extra", "web-1", "", false, nil},
		{"custom.feed", "anything", "", true, nil}, // not an observation subject: left alone
	} {
		ev := event.Event{Host: c.host, IP: c.ip}
		err := stampPublisher(c.subject, &ev)
		if (err == nil) != c.ok {
			t.Errorf("%s host %q ip %q: err %v, want ok %v", c.subject, c.host, c.ip, err, c.ok)
		}
		if got := ev.Attrs[AttrPublishedBy]; got != c.stamp {
			t.Errorf("%s host %q: published_by %v, want %v", c.subject, c.host, got, c.stamp)
		}
	}
}

// TestStampPublisherAtAttributeLimit: an event already holding the most
// attributes gets no new one (it would become invalid), but a claim it
// carries is replaced all the same.
func TestStampPublisherAtAttributeLimit(t *testing.T) {
	full := func() map[string]any {
		a := map[string]any{}
		for i := range event.MaxAttrs {
			a[fmt.Sprintf("a%d", i)] = int64(i)
		}
		return a
	}
	ev := event.Event{Host: "web-1", Attrs: full()}
	if err := stampPublisher("vigil.obs.web-1", &ev); err != nil || len(ev.Attrs) != event.MaxAttrs {
		t.Errorf("full event: err %v, %d attributes, want %d", err, len(ev.Attrs), event.MaxAttrs)
	}
	claim := full()
	delete(claim, "a0")
	claim[AttrPublishedBy] = "db-1"
	ev = event.Event{Host: "web-1", Attrs: claim}
	if err := stampPublisher("vigil.obs.web-1", &ev); err != nil || ev.Attrs[AttrPublishedBy] != "web-1" {
		t.Errorf("full event with a claim: err %v, published_by %v", err, ev.Attrs[AttrPublishedBy])
	}
}
