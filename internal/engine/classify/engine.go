// Package classify is the process classifier engine (seed 001): it keeps,
// per process (host, pid), the latest count vectors of its system calls,
// classifies each full sequence with a trained model (internal/learn) and
// reports a process whose calls are not those of what it presents itself
// as: a novel behaviour of a known program, a known-bad tool (non-grata),
// or another known program under its name (masquerade).
package classify

import (
	"container/list"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/learn"
)

// Scenarios a report names (its model).
const (
	ScenarioNovelty    = "novelty"
	ScenarioNonGrata   = "non-grata"
	ScenarioMasquerade = "masquerade"
)

// NonGrataPrefix starts the class names of known-bad tools in a model
// (learn.ReadRecordings labels nongrata/<x>.jsonl "nongrata:<x>").
const NonGrataPrefix = "nongrata:"

var scenarios = [...]string{ScenarioNovelty, ScenarioNonGrata, ScenarioMasquerade}

// Options configure an Engine.
type Options struct {
	Stride       int
	Confidence   float64
	Suppress     time.Duration
	MaxProcesses int
	Expire       time.Duration
	Top          int
	// NoveltyBelow caps every class's novelty threshold: a process is
	// novel only when its class's probability is below both its class's
	// threshold from training and this (default DefaultNoveltyBelow).
	NoveltyBelow float64
	// Persist is how many consecutive classified sequences of a process
	// must show the same scenario before it is reported (default 1).
	Persist int
	Logger  *slog.Logger
	// OnSequence, when set, is told every classification (evaluations).
	OnSequence func(Sequence)
}

// Sequence is one classification of a process's sequence.
type Sequence struct {
	Host     string
	PID      int32
	Process  string
	End      time.Time // the end of the sequence's last interval
	Prob     []float64 // per class of the model file
	Top      int       // the most probable class
	Known    bool      // the process's name is a class
	Scenario string    // what it shows ("": nothing), before suppression
}

// Stats are an engine's counters.
type Stats struct {
	Vectors    uint64 // vectors taken
	Ignored    uint64 // vectors not after their process's last (repeated, out of order)
	Mismatched uint64 // vectors of another interval than the model's, ignored
	Sequences  uint64 // sequences classified
	Processes  int    // processes followed now
	Evicted    uint64 // processes forgotten because of max_processes
	Expired    uint64 // processes forgotten because they went quiet
	Reports    uint64 // reports made
	HeldBack   uint64 // reports held back by suppression
	Restarted  uint64 // sequences broken by a gap or a new program under the pid
}

// Engine classifies processes' count-vector sequences. Its methods are
// called from one goroutine at a time (engine.Engine).
type Engine struct {
	f        *learn.File
	o        Options
	seqLen   int
	dim      int
	interval time.Duration
	class    map[string]int // class name -> index
	nongrata []bool         // per class
	novelty  []float64      // per class: the novelty threshold (NaN: none)

	procs map[procKey]*list.Element // of *proc
	lru   *list.List                // front: most recently seen
	st    Stats
	free  [][][]count // rings of forgotten processes, reused
	dense *learn.Densifier
	seq   [][]float64 // the dense sequence classify hands the model, reused
}

// count is one system call count of a vector kept in a ring: its entry in
// the model's dense vectors and the count. A ring keeps a process's
// vectors sparse (the few dozen calls it makes, not every feature); they
// are made dense only when the process's sequence is classified.
type count struct {
	i int32
	n float64
}

type procKey struct {
	host string
	pid  int32
}

// proc is one process followed.
type proc struct {
	key        procKey
	ip         string
	name, exe  string
	ring       [][]count // seqLen vectors; ring[(head+i)%seqLen] is the i-th oldest
	head, n    int
	fresh      int       // vectors since the last classification
	last       time.Time // start of the latest vector
	first      time.Time // start of the oldest vector in the ring
	lastReport [len(scenarios)]time.Time
	held       [len(scenarios)]uint64
	streak     [len(scenarios)]int // consecutive sequences showing each scenario
}

