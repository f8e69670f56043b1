package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"

	"modernc.org/sqlite"
)

var t0 = time.Date(2026, 11, 22, 9, 38, 9, 123456789, time.UTC)

// openTest opens a store in a temporary directory unless opts names a
// path, and closes it when the test ends.
func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "history.db")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mkEvent(id string, at time.Time, typ, host, ip string) event.Event {
	return event.Event{ID: id, Time: at, Type: typ, Host: host, IP: ip, Source: "agent"}
}

// allAttrs has an attribute of every type, edge values included.
func allAttrs() map[string]any {
	return map[string]any{
		"name":    "sftp-server",
		"empty":   "",
		"quoted":  "a \"b\" <c> & d\n\u2028é",
		"pid":     int64(30039),
		"neg":     int64(-5),
		"big":     int64(1<<63 - 1),
		"cpu_pct": 41.5,
		"zero":    0.0,
		"tiny":    1e-9,
		"root":    true,
		"daemon":  false,
		"args":    []string{"-D", "--port=22", ""},
		"none":    []string{},
	}
}

func sampleEvents() []event.Event {
	evs := []event.Event{
		mkEvent("e1", t0, event.TypeProcCPU, "web-1", "10.0.0.1"),
		mkEvent("e2", t0.Add(time.Second), event.TypeSysMem, "web-2", "10.0.0.2"),
		mkEvent("e3", t0.Add(2*time.Second), event.TypeProcSpawn, "db-1", ""),
		mkEvent("e4", t0.Add(3*time.Nanosecond), event.TypeNIDSAlert, "", "2001:db8::1"),
	}
	evs[0].Attrs = allAttrs()
	evs[2].Attrs = map[string]any{"process": "bash", "pid": int64(7)}
	return evs
}

func sampleReports() []event.Report {
	return []event.Report{
		{
			ID: "r1", Time: t0, Monitor: "svc-web", Engine: "track", Model: "M3", Host: "web-1", IP: "10.0.0.1",
			Score: 0.95, Severity: event.SeverityRed, State: "Compromised",
			Evidence: []string{"e1", "e2"}, Explanation: "PROC.CPU then SYS.MEM within 1 s",
			Attrs: allAttrs(),
		},
		{
			ID: "r2", Time: t0.Add(time.Minute), Monitor: "svc-db", Engine: "sig", Model: "R7", Host: "db-1",
			Score: 0.5, Severity: event.SeverityYellow, State: "Suspicious",
		},
		{ID: "r3", Time: t0.Add(2 * time.Minute), Monitor: "site", Engine: "track", Model: "M1", Score: 0},
	}
}

// newestFirst returns a copy of evs sorted the way queries return them.
func newestFirst[T any](in []T, at func(*T) time.Time) []T {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b T) int { return at(&b).Compare(at(&a)) })
	return out
}

func eventTime(e *event.Event) time.Time   { return e.Time }
func reportTime(r *event.Report) time.Time { return r.Time }

