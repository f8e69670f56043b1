//go:build linux && amd64

package hostevents

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
)

// Sensor is the loaded and attached event programs. One goroutine calls
// Run (or Next).
type Sensor struct {
	o     Options
	coll  *ebpf.Collection
	progs []*ebpf.Program
	links []link.Link
	rd    *ringbuf.Reader
	// ring is the ring buffer's descriptor in Go's poller, where the
	// reader waits for it without holding a thread in a system call (nil
	// where it cannot be polled so: the reader then waits in rd's own
	// epoll); ringConn waits on it, and flushed ends a wait at once.
	ring     *os.File
	ringConn syscall.RawConn
	flushed  atomic.Bool
	// wake is the programs' wake_next setting: set, the next record wakes
	// the reader (nil where it cannot be written, before Linux 5.5: the
	// reader then looks at the ring buffer every Events.ReadEvery).
	wake *ebpf.Variable
	// idle: the reader's last wait on its timer brought no record, so it
	// waits for the kernel to wake it; got counts the records read since
	// that wait began.
	idle bool
	got  uint64
	conv *converter
	// comms are the process names lately decoded.
	comms comms
	rec   ringbuf.Record
	// The counts Stats reports, read from any goroutine.
	records, events, execs, decodeErrors atomic.Uint64
	// dropped and missed at the last report
	reported, reportedMissed atomic.Uint64
	// decode errors logged, and when
	loggedDecode  uint64
	lastDecodeLog time.Time
	// Off lists the programs that could not be attached (what they report
	// is missing), each with the reason.
	Off []string
	// Hooks says how the system call handlers are reached:
	// HooksTracepoints, HooksTyped or HooksRaw.
	Hooks string
	// Absent lists the watched system calls that this kernel has no
	// tracepoints for, because it does not have the calls (init_module
	// without loadable modules) (HooksTracepoints).
	Absent []string
}

// core are the programs without which there are no events, and the raw
// tracepoints they attach to.
var core = map[string]string{"on_exec": "sched_process_exec", "on_fork": "sched_process_fork", "on_exit": "sched_process_exit"}

// tails are programs reached by a tail call from another, in the
// program array named, at index 0: installed before the programs that
// call them.
var tails = map[string]string{"exec_cwd": "exec_tail"}

// dispatchers run at every system call's entry and return, and tail-call
// the handlers of the calls watched (HooksTyped and HooksRaw only).
var dispatchers = map[string]string{"sys_enter": "sys_enter", "sys_exit": "sys_exit"}

// typedDispatchers are the dispatchers' tp_btf twins, loaded in their
// place where the kernel takes them (Sensor.Hooks says which run). The
// system call handlers are then loaded as tp_btf programs too.
var typedDispatchers = map[string]string{"sys_enter_btf": "sys_enter", "sys_exit_btf": "sys_exit"}

// The ways the system call handlers are reached (Sensor.Hooks), in the
// order Open tries them.
const (
	// HooksTracepoints: each handler is a tracepoint program attached to
	// its own calls' tracepoints (syscalls/sys_enter_CALL and
	// sys_exit_CALL), so no program runs for any other system call.
	HooksTracepoints = "tracepoint"
	// HooksTyped: dispatchers on the sys_enter and sys_exit BTF-enabled
	// raw tracepoints (tp_btf), run for every system call, tail-call the
	// handlers; their typed context lets the exit dispatcher read the
	// call's number without a helper call.
	HooksTyped = "tp_btf"
	// HooksRaw: the same dispatchers on plain raw tracepoints, where the
	// kernel loads neither of the others.
	HooksRaw = "raw_tracepoint"
)

// hookWays are the ways, in the order Open tries them.
var hookWays = []string{HooksTracepoints, HooksTyped, HooksRaw}

// tpSuffix ends the names of the handlers built as tracepoint programs
// (HooksTracepoints).
const tpSuffix = "_tp"

// syscallGroup is the tracepoints' group of the system calls (a variable
// for the tests of a kernel without it).
var syscallGroup = "syscalls"

// hookError is a failure of one way of hooking the system calls: Open
// then tries the next.
type hookError struct {
	way string
	err error
}

func (e *hookError) Error() string { return e.way + " hooks: " + e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// noLoop ends the names of the handlers built without bpf_loop, loaded in
// place of those that need it on kernels without it (before 5.17).
const noLoop = "_noloop"

// Handlers of system calls (x86-64 numbers) at entry (enter_calls) and at
// return (exit_calls).
var (
	enterCalls = map[string][]uint32{
		"e_truncate": {76}, "e_ftruncate": {77}, "e_unlink": {87, 263}, "e_rename": {82, 264, 316},
		"e_chmod": {90, 91, 268, 452}, "e_chown": {92, 93, 94, 260}, "e_exec": {59, 322},
		"e_setuid": {105, 113, 117, 122}, "e_ptrace": {101}, "e_memfd": {319}, "e_module": {175, 313},
		"e_bpf": {321}, "e_connect": {42},
	}
	exitCalls = map[string][]uint32{
		"x_open": {2, 257, 85, 437}, "x_setuid": {105, 113, 117, 122}, "x_connect": {42}, "x_accept": {43, 288},
		"x_exec": {59, 322},
	}
)

// Open loads the event programs, fills the kernel filters and attaches
// the programs. The process tree is seeded from /proc after the programs
// are attached, so no process falls between the two.
//
// Loading leaves several megabytes of garbage (the kernel's types, the
// programs' ELF, the walk of /proc). Open collects it and returns it to
// the system before it returns: otherwise the runtime's scavenger returns
// it page run by page run while the first events flow, each return a
// system call and a flush of every CPU's TLB, on the reader's time.
func Open(o Options) (*Sensor, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s, err := openHooks(o)
	if err == nil {
		debug.FreeOSMemory()
	}
	return s, err
}

// openHooks is Open with the first of the ways of hooking the system
// calls (from o.hooks on) that loads.
func openHooks(o Options) (*Sensor, error) {
	ways := hookWays
	if i := slices.Index(ways, o.hooks); i > 0 {
		ways = ways[i:]
	}
	for i, way := range ways {
		s, err := open(o, way)
		var he *hookError
		if i == len(ways)-1 || !errors.As(err, &he) {
			return s, err
		}
		o.Logger.Info("host events: system calls hooked another way", "failed", way, "hooks", ways[i+1], "reason", firstLine(he))
	}
	panic("unreachable")
}

// open is Open with the system call handlers reached the way named.
func open(o Options, way string) (*Sensor, error) {
	if missing, detail := syscount.MissingPrivileges(o.ProcRoot); len(missing) > 0 {
		return nil, &UnavailableError{Part: part, Missing: missing, Detail: detail}
	}
	// The kernel's types, decoded once here for every program's
	// relocations (each load would otherwise decode them again).
	kernelTypes := btf.NewCache()
	if _, err := kernelTypes.Kernel(); err != nil {
		return nil, &UnavailableError{Part: part, Missing: []string{"kernel BTF (/sys/kernel/btf/vmlinux)"}, Err: err}
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		o.Logger.Debug("could not raise the locked-memory limit", "err", err)
	}
	spec, err := loadHostevents()
	if err != nil {
		return nil, fmt.Errorf("host events: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(o.Events.RingBufferBytes)
	if err := spec.Variables["agent_tgid"].Set(uint32(os.Getpid())); err != nil {
		return nil, fmt.Errorf("host events: %w", err)
	}
	if err := spec.Variables["args_max"].Set(uint32(o.Events.MaxArgBytes)); err != nil {
		return nil, fmt.Errorf("host events: %w", err)
	}
	if err := spec.Variables["wakeup_bytes"].Set(wakeupBytes(o.Events.RingBufferBytes)); err != nil {
		return nil, fmt.Errorf("host events: %w", err)
	}
	// An agent in a pid namespace of its own (a container's) reports the
	// processes of that namespace, with the pids its /proc shows.
	if ns, err := ownPidNamespace(); err != nil {
		return nil, fmt.Errorf("host events: %w", err)
	} else if ns != 0 {
		if err := spec.Variables["pidns_inum"].Set(ns); err != nil {
			return nil, fmt.Errorf("host events: %w", err)
		}
		o.Logger.Info("host events of this pid namespace only", "pidns", ns)
	}
	roots, whole := firstComponents(o.Events)
	if whole {
		if err := spec.Variables["prefilter"].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("host events: %w", err)
		}
	}
	progs := spec.Programs
	maps := spec.Copy()
	maps.Programs = nil
	coll, err := ebpf.NewCollection(maps)
	if err != nil {
		return nil, diagnose(fmt.Errorf("creating maps: %w", err))
	}
	s := &Sensor{o: o, coll: coll, comms: comms{}, Hooks: way}
	typed, perCall := way == HooksTyped, way == HooksTracepoints
	if err := s.fillFilters(roots); err != nil {
		s.Close()
		return nil, err
	}
	names := make([]string, 0, len(progs))
	for n := range progs {
		names = append(names, n)
	}
	sort.Strings(names)
	// Core programs first: without them nothing else is worth attaching;
	// the dispatchers last, once the handlers are in their arrays.
	rank := func(n string) int {
		if _, ok := tails[n]; ok {
			return -1
		}
		if _, ok := core[n]; ok {
			return 0
		}
		if _, ok := dispatchers[n]; ok {
			return 2
		}
		if _, ok := typedDispatchers[n]; ok {
			return 2
		}
		return 1
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	failed := map[string]bool{}
	for _, name := range names {
		// NAME_noloop stands in for NAME where NAME (which needs
		// bpf_loop) could not be loaded.
		primary, alt := strings.CutSuffix(name, noLoop)
		if alt && (perCall || !failed[primary]) {
			continue
		}
		_, rawDispatcher := dispatchers[name]
		_, typedDispatcher := typedDispatchers[name]
		if (rawDispatcher && way != HooksRaw) || (typedDispatcher && !typed) {
			continue // another way's
		}
		if isHandler(name) && strings.HasSuffix(name, tpSuffix) != perCall {
			continue // another way's
		}
		ps := progs[name]
		if typed {
			ps = asTyped(primary, ps)
		}
		one := &ebpf.CollectionSpec{Maps: maps.Maps, Variables: maps.Variables, Programs: map[string]*ebpf.ProgramSpec{name: ps}, Types: spec.Types}
		c, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: coll.Maps, Cache: kernelTypes})
		if err == nil {
			p := c.Programs[name]
			delete(c.Programs, name)
			c.Close()
			s.progs = append(s.progs, p)
			err = s.install(name, p)
		}
		if err != nil {
			if _, ok := core[name]; ok {
				s.Close()
				return nil, diagnose(fmt.Errorf("%s: %w", name, err))
			}
			failed[name] = true
			if _, ok := progs[name+noLoop]; !ok || perCall {
				if way != HooksRaw {
					// Perhaps the hook, not the program, fails here:
					// the next way is tried.
					s.Close()
					return nil, &hookError{way, fmt.Errorf("%s: %w", name, err)}
				}
				s.Off = append(s.Off, fmt.Sprintf("%s: %v", name, firstLine(err)))
			}
			continue
		}
		if alt {
			s.Off = append(s.Off, fmt.Sprintf("%s: without bpf_loop (Linux 5.17): paths with . and .. filtered as written", primary))
		}
	}
	if perCall {
		if len(s.Absent) == len(syscallNames()) {
			s.Close()
			return nil, &hookError{way, fmt.Errorf("no tracepoints of group %q (tracefs not mounted, or a kernel built without CONFIG_FTRACE_SYSCALLS)", syscallGroup)}
		}
		if len(s.Absent) > 0 {
			o.Logger.Info("host events: system calls this kernel does not have are not watched", "calls", s.Absent)
		}
	}
	rd, err := ringbuf.NewReader(coll.Maps["events"])
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("host events: ring buffer: %w", err)
	}
	s.rd = rd
	s.pollRing(coll.Maps["events"])
	if v := coll.Variables["wake_next"]; v != nil && v.Set(uint32(0)) == nil {
		s.wake = v
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		s.Close()
		return nil, fmt.Errorf("host events: %w", err)
	}
	s.conv = newConverter(o, uint64(ts.Nano()), o.Clock.Now())
	if err := s.conv.tree.Seed(); err != nil {
		o.Logger.Warn("host events: the process tree starts empty", "err", err)
	}
	for _, off := range s.Off {
		o.Logger.Warn("host events: a program is off; what it reports is missing", "program", off)
	}
	return s, nil
}