// New makes an engine around a loaded model file.
func New(f *learn.File, o Options) (*Engine, error) {
	if f == nil || f.Model == nil {
		return nil, fmt.Errorf("classify: no model")
	}
	e := &Engine{f: f, o: o, seqLen: f.SeqLen, dim: len(f.Features) + 1, interval: f.Interval,
		class: map[string]int{}, procs: map[procKey]*list.Element{}, lru: list.New(),
		dense: learn.NewDensifier(f.Features)}
	if e.seqLen <= 0 {
		e.seqLen = learn.SeqLen
	}
	e.seq = make([][]float64, e.seqLen)
	for i := range e.seq {
		e.seq[i] = make([]float64, e.dim)
	}
	if e.interval <= 0 {
		e.interval = time.Second
	}
	if e.o.Stride <= 0 || e.o.Stride > e.seqLen {
		e.o.Stride = e.seqLen
	}
	if e.o.Confidence <= 0 {
		e.o.Confidence = DefaultConfidence
	}
	if e.o.MaxProcesses <= 0 {
		e.o.MaxProcesses = DefaultMaxProcesses
	}
	if e.o.Expire <= 0 {
		e.o.Expire = DefaultExpire
	}
	if e.o.Top <= 0 {
		e.o.Top = DefaultTop
	}
	if !(e.o.NoveltyBelow > 0) || e.o.NoveltyBelow > 1 {
		e.o.NoveltyBelow = DefaultNoveltyBelow
	}
	if e.o.Persist <= 0 {
		e.o.Persist = 1
	}
	if e.o.Logger == nil {
		e.o.Logger = slog.Default()
	}
	e.nongrata = make([]bool, len(f.Classes))
	e.novelty = make([]float64, len(f.Classes))
	for i, c := range f.Classes {
		e.class[c] = i
		e.nongrata[i] = strings.HasPrefix(c, NonGrataPrefix)
		e.novelty[i] = math.NaN()
		if t, ok := f.Novelty[c]; ok && !e.nongrata[i] {
			e.novelty[i] = math.Min(t, e.o.NoveltyBelow)
		}
	}
	return e, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.st
	s.Processes = len(e.procs)
	return s
}

// Observe takes one count vector and emits what its process's sequence,
// when one is due, shows.
func (e *Engine) Observe(v *event.CountVector, emit engine.Emit) {
	if d := v.Interval - e.interval; d > e.interval/4 || d < -e.interval/4 {
		// The agent's intervals are measured, a little off the nominal
		// length; a model of 1 s vectors says nothing of 5 s ones.
		if e.st.Mismatched == 0 {
			e.o.Logger.Warn("count vectors of another interval than the model's are ignored", "interval", v.Interval, "model_interval", e.interval, "host", v.Host)
		}
		e.st.Mismatched++
		return
	}
	k := procKey{v.Host, v.PID}
	var p *proc
	if el, ok := e.procs[k]; ok {
		e.lru.MoveToFront(el)
		p = el.Value.(*proc)
		if !v.Start.After(p.last) {
			e.st.Ignored++
			return
		}
		if v.Exe != "" && p.exe == "" && v.Process == p.name {
			p.exe = v.Exe // known now (an agent reads it from /proc)
		}
		if v.Process != p.name || v.Exe != "" && v.Exe != p.exe {
			// Another program under the pid (an exec, a reused pid); an
			// executable not known this time (the process has exited)
			// changes nothing.
			e.restart(p)
			p.lastReport, p.held = [len(scenarios)]time.Time{}, [len(scenarios)]uint64{}
			p.name, p.exe = v.Process, v.Exe
		} else if p.n > 0 {
			if v.Start.Sub(p.last) < e.interval/2 {
				// Part of the latest interval (learn.Build adds it).
				e.st.Vectors++
				last := &p.ring[(p.head+p.n-1)%e.seqLen]
				*last = e.appendCounts(*last, v)
				return
			}
			e.fillGap(p, v.Start)
		}
	} else {
		p = e.add(k, v)
	}
	e.st.Vectors++
	p.ip = v.IP
	p.last = v.Start
	e.push(p, v)
	if p.n < e.seqLen || p.fresh < e.o.Stride {
		return
	}
	p.fresh = 0
	e.classify(p, v, emit)
}

// add starts following a process, forgetting the least recently seen one
// when there are as many as allowed.
func (e *Engine) add(k procKey, v *event.CountVector) *proc {
	var ring [][]count
	if len(e.procs) >= e.o.MaxProcesses {
		old := e.lru.Back()
		op := old.Value.(*proc)
		e.forget(old)
		e.st.Evicted++
		ring = op.ring
	} else if n := len(e.free); n > 0 {
		ring, e.free = e.free[n-1], e.free[:n-1]
	}
	if ring == nil {
		ring = make([][]count, e.seqLen)
	}
	p := &proc{key: k, name: v.Process, exe: v.Exe, ring: ring}
	e.procs[k] = e.lru.PushFront(p)
	return p
}

