package hostevents

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/event"
)

// pipeExec is the exec record of pid running path with argv args at kernel
// time ktime (ns), with pipes stdin and stdout on fd 0 and fd 1 (0: none).
func pipeExec(t *testing.T, pid uint32, comm, path string, args []string, stdin, stdout, ktime uint64) Record {
	t.Helper()
	b := execRecIn(path, "/", args, 0)
	binary.LittleEndian.PutUint64(b[8:], ktime)
	binary.LittleEndian.PutUint32(b[16:], pid)
	binary.LittleEndian.PutUint32(b[20:], pid)
	copy(b[48:64], append([]byte(comm), make([]byte, 16)...)[:16])
	if stdin != 0 {
		binary.LittleEndian.PutUint32(b[hdrSize+12:], 0o010600)
	}
	binary.LittleEndian.PutUint64(b[hdrSize+128:], stdin)
	binary.LittleEndian.PutUint64(b[hdrSize+136:], stdout)
	if stdout != 0 {
		binary.LittleEndian.PutUint32(b[hdrSize+144:], 0o010600)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func execOf(t *testing.T, evs []event.Event) event.Event {
	t.Helper()
	for _, e := range evs {
		if e.Type == TypeExec {
			return e
		}
	}
	t.Fatalf("no PROC.EXEC in %v", evs)
	return event.Event{}
}

// curl's exec first: sh's PROC.EXEC names curl at the other end of its
// standard input.
func TestPipeReaderNamesTheWriterExecdBefore(t *testing.T) {
	c := converterFor(t)
	curl := pipeExec(t, 100, "curl", "/usr/bin/curl", []string{"curl", "-s", "http://10.0.0.9/x"}, 0, 77, 5e9)
	ce := execOf(t, c.convert(&curl))
	if ce.Attrs["stdout"] != "pipe" || ce.Attrs["stdin"] != "null" {
		t.Errorf("curl's stdin %v stdout %v, want null and pipe", ce.Attrs["stdin"], ce.Attrs["stdout"])
	}
	if _, ok := ce.Attrs["stdout_to"]; ok {
		t.Errorf("curl names a reader no exec has shown: %v", ce.Attrs)
	}
	sh := pipeExec(t, 101, "sh", "/usr/bin/dash", []string{"sh"}, 77, 0, 5e9+1e6)
	e := execOf(t, c.convert(&sh))
	if e.Attrs["stdin"] != "pipe" || e.Attrs["stdin_from"] != "curl" || e.Attrs["stdin_from_exe"] != "/usr/bin/curl" ||
		e.Attrs["stdin_from_pid"] != int64(100) || !slices.Equal(e.Attrs["stdin_from_args"].([]string), []string{"curl", "-s", "http://10.0.0.9/x"}) {
		t.Errorf("sh's PROC.EXEC %v", e.Attrs)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}

// sh's exec first: curl's PROC.EXEC names sh at the other end of its
// standard output.
func TestPipeWriterNamesTheReaderExecdBefore(t *testing.T) {
	c := converterFor(t)
	sh := pipeExec(t, 201, "sh", "/usr/bin/dash", []string{"sh"}, 78, 0, 5e9)
	if e := execOf(t, c.convert(&sh)); e.Attrs["stdin_from"] != nil {
		t.Errorf("sh names a writer no exec has shown: %v", e.Attrs)
	}
	curl := pipeExec(t, 200, "curl", "/usr/bin/curl", []string{"curl", "http://x/"}, 0, 78, 5e9+1e6)
	e := execOf(t, c.convert(&curl))
	if e.Attrs["stdout_to"] != "sh" || e.Attrs["stdout_to_exe"] != "/usr/bin/dash" || e.Attrs["stdout_to_pid"] != int64(201) {
		t.Errorf("curl's PROC.EXEC %v", e.Attrs)
	}
	// Another pipe joins nothing.
	other := pipeExec(t, 202, "sh", "/usr/bin/dash", []string{"sh"}, 79, 0, 5e9+2e6)
	if e := execOf(t, c.convert(&other)); e.Attrs["stdin_from"] != nil {
		t.Errorf("a pipe no writer was seen on names one: %v", e.Attrs)
	}
}

// A writer seen more than a minute before the reader is forgotten, and the
// tables stay bounded however many pipes pass.
func TestPipeJoinExpiresAndIsBounded(t *testing.T) {
	c := converterFor(t)
	curl := pipeExec(t, 300, "curl", "/usr/bin/curl", []string{"curl"}, 0, 90, 5e9)
	c.convert(&curl)
	sh := pipeExec(t, 301, "sh", "/usr/bin/dash", []string{"sh"}, 90, 0, 5e9+pipeTTL)
	if e := execOf(t, c.convert(&sh)); e.Attrs["stdin_from"] != nil {
		t.Errorf("a writer of a minute ago is still joined: %v", e.Attrs)
	}
	tb := newPipeTable()
	for i := range uint64(3 * maxPipes) {
		tb.put(i+1, pipeEnd{pid: uint32(i), ktime: 5e9 + i})
	}
	if len(tb.m) > maxPipes || len(tb.fifo) > maxPipes {
		t.Errorf("%d pipes and %d queued, want at most %d", len(tb.m), len(tb.fifo), maxPipes)
	}
	if _, ok := tb.get(3*maxPipes, 5e9+3*maxPipes); !ok {
		t.Error("the latest pipe was evicted")
	}
	if _, ok := tb.get(1, 5e9); ok {
		t.Error("the oldest pipe was kept beyond the bound")
	}
}

// The other end's argv is bounded in count and bytes, and never split
// inside a UTF-8 sequence.
func TestPipeArgsBounded(t *testing.T) {
	args := []string{"python3", "-c", strings.Repeat("é", 2000)}
	for range 40 {
		args = append(args, "x")
	}
	got := boundArgs(args)
	n := 0
	for _, a := range got {
		n += len(a)
		if !strings.HasPrefix(strings.Repeat("é", 2000), a) && a != "x" && a != "python3" && a != "-c" {
			t.Errorf("argument %q is cut inside a character", a)
		}
	}
	if len(got) > pipeArgs || n > pipeArgsBytes {
		t.Errorf("%d arguments of %d bytes, want at most %d and %d", len(got), n, pipeArgs, pipeArgsBytes)
	}
}

// fileRec is a file record of op on path (a path a system call was given).
func fileRec(t *testing.T, flags, op, mode uint32, path, path2 string) Record {
	t.Helper()
	data := []byte(path + "\x00")
	p2 := uint32(0)
	if path2 != "" {
		data = append(data, path2+"\x00"...)
		p2 = uint32(len(path2))
	}
	r, err := Decode(rec(KindFile, flags, 7, "rm", []uint32{op, mode, 0, 0, uint32(len(path)), p2}, data))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Paths the kernel sent unfiltered because they have "." or ".."
// components are cleaned and filtered as clean paths; the path as given is
// kept beside the clean one.
func TestUncleanPathsCleanedAndFiltered(t *testing.T) {
	c := converterFor(t)
	r := fileRec(t, FlagPathUnclean, OpUnlink, 0, "/tmp/../etc//cron.d/./x", "")
	evs := c.convert(&r)
	if len(evs) != 1 || evs[0].Attrs["path"] != "/etc/cron.d/x" || evs[0].Attrs["path_given"] != "/tmp/../etc//cron.d/./x" {
		t.Fatalf("unlink of a .. path under /etc/cron.d: %v", evs)
	}
	// Watched as written, not once clean.
	r = fileRec(t, FlagPathUnclean, OpUnlink, 0, "/etc/cron.d/../../tmp/x", "")
	if evs := c.convert(&r); len(evs) != 0 {
		t.Errorf("an unlink in /tmp was reported: %v", evs[0].Attrs)
	}
	// A rename is watched when either path is.
	r = fileRec(t, FlagPathUnclean, OpRename, 0, "/tmp/a", "/tmp/../etc/sudoers.d/b")
	if evs := c.convert(&r); len(evs) != 1 || evs[0].Attrs["new_path"] != "/etc/sudoers.d/b" || evs[0].Attrs["path"] != "/tmp/a" {
		t.Errorf("rename into /etc/sudoers.d by a .. path: %v", evs)
	}
	// setuid is watched everywhere.
	r = fileRec(t, FlagPathUnclean, OpChmod, 0o4755, "/tmp/./d/../sh", "")
	if evs := c.convert(&r); len(evs) != 1 || evs[0].Attrs["path"] != "/tmp/sh" || evs[0].Attrs["setuid"] != true {
		t.Errorf("chmod u+s by a .. path: %v", evs)
	}
	// Hostile bytes stay text; ".." cannot climb above the root.
	r = fileRec(t, FlagPathUnclean, OpUnlink, 0, "/../../etc/cron.d/a\nb\xff\\", "")
	if evs := c.convert(&r); len(evs) != 1 || evs[0].Attrs["path"] != "/etc/cron.d/a\nb\\xff\\\\" {
		t.Errorf("unlink of a hostile name: %v", evs)
	}
}
