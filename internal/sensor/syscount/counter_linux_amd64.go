package syscount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/vigil-ids/vigil/internal/event"
)

// Indexes of the program's per-CPU statistics (enum stat in the C source).
const (
	statLost = iota
	statOutOfRange
	statNamesLost
	statExits
	statMax
)

// drainBatch is how many map entries one batch lookup moves.
const drainBatch = 4096

// Counter is the loaded and attached counter. It is not safe for
// concurrent use: one goroutine calls Drain (or Run).
type Counter struct {
	o      Options
	filter filter
	objs   coreObjects
	exec   *execObjects // nil where the kernel has no BTF
	links  []link.Link
	maps   [2]*ebpf.Map
	cur    int       // the map counting now
	start  time.Time // when it began
	// drain buffers
	keys    []syscountKey
	vals    []uint64
	entries []entry
	stats   [statMax]uint64 // totals at the last drain
	missed  uint64          // the program's recursion misses at the last drain
	percpu  []uint64
	procs   map[uint32]*procInfo
	round   uint64
	exited  []uint32 // processes seen to have exited at the last drain
	noBatch bool     // the kernel has no batch lookup for hash maps
	// noProc: pids are a pid namespace's whose processes ProcRoot does
	// not show under them; names come from the kernel's maps alone.
	noProc bool
	// self is this process's pid in the counter's numbering when its
	// vectors are left out (Options.SkipSelf), else 0.
	self uint32
}

type entry struct {
	tgid  uint32
	nr    uint32
	count uint64
}

// procInfo is what the counter remembers of a process between intervals.
type procInfo struct {
	name, exe string
	seen      uint64 // the last round the process made system calls
}

// coreObjects are what counting needs: every kernel the counter runs on
// loads them.
type coreObjects struct {
	CountEnter *ebpf.Program `ebpf:"count_enter"`
	NoteExit   *ebpf.Program `ebpf:"note_exit"`
	Active     *ebpf.Map     `ebpf:"active"`
	CountsA    *ebpf.Map     `ebpf:"counts_a"`
	CountsB    *ebpf.Map     `ebpf:"counts_b"`
	Names      *ebpf.Map     `ebpf:"names"`
	Stats      *ebpf.Map     `ebpf:"stats"`
}

func (o *coreObjects) Close() error {
	return _SyscountClose(o.CountEnter, o.NoteExit, o.Active, o.CountsA, o.CountsB, o.Names, o.Stats)
}

// execObjects note the executable at each exec. The program reads a kernel
// structure, relocated against the kernel's BTF: without BTF they do not
// load, and executables come from /proc alone.
type execObjects struct {
	NoteExec *ebpf.Program `ebpf:"note_exec"`
	Exes     *ebpf.Map     `ebpf:"exes"`
}

func (o *execObjects) Close() error { return _SyscountClose(o.NoteExec, o.Exes) }