func (e *Engine) forget(el *list.Element) {
	p := el.Value.(*proc)
	e.lru.Remove(el)
	delete(e.procs, p.key)
}

func (e *Engine) restart(p *proc) {
	if p.n > 0 {
		e.st.Restarted++
	}
	p.head, p.n, p.fresh = 0, 0, 0
	p.streak = [len(scenarios)]int{}
}

// fillGap follows the training data's rule (learn.Build): intervals a
// process made no call in are zero vectors, up to seqLen-1 of them; a
// longer silence starts its sequence again.
func (e *Engine) fillGap(p *proc, start time.Time) {
	gap := start.Sub(p.last)
	if gap <= e.interval*3/2 {
		return
	}
	missing := int((gap+e.interval/2)/e.interval) - 1
	if missing > e.seqLen-1 {
		e.restart(p)
		return
	}
	for range missing {
		e.push(p, nil)
	}
}

// push appends v's counts (nil: none) to p's ring.
func (e *Engine) push(p *proc, v *event.CountVector) {
	var slot *[]count
	if p.n < e.seqLen {
		slot = &p.ring[(p.head+p.n)%e.seqLen]
		p.n++
	} else {
		slot = &p.ring[p.head]
		p.head = (p.head + 1) % e.seqLen
	}
	*slot = (*slot)[:0]
	if v != nil {
		*slot = e.appendCounts(*slot, v)
	}
	p.fresh++
}

// appendCounts appends v's counts to a ring's vector. A vector that grows
// past the model's dimension (parts of one interval added again and
// again) is compacted to one count per entry, so that it stays bounded.
func (e *Engine) appendCounts(cs []count, v *event.CountVector) []count {
	for _, c := range v.Counts {
		cs = append(cs, count{int32(e.dense.Entry(c.Nr)), float64(c.Count)})
	}
	if len(cs) <= e.dim {
		return cs
	}
	row := e.seq[0]
	clear(row)
	for _, c := range cs {
		row[c.i] += c.n
	}
	cs = cs[:0]
	for i, n := range row {
		if n != 0 {
			cs = append(cs, count{int32(i), n})
		}
	}
	return cs
}

// classify runs the model on p's sequence and reports what it shows.
func (e *Engine) classify(p *proc, v *event.CountVector, emit engine.Emit) {
	x := e.seq
	for i, row := range x {
		clear(row)
		for _, c := range p.ring[(p.head+i)%e.seqLen] {
			row[c.i] += c.n
		}
	}
	prob := e.f.Model.Predict(x)
	e.st.Sequences++
	if len(prob) != len(e.f.Classes) {
		e.o.Logger.Warn("model answered the wrong number of probabilities", "got", len(prob), "classes", len(e.f.Classes))
		return
	}
	top := 0
	for i, q := range prob {
		if q > prob[top] {
			top = i
		}
	}
	presented, known := e.class[p.name]
	scenario := -1
	switch {
	case e.nongrata[top] && prob[top] >= e.o.Confidence:
		scenario = 1
	case !known:
		// Only non-grata applies to a name the model does not know.
	case top != presented && !e.nongrata[top] && e.f.Classes[top] != learn.OtherClass && prob[top] >= e.o.Confidence:
		scenario = 2
	case !math.IsNaN(e.novelty[presented]) && prob[presented] < e.novelty[presented]:
		scenario = 0
	}
	at := v.Start.Add(v.Interval)
	if e.o.OnSequence != nil {
		sq := Sequence{Host: p.key.host, PID: p.key.pid, Process: p.name, End: at, Prob: prob, Top: top, Known: known}
		if scenario >= 0 {
			sq.Scenario = scenarios[scenario]
		}
		e.o.OnSequence(sq)
	}
	for i := range p.streak {
		if i == scenario {
			p.streak[i]++
		} else {
			p.streak[i] = 0
		}
	}
	if scenario < 0 || p.streak[scenario] < e.o.Persist {
		return
	}
	if last := p.lastReport[scenario]; !last.IsZero() && at.Sub(last) < e.o.Suppress {
		p.held[scenario]++
		e.st.HeldBack++
		return
	}
	p.lastReport[scenario] = at
	held := p.held[scenario]
	p.held[scenario] = 0
	e.st.Reports++
	emit(e.report(p, scenario, prob, top, presented, known, at, held))
}

