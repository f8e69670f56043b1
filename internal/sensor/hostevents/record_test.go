package hostevents

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// rec builds a record as the kernel writes it: header, body words, data.
func rec(kind Kind, flags uint32, pid uint32, comm string, body []uint32, data []byte) []byte {
	b := make([]byte, dataOff, dataOff+len(data))
	binary.LittleEndian.PutUint32(b[0:], uint32(kind))
	binary.LittleEndian.PutUint32(b[4:], flags)
	binary.LittleEndian.PutUint64(b[8:], 5e9)
	binary.LittleEndian.PutUint32(b[16:], pid)
	binary.LittleEndian.PutUint32(b[20:], pid)
	binary.LittleEndian.PutUint32(b[24:], 1)
	binary.LittleEndian.PutUint32(b[28:], 1000)
	binary.LittleEndian.PutUint32(b[32:], 1000)
	copy(b[48:64], comm)
	for i, w := range body {
		binary.LittleEndian.PutUint32(b[hdrSize+4*i:], w)
	}
	return append(b, data...)
}

func execRec(path string, args []string, flags uint32) []byte {
	return execRecIn(path, "/srv", args, flags)
}

// execRecIn is an exec record with a working directory, laid out as the
// kernel writes it: the path, the directory, argv.
func execRecIn(path, cwd string, args []string, flags uint32) []byte {
	argv := []byte(strings.Join(args, "\x00") + "\x00")
	data := make([]byte, (len(path)+1)&(pathCap-1))
	copy(data, path)
	data = append(data, cwd...)
	data = append(data, 0)
	data = append(data, argv...)
	return rec(KindExec, flags, 42, "sh", []uint32{uint32(len(path)), uint32(len(argv)), uint32(len(argv)), 0o020666, 1<<20 | 3, 0, uint32(len(cwd)), 0, 7, 0}, data)
}

func TestDecodeExec(t *testing.T) {
	r, err := Decode(execRec("/bin/sh", []string{"sh", "-c", "id"}, FlagExeDeleted))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindExec || r.PID != 42 || r.Comm != "sh" || r.Path != "/bin/sh" || r.Cwd != "/srv" || r.Cgroups != 7 || !slices.Equal(r.Args, []string{"sh", "-c", "id"}) {
		t.Fatalf("%+v", r)
	}
	if stdinKind(r.StdinMode, r.StdinRdev) != "null" {
		t.Errorf("stdin %s, want null", stdinKind(r.StdinMode, r.StdinRdev))
	}
}

// Lengths that run past the record, over their bound, unknown kinds and
// operations are errors naming the kind and the byte offset.
func TestDecodeRejectsDamagedRecords(t *testing.T) {
	good := execRec("/bin/sh", []string{"sh"}, 0)
	longPath := slices.Clone(good)
	binary.LittleEndian.PutUint32(longPath[hdrSize:], 5000)
	pastEnd := slices.Clone(good)
	binary.LittleEndian.PutUint32(pastEnd[hdrSize+4:], 900)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than its 224-byte header and body"},
		{"short", good[:100], "shorter than"},
		{"huge", make([]byte, MaxRecordBytes+1), "longer than"},
		{"path over its bound", longPath, "string length 5000 over its bound"},
		{"argv past the end", pastEnd, "argv of 900 bytes runs past the record's end"},
		{"unknown kind", rec(99, 0, 1, "x", nil, nil), "unknown record kind 99"},
		{"unknown file op", rec(KindFile, 0, 1, "x", []uint32{77}, nil), "unknown file operation 77"},
		{"bad family", rec(KindConnect, 0, 1, "x", []uint32{7}, nil), "address family 7"},
	} {
		_, err := Decode(tc.b)
		var de *DecodeError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at byte") {
			t.Errorf("%s: error %v, want a DecodeError with %q and its offset", tc.name, err, tc.want)
		}
	}
}