// Open loads the eBPF program, attaches it and starts counting. The first
// interval starts now.
func Open(o Options) (*Counter, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if missing, detail := missingPrivileges(o.ProcRoot); len(missing) > 0 {
		return nil, &UnavailableError{Missing: missing, Detail: detail}
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		o.Logger.Debug("could not raise the locked-memory limit", "err", err)
	}
	spec, err := loadSyscount()
	if err != nil {
		return nil, fmt.Errorf("system call counter: %w", err)
	}
	for _, name := range []string{syscountMapCountsA, syscountMapCountsB} {
		spec.Maps[name].MaxEntries = uint32(o.MapEntries)
	}
	spec.Maps[syscountMapActive].InnerMap.MaxEntries = uint32(o.MapEntries)
	c := &Counter{o: o, filter: newFilter(o.Procs, o.Exclude), procs: map[uint32]*procInfo{}}
	if !o.AllPidNamespaces {
		dev, ns, err := ownPidNamespace()
		if err != nil {
			return nil, fmt.Errorf("system call counter: %w", err)
		}
		if ns != 0 {
			if err := spec.Variables[syscountVarPidnsInum].Set(ns); err != nil {
				return nil, fmt.Errorf("system call counter: %w", err)
			}
			if err := spec.Variables[syscountVarPidnsDev].Set(dev); err != nil {
				return nil, fmt.Errorf("system call counter: %w", err)
			}
			c.noProc = !procShowsOwnNamespace(o.ProcRoot)
			o.Logger.Info("counting the system calls of this pid namespace only", "pidns", ns, "proc_of_other_namespace", c.noProc)
		}
	}
	if o.SkipSelf {
		// The counter numbers pids as this process's namespace does
		// unless it counts every namespace from one below the initial.
		if dev, _, err := ownPidNamespace(); err == nil && (dev == 0 || !o.AllPidNamespaces) {
			c.self = uint32(os.Getpid())
		}
	}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		return nil, diagnose(err)
	}
	c.maps = [2]*ebpf.Map{c.objs.CountsA, c.objs.CountsB}
	if err := c.objs.Active.Update(uint32(0), c.maps[0], ebpf.UpdateAny); err != nil {
		c.Close()
		return nil, fmt.Errorf("system call counter: selecting the count map: %w", err)
	}
	var ex execObjects
	if err := spec.LoadAndAssign(&ex, nil); err != nil {
		o.Logger.Info("executables of processes that end before they are read from /proc will be unknown", "reason", err)
	} else {
		c.exec = &ex
	}
	type attachment struct {
		tp   string
		prog *ebpf.Program
	}
	var attach []attachment
	if c.exec != nil {
		attach = append(attach, attachment{"sched_process_exec", c.exec.NoteExec})
	}
	attach = append(attach, attachment{"sched_process_exit", c.objs.NoteExit}, attachment{"sys_enter", c.objs.CountEnter})
	for _, a := range attach {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.tp, Program: a.prog})
		if err != nil {
			c.Close()
			return nil, diagnose(fmt.Errorf("attaching to the %s raw tracepoint: %w", a.tp, err))
		}
		c.links = append(c.links, l)
	}
	c.start = o.Clock.Now()
	c.keys = make([]syscountKey, drainBatch)
	c.vals = make([]uint64, drainBatch)
	if _, err := c.readStats(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// diagnose turns a load or attach error into an UnavailableError naming
// the kernel feature that is missing, when one is.
func diagnose(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) && !errors.Is(err, os.ErrPermission) {
		// The program itself is at fault, or the kernel is too old for it:
		// not a missing privilege. The log's last lines say why.
		return fmt.Errorf("system call counter: the kernel's verifier rejected the program: %w", err)
	}
	var missing []string
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EINVAL) {
		for _, p := range []struct {
			what  string
			probe func() error
		}{
			{"kernel support for raw tracepoint programs", func() error { return features.HaveProgramType(ebpf.RawTracepoint) }},
			{"kernel support for BPF_MAP_TYPE_ARRAY_OF_MAPS", func() error { return features.HaveMapType(ebpf.ArrayOfMaps) }},
			{"kernel support for BPF_MAP_TYPE_LRU_HASH", func() error { return features.HaveMapType(ebpf.LRUHash) }},
			{"kernel support for BPF_MAP_TYPE_PERCPU_ARRAY", func() error { return features.HaveMapType(ebpf.PerCPUArray) }},
		} {
			if perr := p.probe(); errors.Is(perr, ebpf.ErrNotSupported) {
				missing = append(missing, p.what)
			}
		}
	}
	if errors.Is(err, os.ErrPermission) && len(missing) == 0 {
		missing = append(missing, "permission to load eBPF programs")
		return &UnavailableError{Missing: missing, Detail: "the kernel refused although the process has the capabilities; check kernel.unprivileged_bpf_disabled, lockdown and any security module", Err: err}
	}
	return &UnavailableError{Missing: missing, Err: err}
}

// Close detaches the program and frees the maps.
func (c *Counter) Close() error {
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	errs = append(errs, c.objs.Close())
	if c.exec != nil {
		errs = append(errs, c.exec.Close())
	}
	return errors.Join(errs...)
}

// Interval is the counter's interval length.
func (c *Counter) Interval() time.Duration { return c.o.Interval }

// MapEntries is the bound of each count map.
func (c *Counter) MapEntries() int { return c.o.MapEntries }

// Run drains the counter at the end of every interval (aligned to
// multiples of the interval on the clock) and hands the vectors to emit,
// until ctx ends; the interval in progress is then drained too. An error
// from emit stops Run.
func (c *Counter) Run(ctx context.Context, emit func([]event.CountVector, IntervalStats) error) error {
	iv := c.o.Interval
	for {
		now := c.o.Clock.Now()
		next := now.Truncate(iv).Add(iv)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			vs, st, err := c.Drain()
			if err != nil {
				return err
			}
			return emit(vs, st)
		case <-t.C:
		}
		vs, st, err := c.Drain()
		if err != nil {
			return err
		}
		if err := emit(vs, st); err != nil {
			return err
		}
	}
}

