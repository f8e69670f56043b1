package host

import (
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Levels configure the level observations: a process whose CPU or memory
// stays at or above a level for a time is reported (PROC.CPU.LEVEL,
// PROC.MEM.LEVEL), where a slope observation would report only the rise.
// A zero level turns its observation off; the zero Levels report nothing.
type Levels struct {
	// CPU is in percent of one core; CPUFor is how long it must hold.
	CPU    float64
	CPUFor time.Duration
	// Mem is in percent of the host's memory, MemMB in MB resident; either
	// one reached counts. MemFor is how long it must hold.
	Mem    float64
	MemMB  float64
	MemFor time.Duration
	// Repeat is the least time between two reports of a level that goes on
	// (default 10m).
	Repeat time.Duration
}

// maxAncestors bounds the ancestors a level observation names.
const maxAncestors = 8

// level follows one metric of one process against its level.
type level struct {
	// over: the last sample was at or above the level, since when.
	over  bool
	since time.Time
	// reported: the level has held long enough and was reported; last is
	// when it was last reported, lastOver the last sample above the level.
	reported       bool
	last, lastOver time.Time
	peak           float64
}

// levelStep is what one sample means for a level.
type levelStep int

const (
	levelQuiet   levelStep = iota // nothing to report
	levelReached                  // held for the time: the first report
	levelOngoing                  // still held, and Repeat has passed
	levelEnded                    // reported before, now below the level
)

// step takes the sample v made at now (measured from start: for a rate,
// the start of its interval) against the level lv held for hold.
func (l *level) step(v, lv float64, hold, repeat time.Duration, start, now time.Time) levelStep {
	if v < lv {
		if l.reported {
			return levelEnded // the caller reports, then resets
		}
		*l = level{}
		return levelQuiet
	}
	if !l.over {
		l.over, l.since, l.peak = true, start, v
	}
	l.lastOver = now
	l.peak = max(l.peak, v)
	switch {
	case !l.reported && now.Sub(l.since) >= hold:
		l.reported, l.last = true, now
		return levelReached
	case l.reported && now.Sub(l.last) >= repeat:
		l.last = now
		return levelOngoing
	}
	return levelQuiet
}

// checkLevels follows the process's CPU (cpuPct, measured over the
// interval from start; negative when there is no measure yet) and memory
// against their levels and reports what changes.
func (ev *Evaluator) checkLevels(s *Snapshot, st *procState, p *Proc, cpuPct float64, start time.Time, emit func(string, map[string]any)) {
	lv := &ev.cfg.Levels
	if lv.CPU > 0 && cpuPct >= 0 {
		what := st.cpuLevel.step(cpuPct, lv.CPU, lv.CPUFor, ev.repeat, start, s.Time)
		if what != levelQuiet {
			a := ev.levelAttrs(st, p, what, &st.cpuLevel, s.Time)
			a["cpu_pct"] = round2(cpuPct)
			a["cpu_pct_peak"] = round2(st.cpuLevel.peak)
			a["level"] = lv.CPU
			a["level_for_s"] = lv.CPUFor.Seconds()
			emit(event.TypeProcCPULevel, a)
			if what == levelEnded {
				st.cpuLevel = level{}
			}
		}
	}
	if lv.Mem > 0 || lv.MemMB > 0 {
		pct := -1.0
		if s.MemTotal > 0 {
			pct = float64(p.RSS) / float64(s.MemTotal) * 100
		}
		// Measured against whichever level is closer to being reached,
		// as a fraction of it.
		v, mbv := 0.0, mb(p.RSS)
		if lv.Mem > 0 && pct >= 0 {
			v = pct / lv.Mem
		}
		if lv.MemMB > 0 {
			v = max(v, mbv/lv.MemMB)
		}
		what := st.memLevel.step(v, 1, lv.MemFor, ev.repeat, s.Time, s.Time)
		if what != levelQuiet {
			a := ev.levelAttrs(st, p, what, &st.memLevel, s.Time)
			if pct >= 0 {
				a["mem_pct"] = round2(pct)
			}
			if lv.Mem > 0 {
				a["level"] = lv.Mem
			}
			if lv.MemMB > 0 {
				a["level_mb"] = lv.MemMB
			}
			a["level_for_s"] = lv.MemFor.Seconds()
			emit(event.TypeProcMemLevel, a)
			if what == levelEnded {
				st.memLevel = level{}
			}
		}
	}
}

// endLevels reports the levels a process held when it went away.
func (ev *Evaluator) endLevels(s *Snapshot, st *procState, emit func(string, map[string]any)) {
	for _, x := range []struct {
		typ string
		l   *level
	}{{event.TypeProcCPULevel, &st.cpuLevel}, {event.TypeProcMemLevel, &st.memLevel}} {
		if !x.l.reported {
			continue
		}
		a := ev.levelAttrs(st, &st.p, levelEnded, x.l, s.Time)
		a["exited"] = true
		if x.typ == event.TypeProcCPULevel {
			a["level"] = ev.cfg.Levels.CPU
			a["cpu_pct_peak"] = round2(x.l.peak)
		} else {
			if ev.cfg.Levels.Mem > 0 {
				a["level"] = ev.cfg.Levels.Mem
			}
			if ev.cfg.Levels.MemMB > 0 {
				a["level_mb"] = ev.cfg.Levels.MemMB
			}
		}
		*x.l = level{}
		emit(x.typ, a)
	}
}

// levelAttrs are a level observation's attributes: the process's, its
// user and ancestors, how long the level has held, and whether this is a
// repeat or the end.
func (ev *Evaluator) levelAttrs(st *procState, p *Proc, what levelStep, l *level, now time.Time) map[string]any {
	a := ev.procAttrs(st, p)
	if st.uid >= 0 && ev.cfg.User != nil {
		if u := ev.cfg.User(st.uid); u != "" {
			a["user"] = u
		}
	}
	if anc := ev.ancestors(p); len(anc) > 0 {
		a["ancestors"] = anc
	}
	switch what {
	case levelReached:
		a["held_s"] = round2(now.Sub(l.since).Seconds())
	case levelOngoing:
		a["held_s"] = round2(now.Sub(l.since).Seconds())
		a["ongoing"] = true
	case levelEnded:
		// It held from the first sample above the level to the last.
		a["held_s"] = round2(l.lastOver.Sub(l.since).Seconds())
		a["ended"] = true
	}
	return a
}

// ancestors names the process's parent, its parent's parent and so on, as
// the current snapshot has them, nearest first.
func (ev *Evaluator) ancestors(p *Proc) []string {
	var out []string
	seen := map[int]bool{p.PID: true}
	for pid := p.PPID; pid > 0 && len(out) < maxAncestors && !seen[pid]; {
		seen[pid] = true
		name, ok := ev.names[pid]
		if !ok {
			break
		}
		out = append(out, name)
		pid = ev.parents[pid]
	}
	return out
}
