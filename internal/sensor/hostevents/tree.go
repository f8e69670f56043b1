package hostevents

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// node is one process of the tree.
type node struct {
	ppid      uint32
	name, exe string
	// start is the process's start in clock ticks since boot (field 22
	// of /proc/PID/stat); hasStart says whether it is known.
	start    uint64
	hasStart bool
}

// Tree is the user-space process tree: seeded from /proc, then kept by
// the fork, exec and exit records. It is bounded: at its bound it first
// forgets processes /proc no longer has (exits the kernel could not
// report), then refuses new ones, counting them. Not safe for concurrent
// use.
type Tree struct {
	max      int
	procRoot string
	nodes    map[uint32]*node
	// Refused counts processes not added because the tree was full (read
	// it from any goroutine).
	Refused atomic.Uint64
	// fullPuts counts additions tried while full since the last prune: a
	// prune reads /proc for every process, so it is done again only after
	// a sixteenth of the bound has been refused.
	fullPuts int
	pruned   bool
}

// NewTree returns an empty tree of at most max processes.
func NewTree(max int, procRoot string) *Tree {
	return &Tree{max: max, procRoot: procRoot, nodes: make(map[uint32]*node, min(max, 4096))}
}

// Len is how many processes the tree holds.
func (t *Tree) Len() int { return len(t.nodes) }

// Seed adds every process /proc lists now.
func (t *Tree) Seed() error {
	ents, err := os.ReadDir(t.procRoot)
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		if n := t.read(uint32(pid)); n != nil {
			t.put(uint32(pid), n)
		}
	}
	return nil
}

// read reads a process from /proc, or returns nil.
func (t *Tree) read(pid uint32) *node {
	dir := filepath.Join(t.procRoot, strconv.FormatUint(uint64(pid), 10))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if l < 0 || r < l {
		return nil
	}
	f := strings.Fields(s[r+1:])
	if len(f) < 2 {
		return nil
	}
	ppid, _ := strconv.ParseUint(f[1], 10, 32)
	n := &node{ppid: uint32(ppid), name: Comm([]byte(s[l+1 : r]))}
	// f[0] is field 3; the start time is field 22.
	if len(f) > 22-3 {
		if st, err := strconv.ParseUint(f[22-3], 10, 64); err == nil {
			n.start, n.hasStart = st, true
		}
	}
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		n.exe = Text([]byte(exe))
	}
	return n
}

func (t *Tree) put(pid uint32, n *node) {
	if _, ok := t.nodes[pid]; !ok && len(t.nodes) >= t.max {
		if !t.pruned || t.fullPuts >= t.max/16 {
			t.prune()
			t.pruned, t.fullPuts = true, 0
		}
		if len(t.nodes) >= t.max {
			t.fullPuts++
			t.Refused.Add(1)
			return
		}
	}
	t.nodes[pid] = n
}

// prune forgets processes that /proc no longer has.
func (t *Tree) prune() {
	for pid := range t.nodes {
		if _, err := os.Stat(filepath.Join(t.procRoot, strconv.FormatUint(uint64(pid), 10))); os.IsNotExist(err) {
			delete(t.nodes, pid)
		}
	}
}

// Fork adds child, a copy of parent running the same program, started at
// start clock ticks since boot (0: unknown).
func (t *Tree) Fork(parent, child uint32, comm string, start uint64) {
	n := &node{ppid: parent, name: comm, start: start, hasStart: start != 0}
	if p := t.nodes[parent]; p != nil {
		n.exe = p.exe
	}
	t.put(child, n)
}

// Exec notes that pid, child of ppid, runs exe under name; start is the
// process's start in clock ticks since boot (0: unknown, the one known
// is kept).
func (t *Tree) Exec(pid, ppid uint32, name, exe string, start uint64) {
	if n := t.nodes[pid]; n != nil {
		n.ppid, n.name, n.exe = ppid, name, exe
		if start != 0 {
			n.start, n.hasStart = start, true
		}
		return
	}
	t.put(pid, &node{ppid: ppid, name: name, exe: exe, start: start, hasStart: start != 0})
}

// Exit forgets pid.
func (t *Tree) Exit(pid uint32) { delete(t.nodes, pid) }

// Lookup returns pid's name and executable, reading /proc for a process
// the tree does not know (and adding it).
func (t *Tree) Lookup(pid uint32) (name, exe string, ppid uint32, ok bool) {
	n := t.nodes[pid]
	if n == nil {
		if n = t.read(pid); n == nil {
			return "", "", 0, false
		}
		t.put(pid, n)
	}
	return n.name, n.exe, n.ppid, true
}

// Start returns pid's start in clock ticks since boot, reading /proc for
// a process the tree does not know (and adding it).
func (t *Tree) Start(pid uint32) (uint64, bool) {
	n := t.nodes[pid]
	if n == nil {
		if n = t.read(pid); n == nil {
			return 0, false
		}
		t.put(pid, n)
	}
	return n.start, n.hasStart
}

// Ancestors returns the names and executables of up to max processes above
// pid, nearest first.
func (t *Tree) Ancestors(pid uint32, max int) (names, exes []string) {
	// The pids walked, to stop at a loop (a tree read from /proc while
	// pids were reused can have one).
	var seenBuf [maxAncestors + 1]uint32
	seen := append(seenBuf[:0], pid)
	names, exes = make([]string, 0, max), make([]string, 0, max)
	for len(names) < max {
		_, _, ppid, ok := t.Lookup(pid)
		if !ok || ppid == 0 || slices.Contains(seen, ppid) {
			break
		}
		seen = append(seen, ppid)
		name, exe, _, ok := t.Lookup(ppid)
		if !ok {
			break
		}
		names, exes = append(names, name), append(exes, exe)
		pid = ppid
	}
	if len(names) == 0 {
		return nil, nil
	}
	return names, exes
}
