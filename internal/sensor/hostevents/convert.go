package hostevents

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// Event types of the host events (see docs/EVENTS.md).
const (
	TypeExec    = event.TypeProcExec
	TypeExit    = event.TypeProcExit
	TypeOpen    = event.TypeFileOpen
	TypeModify  = event.TypeFileModify
	TypePerm    = event.TypeFilePerm
	TypeCred    = event.TypeProcCred
	TypePtrace  = event.TypeProcPtrace
	TypeMemfd   = event.TypeProcMemfd
	TypeModule  = event.TypeKernelModule
	TypeBPF     = event.TypeKernelBPF
	TypeConnect = event.TypeProcConnect
	TypeAccept  = event.TypeProcAccept
)

// maxAncestors is how many ancestors an event names.
const maxAncestors = 8

// converter turns kernel records into events, keeping the process tree.
type converter struct {
	o        Options
	tree     *Tree
	procs    map[string]bool // PROC.SPAWN keeps these names (nil: all)
	exclude  map[string]bool
	credExes map[string]bool
	// Kernel CLOCK_MONOTONIC ns at wall time wall.
	mono uint64
	wall time.Time
	// containers of processes, by pid (from /proc at their exec, inherited
	// at fork).
	containers map[uint32]string
	// exited holds the processes that ended lately, in order, so that the
	// end of a process whose threads ended together is reported once (the
	// kernel may report it for more than one of them).
	exited     map[uint32]bool
	exitedFIFO []uint32
	// byCgroups caches the container of each set of cgroups, by the key
	// the kernel gives it (exec records' Cgroups), so that most execs read
	// nothing from /proc; nil when /proc is not the kernel's (tests).
	byCgroups map[uint64]string
	// unreadCgroups holds, for the cgroup sets whose container could not
	// be read (their processes had ended before their exec was read, as a
	// short-lived process's has), when the reading was last tried: it is
	// tried again for the set at most once a second, so a storm of short
	// processes does not cost an open of /proc for each.
	unreadCgroups map[uint64]uint64
	// ctxCache keeps each process's context attributes (its ids, its
	// program, its ancestors, its container) as last built, so that a
	// process's many file or network events do not build them again;
	// gen counts execs and exits, which change programs and ancestors,
	// and an entry of an older generation is built again.
	ctxCache map[uint32]*ctxEntry
	gen      uint64
	// writers and readers are the programs lately exec'd with a pipe as
	// their standard output or input, by the pipe's inode (pipes.go).
	writers, readers *pipeTable
	// filter filters again the paths the kernel sent unfiltered.
	filter *pathFilter
	// b writes one event at a time; out and ends are the events made
	// since the last reset (see reset).
	b       event.Builder
	scratch event.Attrs // buildContext's
	out     []byte
	ends    []int
	// execs counts the PROC.EXEC events made; invalid the events refused
	// as invalid, logged at most every 10 s (lastInvalidLog, when
	// loggedInvalid had been).
	execs, invalid, loggedInvalid uint64
	lastInvalidLog                time.Time
}

// ctxEntry is a process's cached context and what it was built from.
type ctxEntry struct {
	gen                  uint64
	ppid, uid, euid, gid uint32
	cgroup               uint64
	comm                 string
	// attrs are the context's attributes in compact form, but for exe and
	// start, which each event writes (an exec's, a setuid exec's and an
	// exit's may differ from the process's last known).
	attrs    event.Attrs
	exe      string
	start    int64
	hasStart bool
	// parent is the nearest ancestor's name ("" when none is known).
	parent string
}

func newConverter(o Options, mono uint64, wall time.Time) *converter {
	set := func(l []string) map[string]bool {
		if len(l) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, s := range l {
			m[s] = true
		}
		return m
	}
	c := &converter{
		o: o, tree: NewTree(o.Events.MaxProcesses, o.ProcRoot), procs: set(o.Procs), exclude: set(o.Exclude),
		credExes: set(o.Events.CredExes), mono: mono, wall: wall, containers: map[uint32]string{},
		exited: map[uint32]bool{}, ctxCache: map[uint32]*ctxEntry{},
		writers: newPipeTable(), readers: newPipeTable(), filter: newPathFilter(o),
	}
	if o.ProcRoot == "/proc" {
		c.byCgroups, c.unreadCgroups = map[uint64]string{}, map[uint64]uint64{}
	}
	return c
}

func (c *converter) time(ktime uint64) time.Time {
	return c.wall.Add(time.Duration(int64(ktime - c.mono)))
}

// The converter's output: the events made since the last reset, in
// compact form one after another in out, event i ending at ends[i].

// reset forgets the output (its memory is reused).
func (c *converter) reset() { c.out, c.ends = c.out[:0], c.ends[:0] }

// pending is how many events the output holds.
func (c *converter) pending() int { return len(c.ends) }

// records appends the output's events to recs; they are valid until the
// next reset.
func (c *converter) records(recs [][]byte) [][]byte {
	start := 0
	for _, end := range c.ends {
		recs = append(recs, c.out[start:end])
		start = end
	}
	return recs
}

// begin starts an event of type typ about r's moment.
func (c *converter) begin(r *Record, typ string) *event.Builder {
	t := c.time(r.KTime).UTC()
	c.b.Begin(c.o.IDs.NewID(t), t, typ, c.o.Host, c.o.IP, "agent")
	return &c.b
}

// beginWith starts an event of type typ with the process's context e:
// its attributes, the thread's id when not the process's, and the exe
// and start e knows (withExe false: the caller writes the exe).
func (c *converter) beginWith(r *Record, typ string, e *ctxEntry, withExe bool) *event.Builder {
	b := c.begin(r, typ)
	b.Append(&e.attrs)
	if r.TID != r.PID {
		b.Int("tid", int64(r.TID))
	}
	if withExe && e.exe != "" {
		b.Str("exe", e.exe)
	}
	if e.hasStart {
		b.Int("start", e.start)
	}
	return b
}

// end ends the event begun and adds it to the output: 1, or 0 when it is
// not valid (logged, as the deliverer would have refused it).
func (c *converter) end() int {
	out, err := c.b.End(c.out)
	if err != nil {
		c.invalid++
		// Logged at most every 10 s, with how many since.
		if now := c.o.Clock.Now(); now.Sub(c.lastInvalidLog) >= 10*time.Second {
			c.o.Logger.Error("host events: invalid observation skipped", "count", c.invalid-c.loggedInvalid, "last", err)
			c.lastInvalidLog, c.loggedInvalid = now, c.invalid
		}
		return 0
	}
	c.out = out
	c.ends = append(c.ends, len(out))
	return 1
}

