package host

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Threshold is how far a new sample must exceed the running average of the
// previous ones to be reported: by more than Abs, in the metric's unit, and
// by more than Rel times the average.
type Threshold struct {
	Abs, Rel float64
}

// exceeds reports whether v is a slope anomaly over avg.
func (t Threshold) exceeds(v, avg float64) bool {
	d := v - avg
	return d > t.Abs && d > t.Rel*avg
}

// DefaultThresholds are the evaluator's slope thresholds by observation
// type, with the unit each applies to.
func DefaultThresholds() map[string]Threshold {
	return map[string]Threshold{
		event.TypeProcCPU:           {Abs: 20},            // percent of one CPU
		event.TypeProcMem:           {Abs: 8, Rel: 0.10},  // MB resident
		event.TypeSysCPU:            {Abs: 15},            // percent of all CPUs
		event.TypeSysMem:            {Abs: 5},             // percent of memory in use
		event.TypeSysDiskIO:         {Abs: 50, Rel: 0.5},  // operations per second
		event.TypeSysNetRX:          {Abs: 1, Rel: 0.5},   // MB per second
		event.TypeSysNetTX:          {Abs: 1, Rel: 0.5},   // MB per second
		event.TypeSysProcsGrowth:    {Abs: 20, Rel: 0.05}, // processes
		event.TypeSysNetSocksGrowth: {Abs: 50, Rel: 0.10}, // active sockets
	}
}

// units name what each threshold measures, for the events' attributes.
var units = map[string]string{
	event.TypeProcCPU: "cpu_pct", event.TypeProcMem: "mem_mb", event.TypeSysCPU: "cpu_pct",
	event.TypeSysMem: "mem_pct", event.TypeSysDiskIO: "ops_per_s", event.TypeSysNetRX: "mb_per_s",
	event.TypeSysNetTX: "mb_per_s", event.TypeSysProcsGrowth: "num_procs", event.TypeSysNetSocksGrowth: "num_socks",
}

// EvalConfig configures an evaluator.
type EvalConfig struct {
	// Window is how many samples the running averages span (default 5).
	Window int
	// Procs limits process monitoring to these names (empty: all); Exclude
	// removes names.
	Procs, Exclude []string
	// Thresholds override DefaultThresholds by type.
	Thresholds map[string]Threshold
	// Levels configure the level observations (off when zero).
	Levels Levels
	// NoSpawn leaves PROC.SPAWN out: the eBPF exec events report every
	// process exactly when they run (internal/sensor/hostevents).
	NoSpawn bool
	// Executable, UID and TCPStates read what is costly to read for every
	// process or every sample, only for what is reported (each optional).
	Executable func(pid int) string
	UID        func(pid int) int
	TCPStates  func() map[string]int
	// User names a user id, for level observations (optional).
	User func(uid int) string
}

// window is a running average over the last n values.
type window struct {
	vals []float64
	next int
	full bool
	sum  float64
}

func newWindow(n int) *window { return &window{vals: make([]float64, n)} }

func (w *window) len() int {
	if w.full {
		return len(w.vals)
	}
	return w.next
}

func (w *window) avg() float64 {
	n := w.len()
	if n == 0 {
		return math.NaN()
	}
	return w.sum / float64(n)
}

func (w *window) push(v float64) {
	if w.full {
		w.sum -= w.vals[w.next]
	}
	w.vals[w.next] = v
	w.sum += v
	w.next++
	if w.next == len(w.vals) {
		w.next, w.full = 0, true
	}
	// Re-add now and then, so rounding errors do not accumulate.
	if w.next == 0 {
		w.sum = 0
		for _, x := range w.vals {
			w.sum += x
		}
	}
}

// procState is what the evaluator remembers of a monitored process.
type procState struct {
	p          Proc
	parentName string
	exe        string
	uid        int // -1 until read
	cpu, mem   *window
	firstSeen  time.Time
	// cpuLevel and memLevel follow the level observations.
	cpuLevel, memLevel level
}

// Evaluator turns successive snapshots into observations: it keeps a
// window of recent samples per metric and reports a sample that exceeds the
// window's average by its threshold, and the discrete events of Table 1.
// It is used from one goroutine.
type Evaluator struct {
	cfg        EvalConfig
	thresholds map[string]Threshold
	include    map[string]bool
	exclude    map[string]bool
	prev       *Snapshot
	procs      map[Key]*procState
	sys        map[string]*window
	// Scratch maps reused from sample to sample.
	names   map[int]string
	parents map[int]int
	seen    map[Key]bool
	// repeat is Levels.Repeat or its default.
	repeat time.Duration
}

