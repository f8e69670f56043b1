package classify

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
)

// Synthetic behaviours over four features (read, write, close, openat)
// and "other": what each class's vectors mostly call.
var behaviours = map[string][]float64{
	"nginx":          {0.45, 0.45, 0.04, 0.04, 0.02},
	"sshd":           {0.05, 0.05, 0.40, 0.40, 0.10},
	"nongrata:miner": {0.02, 0.02, 0.01, 0.01, 0.94},
}

var testFeatures = []uint16{0, 1, 3, 257}

// otherNr is a system call outside the features, far beyond them.
const otherNr = 450

// vectorOf makes a count vector of host/pid/name at start that behaves
// like mix (weights over behaviours), with some noise from rng.
func vectorOf(rng *rand.Rand, host string, pid int32, name string, start time.Time, mix map[string]float64) *event.CountVector {
	p := make([]float64, len(testFeatures)+1)
	for b, w := range mix {
		for i, q := range behaviours[b] {
			p[i] += w * q
		}
	}
	v := &event.CountVector{Host: host, PID: pid, Process: name, Exe: "/usr/sbin/" + name, Start: start, Interval: time.Second}
	for i, q := range p {
		n := uint64(q*1000*(0.8+0.4*rng.Float64()) + 0.5)
		if n == 0 {
			continue
		}
		nr := uint16(otherNr)
		if i < len(testFeatures) {
			nr = testFeatures[i]
		}
		v.Counts = append(v.Counts, event.SyscallCount{Nr: nr, Count: n})
	}
	sortCounts(v.Counts)
	return v
}

func sortCounts(cs []event.SyscallCount) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].Nr < cs[j-1].Nr; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func sequence(rng *rand.Rand, host string, pid int32, name string, t0 time.Time, n int, mix map[string]float64) []*event.CountVector {
	out := make([]*event.CountVector, n)
	for i := range out {
		out[i] = vectorOf(rng, host, pid, name, t0.Add(time.Duration(i)*time.Second), mix)
	}
	return out
}

func one(b string) map[string]float64 { return map[string]float64{b: 1} }

// recorder collects an engine's reports.
type recorder struct{ reps []event.Report }

func (r *recorder) emit(rep event.Report) { r.reps = append(r.reps, rep) }

func (r *recorder) scenarios() []string {
	var out []string
	for _, rep := range r.reps {
		out = append(out, rep.Attrs["scenario"].(string))
	}
	return out
}