// add converts one record, adding its events (none for a fork) to the
// output, and returns how many it added.
func (c *converter) add(r *Record) int {
	switch r.Kind {
	case KindFork:
		delete(c.exited, r.Child) // the pid is in use again
		delete(c.ctxCache, r.Child)
		c.tree.Fork(r.PID, r.Child, r.Comm, StartTicks(r.BootStart))
		if ct, ok := c.containers[r.PID]; ok && len(c.containers) < c.o.Events.MaxProcesses {
			c.containers[r.Child] = ct
		}
		return 0
	case KindExec:
		c.gen++
		delete(c.exited, r.PID)
		return c.exec(r)
	case KindExit:
		// The exit's context is the one the process's last events had
		// (built once, at its exec, for a short-lived process); the tree
		// changes after it.
		n := c.exit(r)
		c.gen++
		delete(c.ctxCache, r.PID)
		return n
	case KindFile:
		return c.file(r)
	}
	e := c.cachedContext(r)
	var b *event.Builder
	switch r.Kind {
	case KindCred:
		exe := e.exe
		via := r.Flags&FlagViaExec != 0
		if via {
			exe = r.Path
		}
		if c.credExes[exe] {
			return 0
		}
		b = c.beginWith(r, TypeCred, e, false)
		if via {
			b.Bool("via_exec", true)
		}
		if exe != "" {
			b.Str("exe", exe)
		}
		b.Int("old_uid", int64(r.OldUID))
		b.Int("old_euid", int64(r.OldEUID))
		b.Int("old_gid", int64(r.OldGID))
		b.Int("new_uid", int64(r.NewUID))
		b.Int("new_euid", int64(r.NewEUID))
		b.Int("new_gid", int64(r.NewGID))
	case KindPtrace:
		b = c.beginWith(r, TypePtrace, e, true)
		b.Str("request", ptraceRequest(r.Request))
		b.Int("target_pid", int64(r.Target))
		if name, exe, _, ok := c.tree.Lookup(r.Target); ok {
			b.Str("target_name", name)
			if exe != "" {
				b.Str("target_exe", exe)
			}
		}
	case KindMemfd:
		b = c.beginWith(r, TypeMemfd, e, true)
		b.Str("memfd_name", r.Str)
		b.Int("flags", int64(r.A))
	case KindModule:
		b = c.beginWith(r, TypeModule, e, true)
		if r.A == 2 {
			b.Str("syscall", "finit_module")
			b.Int("fd", int64(r.B))
			if r.Path != "" {
				b.Str("file", r.Path)
			}
		} else {
			b.Str("syscall", "init_module")
			b.Int("bytes", int64(r.B))
		}
		if r.Str != "" {
			b.Str("params", r.Str)
		}
	case KindBPF:
		b = c.beginWith(r, TypeBPF, e, true)
		b.Str("command", "BPF_PROG_LOAD")
		b.Int("prog_type", int64(r.ProgType))
		b.Int("insns", int64(r.InsnCnt))
		if r.Str != "" {
			b.Str("prog_name", r.Str)
		}
	case KindConnect:
		b = c.beginWith(r, TypeConnect, e, true)
		b.Str("family", family(r.Family))
		b.Str("proto", proto(r.Protocol, r.SockType))
		b.Str("daddr", r.RAddr.String())
		b.Int("dport", int64(r.RPort))
		if r.LPort != 0 {
			b.Int("sport", int64(r.LPort))
		}
		switch {
		case r.Result == 0:
			b.Str("result", "ok")
		case r.Result == -115: // EINPROGRESS: a non-blocking connect under way
			b.Str("result", "in_progress")
		default:
			b.Str("result", "error")
			b.Int("errno", int64(-r.Result))
		}
	case KindAccept:
		b = c.beginWith(r, TypeAccept, e, true)
		b.Str("family", family(r.Family))
		b.Str("proto", proto(r.Protocol, r.SockType))
		b.Str("peer_addr", r.RAddr.String())
		b.Int("peer_port", int64(r.RPort))
		b.Str("local_addr", r.LAddr.String())
		b.Int("local_port", int64(r.LPort))
	default:
		return 0
	}
	return c.end()
}

// cachedContext returns the process's context as last built, building it
// again when the process or what it was built from changed.
func (c *converter) cachedContext(r *Record) *ctxEntry {
	if e := c.ctxCache[r.PID]; c.current(e, r) {
		return e
	}
	return c.newContext(r, nil, nil)
}

// newContext builds the process's context and caches it. Its ancestors
// are names and exes, or the tree's when names is empty.
func (c *converter) newContext(r *Record, names, exes []string) *ctxEntry {
	if len(c.ctxCache) >= c.o.Events.MaxProcesses {
		clear(c.ctxCache)
	}
	if len(names) == 0 {
		names, exes = c.tree.Ancestors(r.PID, maxAncestors)
	}
	e := &ctxEntry{gen: c.gen, ppid: r.PPID, uid: r.UID, euid: r.EUID, gid: r.GID, cgroup: r.Cgroup, comm: r.Comm}
	c.buildContext(e, r, names, exes)
	c.ctxCache[r.PID] = e
	return e
}