// Drain ends the interval in progress and returns one vector per process
// that made system calls in it (those the filter keeps), ordered by pid.
func (c *Counter) Drain() ([]event.CountVector, IntervalStats, error) {
	t0 := c.o.Clock.Now()
	old := c.maps[c.cur]
	next := 1 - c.cur
	// Returns after an RCU grace period: no program still counts into old.
	if err := c.objs.Active.Update(uint32(0), c.maps[next], ebpf.UpdateAny); err != nil {
		return nil, IntervalStats{}, fmt.Errorf("system call counter: switching count maps: %w", err)
	}
	c.cur = next
	st := IntervalStats{Start: c.start, Interval: t0.Sub(c.start)}
	c.start = t0
	c.round++
	if err := c.drainMap(old); err != nil {
		return nil, st, err
	}
	delta, err := c.readStats()
	if err != nil {
		return nil, st, err
	}
	st.Lost, st.OutOfRange, st.NamesLost, st.Exits = delta[statLost], delta[statOutOfRange], delta[statNamesLost], delta[statExits]
	if ps, err := c.objs.CountEnter.Stats(); err == nil {
		st.Missed = ps.RecursionMisses - c.missed
		c.missed = ps.RecursionMisses
	}
	vs, exited := c.vectors(&st)
	// A process seen to have exited is forgotten one interval later: its
	// exit_group call may have been counted after the switch above and
	// before its exit was noted, so the next interval can still hold it.
	for _, tgid := range c.exited {
		var n syscountName
		if err := c.objs.Names.Lookup(tgid, &n); err == nil && n.Exited != 0 {
			if err := c.objs.Names.Delete(tgid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				c.o.Logger.Debug("forgetting an exited process", "pid", tgid, "err", err)
			}
			if c.exec != nil {
				_ = c.exec.Exes.Delete(tgid) // absent for processes that never ran exec
			}
		}
		if p := c.procs[tgid]; p != nil && p.seen < c.round {
			delete(c.procs, tgid)
		}
	}
	c.exited = append(c.exited[:0], exited...)
	c.prune()
	st.Drain = c.o.Clock.Now().Sub(t0)
	return vs, st, nil
}

// drainMap moves every entry of m into c.entries and empties m.
func (c *Counter) drainMap(m *ebpf.Map) error {
	c.entries = c.entries[:0]
	if !c.noBatch {
		var cursor ebpf.MapBatchCursor
		for {
			n, err := m.BatchLookupAndDelete(&cursor, c.keys, c.vals, nil)
			for i := 0; i < n; i++ {
				c.entries = append(c.entries, entry{tgid: c.keys[i].Tgid, nr: c.keys[i].Nr, count: c.vals[i]})
			}
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return nil
			}
			if errors.Is(err, ebpf.ErrNotSupported) && len(c.entries) == 0 {
				c.noBatch = true
				break
			}
			if err != nil {
				return fmt.Errorf("system call counter: draining counts: %w", err)
			}
		}
	}
	// Kernels without batch operations on hash maps: one entry at a time.
	var k syscountKey
	var v uint64
	it := m.Iterate()
	var keys []syscountKey
	for it.Next(&k, &v) {
		c.entries = append(c.entries, entry{tgid: k.Tgid, nr: k.Nr, count: v})
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("system call counter: draining counts: %w", err)
	}
	for i := range keys {
		if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("system call counter: emptying counts: %w", err)
		}
	}
	return nil
}

// readStats returns how much each statistic grew since the last call.
func (c *Counter) readStats() ([statMax]uint64, error) {
	var delta [statMax]uint64
	for i := range statMax {
		if err := c.objs.Stats.Lookup(uint32(i), &c.percpu); err != nil {
			return delta, fmt.Errorf("system call counter: reading statistics: %w", err)
		}
		var sum uint64
		for _, v := range c.percpu {
			sum += v
		}
		delta[i] = sum - c.stats[i]
		c.stats[i] = sum
	}
	return delta, nil
}