// asTyped returns the spec of system call handler name as a tp_btf
// program of the tracepoint its dispatcher runs on (other programs as they
// are). The handlers read the call's registers from ctx->args[0] and, at
// its return, the result from ctx->args[1], where the typed context has
// them too.
func asTyped(name string, ps *ebpf.ProgramSpec) *ebpf.ProgramSpec {
	tp := ""
	if _, ok := enterCalls[name]; ok {
		tp = typedDispatchers["sys_enter_btf"]
	} else if _, ok := exitCalls[name]; ok {
		tp = typedDispatchers["sys_exit_btf"]
	} else {
		return ps
	}
	ps = ps.Copy()
	ps.Type, ps.AttachType, ps.AttachTo = ebpf.Tracing, ebpf.AttachTraceRawTp, tp
	return ps
}

// install attaches a program to its tracepoint (a handler built as a
// tracepoint program to each of its calls' tracepoints), or puts a system
// call handler in its array at its calls' numbers.
func (s *Sensor) install(name string, p *ebpf.Program) error {
	name = strings.TrimSuffix(name, noLoop)
	tp, ok := core[name]
	if !ok {
		tp, ok = dispatchers[name]
	}
	if ok {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: p})
		if err == nil {
			s.links = append(s.links, l)
		}
		return err
	}
	if _, ok := typedDispatchers[name]; ok {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err == nil {
			s.links = append(s.links, l)
		}
		return err
	}
	if arr, ok := tails[name]; ok {
		return s.coll.Maps[arr].Update(uint32(0), p, ebpf.UpdateAny)
	}
	if handler, ok := strings.CutSuffix(name, tpSuffix); ok {
		for dir, calls := range map[string]map[string][]uint32{"sys_enter_": enterCalls, "sys_exit_": exitCalls} {
			for _, nr := range calls[handler] {
				call := event.SyscallName(uint16(nr))
				l, err := link.Tracepoint(syscallGroup, dir+call, p, nil)
				if errors.Is(err, os.ErrNotExist) {
					// No tracepoint: the kernel has no such call (or no
					// such group, which open sees when none is found).
					if !slices.Contains(s.Absent, call) {
						s.Absent = append(s.Absent, call)
					}
					continue
				}
				if err != nil {
					return fmt.Errorf("tracepoint %s/%s%s: %w", syscallGroup, dir, call, err)
				}
				s.links = append(s.links, l)
			}
		}
		return nil
	}
	for arr, calls := range map[string]map[string][]uint32{"enter_calls": enterCalls, "exit_calls": exitCalls} {
		for _, nr := range calls[name] {
			if err := s.coll.Maps[arr].Update(nr, p, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("system call %d: %w", nr, err)
			}
		}
	}
	return nil
}