// current says whether e, a cached context, is still the one of the
// process r is about: nothing it was built from changed.
func (c *converter) current(e *ctxEntry, r *Record) bool {
	return e != nil && e.gen == c.gen && e.ppid == r.PPID && e.uid == r.UID && e.euid == r.EUID && e.gid == r.GID &&
		e.cgroup == r.Cgroup && e.comm == r.Comm
}

// buildContext writes into e the attributes every event of a process
// carries, naming the ancestors given.
func (c *converter) buildContext(e *ctxEntry, r *Record, names, exes []string) {
	// Written in the converter's scratch, then copied once at its size.
	a := &c.scratch
	a.Reset()
	defer func() { e.attrs = a.Clone() }()
	a.Int("pid", int64(r.PID))
	a.Int("ppid", int64(r.PPID))
	a.Int("uid", int64(r.UID))
	a.Int("euid", int64(r.EUID))
	a.Int("gid", int64(r.GID))
	a.Str("name", r.Comm)
	if _, exe, _, ok := c.tree.Lookup(r.PID); ok {
		e.exe = exe
	}
	if st, ok := c.tree.Start(r.PID); ok {
		e.start, e.hasStart = int64(st), true
	}
	if len(names) > 0 {
		e.parent = names[0]
		a.Str("parent_name", names[0])
		if exes[0] != "" {
			a.Str("parent_exe", exes[0])
		}
		a.List("ancestors", names)
		a.List("ancestor_exes", exes)
	}
	if ct := c.containers[r.PID]; ct != "" {
		a.Str("container_id", ct)
	}
	if r.Cgroup != 0 {
		a.Int("cgroup_id", int64(r.Cgroup))
	}
}

func (c *converter) exec(r *Record) int {
	exe := r.Path
	if r.Flags&FlagPathTrunc != 0 {
		exe += "..."
	}
	c.tree.Exec(r.PID, r.PPID, r.Comm, exe, StartTicks(r.BootStart))
	// The kernel's ancestors first; the tree's beyond them.
	for i, an := range r.Ancestors {
		if _, _, _, ok := c.tree.Lookup(an.PID); !ok {
			var pp uint32
			if i+1 < len(r.Ancestors) {
				pp = r.Ancestors[i+1].PID
			}
			c.tree.Exec(an.PID, pp, an.Comm, "", 0)
		}
	}
	c.execContainer(r)
	// The process's context, built anew (an exec changes it), names the
	// ancestors the kernel sent, then the tree's beyond them: its exit and
	// its other events name the same.
	var names, exes []string
	if len(r.Ancestors) > 0 {
		names, exes = make([]string, 0, maxAncestors), make([]string, 0, maxAncestors)
		for _, an := range r.Ancestors {
			_, e, _, _ := c.tree.Lookup(an.PID)
			names, exes = append(names, an.Comm), append(exes, e)
		}
		if len(r.Ancestors) == ancestors {
			more, moreExes := c.tree.Ancestors(r.Ancestors[ancestors-1].PID, maxAncestors-ancestors)
			names, exes = append(names, more...), append(exes, moreExes...)
		}
	}
	e := c.newContext(r, names, exes)
	b := c.beginWith(r, TypeExec, e, false)
	b.Str("exe", exe)
	if r.Flags&FlagExeMemfd != 0 {
		b.Bool("exe_memfd", true)
	}
	if r.Flags&FlagExeDeleted != 0 {
		b.Bool("exe_deleted", true)
	}
	args := r.Args
	trunc := r.Flags&FlagArgsTrunc != 0 || int(r.ArgsBytes) > c.o.Events.MaxArgBytes
	if len(args) > c.o.Events.MaxArgs {
		args, trunc = args[:c.o.Events.MaxArgs], true
	}
	b.List("args", args)
	if trunc {
		b.Bool("args_truncated", true)
		b.Int("args_bytes", int64(r.ArgsTotal))
	}
	if r.Cwd != "" {
		cwd := r.Cwd
		if r.Flags&FlagCwdTrunc != 0 {
			cwd += "..."
		}
		b.Str("cwd", cwd)
	}
	b.Str("stdin", stdinKind(r.StdinMode, r.StdinRdev))
	b.Str("stdout", stdinKind(r.StdoutMode, r.StdoutRdev))
	c.joinPipes(r, &b.Attrs, exe)
	n := c.end()
	c.execs += uint64(n)
	if c.o.Spawn && (c.procs == nil || c.procs[r.Comm]) && !c.exclude[r.Comm] {
		b := c.begin(r, event.TypeProcSpawn)
		b.Str("name", r.Comm)
		b.Int("pid", int64(r.PID))
		b.Int("ppid", int64(r.PPID))
		b.Int("uid", int64(r.UID))
		b.Str("exe", exe)
		b.Str("state", "R")
		if e.hasStart {
			b.Int("start", e.start)
		}
		if e.parent != "" {
			b.Str("parent_name", e.parent)
		}
		n += c.end()
	}
	return n
}

// cgroupRetry is how long after failing to read a cgroup set's container
// the converter tries again for another process of the set, in ns.
const cgroupRetry = uint64(time.Second)

// execContainer notes the container of a process that exec'd: the one
// known for its cgroup set, else the one /proc/PID/cgroup names; when
// neither can be had, the one it inherited at its fork stays.
func (c *converter) execContainer(r *Record) {
	if ct, ok := c.byCgroups[r.Cgroups]; ok && r.Cgroups != 0 {
		c.setContainer(r.PID, ct)
		return
	}
	if last, ok := c.unreadCgroups[r.Cgroups]; ok && r.Cgroups != 0 && r.KTime-last < cgroupRetry {
		return
	}
	ct, ok := containerOf(filepath.Join(c.o.ProcRoot, strconv.FormatUint(uint64(r.PID), 10), "cgroup"))
	if !ok {
		if c.unreadCgroups != nil && r.Cgroups != 0 {
			if len(c.unreadCgroups) >= c.o.Events.MaxProcesses {
				clear(c.unreadCgroups)
			}
			c.unreadCgroups[r.Cgroups] = r.KTime
		}
		return
	}
	if ct != "" || c.containers[r.PID] == "" {
		c.setContainer(r.PID, ct)
	}
	if c.byCgroups != nil && r.Cgroups != 0 {
		if len(c.byCgroups) >= c.o.Events.MaxProcesses {
			clear(c.byCgroups)
		}
		c.byCgroups[r.Cgroups] = ct
		delete(c.unreadCgroups, r.Cgroups)
	}
}

func (c *converter) setContainer(pid uint32, ct string) {
	if ct == "" {
		delete(c.containers, pid)
		return
	}
	if len(c.containers) < c.o.Events.MaxProcesses {
		c.containers[pid] = ct
	}
}

// maxExited bounds the processes remembered as ended.
const maxExited = 4096

func (c *converter) exit(r *Record) int {
	if c.exited[r.PID] {
		return 0
	}
	c.exited[r.PID] = true
	c.exitedFIFO = append(c.exitedFIFO, r.PID)
	if len(c.exitedFIFO) > maxExited {
		delete(c.exited, c.exitedFIFO[0])
		c.exitedFIFO = c.exitedFIFO[1:]
	}
	code := r.ExitCode
	if e := c.o.Events.Exits; e == config.EventsExitsNone || e == config.EventsExitsSignalled && code&0x7f == 0 {
		delete(c.ctxCache, r.PID)
		c.tree.Exit(r.PID)
		delete(c.containers, r.PID)
		return 0
	}
	e := c.cachedContext(r)
	if r.BootStart != 0 {
		// The kernel's start, not the one the process was last known by.
		e.start, e.hasStart = int64(StartTicks(r.BootStart)), true
	}
	b := c.beginWith(r, TypeExit, e, true)
	b.Int("exit_code", int64((code>>8)&0xff))
	if sig := code & 0x7f; sig != 0 {
		b.Int("signal", int64(sig))
		if code&0x80 != 0 {
			b.Bool("core_dumped", true)
		}
	}
	if r.Start != 0 && r.KTime >= r.Start {
		b.Int("lifetime_ms", int64((r.KTime-r.Start)/1e6))
	}
	c.tree.Exit(r.PID)
	delete(c.containers, r.PID)
	return c.end()
}

func (c *converter) file(r *Record) int {
	given, given2 := r.Path, r.Path2
	if r.Flags&FlagPathUnclean != 0 && !c.reFilter(r) {
		return 0
	}
	typ := TypeModify
	switch r.Op {
	case OpOpen:
		typ = TypeOpen
	case OpChmod, OpChown:
		typ = TypePerm
	}
	b := c.beginWith(r, typ, c.cachedContext(r), true)
	if r.Path != given {
		b.Str("path_given", given)
	}
	if r.Op == OpRename && r.Path2 != given2 {
		b.Str("new_path_given", given2)
	}
	if r.Flags&FlagPathTrunc != 0 {
		b.Bool("path_truncated", true)
	}
	b.Str("path", r.Path)
	switch r.Op {
	case OpOpen:
		b.Int("flags", int64(r.Mode))
	case OpWrite:
		b.Str("op", "write")
		b.Int("flags", int64(r.Mode))
		if r.Mode&0o2000 != 0 {
			b.Bool("append", true)
		}
		if r.Mode&0o1000 != 0 {
			b.Bool("truncate", true)
		}
		if r.Mode&0o100 != 0 {
			b.Bool("create", true)
		}
	case OpTruncate:
		b.Str("op", "truncate")
	case OpRename:
		b.Str("op", "rename")
		b.Str("new_path", r.Path2)
		if r.Flags&FlagPath2Trunc != 0 {
			b.Bool("new_path_truncated", true)
		}
	case OpUnlink:
		b.Str("op", "unlink")
	case OpChmod:
		b.Str("op", "chmod")
		b.Str("mode", strconv.FormatUint(uint64(r.Mode&0o7777), 8))
		if r.Mode&0o4000 != 0 {
			b.Bool("setuid", true)
		}
		if r.Mode&0o2000 != 0 {
			b.Bool("setgid", true)
		}
	case OpChown:
		b.Str("op", "chown")
		if r.Owner != ^uint32(0) {
			b.Int("owner_uid", int64(r.Owner))
		}
		if r.Group != ^uint32(0) {
			b.Int("owner_gid", int64(r.Group))
		}
	}
	return c.end()
}

// stdinKind names what a process's standard input is from its inode's
// mode and device.
func stdinKind(mode, rdev uint32) string {
	major, minor := rdev>>20, rdev&0xfffff
	switch mode & 0o170000 {
	case 0:
		return "none"
	case 0o010000:
		return "pipe"
	case 0o140000:
		return "socket"
	case 0o100000:
		return "file"
	case 0o040000:
		return "dir"
	case 0o020000:
		switch {
		case major == 1 && minor == 3:
			return "null"
		case major == 4 || major == 5 || (major >= 136 && major <= 143):
			return "tty"
		}
		return "char"
	}
	return "other"
}

var ptraceRequests = map[uint32]string{4: "poketext", 5: "pokedata", 6: "pokeuser", 13: "setregs", 16: "attach", 0x4206: "seize"}

func ptraceRequest(r uint32) string {
	if s, ok := ptraceRequests[r]; ok {
		return s
	}
	return strconv.FormatUint(uint64(r), 10)
}

func family(f uint16) string {
	if f == 10 {
		return "inet6"
	}
	return "inet"
}

func proto(p, sockType uint16) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 132:
		return "sctp"
	case 1, 58:
		return "icmp"
	}
	if sockType == 1 {
		return "tcp"
	}
	return strconv.Itoa(int(p))
}

// containerRe finds a container id in a cgroup path: a docker, containerd,
// CRI-O or podman scope, or a path component of 64 hex digits.
var containerRe = regexp.MustCompile(`(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)`)

// containerOf reads /proc/PID/cgroup and returns the container id it names
// ("" for none); ok is false when the file cannot be read.
func containerOf(file string) (string, bool) {
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := containerRe.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], true
		}
	}
	return "", true
}