// vectors builds the interval's vectors from c.entries and returns the
// pids of processes that have exited.
func (c *Counter) vectors(st *IntervalStats) ([]event.CountVector, []uint32) {
	slices.SortFunc(c.entries, func(a, b entry) int {
		if a.tgid != b.tgid {
			return int(int64(a.tgid) - int64(b.tgid))
		}
		return int(int64(a.nr) - int64(b.nr))
	})
	st.Entries = len(c.entries)
	var vs []event.CountVector
	var exited []uint32
	for i := 0; i < len(c.entries); {
		j := i
		tgid := c.entries[i].tgid
		for j < len(c.entries) && c.entries[j].tgid == tgid {
			j++
		}
		st.Processes++
		p, gone := c.identify(tgid)
		if gone {
			exited = append(exited, tgid)
		}
		counts := make([]event.SyscallCount, 0, j-i)
		for _, e := range c.entries[i:j] {
			counts = append(counts, event.SyscallCount{Nr: uint16(e.nr), Count: e.count})
			st.Calls += e.count
		}
		i = j
		if !c.filter.keep(p.name) || (c.self != 0 && tgid == c.self) {
			continue
		}
		vs = append(vs, event.CountVector{
			Host: c.o.Host, IP: c.o.IP, PID: int32(tgid), Process: p.name, Exe: p.exe,
			Start: st.Start, Interval: st.Interval, Counts: counts,
		})
	}
	return vs, exited
}

// identify names a process: its name as the kernel last saw it, its
// executable from /proc while it lives, and whether it has exited.
func (c *Counter) identify(tgid uint32) (*procInfo, bool) {
	p := c.procs[tgid]
	if p == nil {
		p = &procInfo{}
		c.procs[tgid] = p
	}
	p.seen = c.round
	var n syscountName
	name, exited := "", false
	if err := c.objs.Names.Lookup(tgid, &n); err == nil {
		name, exited = cleanName(cBytes(n.Comm[:])), n.Exited != 0
	} else if c.noProc {
		// pids of another namespace than /proc's: nothing to read there.
	} else if b, err := os.ReadFile(filepath.Join(c.o.ProcRoot, strconv.Itoa(int(tgid)), "comm")); err == nil {
		name = cleanName([]byte(strings.TrimSuffix(string(b), "\n")))
	}
	if name != p.name && !c.noProc {
		// The kernel's map holds the name of whichever thread made the
		// process's first call of the interval; a live process is named
		// by its leader, as /proc shows it.
		if b, err := os.ReadFile(filepath.Join(c.o.ProcRoot, strconv.Itoa(int(tgid)), "comm")); err == nil {
			if n := cleanName([]byte(strings.TrimSuffix(string(b), "\n"))); n != "" {
				name = n
			}
		}
	}
	if name == "" {
		name = p.name
	}
	if name != p.name || p.exe == "" {
		// New, or it has run another program: find the executable again,
		// from /proc while the process lives (the resolved path), else as
		// the kernel saw it given to execve.
		if exe, err := os.Readlink(filepath.Join(c.o.ProcRoot, strconv.Itoa(int(tgid)), "exe")); err == nil && !c.noProc {
			p.exe = strings.ToValidUTF8(exe, "?")
		} else if exe := c.execPath(tgid); exe != "" {
			p.exe = exe
		} else if name != p.name {
			p.exe = ""
		}
		p.name = name
	}
	return p, exited
}

// execPath is the path process tgid last executed, as the kernel noted it,
// or "".
func (c *Counter) execPath(tgid uint32) string {
	if c.exec == nil {
		return ""
	}
	var e syscountExe
	if err := c.exec.Exes.Lookup(tgid, &e); err != nil {
		return ""
	}
	return strings.ToValidUTF8(string(cBytes(e.Path[:])), "?")
}

// cBytes is a NUL-terminated C string of the kernel's, as bytes.
func cBytes(a []int8) []byte {
	b := make([]byte, 0, len(a))
	for _, ch := range a {
		if ch == 0 {
			break
		}
		b = append(b, byte(ch))
	}
	return b
}

// prune forgets processes that made no system calls for a minute's worth
// of intervals.
func (c *Counter) prune() {
	keep := uint64(max(60, int(time.Minute/c.o.Interval)))
	if c.round%keep != 0 {
		return
	}
	for tgid, p := range c.procs {
		if c.round-p.seen > keep {
			delete(c.procs, tgid)
		}
	}
}