// Bytes a process chose stay text: invalid UTF-8 becomes \xNN (and a
// backslash \\), control characters stay as they are in paths and are
// replaced in process names.
func TestTextOfHostileBytes(t *testing.T) {
	if got := Text([]byte("a\nb\xff\\c")); got != `a`+"\n"+`b\xff\\c` {
		t.Errorf("Text %q", got)
	}
	if got := Comm([]byte("x\ny\x00junk")); got != "x?y" {
		t.Errorf("Comm %q", got)
	}
}

// converterFor is a converter whose /proc is an empty directory.
func converterFor(t testing.TB) *converter {
	o := Options{Host: "h", Events: config.DefaultAgentEvents(), ProcRoot: t.TempDir(), Spawn: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	o.Clock = clock.NewManual(time.Unix(1e9, 0))
	return newConverter(o, 0, o.Clock.Now())
}

// The argv kept is bounded by max_args: beyond it args_truncated says so.
func TestArgsBoundedByMaxArgs(t *testing.T) {
	c := converterFor(t)
	c.o.Events.MaxArgs = 3
	args := make([]string, 10)
	for i := range args {
		args[i] = "a"
	}
	r, err := Decode(execRec("/bin/x", args, 0))
	if err != nil {
		t.Fatal(err)
	}
	evs := c.convert(&r)
	if got := evs[0].Attrs["args"].([]string); len(got) != 3 || evs[0].Attrs["args_truncated"] != true {
		t.Errorf("args %q truncated %v, want 3 and true", got, evs[0].Attrs["args_truncated"])
	}
	if evs[0].Time != time.Unix(1e9, 0).Add(5*time.Second).UTC() {
		t.Errorf("time %v: the kernel's clock is not mapped to the wall clock", evs[0].Time)
	}
}

// The tree forgets what /proc no longer has when it is full, then refuses
// and counts.
func TestTreeIsBounded(t *testing.T) {
	proc := t.TempDir()
	for pid := 1; pid <= 100; pid++ {
		if err := os.Mkdir(filepath.Join(proc, strconv.Itoa(pid)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr := NewTree(64, proc)
	for pid := uint32(1); pid <= 100; pid++ {
		tr.Fork(pid-1, pid, "p", 0)
	}
	if tr.Len() != 64 || tr.Refused.Load() != 36 {
		t.Errorf("tree of %d processes, %d refused; want the bound, 64, and 36", tr.Len(), tr.Refused.Load())
	}
	// Processes gone from /proc make room.
	for pid := 1; pid <= 32; pid++ {
		os.Remove(filepath.Join(proc, strconv.Itoa(pid)))
	}
	for pid := uint32(101); pid <= 110; pid++ {
		tr.Fork(1, pid, "q", 0)
	}
	if _, _, _, ok := tr.Lookup(110); !ok {
		t.Error("no room made for a new process after others left /proc")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(execRec("/bin/sh", []string{"sh", "-c", "id"}, 0))
	f.Add(execRec("/memfd:x", nil, FlagExeMemfd|FlagExeDeleted|FlagArgsTrunc))
	f.Add(rec(KindFile, FlagPathTrunc, 7, "mv", []uint32{OpRename, 0, 0, 0, 4, 4}, []byte("/a/b\x00/c/d\x00")))
	f.Add(rec(KindFile, 0, 7, "chmod", []uint32{OpChmod, 0o4755, 0, 0, 3}, []byte("/x\xff")))
	f.Add(rec(KindExit, 0, 7, "x", []uint32{0x0900, 0, 1, 0}, nil))
	f.Add(rec(KindCred, FlagViaExec, 7, "x", []uint32{1000, 1000, 1000, 0, 0, 0, 2}, []byte("/x")))
	f.Add(rec(KindConnect, 0, 7, "x", []uint32{2 | 6<<16, 1 | 80<<16 /* lport 0, rport 80 */}, nil))
	f.Add(rec(KindModule, 0, 7, "x", []uint32{2, 3, 1, 2}, append(append([]byte("p"), make([]byte, 255)...), "/m"...)))
	f.Add(rec(KindBPF, 0, 7, "x", []uint32{5, 1, 10}, nil))
	f.Add(rec(KindPtrace, 0, 7, "x", []uint32{16, 1}, nil))
	f.Add(rec(KindMemfd, 0, 7, "x", []uint32{0, 0, 3}, []byte("a\nb")))
	f.Add(rec(KindFork, 0, 7, "x", []uint32{8}, nil))
	f.Add(rec(KindFork, 0, 7, "x", []uint32{8, 0, 0xffffffff, 0xffffffff}, nil)) // the largest start time
	f.Add(rec(KindExit, 0, 7, "x", []uint32{0, 0, 1, 0, 5, 1}, nil))
	f.Add(rec(KindFile, FlagPathUnclean, 7, "rm", []uint32{OpUnlink, 0, 0, 0, 12}, []byte("/etc/../\xff/.\x00")))
	f.Add(rec(KindFile, FlagPathUnclean|FlagPathTrunc, 7, "mv", []uint32{OpRename, 0, 0, 0, 4, 5}, []byte("/a/.\x00//b/\x00")))
	piped := execRec("/bin/sh", []string{"sh"}, 0)
	binary.LittleEndian.PutUint64(piped[hdrSize+128:], 77)
	binary.LittleEndian.PutUint64(piped[hdrSize+136:], 78)
	f.Add(piped)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a DecodeError", err)
			}
			return
		}
		c := converterFor(t)
		for _, ev := range c.convert(&r) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid %s event from a decoded record: %v (%v)", ev.Type, err, ev.Attrs)
			}
			if _, err := event.DecodeJSON(ev.AppendJSON(nil)); err != nil {
				t.Fatalf("the event does not read back: %v", err)
			}
		}
		if bytes.Contains([]byte(r.Comm), []byte{'\n'}) {
			t.Fatal("a process name kept a newline")
		}
	})
}