func newTestEngine(t testing.TB, o Options) *Engine {
	t.Helper()
	e, err := New(testFile(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var t0 = time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)

func feed(e *Engine, rec *recorder, vs []*event.CountVector) {
	for _, v := range vs {
		e.Observe(v, rec.emit)
	}
}

// A known program that behaves like itself raises nothing, however long
// it runs.
func TestKnownProcessRaisesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	e := newTestEngine(t, Options{})
	var rec recorder
	feed(e, &rec, sequence(rng, "web1", 100, "nginx", t0, 300, one("nginx")))
	feed(e, &rec, sequence(rng, "web1", 101, "sshd", t0, 300, one("sshd")))
	if len(rec.reps) != 0 {
		t.Fatalf("reports about well-behaved processes: %v", rec.scenarios())
	}
	if s := e.Stats(); s.Sequences != 60 || s.Vectors != 600 {
		t.Fatalf("stats %+v: want 60 sequences of 600 vectors (one per 10 new vectors)", s)
	}
}

// Each scenario is reported, with the process as subject and the class
// probabilities as attributes.
func TestScenariosReported(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name, process string
		mix           map[string]float64
		want          string // "" = nothing
		state         string
		sev           event.Severity
	}{
		{"masquerade: sshd's calls under nginx's name", "nginx", one("sshd"), ScenarioMasquerade, "Masquerading", event.SeverityRed},
		{"non-grata under a known name", "nginx", one("nongrata:miner"), ScenarioNonGrata, "NonGrata", event.SeverityRed},
		{"non-grata under an unknown name", "kworker", one("nongrata:miner"), ScenarioNonGrata, "NonGrata", event.SeverityRed},
		{"novelty: more like sshd than nginx, but not confidently sshd", "nginx", map[string]float64{"nginx": 0.4, "sshd": 0.6}, ScenarioNovelty, "Novel", event.SeverityYellow},
		{"unknown name behaving like a known program: only non-grata applies", "myapp", one("sshd"), "", "", 0},
		{"unknown name with an unclear behaviour", "myapp", map[string]float64{"nginx": 0.5, "sshd": 0.5}, "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			var rec recorder
			feed(e, &rec, sequence(rng, "web1", 4242, c.process, t0, 10, c.mix))
			if c.want == "" {
				if len(rec.reps) != 0 {
					t.Fatalf("reported %v, want nothing", rec.scenarios())
				}
				return
			}
			if len(rec.reps) != 1 {
				t.Fatalf("reports %v, want one %s", rec.scenarios(), c.want)
			}
			r := rec.reps[0]
			if r.Attrs["scenario"] != c.want || r.Model != "classify:"+c.want || r.State != c.state || r.Severity != c.sev {
				t.Fatalf("report %+v: want scenario %s, state %s, severity %v", r, c.want, c.state, c.sev)
			}
			if r.Host != "web1" || r.Attrs["pid"] != int64(4242) || r.Attrs["process"] != c.process || r.Attrs["exe"] != "/usr/sbin/"+c.process {
				t.Fatalf("subject: host %q attrs %v", r.Host, r.Attrs)
			}
			if want := t0.Add(10 * time.Second); !r.Time.Equal(want) {
				t.Fatalf("report time %v, want the end of the sequence %v", r.Time, want)
			}
			probs := r.Attrs["probabilities"].([]string)
			if len(probs) != DefaultTop {
				t.Fatalf("probabilities %v: want the top %d", probs, DefaultTop)
			}
			if !(r.Score >= 0 && r.Score <= 1) || r.Explanation == "" {
				t.Fatalf("score %v explanation %q", r.Score, r.Explanation)
			}
			switch c.want {
			case ScenarioMasquerade:
				if r.Attrs["class"] != "sshd" || !strings.HasPrefix(probs[0], "sshd=") {
					t.Fatalf("masquerade as %v, probabilities %v: want sshd first", r.Attrs["class"], probs)
				}
			case ScenarioNonGrata:
				if r.Attrs["class"] != "nongrata:miner" || r.Attrs["probability"].(float64) < DefaultConfidence {
					t.Fatalf("non-grata class %v probability %v", r.Attrs["class"], r.Attrs["probability"])
				}
				// Under a known process's name it masquerades as well.
				if masq := r.Attrs["masquerade"] == true; masq != (c.process == "nginx") || masq != strings.Contains(r.Explanation, "presents itself as") {
					t.Fatalf("%s: masquerade attribute %v, explanation %q", c.process, r.Attrs["masquerade"], r.Explanation)
				}
			case ScenarioNovelty:
				if p := r.Attrs["presented_probability"].(float64); p >= r.Attrs["threshold"].(float64) {
					t.Fatalf("novelty with nginx's probability %v not below its threshold %v", p, r.Attrs["threshold"])
				}
			}
		})
	}
}

// A process reported is not reported again for the same scenario within
// the suppress time; the next report says how many were held back.
func TestSuppressionPerProcessAndScenario(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	e := newTestEngine(t, Options{Suppress: 2 * time.Minute})
	var rec recorder
	// 100 s of masquerade: ten sequences, one report, nine held back.
	feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0, 100, one("sshd")))
	// Another process at the same time is reported on its own.
	feed(e, &rec, sequence(rng, "web1", 8, "nginx", t0, 10, one("sshd")))
	if got := rec.scenarios(); len(got) != 2 {
		t.Fatalf("reports %v, want one per process", got)
	}
	// The same process, now non-grata: another scenario, reported.
	feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0.Add(100*time.Second), 10, one("nongrata:miner")))
	if got := rec.scenarios(); len(got) != 3 || got[2] != ScenarioNonGrata {
		t.Fatalf("reports %v, want a non-grata report third", got)
	}
	// Masquerade again: the sequence ending at 120 s is within two
	// minutes of the first report (10 s), held back; the one ending at
	// 130 s is reported, saying ten were held back.
	feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0.Add(110*time.Second), 20, one("sshd")))
	if got := rec.scenarios(); len(got) != 4 || got[3] != ScenarioMasquerade {
		t.Fatalf("reports %v, want a masquerade report fourth", got)
	}
	if h := rec.reps[3].Attrs["held_back"]; h != int64(10) {
		t.Fatalf("held_back %v, want 10", h)
	}
	if s := e.Stats(); s.HeldBack != 10 || s.Reports != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// With a stride of 1 every new vector after the first full sequence
// classifies the latest sequence.
func TestStride(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	e := newTestEngine(t, Options{Stride: 1})
	var rec recorder
	feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0, 25, one("nginx")))
	if s := e.Stats(); s.Sequences != 16 {
		t.Fatalf("%d sequences classified, want 16", s.Sequences)
	}
}

// A vector repeated or out of order is ignored; a silence longer than a
// sequence starts the sequence again, a shorter one counts as idle
// (zero) vectors; a new program under the pid starts again too.
func TestSequenceContinuity(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	e := newTestEngine(t, Options{})
	var rec recorder
	vs := sequence(rng, "web1", 7, "nginx", t0, 9, one("nginx"))
	feed(e, &rec, vs)
	feed(e, &rec, vs[3:5]) // repeated
	if s := e.Stats(); s.Ignored != 2 || s.Sequences != 0 {
		t.Fatalf("stats %+v: want 2 ignored, nothing classified", s)
	}
	// 3 s of silence: two idle vectors, so the tenth comes with the 8th
	// real one after... here: the 9 real + 2 idle = 11 >= 10.
	feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0.Add(11*time.Second), 1, one("nginx")))
	if s := e.Stats(); s.Sequences != 1 {
		t.Fatalf("stats %+v: want the idle seconds to complete a sequence", s)
	}
	// A minute of silence: the sequence starts again.
	feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0.Add(80*time.Second), 9, one("nginx")))
	if s := e.Stats(); s.Sequences != 1 || s.Restarted != 1 {
		t.Fatalf("stats %+v: want the sequence started again", s)
	}
	// The executable unknown in one vector (the process exited before
	// the agent read it) is the same process.
	gone := sequence(rng, "web1", 7, "nginx", t0.Add(89*time.Second), 1, one("nginx"))
	gone[0].Exe = ""
	feed(e, &rec, gone)
	if s := e.Stats(); s.Restarted != 1 || s.Sequences != 2 {
		t.Fatalf("stats %+v: a vector without the executable started the sequence again", s)
	}
	// An exec: another name under the pid starts again.
	feed(e, &rec, sequence(rng, "web1", 7, "sshd", t0.Add(90*time.Second), 9, one("sshd")))
	if s := e.Stats(); s.Sequences != 2 || s.Restarted != 2 {
		t.Fatalf("stats %+v: want the sequence started again for the new program", s)
	}
	if len(rec.reps) != 0 {
		t.Fatalf("reports %v", rec.scenarios())
	}
}

// A flood of 100,000 processes keeps at most max_processes, forgetting
// the least recently seen (counted), in bounded memory; processes that go
// quiet expire.
func TestBoundedUnderPidFlood(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const max = 5000
	e := newTestEngine(t, Options{MaxProcesses: max, Expire: time.Minute})
	var rec recorder
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v := vectorOf(rng, "web1", 0, "nginx", t0, one("nginx"))
	for pid := int32(1); pid <= 100_000; pid++ {
		cp := *v
		cp.PID = pid
		e.Observe(&cp, rec.emit)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := e.Stats()
	if s.Processes != max || s.Evicted != 100_000-max {
		t.Fatalf("stats %+v: want %d followed, %d evicted", s, max, 100_000-max)
	}
	// Each process holds at most 10 vectors of at most 5 counts (16 bytes
	// each): 800 bytes, plus its bookkeeping; allow 2 KiB each.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > max*2048 {
		t.Fatalf("heap grew %d bytes for %d processes", grown, max)
	}
	// The most recent pids are the ones kept.
	if _, ok := e.procs[procKey{"web1", 100_000}]; !ok {
		t.Fatal("the latest process was forgotten")
	}
	e.Expire(t0.Add(2 * time.Minute))
	if s := e.Stats(); s.Processes != 0 || s.Expired != max {
		t.Fatalf("stats %+v after expiry", s)
	}
}

// Vectors with system calls outside the model's features (numbers far
// beyond them) count as "other", never fail.
func TestUnknownSyscallsCountAsOther(t *testing.T) {
	e := newTestEngine(t, Options{})
	var rec recorder
	for i := range 10 {
		v := &event.CountVector{Host: "web1", PID: 9, Process: "nginx", Start: t0.Add(time.Duration(i) * time.Second), Interval: time.Second,
			Counts: []event.SyscallCount{{Nr: 333, Count: 500}, {Nr: 460, Count: 400}, {Nr: event.MaxSyscallNr, Count: 100}}}
		e.Observe(v, rec.emit)
	}
	// All "other": like the miner.
	if got := rec.scenarios(); len(got) != 1 || got[0] != ScenarioNonGrata {
		t.Fatalf("reports %v, want one non-grata (every call is 'other')", got)
	}
	x := learn.Dense(&event.CountVector{Counts: []event.SyscallCount{{Nr: 1, Count: 2}, {Nr: 999, Count: 3}}}, testFeatures)
	if len(x) != len(testFeatures)+1 || x[1] != 2 || x[len(testFeatures)] != 3 || math.IsNaN(x[0]) {
		t.Fatalf("dense %v", x)
	}
}