func enqueueAll(t *testing.T, s *Store, evs []event.Event, rs []event.Report) {
	t.Helper()
	ctx := t.Context()
	for i := range evs {
		if err := s.Enqueue(ctx, Item{Event: &evs[i]}); err != nil {
			t.Fatalf("Enqueue event %s: %v", evs[i].ID, err)
		}
	}
	for i := range rs {
		if err := s.Enqueue(ctx, Item{Report: &rs[i]}); err != nil {
			t.Fatalf("Enqueue report %s: %v", rs[i].ID, err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, s *Store, evs []event.Event, rs []event.Report)
	}{
		{"Enqueue", enqueueAll},
		{"WriteEvents", func(t *testing.T, s *Store, evs []event.Event, rs []event.Report) {
			if n, err := s.WriteEvents(t.Context(), evs); err != nil || n != len(evs) {
				t.Fatalf("WriteEvents = %d, %v", n, err)
			}
			if n, err := s.WriteReports(t.Context(), rs); err != nil || n != len(rs) {
				t.Fatalf("WriteReports = %d, %v", n, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Options{})
			evs, rs := sampleEvents(), sampleReports()
			tc.write(t, s, evs, rs)

			gotEvs, err := s.Events(t.Context(), Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if want := newestFirst(evs, eventTime); !reflect.DeepEqual(gotEvs, want) {
				t.Errorf("events:\n got %+v\nwant %+v", gotEvs, want)
			}
			gotRs, err := s.Reports(t.Context(), Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if want := newestFirst(rs, reportTime); !reflect.DeepEqual(gotRs, want) {
				t.Errorf("reports:\n got %+v\nwant %+v", gotRs, want)
			}
			ne, nr, err := s.Count(t.Context())
			if err != nil || ne != int64(len(evs)) || nr != int64(len(rs)) {
				t.Errorf("Count = %d, %d, %v; want %d, %d", ne, nr, err, len(evs), len(rs))
			}
		})
	}
}

func idsOf[T any](recs []T, id func(*T) string) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = id(&recs[i])
	}
	return out
}

func eventID(e *event.Event) string   { return e.ID }
func reportID(r *event.Report) string { return r.ID }

func TestEventFilters(t *testing.T) {
	s := openTest(t, Options{})
	var evs []event.Event
	hosts := []string{"web-1", "web-2", "db-1"}
	types := []string{event.TypeProcCPU, event.TypeSysMem}
	for i := range 12 {
		h := hosts[i%3]
		evs = append(evs, mkEvent(fmt.Sprintf("e%02d", i), t0.Add(time.Duration(i)*time.Second), types[i%2], h,
			fmt.Sprintf("10.0.0.%d", i%3+1)))
	}
	if _, err := s.WriteEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"e11", "e10", "e09", "e08", "e07", "e06", "e05", "e04", "e03", "e02", "e01", "e00"}},
		{"host", Filter{Host: "web-2"}, []string{"e10", "e07", "e04", "e01"}},
		{"ip", Filter{IP: "10.0.0.3"}, []string{"e11", "e08", "e05", "e02"}},
		{"type", Filter{Type: event.TypeSysMem}, []string{"e11", "e09", "e07", "e05", "e03", "e01"}},
		{"host and type", Filter{Host: "web-1", Type: event.TypeProcCPU}, []string{"e06", "e00"}},
		{"since inclusive", Filter{Since: sec(9)}, []string{"e11", "e10", "e09"}},
		{"until exclusive", Filter{Until: sec(2)}, []string{"e01", "e00"}},
		{"since and until", Filter{Since: sec(3), Until: sec(6)}, []string{"e05", "e04", "e03"}},
		{"host and window", Filter{Host: "db-1", Since: sec(3), Until: sec(9)}, []string{"e08", "e05"}},
		{"limit", Filter{Limit: 3}, []string{"e11", "e10", "e09"}},
		{"limit with filter", Filter{Type: event.TypeProcCPU, Limit: 2}, []string{"e10", "e08"}},
		{"no match", Filter{Host: "nope"}, []string{}},
		{"empty window", Filter{Since: sec(5), Until: sec(5)}, []string{}},
		{"injection is a value", Filter{Host: "web-1' OR '1'='1"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Events(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := idsOf(got, eventID); !slices.Equal(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
	sev := event.SeverityRed
	for _, f := range []Filter{{Monitor: "m"}, {Engine: "e"}, {Model: "M1"}, {MinSeverity: &sev}} {
		if _, err := s.Events(t.Context(), f); err == nil {
			t.Errorf("Events(%+v): no error for a report-only filter", f)
		}
	}
}

func TestReportFilters(t *testing.T) {
	s := openTest(t, Options{})
	var rs []event.Report
	monitors := []string{"svc-web", "svc-db"}
	engines := []string{"track", "sig", "stat"}
	for i := range 12 {
		rs = append(rs, event.Report{
			ID: fmt.Sprintf("r%02d", i), Time: t0.Add(time.Duration(i) * time.Minute),
			Monitor: monitors[i%2], Engine: engines[i%3], Model: fmt.Sprintf("M%d", i%4),
			Host: fmt.Sprintf("h%d", i%3), IP: fmt.Sprintf("10.1.0.%d", i%3),
			Score: float64(i) / 11, Severity: event.Severity(i % 3), State: "s",
		})
	}
	if _, err := s.WriteReports(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	minute := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	yellow, red := event.SeverityYellow, event.SeverityRed
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"r11", "r10", "r09", "r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01", "r00"}},
		{"host", Filter{Host: "h1"}, []string{"r10", "r07", "r04", "r01"}},
		{"ip", Filter{IP: "10.1.0.2"}, []string{"r11", "r08", "r05", "r02"}},
		{"monitor", Filter{Monitor: "svc-db"}, []string{"r11", "r09", "r07", "r05", "r03", "r01"}},
		{"engine", Filter{Engine: "sig"}, []string{"r10", "r07", "r04", "r01"}},
		{"model", Filter{Model: "M3"}, []string{"r11", "r07", "r03"}},
		{"min severity yellow", Filter{MinSeverity: &yellow, Limit: 4}, []string{"r11", "r10", "r08", "r07"}},
		{"min severity red", Filter{MinSeverity: &red}, []string{"r11", "r08", "r05", "r02"}},
		{"since and until", Filter{Since: minute(2), Until: minute(4)}, []string{"r03", "r02"}},
		{"monitor and engine", Filter{Monitor: "svc-web", Engine: "track"}, []string{"r06", "r00"}},
		{"type REPORT", Filter{Type: event.TypeReport, Limit: 1}, []string{"r11"}},
		{"limit", Filter{Limit: 2}, []string{"r11", "r10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Reports(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := idsOf(got, reportID); !slices.Equal(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
	if _, err := s.Reports(t.Context(), Filter{Type: event.TypeProcCPU}); err == nil {
		t.Error("Reports with an event type: no error")
	}
}

func TestLimits(t *testing.T) {
	s := openTest(t, Options{})
	evs := make([]event.Event, MaxLimit+50)
	for i := range evs {
		evs[i] = mkEvent(fmt.Sprintf("e%05d", i), t0.Add(time.Duration(i)*time.Millisecond), event.TypeSysCPU, "h", "")
	}
	if _, err := s.WriteEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ limit, want int }{{0, DefaultLimit}, {-1, DefaultLimit}, {7, 7}, {MaxLimit + 1, MaxLimit}, {1 << 30, MaxLimit}} {
		got, err := s.Events(t.Context(), Filter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Limit %d: %d events, want %d", tc.limit, len(got), tc.want)
		}
		if len(got) > 0 && got[0].ID != evs[len(evs)-1].ID {
			t.Errorf("Limit %d: first %s, want the newest", tc.limit, got[0].ID)
		}
	}
}

func TestEqualTimesNewestInsertedFirst(t *testing.T) {
	s := openTest(t, Options{})
	evs := []event.Event{
		mkEvent("b", t0, event.TypeSysCPU, "h", ""),
		mkEvent("a", t0, event.TypeSysCPU, "h", ""),
		mkEvent("c", t0, event.TypeSysCPU, "h", ""),
	}
	enqueueAll(t, s, evs, nil)
	got, err := s.Events(t.Context(), Filter{Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if g := idsOf(got, eventID); !slices.Equal(g, []string{"c", "a", "b"}) {
		t.Errorf("got %v, want the reverse of insertion order", g)
	}
}

func TestDuplicates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "history.db") // directories created by Open
	ctx := t.Context()
	s, err := Open(ctx, Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	evs, rs := sampleEvents(), sampleReports()
	// Every record twice through the queue, the second copy in the same
	// batch as the first.
	enqueueAll(t, s, append(slices.Clone(evs), evs...), append(slices.Clone(rs), rs...))
	// And again, synchronously.
	if n, err := s.WriteEvents(ctx, evs); err != nil || n != 0 {
		t.Errorf("WriteEvents of stored events = %d, %v; want 0", n, err)
	}
	if n, err := s.WriteReports(ctx, rs); err != nil || n != 0 {
		t.Errorf("WriteReports of stored reports = %d, %v; want 0", n, err)
	}
	st := s.Stats()
	want := uint64(2 * (len(evs) + len(rs)))
	if st.Duplicates != want || st.EventsWritten != uint64(len(evs)) || st.ReportsWritten != uint64(len(rs)) {
		t.Errorf("stats %+v; want %d duplicates, %d events, %d reports", st, want, len(evs), len(rs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted process re-delivers everything.
	s = openTest(t, Options{Path: path})
	enqueueAll(t, s, evs, rs)
	if n, err := s.WriteEvents(ctx, append([]event.Event{mkEvent("new", t0, event.TypeSysCPU, "h", "")}, evs...)); err != nil || n != 1 {
		t.Errorf("WriteEvents with one new event = %d, %v; want 1", n, err)
	}
	ne, nr, err := s.Count(ctx)
	if err != nil || ne != int64(len(evs)+1) || nr != int64(len(rs)) {
		t.Errorf("Count = %d, %d, %v; want %d, %d", ne, nr, err, len(evs)+1, len(rs))
	}
	st = s.Stats()
	if want := uint64(2*len(evs) + len(rs)); st.Duplicates != want {
		t.Errorf("after reopen: %d duplicates, want %d (stats %+v)", st.Duplicates, want, st)
	}
	if st.EventsWritten != 1 || st.ReportsWritten != 0 {
		t.Errorf("after reopen: stats %+v, want 1 event and no report written", st)
	}
}

// doneLog records Done and AfterCommit calls.
type doneLog struct {
	mu      sync.Mutex
	entries []string
	calls   map[int]int
}

func (l *doneLog) add(e string) {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
}

func (l *doneLog) done(i int) func() {
	return func() {
		l.mu.Lock()
		if l.calls == nil {
			l.calls = map[int]int{}
		}
		l.calls[i]++
		l.entries = append(l.entries, fmt.Sprint(i))
		l.mu.Unlock()
	}
}

func (l *doneLog) snapshot() ([]string, map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	calls := make(map[int]int, len(l.calls))
	for k, v := range l.calls {
		calls[k] = v
	}
	return slices.Clone(l.entries), calls
}

func TestDoneCallbacks(t *testing.T) {
	var l doneLog
	var s *Store
	var notVisible atomic.Int32
	s = openTest(t, Options{BatchSize: 4, AfterCommit: func() { l.add("commit") }})
	ctx := t.Context()
	const n = 30
	for i := range n {
		it := Item{}
		switch i % 3 {
		case 0:
			ev := mkEvent(fmt.Sprintf("e%d", i), t0, event.TypeSysCPU, fmt.Sprintf("host-%d", i), "")
			it.Event = &ev
		case 1:
			it.Report = &event.Report{ID: fmt.Sprintf("r%d", i), Time: t0, Monitor: "m", Host: fmt.Sprintf("host-%d", i)}
		}
		// Done must see the record committed: visible to a reader.
		done := l.done(i)
		host := fmt.Sprintf("host-%d", i)
		kind := i % 3
		it.Done = func() {
			var got int
			switch kind {
			case 0:
				evs, err := s.Events(context.Background(), Filter{Host: host})
				if err != nil {
					t.Error(err)
				}
				got = len(evs)
			case 1:
				rs, err := s.Reports(context.Background(), Filter{Host: host})
				if err != nil {
					t.Error(err)
				}
				got = len(rs)
			default:
				got = 1 // a marker
			}
			if got != 1 {
				notVisible.Add(1)
			}
			done()
		}
		if err := s.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	entries, calls := l.snapshot()
	if notVisible.Load() != 0 {
		t.Errorf("%d Done callbacks ran before their record was visible", notVisible.Load())
	}
	var order []string
	for i := range n {
		if calls[i] != 1 {
			t.Errorf("Done %d called %d times", i, calls[i])
		}
		order = append(order, fmt.Sprint(i))
	}
	var dones []string
	commits := 0
	for _, e := range entries {
		if e == "commit" {
			commits++
		} else {
			dones = append(dones, e)
		}
	}
	if !slices.Equal(dones, order) {
		t.Errorf("Done order %v", dones)
	}
	if commits < n/4 {
		t.Errorf("AfterCommit called %d times for %d items in batches of at most 4", commits, n)
	}
	if entries[len(entries)-1] != "commit" || entries[0] == "commit" {
		t.Errorf("AfterCommit must follow its batch's Done callbacks: %v", entries)
	}
	if st := s.Stats(); st.Queued != 0 || st.OldestQueued != 0 {
		t.Errorf("stats after flush %+v", st)
	}
}

func TestCloseCommitsQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	var l doneLog
	s, err := Open(t.Context(), Options{
		Path: path, FlushInterval: time.Hour, BatchSize: 1000,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 250
	for i := range n {
		ev := mkEvent(fmt.Sprintf("e%d", i), t0.Add(time.Duration(i)), event.TypeSysCPU, "h", "")
		if err := s.Enqueue(t.Context(), Item{Event: &ev, Done: l.done(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, calls := l.snapshot()
	for i := range n {
		if calls[i] != 1 {
			t.Fatalf("Done %d called %d times after Close", i, calls[i])
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ev := mkEvent("late", t0, event.TypeSysCPU, "h", "")
	if err := s.Enqueue(t.Context(), Item{Event: &ev}); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if err := s.Flush(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
	if _, err := s.WriteEvents(t.Context(), []event.Event{ev}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteEvents after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Events(t.Context(), Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after Close: %v, want ErrClosed", err)
	}

	s = openTest(t, Options{Path: path})
	if ne, _, err := s.Count(t.Context()); err != nil || ne != n {
		t.Errorf("after reopen: %d events, %v; want %d", ne, err, n)
	}
}

// holdWriter blocks the writer goroutine at its next batch by taking the
// write connection; the returned function gives it back.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	s.wsem <- struct{}{}
	var once sync.Once
	release = func() { once.Do(func() { <-s.wsem }) }
	t.Cleanup(release)
	return release
}

func TestEnqueueBackpressure(t *testing.T) {
	s := openTest(t, Options{QueueSize: 2, BatchSize: 1})
	release := holdWriter(t, s)
	ctx := t.Context()
	enq := func(ctx context.Context, id string) error {
		ev := mkEvent(id, t0, event.TypeSysCPU, "h", "")
		return s.Enqueue(ctx, Item{Event: &ev})
	}
	// The writer takes the first item and blocks on it; two more fill the
	// queue.
	for _, id := range []string{"a", "b", "c"} {
		if err := enq(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "a full queue", func() bool { return len(s.queue) == 2 })

	// TryEnqueue never waits: a full queue refuses at once, and the item
	// is neither queued nor counted.
	tryEv := mkEvent("try", t0, event.TypeSysCPU, "h", "")
	if err := s.TryEnqueue(Item{Event: &tryEv}); !errors.Is(err, ErrFull) {
		t.Errorf("TryEnqueue on a full queue: %v, want ErrFull", err)
	}

	// Blocked, then cancelled.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- enq(cctx, "d") }()
	select {
	case err := <-errc:
		t.Fatalf("Enqueue on a full queue returned %v without blocking", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Enqueue: %v, want context.Canceled", err)
	}
	// Already cancelled.
	if err := enq(cctx, "e"); !errors.Is(err, context.Canceled) {
		t.Errorf("Enqueue with a cancelled context: %v", err)
	}
	// A deadline.
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer dcancel()
	if err := enq(dctx, "f"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Enqueue past its deadline: %v", err)
	}

	st := s.Stats()
	if st.Queued != 3 {
		t.Errorf("Queued = %d, want 3", st.Queued)
	}
	testutil.WaitFor(t, 10*time.Second, "a positive OldestQueued", func() bool { return s.Stats().OldestQueued > 0 })

	release()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if g := idsOf(got, eventID); !slices.Equal(g, []string{"c", "b", "a"}) {
		t.Errorf("stored %v, want exactly the accepted items", g)
	}
	// With room in the queue, TryEnqueue queues.
	if err := s.TryEnqueue(Item{Event: &tryEv}); err != nil {
		t.Errorf("TryEnqueue with room: %v", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Queued != 0 || st.OldestQueued != 0 || st.EventsWritten != 4 {
		t.Errorf("stats after flush %+v", st)
	}
}

func TestRetention(t *testing.T) {
	clk := clock.NewManual(t0)
	s := openTest(t, Options{Retention: 24 * time.Hour, Clock: clk})
	ctx := t.Context()
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	evs := []event.Event{
		mkEvent("old2", ago(48*time.Hour), event.TypeSysCPU, "h", ""),
		mkEvent("old1", ago(24*time.Hour+time.Nanosecond), event.TypeSysCPU, "h", ""),
		mkEvent("edge", ago(24*time.Hour), event.TypeSysCPU, "h", ""), // not older than the retention
		mkEvent("new2", ago(23*time.Hour), event.TypeSysCPU, "h", ""),
		mkEvent("new1", t0, event.TypeSysCPU, "h", ""),
	}
	rs := []event.Report{
		{ID: "rold", Time: ago(30 * time.Hour), Monitor: "m"},
		{ID: "rnew", Time: ago(time.Hour), Monitor: "m"},
	}
	enqueueAll(t, s, evs, rs)

	n, err := s.ApplyRetention(ctx)
	if err != nil || n != 3 {
		t.Fatalf("ApplyRetention = %d, %v; want 3", n, err)
	}
	check := func(wantEvs, wantRs []string) {
		t.Helper()
		got, err := s.Events(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if g := idsOf(got, eventID); !slices.Equal(g, wantEvs) {
			t.Errorf("events %v, want %v", g, wantEvs)
		}
		gotRs, err := s.Reports(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if g := idsOf(gotRs, reportID); !slices.Equal(g, wantRs) {
			t.Errorf("reports %v, want %v", g, wantRs)
		}
	}
	check([]string{"new1", "new2", "edge"}, []string{"rnew"})
	if n, err := s.ApplyRetention(ctx); err != nil || n != 0 {
		t.Errorf("second ApplyRetention = %d, %v; want 0", n, err)
	}

	clk.Advance(time.Hour + time.Nanosecond)
	if n, err := s.ApplyRetention(ctx); err != nil || n != 2 {
		t.Errorf("ApplyRetention an hour later = %d, %v; want 2", n, err)
	}
	check([]string{"new1"}, []string{"rnew"})
	if st := s.Stats(); st.Deleted != 5 {
		t.Errorf("Deleted = %d, want 5", st.Deleted)
	}
}

func TestRetentionChunks(t *testing.T) {
	clk := clock.NewManual(t0)
	s := openTest(t, Options{Retention: time.Hour, Clock: clk})
	s.retentionChunk = 100
	old := make([]event.Event, 100*3+7)
	for i := range old {
		old[i] = mkEvent(fmt.Sprintf("o%d", i), t0.Add(-2*time.Hour+time.Duration(i)), event.TypeSysCPU, "h", "")
	}
	keep := mkEvent("keep", t0, event.TypeSysCPU, "h", "")
	if _, err := s.WriteEvents(t.Context(), append(old, keep)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ApplyRetention(t.Context()); err != nil || n != int64(len(old)) {
		t.Fatalf("ApplyRetention = %d, %v; want %d", n, err, len(old))
	}
	if ne, _, err := s.Count(t.Context()); err != nil || ne != 1 {
		t.Errorf("%d events left, %v; want 1", ne, err)
	}
}

func TestNoRetention(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.WriteEvents(t.Context(), []event.Event{mkEvent("a", time.Unix(1, 0), event.TypeSysCPU, "h", "")}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ApplyRetention(t.Context()); err != nil || n != 0 {
		t.Errorf("ApplyRetention without retention = %d, %v", n, err)
	}
}

// TestWriteFailureBusy makes commits fail for real: another connection
// holds the database's write lock, so the writer's transactions fail with
// SQLITE_BUSY until it lets go.
func TestWriteFailureBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s := openTest(t, Options{Path: path, BusyTimeout: 5 * time.Millisecond, BatchSize: 3})
	ctx := t.Context()

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	var l doneLog
	const n = 10
	for i := range n {
		ev := mkEvent(fmt.Sprintf("e%d", i), t0.Add(time.Duration(i)), event.TypeSysCPU, "h", "")
		if err := s.Enqueue(ctx, Item{Event: &ev, Done: l.done(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "two failed attempts", func() bool { return s.Stats().WriteErrors >= 2 })
	if _, calls := l.snapshot(); len(calls) != 0 {
		t.Fatalf("Done called before any commit: %v", calls)
	}
	st := s.Stats()
	if !strings.Contains(st.LastError, "locked") && !strings.Contains(st.LastError, "busy") {
		t.Errorf("LastError %q does not say the database is locked", st.LastError)
	}
	if st.Queued != n || st.EventsWritten != 0 {
		t.Errorf("stats while failing %+v", st)
	}
	if !strings.Contains(st.WriteFailing, "locked") && !strings.Contains(st.WriteFailing, "busy") {
		t.Errorf("WriteFailing %q while the commits fail does not say why", st.WriteFailing)
	}
	if _, err := s.WriteEvents(ctx, []event.Event{mkEvent("sync", t0, event.TypeSysCPU, "h", "")}); err == nil {
		t.Error("WriteEvents succeeded while another connection held the write lock")
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.WriteFailing != "" || st.LastError == "" {
		t.Errorf("after a commit succeeded: WriteFailing %q (want none), LastError %q (kept)", st.WriteFailing, st.LastError)
	}
	entries, calls := l.snapshot()
	var order []string
	for i := range n {
		if calls[i] != 1 {
			t.Errorf("Done %d called %d times", i, calls[i])
		}
		order = append(order, fmt.Sprint(i))
	}
	if !slices.Equal(entries, order) {
		t.Errorf("Done order %v", entries)
	}
	if ne, _, err := s.Count(ctx); err != nil || ne != n {
		t.Errorf("Count = %d, %v; want %d", ne, err, n)
	}
	if st := s.Stats(); st.EventsWritten != n || st.Duplicates != 0 || st.Queued != 0 {
		t.Errorf("stats after recovery %+v", st)
	}
}

// failCommits makes the next n commits of the store's write connection
// fail (SQLite turns a commit hook's non-zero return into a rollback);
// n < 0 fails all of them.
func failCommits(t *testing.T, s *Store, n int64) *atomic.Int64 {
	t.Helper()
	var left atomic.Int64
	left.Store(n)
	s.wsem <- struct{}{}
	defer func() { <-s.wsem }()
	err := s.wconn.Raw(func(dc any) error {
		h, ok := dc.(interface{ RegisterCommitHook(sqlite.CommitHookFn) })
		if !ok {
			return fmt.Errorf("driver connection %T has no commit hook", dc)
		}
		h.RegisterCommitHook(func() int32 {
			if left.Load() == 0 {
				return 0
			}
			left.Add(-1)
			return 1
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &left
}

func TestWriteFailureCommitRetried(t *testing.T) {
	var commits atomic.Int32
	s := openTest(t, Options{AfterCommit: func() { commits.Add(1) }})
	failCommits(t, s, 3)
	var l doneLog
	evs, rs := sampleEvents(), sampleReports()
	for i := range evs {
		if err := s.Enqueue(t.Context(), Item{Event: &evs[i], Report: &rs[i%len(rs)], Done: l.done(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.WriteErrors != 3 || !strings.Contains(st.LastError, "commit") {
		t.Errorf("stats %+v; want 3 write errors, the last about the commit", st)
	}
	// The failed attempts were rolled back whole: the retry inserted
	// everything once, with nothing seen as a duplicate but the reports
	// that appear twice in the batch.
	if st.EventsWritten != uint64(len(evs)) || st.ReportsWritten != uint64(len(rs)) ||
		st.Duplicates != uint64(len(evs)-len(rs)) || commits.Load() != 1 {
		t.Errorf("stats %+v, %d AfterCommit calls", st, commits.Load())
	}
	_, calls := l.snapshot()
	for i := range evs {
		if calls[i] != 1 {
			t.Errorf("Done %d called %d times", i, calls[i])
		}
	}
	got, err := s.Events(t.Context(), Filter{})
	if err != nil || len(got) != len(evs) {
		t.Errorf("Events: %d, %v", len(got), err)
	}
}

func TestCloseGivesUp(t *testing.T) {
	s, err := Open(t.Context(), Options{
		Path:   filepath.Join(t.TempDir(), "history.db"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	failCommits(t, s, -1)
	var l doneLog
	for i := range 5 {
		ev := mkEvent(fmt.Sprintf("e%d", i), t0, event.TypeSysCPU, "h", "")
		if err := s.Enqueue(t.Context(), Item{Event: &ev, Done: l.done(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "a failed commit", func() bool { return s.Stats().WriteErrors > 0 })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = s.CloseContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "5 items not stored") {
		t.Errorf("CloseContext = %v, want an error counting 5 items not stored", err)
	}
	if _, calls := l.snapshot(); len(calls) != 0 {
		t.Errorf("Done called for items never committed: %v", calls)
	}
	if err2 := s.Close(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close = %v, want the first's result", err2)
	}
}

func TestStats(t *testing.T) {
	s := openTest(t, Options{})
	if st := s.Stats(); st != (Stats{}) {
		t.Errorf("fresh stats %+v", st)
	}
	evs, rs := sampleEvents(), sampleReports()
	enqueueAll(t, s, evs, rs)
	st := s.Stats()
	if st.EventsWritten != uint64(len(evs)) || st.ReportsWritten != uint64(len(rs)) || st.Batches == 0 ||
		st.Duplicates != 0 || st.WriteErrors != 0 || st.Deleted != 0 || st.LastError != "" ||
		st.Queued != 0 || st.OldestQueued != 0 {
		t.Errorf("stats %+v", st)
	}
	batches := st.Batches
	if _, err := s.WriteEvents(t.Context(), evs[:1]); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Duplicates != 1 || st.Batches != batches+1 {
		t.Errorf("after a duplicate write: %+v", st)
	}
	// A flush of nothing commits nothing.
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Batches != batches+1 {
		t.Errorf("an empty flush counted a batch: %+v", st)
	}
}

func TestInvalidItems(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	for _, it := range []Item{
		{Event: &event.Event{Time: t0, Type: "T", Host: "h"}},
		{Event: &event.Event{ID: "x", Type: "T", Host: "h"}},
		{Report: &event.Report{Time: t0, Monitor: "m"}},
		{Report: &event.Report{ID: "r", Monitor: "m"}},
		{Report: &event.Report{ID: "r", Time: t0, Monitor: "m", Score: math.NaN()}},
		{Report: &event.Report{ID: "r", Time: t0, Monitor: "m", Severity: 9}},
		{Event: &event.Event{ID: "x", Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Type: "T", Host: "h"}},
	} {
		if err := s.Enqueue(ctx, it); err == nil {
			t.Errorf("Enqueue(%+v %+v) accepted", it.Event, it.Report)
		}
	}
	if _, err := s.WriteEvents(ctx, []event.Event{{Time: t0}}); err == nil {
		t.Error("WriteEvents accepted an event without an id")
	}
	if _, err := s.WriteReports(ctx, []event.Report{{ID: "r"}}); err == nil {
		t.Error("WriteReports accepted a report without a time")
	}
	if st := s.Stats(); st.Queued != 0 {
		t.Errorf("rejected items counted as queued: %+v", st)
	}
}

func TestUndecodableRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s := openTest(t, Options{Path: path})
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, q := range []string{
		`INSERT INTO events (id, time, type, host, ip, source, attrs) VALUES ('bad-event', 1, 'T', 'h', '', 's', '{"a":')`,
		`INSERT INTO reports (id, time, monitor, engine, model, host, ip, score, severity, state, evidence, explanation)
			VALUES ('bad-report', 1, 'm', '', '', '', '', 0, 0, '', '[1]', '')`,
	} {
		if _, err := other.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Events(t.Context(), Filter{}); err == nil || !strings.Contains(err.Error(), "bad-event") {
		t.Errorf("Events over a bad row: %v, want an error naming the row", err)
	}
	if _, err := s.Reports(t.Context(), Filter{}); err == nil || !strings.Contains(err.Error(), "bad-report") {
		t.Errorf("Reports over a bad row: %v, want an error naming the row", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(t.Context(), Options{Path: path, Logger: slog.New(slog.DiscardHandler)})
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
	defer db.Close()
	var v string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != fmt.Sprint(SchemaVersion) {
		t.Fatalf("schema_version %q, %v", v, err)
	}
	// Reopening a current database keeps it.
	s = openTest(t, Options{Path: path})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), Options{Path: path, Logger: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

func TestConcurrentProducers(t *testing.T) {
	s := openTest(t, Options{QueueSize: 64, BatchSize: 50, FlushInterval: time.Millisecond})
	const producers, each = 4, 500
	var wg sync.WaitGroup
	var done atomic.Int64
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				ev := mkEvent(fmt.Sprintf("p%d-%d", p, i), t0.Add(time.Duration(i)), event.TypeSysCPU,
					fmt.Sprintf("h%d", p), "")
				if err := s.Enqueue(t.Context(), Item{Event: &ev, Done: func() { done.Add(1) }}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Readers and stats alongside.
	wg.Go(func() {
		for range 20 {
			if _, err := s.Events(t.Context(), Filter{Host: "h1", Limit: 10}); err != nil {
				t.Error(err)
			}
			_ = s.Stats()
		}
	})
	wg.Wait()
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if done.Load() != producers*each {
		t.Errorf("%d Done calls, want %d", done.Load(), producers*each)
	}
	if ne, _, err := s.Count(t.Context()); err != nil || ne != producers*each {
		t.Errorf("Count = %d, %v", ne, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), Options{}); err == nil {
		t.Error("Open without a path succeeded")
	}
	if _, err := Open(t.Context(), Options{Path: filepath.Join(t.TempDir(), "x.db"), Retention: -time.Hour}); err == nil {
		t.Error("Open with a negative retention succeeded")
	}
	dir := t.TempDir()
	if _, err := Open(t.Context(), Options{Path: dir, Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Error("Open of a directory succeeded")
	}
}

// TestQueryPlans checks that every filter is answered from an index in
// newest-first order, without sorting.
func TestQueryPlans(t *testing.T) {
	s := openTest(t, Options{})
	sev := event.SeverityRed
	since := t0
	for _, tc := range []struct {
		name    string
		reports bool
		f       Filter
		index   string
	}{
		{"events", false, Filter{}, "events_time"},
		{"events since", false, Filter{Since: since}, "events_time"},
		{"events ip", false, Filter{IP: "10.0.0.1"}, "events_time"},
		{"events host", false, Filter{Host: "h", Since: since}, "events_host_time"},
		{"events type", false, Filter{Type: "T", Until: since}, "events_type_time"},
		{"reports", true, Filter{}, "reports_time"},
		{"reports host", true, Filter{Host: "h"}, "reports_host_time"},
		{"reports monitor", true, Filter{Monitor: "m", MinSeverity: &sev}, "reports_monitor_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args, err := eventsQuery(&tc.f)
			if tc.reports {
				query, args, err = reportsQuery(&tc.f)
			}
			if err != nil {
				t.Fatal(err)
			}
			rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, "INDEX "+tc.index+" ") && !strings.HasSuffix(p, "INDEX "+tc.index) {
				t.Errorf("plan %q does not use %s", p, tc.index)
			}
			if strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("plan %q sorts", p)
			}
		})
	}
}

func TestRetentionWithZeroClock(t *testing.T) {
	s := openTest(t, Options{Retention: time.Hour, Clock: &clock.Manual{}})
	if _, err := s.WriteEvents(t.Context(), []event.Event{mkEvent("a", t0, event.TypeSysCPU, "h", "")}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ApplyRetention(t.Context()); err != nil || n != 0 {
		t.Errorf("ApplyRetention with a clock at the zero time = %d, %v; want 0", n, err)
	}
}