// isHandler says whether program name is a system call handler (of any
// build).
func isHandler(name string) bool {
	name = strings.TrimSuffix(strings.TrimSuffix(name, noLoop), tpSuffix)
	_, enter := enterCalls[name]
	_, exit := exitCalls[name]
	return enter || exit
}

// syscallNames are the names of the system calls watched.
func syscallNames() []string {
	var names []string
	for _, calls := range []map[string][]uint32{enterCalls, exitCalls} {
		for _, nrs := range calls {
			for _, nr := range nrs {
				if n := event.SyscallName(uint16(nr)); !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// firstComponents returns the first components of the watched prefixes
// ("etc" of "/etc/cron"), and whether each prefix has a whole one (the
// kernel then skips building the path of a file under any other).
func firstComponents(e config.AgentEvents) (roots []string, whole bool) {
	seen := map[string]bool{}
	whole = true
	for _, l := range [][]string{e.OpenPaths, e.ModifyPaths, e.PermPaths} {
		for _, p := range l {
			c, _, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
			if !ok || c == "" || len(c) > config.MaxEventNameBytes {
				whole = false
				continue
			}
			if !seen[c] {
				seen[c] = true
				roots = append(roots, c)
			}
		}
	}
	return roots, whole && len(roots) <= 256
}

// fillFilters writes the path prefixes, their first components and the
// file names of the options to the kernel maps. A prefix's classes include
// those of every shorter prefix of it, as the trie gives the longest match
// only.
func (s *Sensor) fillFilters(roots []string) error {
	e := s.o.Events
	classes := map[string]uint32{}
	for _, l := range []struct {
		list  []string
		class uint32
	}{{e.OpenPaths, classOpen}, {e.ModifyPaths, classModify}, {e.PermPaths, classPerm}} {
		for _, p := range l.list {
			classes[p] |= l.class
		}
	}
	pm := s.coll.Maps["prefixes"]
	for p, c := range classes {
		for q, qc := range classes {
			if len(q) < len(p) && strings.HasPrefix(p, q) {
				c |= qc
			}
		}
		var k hosteventsLpmKey
		n := copy(k.Data[:], p)
		k.Prefixlen = uint32(n * 8)
		if err := pm.Update(&k, c, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("host events: path prefix %q: %w", p, err)
		}
	}
	rm := s.coll.Maps["roots"]
	for _, r := range roots {
		if err := rm.Update(nameKey(r), uint32(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("host events: first component %q: %w", r, err)
		}
	}
	nm := s.coll.Maps["names"]
	nc := map[string]uint32{}
	for _, n := range e.OpenNames {
		nc[n] |= classOpen
	}
	for _, n := range e.ModifyNames {
		nc[n] |= classModify
	}
	for n, c := range nc {
		if err := nm.Update(nameKey(n), c, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("host events: file name %q: %w", n, err)
		}
	}
	return nil
}

// nameKey is a file name as the kernel's name maps key it.
func nameKey(n string) *hosteventsNameKey {
	var k hosteventsNameKey
	for i := 0; i < len(n) && i < len(k.Name)-1; i++ {
		k.Name[i] = int8(n[i])
	}
	return &k
}

// diagnose turns a load or attach error into an UnavailableError when it
// is for want of a privilege or a kernel feature.
func diagnose(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("host events: the kernel's verifier rejected a program: %w", err)
	}
	if errors.Is(err, os.ErrPermission) {
		return &UnavailableError{Part: part, Missing: []string{"permission to load eBPF programs"},
			Detail: "the kernel refused; check kernel.unprivileged_bpf_disabled, lockdown and any security module", Err: err}
	}
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, syscall.EINVAL) || errors.Is(err, os.ErrNotExist) {
		return &UnavailableError{Part: part, Missing: []string{"kernel support for BPF ring buffers, raw tracepoints or fentry programs"}, Err: err}
	}
	return fmt.Errorf("host events: %w", err)
}

// Close detaches the programs and frees the maps.
func (s *Sensor) Close() error {
	var errs []error
	if s.ring != nil {
		errs = append(errs, s.ring.Close())
	}
	if s.rd != nil {
		errs = append(errs, s.rd.Close())
	}
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	s.links = nil
	for _, p := range s.progs {
		errs = append(errs, p.Close())
	}
	s.progs = nil
	if s.coll != nil {
		s.coll.Close()
		s.coll = nil
	}
	return errors.Join(errs...)
}

// Stats returns the sensor's counts so far. It may be called while Run
// or Next reads.
func (s *Sensor) Stats() Stats {
	st := Stats{Records: s.records.Load(), Events: s.events.Load(), Execs: s.execs.Load(), DecodeErrors: s.decodeErrors.Load(), Dropped: s.dropped()}
	if s.conv != nil {
		st.TreeRefused = s.conv.tree.Refused.Load()
	}
	st.Missed = s.missed()
	return st
}

// missed sums the kernel's recursion misses of the programs: runs skipped
// because another BPF program was running on that CPU. A tracepoint
// program (HooksTracepoints) is skipped while any kprobe, tracepoint or
// perf event program runs there, or while a bpf() map operation that
// was preempted holds it; a raw tracepoint program only when it would
// run inside itself.
func (s *Sensor) missed() uint64 {
	if s.coll == nil {
		return s.reportedMissed.Load()
	}
	var n uint64
	for _, p := range s.progs {
		if st, err := p.Stats(); err == nil {
			n += st.RecursionMisses
		}
	}
	return n
}

// dropped reads the kernel's count of records the ring buffer had no room
// for.
func (s *Sensor) dropped() uint64 {
	if s.coll == nil {
		return s.reported.Load()
	}
	var percpu []uint64
	if err := s.coll.Maps["stats"].Lookup(uint32(0), &percpu); err != nil {
		return s.reported.Load()
	}
	var n uint64
	for _, v := range percpu {
		n += v
	}
	return n
}

// wakeupBytes is how many bytes waiting in a ring buffer of size bytes
// wake the reader: a sixteenth of the buffer, at most 256 KiB. Below that,
// while records come, the reader looks by itself every Events.ReadEvery (a
// wakeup for every record costs more than the record), so an event waits
// at most that long to be read. Once a look finds nothing, the reader asks
// the kernel to wake it at the next record and sleeps.
func wakeupBytes(size int) uint32 {
	return uint32(min(size/16, 256<<10))
}

// Next reads records until one makes events or wait passes, and returns
// those events (nil when wait passed, or when Flush was called), decoded
// from the compact form Run hands on. Run reads them without decoding.
func (s *Sensor) Next(wait time.Duration) ([]event.Event, error) {
	s.conv.reset()
	n, err := s.nextRecords(wait)
	if err != nil || n == 0 {
		return nil, err
	}
	recs := s.conv.records(nil)
	evs := make([]event.Event, 0, len(recs))
	for _, rec := range recs {
		ev, err := event.DecodeCompact(rec)
		if err != nil {
			return nil, fmt.Errorf("host events: an event made does not decode: %w", err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// nextRecords reads records until one makes events or wait passes, adds
// those events to the converter's output and returns how many (0 when
// wait passed, or when Flush was called).
func (s *Sensor) nextRecords(wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		if err := s.next(deadline); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrFlushed) {
				return 0, nil
			}
			return 0, fmt.Errorf("host events: reading the ring buffer: %w", err)
		}
		s.records.Add(1)
		r, err := decode(s.rec.RawSample, s.comms)
		if err != nil {
			n := s.decodeErrors.Add(1)
			// Logged at most every 10 s, with how many since.
			if now := s.o.Clock.Now(); now.Sub(s.lastDecodeLog) >= 10*time.Second {
				s.o.Logger.Warn("host events: records could not be read", "count", n-s.loggedDecode, "last", err)
				s.lastDecodeLog, s.loggedDecode = now, n
			}
			continue
		}
		execs := s.conv.execs
		if n := s.conv.add(&r); n > 0 {
			s.events.Add(uint64(n))
			if s.conv.execs != execs {
				s.execs.Add(s.conv.execs - execs)
			}
			return n, nil
		}
	}
}

// noWait is a deadline long past: the ring buffer's reader reads what there
// is without waiting.
var noWait = time.Unix(1, 0)

// fence orders the wake_next store before the ring buffer's positions are
// read (a locked instruction on x86-64).
var fence atomic.Uint32

// pollRing puts a descriptor of the ring buffer in Go's poller, so that
// the reader waits there (see ring); where it cannot, the reader waits in
// rd's epoll.
func (s *Sensor) pollRing(m *ebpf.Map) {
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		s.o.Logger.Debug("host events: the ring buffer is waited on in its own epoll", "err", err)
		return
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		s.o.Logger.Debug("host events: the ring buffer is waited on in its own epoll", "err", err)
		return
	}
	f := os.NewFile(uintptr(fd), "host events ring buffer")
	conn, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // os.ErrNoDeadline: not in the poller
	}
	if err != nil {
		f.Close()
		s.o.Logger.Debug("host events: the ring buffer is waited on in its own epoll", "err", err)
		return
	}
	s.ring, s.ringConn = f, conn
	s.rd.SetDeadline(noWait) // rd only reads what is there
}

// next reads the next record into s.rec, waiting for one until deadline
// (os.ErrDeadlineExceeded when none came). While records come it waits on
// a timer of Events.ReadEvery, so that they are read in batches; once a wait
// brought none it asks the kernel to wake it at the next record and waits
// until deadline. A record the kernel wrote just as the reader asked may
// not wake it: it is read at the next record or at deadline.
//
// The reader waits in Go's poller: a thread blocked in epoll_wait has its
// processor taken back by the runtime's monitor, which then wakes every
// 20 µs for a while, paid at every wait while records come.
func (s *Sensor) next(deadline time.Time) error {
	if s.ring == nil {
		return s.nextInEpoll(deadline)
	}
	timed := false // the last wait ran out on its timer
	for {
		err := s.rd.ReadInto(&s.rec)
		if err == nil {
			s.got++
			s.idle = false
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if timed {
			s.idle = s.got == 0
			s.got = 0
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		d := time.Now().Add(min(left, s.o.Events.ReadEvery))
		if s.idle && s.wake != nil && s.wake.Set(uint32(1)) == nil {
			fence.Add(1)
			d = deadline
		}
		if timed, err = s.wait(d); err != nil {
			return err
		}
	}
}

// wait waits in Go's poller until the ring buffer holds a record (false),
// or until d (true), or until Flush (ringbuf.ErrFlushed).
func (s *Sensor) wait(d time.Time) (timedOut bool, err error) {
	if err := s.ring.SetReadDeadline(d); err != nil {
		return false, err
	}
	err = s.ringConn.Read(func(uintptr) bool { return s.flushed.Load() || s.rd.AvailableBytes() > 0 })
	if s.flushed.Swap(false) {
		return false, ringbuf.ErrFlushed
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true, nil
	}
	return false, err
}

// nextInEpoll is next where the ring buffer is waited on in rd's epoll.
func (s *Sensor) nextInEpoll(deadline time.Time) error {
	for {
		d := noWait
		if left := time.Until(deadline); left >= time.Millisecond { // epoll counts whole ms
			d = time.Now().Add(min(left, s.o.Events.ReadEvery))
			if s.idle && s.wake != nil && s.wake.Set(uint32(1)) == nil {
				fence.Add(1)
				if d = deadline; s.rd.AvailableBytes() > 0 {
					d = noWait
				}
			}
		}
		s.rd.SetDeadline(d)
		err := s.rd.ReadInto(&s.rec)
		if err == nil {
			s.got++
			s.idle = false
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if d != noWait {
			s.idle = s.got == 0
			s.got = 0
		}
		if time.Until(deadline) < time.Millisecond {
			return err
		}
	}
}

// Flush makes a Next waiting for records return at once (nil events). It
// may be called from any goroutine.
func (s *Sensor) Flush() error {
	if s.ring == nil {
		return s.rd.Flush()
	}
	s.flushed.Store(true)
	return s.ring.SetReadDeadline(time.Now())
}

// Run reads records until ctx ends, handing their events to emit in
// batches, in compact form (event.AppendCompact's, valid: each was
// checked as it was written), and reports records the ring buffer dropped
// as SENSOR.DROPPED observations (at most once a second). The records are
// valid only until emit returns. An error from emit stops Run.
func (s *Sensor) Run(ctx context.Context, emit func(recs [][]byte) error) error {
	s.o.Logger.Info("host events running", "ring_buffer_bytes", s.o.Events.RingBufferBytes, "programs", len(s.progs), "off", len(s.Off), "system_call_hooks", s.Hooks, "processes", s.conv.tree.Len())
	lastReport := s.o.Clock.Now()
	stop := context.AfterFunc(ctx, func() { _ = s.Flush() })
	defer stop()
	s.conv.reset()
	var recs [][]byte
	flush := func() error {
		if s.conv.pending() == 0 {
			return nil
		}
		recs = s.conv.records(recs[:0])
		err := emit(recs)
		s.conv.reset()
		return err
	}
	for {
		if ctx.Err() != nil {
			if err := s.drain(flush); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
			return s.reportDrops(emit)
		}
		wait := time.Second // the drop report's period; ctx's end flushes it
		if s.conv.pending() > 0 {
			wait = 0 // what the last poll found is read; then the batch goes
		}
		n, err := s.nextRecords(wait)
		if err != nil {
			return err
		}
		if n == 0 || s.conv.pending() >= maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if now := s.o.Clock.Now(); now.Sub(lastReport) >= time.Second {
			lastReport = now
			if err := flush(); err != nil {
				return err
			}
			if err := s.reportDrops(emit); err != nil {
				return err
			}
		}
	}
}

// maxBatch bounds the events Run hands to emit at once (a record's
// events may go over it by one).
const maxBatch = 512

// drainMax bounds the events read at the end of Run: a flood does not hold
// the agent's stop.
const drainMax = 1 << 16

// drain reads what waits in the ring buffer without waiting (up to
// drainMax events), flushed at every maxBatch events: at the end of Run,
// so that what the kernel wrote before the stop is not left behind.
func (s *Sensor) drain(flush func() error) error {
	for n := 0; n < drainMax; {
		k, err := s.nextRecords(0)
		if err != nil || k == 0 {
			return err
		}
		if s.conv.pending() >= maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		n += k
	}
	return nil
}

// reportDrops emits a SENSOR.DROPPED observation for records dropped, and
// one for program runs the kernel skipped, since the last ones.
func (s *Sensor) reportDrops(emit func([][]byte) error) error {
	if n, last := s.missed(), s.reportedMissed.Load(); n > last {
		s.reportedMissed.Store(n)
		if err := s.reportDrop(emit, n-last, MissReason); err != nil {
			return err
		}
	}
	n := s.dropped()
	last := s.reported.Load()
	if n <= last {
		return nil
	}
	s.reported.Store(n)
	return s.reportDrop(emit, n-last, DropReason(s.o.Events.RingBufferBytes))
}

// reportDrop emits a SENSOR.DROPPED observation of d events lost for the
// reason given.
func (s *Sensor) reportDrop(emit func([][]byte) error, d uint64, reason string) error {
	now := s.o.Clock.Now().UTC()
	s.o.Logger.Warn("host events dropped", "count", d, "reason", reason)
	ev := event.Event{
		ID: s.o.IDs.NewID(now), Time: now, Type: "SENSOR.DROPPED", Host: s.o.Host, IP: s.o.IP, Source: "agent",
		Attrs: map[string]any{"dropped": int64(d), "what": "host events", "reason": reason},
	}
	rec, err := ev.AppendValidCompact(nil)
	if err != nil {
		return fmt.Errorf("host events: the drop report: %w", err)
	}
	return emit([][]byte{rec})
}

// initialPidNamespace is the inode number of the initial pid namespace
// (the kernel's PROC_PID_INIT_INO).
const initialPidNamespace = 0xEFFFFFFC

// ownPidNamespace returns the inode number of this process's pid
// namespace, or 0 when that is the initial one.
func ownPidNamespace() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("reading the pid namespace: %w", err)
	}
	if st.Ino == initialPidNamespace || st.Ino > 0xffffffff {
		return 0, nil
	}
	return uint32(st.Ino), nil
}