// report builds the report of one scenario.
func (e *Engine) report(p *proc, scenario int, prob []float64, top, presented int, known bool, at time.Time, held uint64) event.Report {
	name := scenarios[scenario]
	end := p.last.Add(e.interval)
	start := end.Add(-time.Duration(e.seqLen) * e.interval)
	topName := e.f.Classes[top]
	r := event.Report{Time: at, Model: "classify:" + name, Host: p.key.host, IP: p.ip,
		Attrs: map[string]any{
			"scenario": name, "pid": int64(p.key.pid), "process": p.name, "class": topName,
			"probability": round3(prob[top]), "probabilities": e.topClasses(prob),
			"model_kind": e.f.Kind, "sequence_start": start.UTC().Format(time.RFC3339Nano),
			"sequence_end": end.UTC().Format(time.RFC3339Nano),
		}}
	if p.exe != "" {
		r.Attrs["exe"] = p.exe
	}
	if known {
		r.Attrs["presented_probability"] = round3(prob[presented])
	}
	if held > 0 {
		r.Attrs["held_back"] = int64(held)
	}
	who := fmt.Sprintf("%s pid %d %s", strconv.Quote(p.key.host), p.key.pid, strconv.Quote(p.name))
	if p.exe != "" {
		who += " (" + strconv.Quote(p.exe) + ")"
	}
	switch scenario {
	case 0:
		thr := e.novelty[presented]
		r.Severity, r.State, r.Score = event.SeverityYellow, "Novel", clamp01(1-prob[presented])
		r.Attrs["threshold"] = round3(thr)
		r.Explanation = fmt.Sprintf("%s behaves unlike %s: its class's probability %.3f is below the novelty threshold %.3f (most like %s, %.3f)",
			who, strconv.Quote(p.name), prob[presented], thr, strconv.Quote(topName), prob[top])
	case 1:
		r.Severity, r.State, r.Score = event.SeverityRed, "NonGrata", clamp01(prob[top])
		r.Explanation = fmt.Sprintf("%s makes the system calls of the known-bad tool %s (probability %.3f)",
			who, strconv.Quote(strings.TrimPrefix(topName, NonGrataPrefix)), prob[top])
		if known {
			// A known-bad tool under the name of a known process is a
			// masquerade too (a shell renamed sshd).
			r.Attrs["masquerade"] = true
			r.Explanation = fmt.Sprintf("%s presents itself as %s but makes the system calls of the known-bad tool %s (probability %.3f; %s %.3f)",
				who, strconv.Quote(p.name), strconv.Quote(strings.TrimPrefix(topName, NonGrataPrefix)), prob[top], strconv.Quote(p.name), prob[presented])
		}
	case 2:
		r.Severity, r.State, r.Score = event.SeverityRed, "Masquerading", clamp01(prob[top])
		r.Explanation = fmt.Sprintf("%s presents itself as %s but makes the system calls of %s (probability %.3f; %s %.3f)",
			who, strconv.Quote(p.name), strconv.Quote(topName), prob[top], strconv.Quote(p.name), prob[presented])
	}
	if len(r.Explanation) > event.MaxExplanationLen {
		r.Explanation = r.Explanation[:event.MaxExplanationLen]
	}
	return r
}

// topClasses lists the most probable classes as "class=probability".
func (e *Engine) topClasses(prob []float64) []string {
	idx := make([]int, len(prob))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return prob[idx[a]] > prob[idx[b]] })
	n := min(e.o.Top, len(idx))
	out := make([]string, n)
	for i := range n {
		out[i] = e.f.Classes[idx[i]] + "=" + strconv.FormatFloat(round3(prob[idx[i]]), 'f', -1, 64)
	}
	return out
}

// Expire forgets the processes that sent nothing since now-Expire.
func (e *Engine) Expire(now time.Time) {
	for el := e.lru.Back(); el != nil; {
		p := el.Value.(*proc)
		if now.Sub(p.last) <= e.o.Expire {
			return // the rest were seen later
		}
		prev := el.Prev()
		e.forget(el)
		e.st.Expired++
		if len(e.free) < 1024 {
			e.free = append(e.free, p.ring)
		}
		el = prev
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}