// capture is the centroid model that keeps a copy of every sequence it is
// given.
type capture struct {
	centroid
	seen [][][]float64
}

func (c *capture) Predict(x [][]float64) []float64 {
	cp := make([][]float64, len(x))
	for i, v := range x {
		cp[i] = append([]float64(nil), v...)
	}
	c.seen = append(c.seen, cp)
	return c.centroid.Predict(x)
}

// A process whose intervals come in many parts (each part's start within
// half an interval of the interval's) is classified on the parts' sums:
// every vector of its sequences but the latest (classified when its first
// part comes) is exactly what its whole vectors give. The engine keeps
// each interval in bounded memory however many parts it has.
func TestPartsOfOneIntervalAddUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	whole := sequence(rng, "web1", 7, "nginx", t0, 25, map[string]float64{"nginx": 0.7, "sshd": 0.3})
	run := func(parts int) (*Engine, *capture) {
		f := testFile(t)
		m := &capture{centroid: f.Model.(centroid)}
		f.Model = m
		e, err := New(f, Options{Stride: 3})
		if err != nil {
			t.Fatal(err)
		}
		var rec recorder
		for _, v := range whole {
			for j := range parts {
				part := *v
				part.Start = v.Start.Add(time.Duration(j) * time.Millisecond)
				part.Counts = nil
				for _, c := range v.Counts {
					n := c.Count / uint64(parts)
					if j == 0 {
						n += c.Count % uint64(parts)
					}
					part.Counts = append(part.Counts, event.SyscallCount{Nr: c.Nr, Count: n})
				}
				e.Observe(&part, rec.emit)
			}
		}
		return e, m
	}
	_, one := run(1)
	e, many := run(200)
	if len(one.seen) != 6 || len(many.seen) != len(one.seen) {
		t.Fatalf("%d sequences from whole vectors, %d from parts: want 6 each", len(one.seen), len(many.seen))
	}
	for i := range one.seen {
		for j := range len(one.seen[i]) - 1 {
			if !slices.Equal(one.seen[i][j], many.seen[i][j]) {
				t.Fatalf("sequence %d vector %d: %v from parts, %v from whole vectors", i, j, many.seen[i][j], one.seen[i][j])
			}
		}
	}
	p := e.procs[procKey{"web1", 7}].Value.(*proc)
	for i, cs := range p.ring {
		if len(cs) > e.dim {
			t.Errorf("ring vector %d holds %d counts, more than the %d entries of a dense one", i, len(cs), e.dim)
		}
	}
}

// A process whose own class is still the likelier answer is not novel by
// default, whatever threshold training set; novelty_below raises the cap.
func TestNoveltyThresholdCapped(t *testing.T) {
	for _, c := range []struct {
		below float64
		want  int
	}{{0, 0}, {0.6, 1}} {
		rng := rand.New(rand.NewPCG(3, 4))
		e := newTestEngine(t, Options{NoveltyBelow: c.below})
		var rec recorder
		// About half like each: nginx's probability 0.50 to 0.56, below
		// the model's threshold 0.6 but not below the default cap 0.5
		// for most sequences.
		feed(e, &rec, sequence(rng, "web1", 7, "nginx", t0, 10, map[string]float64{"nginx": 0.52, "sshd": 0.48}))
		if got := len(rec.reps); got != c.want {
			t.Errorf("novelty_below %v: %d reports %v, want %d", c.below, got, rec.scenarios(), c.want)
		}
	}
}

// With persist N, a scenario is reported at the N-th consecutive sequence
// that shows it.
func TestPersistNeedsConsecutiveSequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	e := newTestEngine(t, Options{Stride: 1, Persist: 3})
	var rec recorder
	vs := sequence(rng, "web1", 9, "nginx", t0, 12, one("sshd"))
	feed(e, &rec, vs[:11])
	if len(rec.reps) != 0 {
		t.Fatalf("reported after 2 sequences with persist 3: %v", rec.scenarios())
	}
	feed(e, &rec, vs[11:])
	if len(rec.reps) != 1 || rec.reps[0].Attrs["scenario"] != ScenarioMasquerade || !rec.reps[0].Time.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("reports %+v: want one masquerade at the third sequence's end", rec.reps)
	}
}