// NewEvaluator returns an evaluator with no history.
func NewEvaluator(cfg EvalConfig) *Evaluator {
	if cfg.Window <= 0 {
		cfg.Window = 5
	}
	ev := &Evaluator{cfg: cfg, thresholds: DefaultThresholds(), procs: map[Key]*procState{}, sys: map[string]*window{},
		names: map[int]string{}, parents: map[int]int{}, seen: map[Key]bool{}, repeat: cfg.Levels.Repeat}
	if ev.repeat <= 0 {
		ev.repeat = 10 * time.Minute
	}
	maps.Copy(ev.thresholds, cfg.Thresholds)
	set := func(names []string) map[string]bool {
		if len(names) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	ev.include, ev.exclude = set(cfg.Procs), set(cfg.Exclude)
	return ev
}

// Monitored reports whether processes named name are monitored.
func (ev *Evaluator) Monitored(name string) bool {
	return (ev.include == nil || ev.include[name]) && !ev.exclude[name]
}

// Evaluate compares a snapshot with the history and returns the
// observations it makes, without host, id or source (the agent adds them).
// The first snapshot only starts the history.
func (ev *Evaluator) Evaluate(s *Snapshot) []event.Event {
	var out []event.Event
	emit := func(typ string, attrs map[string]any) {
		out = append(out, event.Event{Time: s.Time, Type: typ, Attrs: attrs})
	}
	first := ev.prev == nil
	ev.evaluateProcs(s, first, emit)
	ev.evaluateSystem(s, emit)
	ev.prev = s
	return out
}

func (ev *Evaluator) evaluateProcs(s *Snapshot, first bool, emit func(string, map[string]any)) {
	names := ev.names
	clear(names)
	clear(ev.parents)
	for i := range s.Procs {
		names[s.Procs[i].PID] = s.Procs[i].Name
		ev.parents[s.Procs[i].PID] = s.Procs[i].PPID
	}
	var dt float64
	if ev.prev != nil {
		dt = s.Time.Sub(ev.prev.Time).Seconds()
	}
	seen := ev.seen
	clear(seen)
	for i := range s.Procs {
		p := &s.Procs[i]
		if !ev.Monitored(p.Name) {
			continue
		}
		key := p.Key()
		seen[key] = true
		st, known := ev.procs[key]
		if !known {
			st = &procState{p: *p, parentName: names[p.PPID], uid: -1, cpu: newWindow(ev.cfg.Window), mem: newWindow(ev.cfg.Window), firstSeen: s.Time}
			ev.procs[key] = st
			if first {
				// Present when the agent started: its history is unknown,
				// so its first values only start the averages.
				st.mem.push(mb(p.RSS))
				ev.checkLevels(s, st, p, -1, s.Time, emit)
				continue
			}
			// Spawned since the last sample: it used nothing before.
			st.cpu.push(0)
			st.mem.push(0)
			if !ev.cfg.NoSpawn {
				emit(event.TypeProcSpawn, ev.procAttrs(st, p))
			}
			ev.checkLevels(s, st, p, -1, s.Time, emit)
		} else if dt > 0 {
			cpuPct := max((p.CPU-st.p.CPU)/dt*100, 0)
			ev.check(event.TypeProcCPU, st.cpu, cpuPct, func(a map[string]any) {
				maps.Copy(a, ev.procAttrs(st, p))
			}, emit)
			ev.checkLevels(s, st, p, cpuPct, ev.prev.Time, emit)
		} else {
			ev.checkLevels(s, st, p, -1, s.Time, emit)
		}
		ev.check(event.TypeProcMem, st.mem, mb(p.RSS), func(a map[string]any) {
			maps.Copy(a, ev.procAttrs(st, p))
			if s.MemTotal > 0 {
				a["mem_pct"] = round2(float64(p.RSS) / float64(s.MemTotal) * 100)
			}
		}, emit)
		st.p = *p
	}
	// Processes that went away, in pid order.
	var gone []Key
	for key := range ev.procs {
		if !seen[key] {
			gone = append(gone, key)
		}
	}
	slices.SortFunc(gone, func(a, b Key) int { return a.PID - b.PID })
	for _, key := range gone {
		st := ev.procs[key]
		delete(ev.procs, key)
		ev.endLevels(s, st, emit)
		a := ev.procAttrs(st, &st.p)
		a["lifetime_s"] = round2(s.Time.Sub(st.firstSeen).Seconds())
		a["cpu_s"] = round2(st.p.CPU)
		emit(event.TypeProcTerm, a)
	}
}

// procAttrs are the attributes of seed 000's process observations: start
// is the process's start in clock ticks since boot (field 22 of
// /proc/PID/stat), which with pid names it. The executable and user are read the first time a process is reported (for
// one that has exited, what was read before is all there is).
func (ev *Evaluator) procAttrs(st *procState, p *Proc) map[string]any {
	if st.exe == "" && ev.cfg.Executable != nil {
		st.exe = ev.cfg.Executable(p.PID)
	}
	if st.uid < 0 && ev.cfg.UID != nil {
		st.uid = ev.cfg.UID(p.PID)
	}
	a := map[string]any{
		"name": p.Name, "pid": int64(p.PID), "start": int64(p.Start), "state": p.State,
		"parent_name": st.parentName, "ppid": int64(p.PPID),
		"mem_mb": round2(mb(p.RSS)),
	}
	if st.uid >= 0 {
		a["uid"] = int64(st.uid)
	}
	if st.exe != "" {
		a["exe"] = st.exe
	}
	return a
}

// check compares value with the window's average, reports a slope anomaly
// with the attributes add sets, then adds value to the window.
func (ev *Evaluator) check(typ string, w *window, value float64, add func(map[string]any), emit func(string, map[string]any)) {
	avg := w.avg()
	t := ev.thresholds[typ]
	if !math.IsNaN(avg) && t.exceeds(value, avg) {
		a := map[string]any{
			"value": round2(value), "unit": units[typ], "window_avg": round2(avg), "increase": round2(value - avg),
			"threshold": t.Abs, "threshold_rel": t.Rel, "window": int64(w.len()),
		}
		add(a)
		emit(typ, a)
	}
	w.push(value)
}

func (ev *Evaluator) sysWindow(typ string) *window {
	w := ev.sys[typ]
	if w == nil {
		w = newWindow(ev.cfg.Window)
		ev.sys[typ] = w
	}
	return w
}

func (ev *Evaluator) evaluateSystem(s *Snapshot, emit func(string, map[string]any)) {
	nothing := func(map[string]any) {}
	if s.MemTotal > 0 {
		used := float64(s.MemTotal-min(s.MemAvailable, s.MemTotal)) / float64(s.MemTotal) * 100
		ev.check(event.TypeSysMem, ev.sysWindow(event.TypeSysMem), used, func(a map[string]any) {
			a["mem_used_mb"] = round2(mb(s.MemTotal - min(s.MemAvailable, s.MemTotal)))
			a["mem_total_mb"] = round2(mb(s.MemTotal))
		}, emit)
	}
	nprocs := float64(len(s.Procs))
	ev.check(event.TypeSysProcsGrowth, ev.sysWindow(event.TypeSysProcsGrowth), nprocs, func(a map[string]any) {
		a["num_procs"] = int64(nprocs)
	}, emit)
	socks := s.ActiveSockets()
	ev.check(event.TypeSysNetSocksGrowth, ev.sysWindow(event.TypeSysNetSocksGrowth), float64(socks), func(a map[string]any) {
		a["num_socks"] = int64(socks)
		a["tcp"] = int64(s.TCPInUse)
		a["tcp_time_wait"] = int64(s.TCPTimeWait)
		a["udp"] = int64(s.UDPInUse)
		if ev.cfg.TCPStates != nil {
			for st, n := range ev.cfg.TCPStates() {
				a["tcp_"+st] = int64(n)
			}
		}
	}, emit)

	p := ev.prev
	if p == nil {
		return
	}
	dt := s.Time.Sub(p.Time).Seconds()
	if dt <= 0 {
		return
	}
	if total := s.CPUTotal - p.CPUTotal; total > 0 {
		ev.check(event.TypeSysCPU, ev.sysWindow(event.TypeSysCPU), (s.CPUBusy-p.CPUBusy)/total*100, nothing, emit)
	}
	reads, writes := counterDelta(s.DiskReads, p.DiskReads), counterDelta(s.DiskWrites, p.DiskWrites)
	ev.check(event.TypeSysDiskIO, ev.sysWindow(event.TypeSysDiskIO), float64(reads+writes)/dt, func(a map[string]any) {
		a["reads"] = int64(reads)
		a["writes"] = int64(writes)
	}, emit)
	prevNet := make(map[string]Iface, len(p.Net))
	for _, i := range p.Net {
		prevNet[i.Name] = i
	}
	var rx, tx uint64
	rxBy, txBy := map[string]uint64{}, map[string]uint64{}
	for _, i := range s.Net {
		old, ok := prevNet[i.Name]
		if !ok {
			continue
		}
		r, t := counterDelta(i.RxBytes, old.RxBytes), counterDelta(i.TxBytes, old.TxBytes)
		rx, tx = rx+r, tx+t
		rxBy[i.Name], txBy[i.Name] = r, t
	}
	for _, d := range []struct {
		typ   string
		bytes uint64
		by    map[string]uint64
		key   string
	}{{event.TypeSysNetRX, rx, rxBy, "rx_mb"}, {event.TypeSysNetTX, tx, txBy, "tx_mb"}} {
		ev.check(d.typ, ev.sysWindow(d.typ), mb(d.bytes)/dt, func(a map[string]any) {
			a[d.key] = round2(mb(d.bytes))
			for name, b := range d.by {
				a[d.key+"."+name] = round2(mb(b))
			}
		}, emit)
	}
}

// counterDelta is the increase of a kernel counter, zero when it went back
// (a reset or a device that came and went).
func counterDelta(now, before uint64) uint64 {
	if now < before {
		return 0
	}
	return now - before
}

func mb(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }
