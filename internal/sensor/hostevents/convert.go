package hostevents

import (
	"bufio"
	"maps"
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
}

// ctxEntry is a process's cached context and what it was built from.
type ctxEntry struct {
	gen                  uint64
	ppid, uid, euid, gid uint32
	cgroup               uint64
	comm                 string
	attrs                map[string]any
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

func (c *converter) event(r *Record, typ string, attrs map[string]any) event.Event {
	t := c.time(r.KTime).UTC()
	return event.Event{ID: c.o.IDs.NewID(t), Time: t, Type: typ, Host: c.o.Host, IP: c.o.IP, Source: "agent", Attrs: attrs}
}

// convert returns the events of one record (none for a fork).
func (c *converter) convert(r *Record) []event.Event {
	switch r.Kind {
	case KindFork:
		delete(c.exited, r.Child) // the pid is in use again
		delete(c.ctxCache, r.Child)
		c.tree.Fork(r.PID, r.Child, r.Comm, StartTicks(r.BootStart))
		if ct, ok := c.containers[r.PID]; ok && len(c.containers) < c.o.Events.MaxProcesses {
			c.containers[r.Child] = ct
		}
		return nil
	case KindExec:
		c.gen++
		delete(c.exited, r.PID)
		return c.exec(r)
	case KindExit:
		// The exit's context is the one the process's last events had
		// (built once, at its exec, for a short-lived process); the tree
		// changes after it.
		evs := c.exit(r)
		c.gen++
		delete(c.ctxCache, r.PID)
		return evs
	case KindFile:
		return c.file(r)
	}
	a := c.context(r)
	var typ string
	switch r.Kind {
	case KindCred:
		exe := a["exe"]
		if r.Flags&FlagViaExec != 0 {
			exe = r.Path
			a["via_exec"] = true
		}
		if s, _ := exe.(string); c.credExes[s] {
			return nil
		}
		if s, _ := exe.(string); s != "" {
			a["exe"] = s
		}
		typ = TypeCred
		for k, v := range map[string]uint32{"old_uid": r.OldUID, "old_euid": r.OldEUID, "old_gid": r.OldGID, "new_uid": r.NewUID, "new_euid": r.NewEUID, "new_gid": r.NewGID} {
			a[k] = int64(v)
		}
	case KindPtrace:
		typ = TypePtrace
		a["request"] = ptraceRequest(r.Request)
		a["target_pid"] = int64(r.Target)
		if name, exe, _, ok := c.tree.Lookup(r.Target); ok {
			a["target_name"] = name
			if exe != "" {
				a["target_exe"] = exe
			}
		}
	case KindMemfd:
		typ = TypeMemfd
		a["memfd_name"] = r.Str
		a["flags"] = int64(r.A)
	case KindModule:
		typ = TypeModule
		if r.A == 2 {
			a["syscall"] = "finit_module"
			a["fd"] = int64(r.B)
			if r.Path != "" {
				a["file"] = r.Path
			}
		} else {
			a["syscall"] = "init_module"
			a["bytes"] = int64(r.B)
		}
		if r.Str != "" {
			a["params"] = r.Str
		}
	case KindBPF:
		typ = TypeBPF
		a["command"] = "BPF_PROG_LOAD"
		a["prog_type"] = int64(r.ProgType)
		a["insns"] = int64(r.InsnCnt)
		if r.Str != "" {
			a["prog_name"] = r.Str
		}
	case KindConnect:
		typ = TypeConnect
		a["family"], a["proto"] = family(r.Family), proto(r.Protocol, r.SockType)
		a["daddr"], a["dport"] = r.RAddr.String(), int64(r.RPort)
		if r.LPort != 0 {
			a["sport"] = int64(r.LPort)
		}
		switch {
		case r.Result == 0:
			a["result"] = "ok"
		case r.Result == -115: // EINPROGRESS: a non-blocking connect under way
			a["result"] = "in_progress"
		default:
			a["result"] = "error"
			a["errno"] = int64(-r.Result)
		}
	case KindAccept:
		typ = TypeAccept
		a["family"], a["proto"] = family(r.Family), proto(r.Protocol, r.SockType)
		a["peer_addr"], a["peer_port"] = r.RAddr.String(), int64(r.RPort)
		a["local_addr"], a["local_port"] = r.LAddr.String(), int64(r.LPort)
	default:
		return nil
	}
	return []event.Event{c.event(r, typ, a)}
}

// context is the acting process's attributes, shared by every event, in
// a map of the event's own.
func (c *converter) context(r *Record) map[string]any {
	return c.cloneContext(c.cachedContext(r), r)
}

// cloneContext is a cached context in a map of the event's own.
func (c *converter) cloneContext(e *ctxEntry, r *Record) map[string]any {
	// A clone copies the map's tables as they are, with their room for
	// more (buildContext's): no key is hashed again.
	a := maps.Clone(e.attrs)
	if r.TID != r.PID {
		a["tid"] = int64(r.TID)
	}
	return a
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
	e := &ctxEntry{gen: c.gen, ppid: r.PPID, uid: r.UID, euid: r.EUID, gid: r.GID, cgroup: r.Cgroup, comm: r.Comm,
		attrs: c.buildContext(r, names, exes)}
	c.ctxCache[r.PID] = e
	return e
}

// current says whether e, a cached context, is still the one of the
// process r is about: nothing it was built from changed.
func (c *converter) current(e *ctxEntry, r *Record) bool {
	return e != nil && e.gen == c.gen && e.ppid == r.PPID && e.uid == r.UID && e.euid == r.EUID && e.gid == r.GID &&
		e.cgroup == r.Cgroup && e.comm == r.Comm
}

// lastContext is context for a process's last event (its exit): the
// cached map itself, which is forgotten after it, when it is current.
func (c *converter) lastContext(r *Record) map[string]any {
	if e := c.ctxCache[r.PID]; c.current(e, r) {
		delete(c.ctxCache, r.PID)
		if r.TID != r.PID {
			e.attrs["tid"] = int64(r.TID)
		}
		return e.attrs
	}
	return c.context(r)
}

// buildContext makes the attributes every event of a process carries,
// naming the ancestors given.
func (c *converter) buildContext(r *Record, names, exes []string) map[string]any {
	// Room for what an exec adds to its clone (context), or an exit,
	// which takes the map over (lastContext).
	a := make(map[string]any, 24)
	a["pid"], a["ppid"], a["uid"], a["euid"], a["gid"] = int64(r.PID), int64(r.PPID), int64(r.UID), int64(r.EUID), int64(r.GID)
	a["name"] = r.Comm
	if _, exe, _, ok := c.tree.Lookup(r.PID); ok && exe != "" {
		a["exe"] = exe
	}
	if st, ok := c.tree.Start(r.PID); ok {
		a["start"] = int64(st)
	}
	if len(names) > 0 {
		a["parent_name"] = names[0]
		if exes[0] != "" {
			a["parent_exe"] = exes[0]
		}
		a["ancestors"], a["ancestor_exes"] = names, exes
	}
	if ct := c.containers[r.PID]; ct != "" {
		a["container_id"] = ct
	}
	if r.Cgroup != 0 {
		a["cgroup_id"] = int64(r.Cgroup)
	}
	return a
}

func (c *converter) exec(r *Record) []event.Event {
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
	a := c.cloneContext(c.newContext(r, names, exes), r)
	a["exe"] = exe
	if r.Flags&FlagExeMemfd != 0 {
		a["exe_memfd"] = true
	}
	if r.Flags&FlagExeDeleted != 0 {
		a["exe_deleted"] = true
	}
	args := r.Args
	trunc := r.Flags&FlagArgsTrunc != 0 || int(r.ArgsBytes) > c.o.Events.MaxArgBytes
	if len(args) > c.o.Events.MaxArgs {
		args, trunc = args[:c.o.Events.MaxArgs], true
	}
	if args == nil {
		args = []string{}
	}
	a["args"] = args
	if trunc {
		a["args_truncated"] = true
		a["args_bytes"] = int64(r.ArgsTotal)
	}
	if r.Cwd != "" {
		cwd := r.Cwd
		if r.Flags&FlagCwdTrunc != 0 {
			cwd += "..."
		}
		a["cwd"] = cwd
	}
	a["stdin"] = boxedKind(r.StdinMode, r.StdinRdev)
	a["stdout"] = boxedKind(r.StdoutMode, r.StdoutRdev)
	c.joinPipes(r, a, exe)
	evs := make([]event.Event, 1, 2)
	evs[0] = c.event(r, TypeExec, a)
	if c.o.Spawn && (c.procs == nil || c.procs[r.Comm]) && !c.exclude[r.Comm] {
		// The values boxed once for both events.
		s := map[string]any{"name": a["name"], "pid": a["pid"], "ppid": a["ppid"], "uid": a["uid"], "exe": a["exe"], "state": "R"}
		if v, ok := a["start"]; ok {
			s["start"] = v
		}
		if v, ok := a["parent_name"]; ok {
			s["parent_name"] = v
		}
		evs = append(evs, c.event(r, event.TypeProcSpawn, s))
	}
	return evs
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

func (c *converter) exit(r *Record) []event.Event {
	if c.exited[r.PID] {
		return nil
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
		return nil
	}
	a := c.lastContext(r)
	if r.BootStart != 0 {
		a["start"] = int64(StartTicks(r.BootStart))
	}
	a["exit_code"] = int64((code >> 8) & 0xff)
	if sig := code & 0x7f; sig != 0 {
		a["signal"] = int64(sig)
		if code&0x80 != 0 {
			a["core_dumped"] = true
		}
	}
	if r.Start != 0 && r.KTime >= r.Start {
		a["lifetime_ms"] = int64((r.KTime - r.Start) / 1e6)
	}
	c.tree.Exit(r.PID)
	delete(c.containers, r.PID)
	return []event.Event{c.event(r, TypeExit, a)}
}

func (c *converter) file(r *Record) []event.Event {
	given, given2 := r.Path, r.Path2
	if r.Flags&FlagPathUnclean != 0 && !c.reFilter(r) {
		return nil
	}
	a := c.context(r)
	if r.Path != given {
		a["path_given"] = given
	}
	if r.Op == OpRename && r.Path2 != given2 {
		a["new_path_given"] = given2
	}
	p := r.Path
	if r.Flags&FlagPathTrunc != 0 {
		a["path_truncated"] = true
	}
	a["path"] = p
	typ := TypeModify
	switch r.Op {
	case OpOpen:
		typ = TypeOpen
		a["flags"] = int64(r.Mode)
	case OpWrite:
		a["op"] = "write"
		a["flags"] = int64(r.Mode)
		if r.Mode&0o2000 != 0 {
			a["append"] = true
		}
		if r.Mode&0o1000 != 0 {
			a["truncate"] = true
		}
		if r.Mode&0o100 != 0 {
			a["create"] = true
		}
	case OpTruncate:
		a["op"] = "truncate"
	case OpRename:
		a["op"] = "rename"
		a["new_path"] = r.Path2
		if r.Flags&FlagPath2Trunc != 0 {
			a["new_path_truncated"] = true
		}
	case OpUnlink:
		a["op"] = "unlink"
	case OpChmod:
		typ = TypePerm
		a["op"] = "chmod"
		a["mode"] = strconv.FormatUint(uint64(r.Mode&0o7777), 8)
		if r.Mode&0o4000 != 0 {
			a["setuid"] = true
		}
		if r.Mode&0o2000 != 0 {
			a["setgid"] = true
		}
	case OpChown:
		typ = TypePerm
		a["op"] = "chown"
		if r.Owner != ^uint32(0) {
			a["owner_uid"] = int64(r.Owner)
		}
		if r.Group != ^uint32(0) {
			a["owner_gid"] = int64(r.Group)
		}
	}
	return []event.Event{c.event(r, typ, a)}
}

// boxedKinds are the names stdinKind gives, each boxed once.
var boxedKinds = func() map[string]any {
	m := map[string]any{}
	for _, k := range []string{"none", "pipe", "socket", "file", "dir", "null", "tty", "char", "other"} {
		m[k] = k
	}
	return m
}()

// boxedKind is stdinKind as an attribute value.
func boxedKind(mode, rdev uint32) any { return boxedKinds[stdinKind(mode, rdev)] }

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
