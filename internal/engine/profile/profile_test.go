package profile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday

// serviceClass profiles sources by the service they use and the bytes
// they send, with the event rate.
func serviceClass() *Class {
	return &Class{
		Name: "source", Subject: "src", Session: "session",
		Measures: []Measure{
			{Name: "service", Kind: Categorical, Field: "service"},
			{Name: "bytes", Kind: Continuous, Field: "bytes", Edges: []float64{100, 1000, 10000, 100000}},
			{Name: "rate", Kind: Intensity, Scale: time.Minute},
			{Name: "touched", Kind: Distribution},
		},
		ShortHalfLife: 10, LongHalfLife: 7 * 24 * time.Hour, Update: 24 * time.Hour, UpdateAt: 3 * time.Hour,
		Rare: 0.01, Alert: 0.99, Red: 0.999, MinHistory: 50,
	}
}

func conn(src, service string, bytes float64, at time.Time) *event.Event {
	return &event.Event{Type: "NET.CONN", Time: at, Attrs: map[string]any{"src": src, "service": service, "bytes": bytes}}
}

// normalDay feeds a day of a source's ordinary use: web and mail, a few
// kilobytes, an event a minute.
func normalDay(p *Profiler, rng *rand.Rand, src string, day time.Time) []Result {
	var out []Result
	for i := range 24 * 60 {
		svc := "http"
		if rng.IntN(4) == 0 {
			svc = "smtp"
		}
		out = append(out, p.Observe(conn(src, svc, 2000+rng.Float64()*3000, day.Add(time.Duration(i)*time.Minute)), true)...)
	}
	return out
}

// TestLearnsAndFlags checks the profiler's whole cycle: nothing is
// scored before the first long-term update; after a few days of ordinary
// use ordinary events rank low, and a burst of telnet with large
// transfers ranks at the top, explained by the service and bytes
// measures.
func TestLearnsAndFlags(t *testing.T) {
	p := New([]*Class{serviceClass()}, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	first := normalDay(p, rng, "198.51.100.7", t0)
	for _, r := range first[:180] { // before 03:00, the first update
		if r.Ready || r.T2 != 0 {
			t.Fatalf("scored before any long-term profile: %+v", r)
		}
	}
	for d := 1; d < 4; d++ {
		normalDay(p, rng, "198.51.100.7", t0.Add(time.Duration(d)*24*time.Hour))
	}
	day := t0.Add(4 * 24 * time.Hour)
	var ordinary []float64
	for _, r := range normalDay(p, rng, "198.51.100.7", day)[:180] {
		if !r.Ready {
			t.Fatalf("not ready after four days: %+v", r)
		}
		ordinary = append(ordinary, r.Rank)
	}
	// An ordinary event is as likely to rank anywhere in the history.
	if m := mean(ordinary); m < 0.3 || m > 0.7 {
		t.Errorf("ordinary events rank %.2f on average", m)
	}
	var last Result
	at := day.Add(24 * time.Hour)
	for i := range 15 {
		last = p.Observe(conn("198.51.100.7", "telnet", 500000, at.Add(time.Duration(i)*time.Second)), true)[0]
	}
	if last.Rank < 0.99 || last.T2 <= last.Threshold {
		t.Errorf("a telnet burst ranks %.3f (T2 %.1f, threshold %.1f)", last.Rank, last.T2, last.Threshold)
	}
	top := map[string]bool{}
	for _, m := range last.Top(2) {
		top[m.Name] = true
	}
	if !top["service"] && !top["bytes"] {
		t.Errorf("the most outlying measures %+v", last.Measures)
	}
	expl := Explain("source", last.Score, 3)
	t.Log(expl)
	if last.Measures[0].S < 2 {
		t.Errorf("top measure S %.2f", last.Measures[0].S)
	}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestNoLearning checks that with learn false nothing is learnt: the
// subject's long-term profile and histories are untouched, and an
// unknown subject is not created.
func TestNoLearning(t *testing.T) {
	p := New([]*Class{serviceClass()}, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	for d := range 3 {
		normalDay(p, rng, "a", t0.Add(time.Duration(d)*24*time.Hour))
	}
	s := p.subjects[0]["a"]
	before := fmt.Sprint(s.m[0].f.long, s.m[0].f.period, s.t2, s.m[1].q)
	at := t0.Add(3*24*time.Hour - time.Hour) // before the next update
	for i := range 50 {
		p.Observe(conn("a", "telnet", 1e6, at.Add(time.Duration(i)*time.Second)), false)
	}
	if after := fmt.Sprint(s.m[0].f.long, s.m[0].f.period, s.t2, s.m[1].q); after != before {
		t.Errorf("learnt without learning:\n%s\n%s", before, after)
	}
	// An unknown subject is judged by the class's profile, and not kept.
	if r := p.Observe(conn("b", "http", 1, at), false); len(r) != 1 || !r[0].Ready || p.subjects[0]["b"] != nil {
		t.Errorf("an unknown subject: %+v, kept: %v", r, p.subjects[0]["b"] != nil)
	}
}

// TestSessions checks that interleaved sessions keep their own
// short-term profiles against one long-term profile.
func TestSessions(t *testing.T) {
	p := New([]*Class{serviceClass()}, Options{})
	at := t0
	for i := range 200 {
		ev := conn("ftp", "retr", 5000, at.Add(time.Duration(i)*time.Second))
		ev.Attrs["session"] = fmt.Sprint("s", i%2)
		p.Observe(ev, true)
	}
	s := p.subjects[0]["ftp"]
	if len(s.sessions) != 2 || s.sessions["s0"].n[0] == 0 || s.sessions["s1"].n[0] == 0 || s.main.n[0] != 0 {
		t.Errorf("sessions %+v, main %+v", s.sessions, s.main)
	}
}

// TestFoldPoolsRare checks the long-term update: the period's counts fold
// in, aged by the long half-life, and categories below the rare
// threshold pool into RARE, freeing their slots for new ones.
func TestFoldPoolsRare(t *testing.T) {
	c := serviceClass()
	p := New([]*Class{c}, Options{})
	at := t0
	for i := range 1000 {
		svc := "http"
		if i == 500 {
			svc = "gopher"
		}
		p.Observe(conn("a", svc, 10, at.Add(time.Duration(i)*time.Second)), true)
	}
	s := p.subjects[0]["a"]
	s.Fold(1)
	ms := &s.m[0]
	if ms.cats[1] != "http" || ms.f.long[1] != 999 || ms.f.long[rareSlot] != 1 || ms.cats[2] != "" {
		t.Errorf("after the first update: cats %q long %v", ms.cats, ms.f.long)
	}
	s.Fold(7) // a week with nothing: half the weight
	if math.Abs(float64(ms.f.long[1])-499.5) > 0.5 {
		t.Errorf("after a week: %v", ms.f.long)
	}
	if k := ms.slot("finger"); k != 2 {
		t.Errorf("a new category took slot %d, want the freed 2", k)
	}
}

func TestNextBoundary(t *testing.T) {
	cases := []struct {
		t, want time.Time
	}{
		{t0, t0.Add(3 * time.Hour)},
		{t0.Add(3 * time.Hour), t0.Add(27 * time.Hour)},
		{t0.Add(2*time.Hour + 59*time.Minute), t0.Add(3 * time.Hour)},
		{t0.Add(23 * time.Hour), t0.Add(27 * time.Hour)},
	}
	for _, c := range cases {
		if got := nextBoundary(c.t, 24*time.Hour, 3*time.Hour); !got.Equal(c.want) {
			t.Errorf("after %v: %v, want %v", c.t, got, c.want)
		}
	}
}

func TestHist(t *testing.T) {
	var h hist
	for i := range 1000 {
		h.add(float64(i % 10))
	}
	cases := []struct {
		v       float64
		tailMin float64
		tailMax float64
	}{
		{0, 0.9, 1},
		{100, 0, 0},
		{9, 0.02, 0.3}, // shares a bin with 6, 7 and 8
	}
	for _, c := range cases {
		if p := h.tail(c.v); p < c.tailMin || p > c.tailMax {
			t.Errorf("tail(%v) = %v, want %v..%v", c.v, p, c.tailMin, c.tailMax)
		}
	}
	if q := h.percentile(0.5); q < 3 || q > 7 {
		t.Errorf("median %v", q)
	}
	h.age(0.5)
	if h.total != 500 {
		t.Errorf("aged total %v", h.total)
	}
	for _, c := range []struct{ p, s float64 }{{1, 0}, {0.05, 1.96}, {0.01, 2.576}} {
		if s := normalScore(c.p); math.Abs(s-c.s) > 0.01 {
			t.Errorf("S(%v) = %v, want %v", c.p, s, c.s)
		}
	}
}

func TestBusinessHours(t *testing.T) {
	c := serviceClass()
	c.BusinessHours = [2]time.Duration{8 * time.Hour, 18 * time.Hour}
	p := New([]*Class{c}, Options{})
	p.Observe(conn("a", "http", 1, t0.Add(9*time.Hour)), true)                 // Monday 09:00
	p.Observe(conn("a", "http", 1, t0.Add(20*time.Hour)), true)                // Monday 20:00
	p.Observe(conn("a", "http", 1, t0.Add(5*24*time.Hour+10*time.Hour)), true) // Saturday 10:00
	if len(p.subjects[0]) != 2 || p.subjects[0]["a|business"].events != 1 || p.subjects[0]["a|off-hours"].events != 2 {
		t.Errorf("partitions: %v", keys(p.subjects[0]))
	}
}

func keys(m map[string]*Subject) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestKeyOf(t *testing.T) {
	ev := &event.Event{Type: "NET.FTP", Host: "gw", Attrs: map[string]any{"src": "198.51.100.7", "sport": int64(40123), "user": "anonymous"}}
	cases := []struct{ spec, want string }{
		{"src", "198.51.100.7"},
		{"src,sport", "198.51.100.7,40123"},
		{"src, sport", "198.51.100.7,40123"},
		{"=anonymous", "anonymous"},
		{"host", "gw"},
		{"dst", ""},
		{"src,dst", ""},
	}
	for _, c := range cases {
		if got := keyOf(ev, c.spec); got != c.want {
			t.Errorf("%q: %q, want %q", c.spec, got, c.want)
		}
	}
}

// TestNewSubjectStartsFromClass checks that a subject never seen before
// is judged by what the class knows from the start: ready at its first
// event, an ordinary event ranks lower than an odd one, and it learns on
// its own from there (the class's profile is not changed by its own).
func TestNewSubjectStartsFromClass(t *testing.T) {
	p := New([]*Class{serviceClass()}, Options{})
	rng := rand.New(rand.NewPCG(9, 10))
	for d := range 4 {
		normalDay(p, rng, "a", t0.Add(time.Duration(d)*24*time.Hour))
	}
	at := t0.Add(4*24*time.Hour + time.Hour)
	first := p.Observe(conn("b", "http", 3000, at), true)[0]
	if !first.Ready {
		t.Fatalf("a new subject is not ready: %+v", first.Score)
	}
	var odd Result
	for i := range 10 {
		odd = p.Observe(conn("c", "telnet", 400000, at.Add(time.Duration(i)*time.Second)), true)[0]
	}
	if !(odd.Rank >= 0.99 && odd.T2 > first.T2) {
		t.Errorf("a new subject's odd events: %+v (an ordinary one's T2 %.1f)", odd.Score, first.T2)
	}
	if s := p.subjects[0]["c"]; s.m[0].f.period[s.m[0].find(&s.class.Measures[0], value{cat: "telnet"})] != 10 {
		t.Errorf("the new subject did not learn its own events")
	}
}
