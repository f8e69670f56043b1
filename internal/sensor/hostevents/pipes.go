package hostevents

import (
	"path"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
)

// The pipe join: an exec record names the pipes on the new program's
// standard input and output (their inode numbers). The converter keeps the
// programs lately seen at either end of a pipe, so that the reader's
// PROC.EXEC names the writer ("curl URL | sh": sh's stdin is curl's
// stdout) when the writer's exec came first, and the writer's PROC.EXEC
// names the reader when the reader's came first. Entries expire after
// pipeTTL of kernel time and each table holds at most maxPipes entries,
// the oldest evicted first.
const (
	maxPipes = 4096
	pipeTTL  = 60e9 // ns
	// Bounds of the other end's argv an event carries.
	pipeArgs      = 16
	pipeArgsBytes = 1024
)

// pipeEnd is a program at one end of a pipe, as its exec saw it.
type pipeEnd struct {
	pid   uint32
	name  string
	exe   string
	args  []string
	ktime uint64
}

// pipeTable is the programs at one end of pipes, by pipe inode, bounded and
// expiring.
type pipeTable struct {
	m    map[uint64]pipeEnd
	fifo []pipeKey
}

type pipeKey struct {
	ino   uint64
	ktime uint64
}

func newPipeTable() *pipeTable { return &pipeTable{m: map[uint64]pipeEnd{}} }

// put remembers e at pipe ino (the latest exec wins), evicting what has
// expired by e's time and the oldest beyond maxPipes.
func (t *pipeTable) put(ino uint64, e pipeEnd) {
	t.m[ino] = e
	t.fifo = append(t.fifo, pipeKey{ino, e.ktime})
	for len(t.fifo) > 0 {
		k := t.fifo[0]
		// (Records of different CPUs may come a little out of order.)
		if len(t.fifo) <= maxPipes && (e.ktime <= k.ktime || e.ktime-k.ktime < pipeTTL) {
			break
		}
		if cur, ok := t.m[k.ino]; ok && cur.ktime == k.ktime {
			delete(t.m, k.ino)
		}
		t.fifo = t.fifo[1:]
	}
}

// get returns the program at pipe ino unless it is older than pipeTTL at
// kernel time now.
func (t *pipeTable) get(ino, now uint64) (pipeEnd, bool) {
	e, ok := t.m[ino]
	if !ok || (now > e.ktime && now-e.ktime >= pipeTTL) {
		return pipeEnd{}, false
	}
	return e, true
}

// boundArgs is argv cut to pipeArgs arguments and pipeArgsBytes bytes.
func boundArgs(args []string) []string {
	out := make([]string, 0, min(len(args), pipeArgs))
	n := 0
	for _, a := range args {
		if len(out) == pipeArgs || n >= pipeArgsBytes {
			break
		}
		if len(a) > pipeArgsBytes-n {
			a = cutText(a, pipeArgsBytes-n)
		}
		n += len(a)
		out = append(out, a)
	}
	return out
}

// cutText cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutText(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

// joinPipes adds to an exec's attributes a the program at the other end of
// its standard input (stdin_from...) or output (stdout_to...) pipe, when
// that one was seen first, and remembers this exec's ends for the other's.
func (c *converter) joinPipes(r *Record, a *event.Attrs, exe string) {
	if r.StdinPipe == 0 && r.StdoutPipe == 0 {
		return
	}
	self := pipeEnd{pid: r.PID, name: r.Comm, exe: exe, args: boundArgs(r.Args), ktime: r.KTime}
	set := func(prefix string, e pipeEnd) {
		a.Str(prefix, e.name)
		a.Int(prefix+"_pid", int64(e.pid))
		if e.exe != "" {
			a.Str(prefix+"_exe", e.exe)
		}
		a.List(prefix+"_args", e.args)
	}
	if r.StdinPipe != 0 {
		if w, ok := c.writers.get(r.StdinPipe, r.KTime); ok && w.pid != r.PID {
			set("stdin_from", w)
		}
		c.readers.put(r.StdinPipe, self)
	}
	if r.StdoutPipe != 0 {
		if rd, ok := c.readers.get(r.StdoutPipe, r.KTime); ok && rd.pid != r.PID {
			set("stdout_to", rd)
		}
		c.writers.put(r.StdoutPipe, self)
	}
}

// Watch classes (CLASS_* in the C source).
const (
	classOpen   = 1
	classModify = 2
	classPerm   = 4
)

// The filter of paths the kernel sent unfiltered (FlagPathUnclean): the
// watched prefixes and names, as the kernel's maps hold them.
type pathFilter struct {
	prefixes []watchedPrefix
	names    map[string]uint32
}

type watchedPrefix struct {
	prefix string
	class  uint32
}

func newPathFilter(o Options) *pathFilter {
	e := o.Events
	f := &pathFilter{names: map[string]uint32{}}
	for _, l := range []struct {
		list  []string
		class uint32
	}{{e.OpenPaths, classOpen}, {e.ModifyPaths, classModify}, {e.PermPaths, classPerm}} {
		for _, p := range l.list {
			f.prefixes = append(f.prefixes, watchedPrefix{p, l.class})
		}
	}
	for _, n := range e.OpenNames {
		f.names[n] |= classOpen
	}
	for _, n := range e.ModifyNames {
		f.names[n] |= classModify
	}
	return f
}

// classes are those path p is watched for: of every prefix of it, and of
// its last component's name.
func (f *pathFilter) classes(p string) uint32 {
	var c uint32
	for _, w := range f.prefixes {
		if strings.HasPrefix(p, w.prefix) {
			c |= w.class
		}
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 && i+1 < len(p) {
		c |= f.names[p[i+1:]]
	}
	return c
}

// cleanPath resolves "." and ".." components and repeated slashes of an
// absolute path lexically (symbolic links are not followed: a ".." after
// one goes up from where the link is, not from its target).
func cleanPath(p string) string {
	if p == "" {
		return p
	}
	return path.Clean(p)
}

// reFilter cleans the paths of a file record the kernel sent unfiltered
// and says whether it is watched, as the kernel would have decided for
// the clean paths.
func (c *converter) reFilter(r *Record) bool {
	r.Path = cleanPath(r.Path)
	classes := c.filter.classes(r.Path)
	need := uint32(classModify)
	switch r.Op {
	case OpRename:
		r.Path2 = cleanPath(r.Path2)
		classes |= c.filter.classes(r.Path2)
	case OpChmod:
		need = classPerm | classModify
		if r.Mode&0o6000 != 0 {
			classes |= classPerm
		}
	case OpChown:
		need = classPerm | classModify
	case OpOpen:
		need = classOpen
	}
	return classes&need != 0
}