// Container ids come from the cgroup paths of docker, containerd, CRI-O
// and podman.
func TestContainerOf(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct{ cgroup, want string }{
		{"0::/system.slice/docker-" + id + ".scope\n", id},
		{"12:memory:/docker/" + id + "\n", id},
		{"0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope\n", id},
		{"0::/machine.slice/libpod-" + id + ".scope/container\n", id},
		{"0::/user.slice/user-1000.slice/session-2.scope\n", ""},
		{"0::/" + id[:63] + "\n", ""},
	} {
		f := filepath.Join(t.TempDir(), "cgroup")
		if err := os.WriteFile(f, []byte(tc.cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, ok := containerOf(f); !ok || got != tc.want {
			t.Errorf("%q: container %q, want %q", tc.cgroup, got, tc.want)
		}
	}
	if _, ok := containerOf(filepath.Join(t.TempDir(), "none")); ok {
		t.Error("a missing file was read")
	}
}

// The types this package makes are Vigil's own (event.KnownType), so files
// that name them are not told they misspelt them.
func TestTypesAreKnown(t *testing.T) {
	for _, typ := range []string{TypeExec, TypeExit, TypeOpen, TypeModify, TypePerm, TypeCred, TypePtrace, TypeMemfd, TypeModule, TypeBPF, TypeConnect, TypeAccept} {
		if !event.KnownType(typ) {
			t.Errorf("%s is not in event's own types", typ)
		}
	}
}

// The end of a process the kernel reports for two of its threads is one
// PROC.EXIT; a pid used again (forked anew) ends again.
func TestExitReportedOnce(t *testing.T) {
	c := converterFor(t)
	exit := rec(KindExit, 0, 77, "w", []uint32{9, 0, 1, 0}, nil)
	var n int
	for range 2 {
		r, err := Decode(exit)
		if err != nil {
			t.Fatal(err)
		}
		n += len(c.convert(&r))
	}
	fork, _ := Decode(rec(KindFork, 0, 1, "init", []uint32{77}, nil))
	c.convert(&fork)
	r, _ := Decode(exit)
	n += len(c.convert(&r))
	if n != 2 {
		t.Errorf("%d PROC.EXIT, want 2 (one per life of pid 77)", n)
	}
}

// The start time the kernel gives in CLOCK_BOOTTIME ns becomes clock
// ticks (1/100 s) in the start attribute: of the exec'd process's every
// event, of a forked child's before it executes anything, and of the end.
func TestStartFromKernelRecords(t *testing.T) {
	c := converterFor(t)
	const boot = 123_456_789_012 // ns after boot: tick 12345
	fork := rec(KindFork, 0, 1, "init", []uint32{42, 0, boot & 0xffffffff, boot >> 32}, nil)
	r, err := Decode(fork)
	if err != nil {
		t.Fatal(err)
	}
	if r.Child != 42 || r.BootStart != boot {
		t.Fatalf("fork record: %+v", r)
	}
	c.convert(&r)
	file := rec(KindFile, 0, 42, "sh", []uint32{OpUnlink, 0, 0, 0, 4, 0}, []byte("/x/y\x00"))
	if r, err = Decode(file); err != nil {
		t.Fatal(err)
	}
	if evs := c.convert(&r); len(evs) != 1 || evs[0].Attrs["start"] != int64(12345) {
		t.Errorf("event of a forked child: %v, want start 12345", evs)
	}
	ex := execRec("/bin/sh", []string{"sh"}, 0)
	binary.LittleEndian.PutUint64(ex[hdrSize+120:], boot+1e7) // another life of pid 42
	if r, err = Decode(ex); err != nil {
		t.Fatal(err)
	}
	evs := c.convert(&r)
	if len(evs) != 2 || evs[0].Attrs["start"] != int64(12346) || evs[1].Type != event.TypeProcSpawn || evs[1].Attrs["start"] != int64(12346) {
		t.Errorf("PROC.EXEC and PROC.SPAWN: %v, want start 12346", evs)
	}
	if r, err = Decode(file); err != nil {
		t.Fatal(err)
	}
	if evs := c.convert(&r); evs[0].Attrs["start"] != int64(12346) {
		t.Errorf("event after the exec: start %v, want 12346", evs[0].Attrs["start"])
	}
	exit := rec(KindExit, 0, 42, "sh", []uint32{0, 0, 1, 0, boot & 0xffffffff, boot >> 32}, nil)
	if r, err = Decode(exit); err != nil {
		t.Fatal(err)
	}
	if evs := c.convert(&r); evs[0].Attrs["start"] != int64(12345) {
		t.Errorf("PROC.EXIT: start %v, want the exit record's 12345", evs[0].Attrs["start"])
	}
}

// A process the tree learns of from /proc takes its start from field 22
// of its stat, whatever its name holds; one whose start is unknown has no
// start attribute (a report without it acts on nothing).
func TestStartOfSeededProcess(t *testing.T) {
	c := converterFor(t)
	dir := filepath.Join(c.o.ProcRoot, "55")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := "55 (a) b (c) S 1 55 55 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615\n"
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[uint32]any{55: int64(98765), 56: nil} {
		r, err := Decode(rec(KindPtrace, 0, pid, "x", []uint32{16, 1}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.convert(&r)[0].Attrs["start"]; got != want {
			t.Errorf("pid %d: start %v, want %v", pid, got, want)
		}
	}
}

// The container of a process that exec'd comes from its cgroup set: read
// from /proc/PID/cgroup once for the set, then known. A set whose file
// could not be read (its process had ended, as short-lived ones have by
// the time their exec is read) is tried again at most once a second, not
// at every exec.
func TestUnreadCgroupsTriedAgainOncePerSecond(t *testing.T) {
	proc := t.TempDir()
	o := Options{Host: "h", Events: config.DefaultAgentEvents(), ProcRoot: proc}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	c := newConverter(o, 0, time.Unix(0, 0))
	c.byCgroups, c.unreadCgroups = map[uint64]string{}, map[uint64]uint64{}
	id := strings.Repeat("0123456789abcdef", 4)
	exec := func(pid uint32, ktime time.Duration) any {
		t.Helper()
		r, err := Decode(execRec("/bin/true", []string{"true"}, 0))
		if err != nil {
			t.Fatal(err)
		}
		r.PID, r.TID, r.Cgroups, r.KTime = pid, pid, 7, uint64(ktime)
		return execOf(t, c.convert(&r)).Attrs["container_id"]
	}
	if ct := exec(100, 10*time.Second); ct != nil {
		t.Fatalf("a process with no /proc entry has container %v", ct)
	}
	if err := os.MkdirAll(filepath.Join(proc, "101"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "101", "cgroup"), []byte("0::/system.slice/docker-"+id+".scope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ct := exec(101, 10500*time.Millisecond); ct != nil {
		t.Fatalf("the set was read again 0.5 s after it could not be: container %v", ct)
	}
	if ct := exec(101, 11100*time.Millisecond); ct != id {
		t.Fatalf("1.1 s later: container %v, want %s", ct, id)
	}
	if ct := exec(102, 11200*time.Millisecond); ct != id {
		t.Fatalf("another process of the set, with no /proc entry: container %v, want %s (known for the set)", ct, id)
	}
}

// The decoder's cache of process names gives what Comm gives, hostile
// bytes included, and stays bounded.
func TestCommCache(t *testing.T) {
	cc := comms{}
	for _, name := range []string{"sh", "a\nb\x1b[31m", "\xff\xfeok", "sh"} {
		var b [16]byte
		copy(b[:], name)
		if got, want := cc.text(b[:]), Comm(b[:]); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
	for i := range maxComms + 10 {
		var b [16]byte
		copy(b[:], strconv.Itoa(i))
		cc.text(b[:])
	}
	if len(cc) > maxComms {
		t.Errorf("%d names kept, bound %d", len(cc), maxComms)
	}
}

// agent.events.exits says which ends are PROC.EXIT: all, those by a
// signal, or none; the process tree forgets every ended process either way.
func TestExitsSetting(t *testing.T) {
	for _, tc := range []struct {
		exits string
		want  []int64 // the pids whose PROC.EXIT is made
	}{
		{config.EventsExitsAll, []int64{77, 78}},
		{config.EventsExitsSignalled, []int64{77}},
		{config.EventsExitsNone, nil},
	} {
		t.Run(tc.exits, func(t *testing.T) {
			c := converterFor(t)
			c.o.Events.Exits = tc.exits
			var got []int64
			for _, p := range []struct {
				pid  uint32
				code uint32
			}{{77, 9}, {78, 1 << 8}} { // killed by SIGKILL; exit(1)
				fork, _ := Decode(rec(KindFork, 0, 1, "init", []uint32{p.pid}, nil))
				c.convert(&fork)
				if _, _, _, ok := c.tree.Lookup(p.pid); !ok {
					t.Fatalf("pid %d not in the tree after its fork", p.pid)
				}
				exit, err := Decode(rec(KindExit, 0, p.pid, "w", []uint32{p.code, 0, 1, 0}, nil))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range c.convert(&exit) {
					if e.Type != TypeExit {
						t.Errorf("an end made %s", e.Type)
					}
					got = append(got, e.Attrs["pid"].(int64))
				}
				if _, _, _, ok := c.tree.Lookup(p.pid); ok {
					t.Errorf("pid %d still in the tree after its end", p.pid)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("PROC.EXIT of %v, want %v", got, tc.want)
			}
		})
	}
}
