package probe

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// What exe-probe reads of the proc filesystem: a process's start time and
// its executable, as link and as open file.

// deletedSuffix is what the kernel appends to /proc/PID/exe's link when
// the file the process runs was unlinked.
const deletedSuffix = " (deleted)"

// maxStatBytes bounds one /proc/PID/stat read (the name is at most 64
// bytes, the fields a few hundred).
const maxStatBytes = 4096

// ParseStatStart returns the start time (field 22: clock ticks since
// boot) of the contents of a /proc/PID/stat file. The process name, which
// its owner chooses, may hold any byte, spaces and parentheses included:
// the fields are read after the last ')'.
func ParseStatStart(b []byte) (uint64, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return 0, errors.New("stat: no process name in parentheses")
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (the state); field N is f[N-3].
	if len(f) < 22-3+1 {
		return 0, fmt.Errorf("stat: %d fields after the name, want at least %d", len(f), 22-3+1)
	}
	start, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: start time: %w", err)
	}
	return start, nil
}

// errGone marks a process that no longer runs.
var errGone = errors.New("no longer runs")

// procStart reads the start time of pid under proc; errGone when the
// process has ended.
func procStart(proc string, pid int) (uint64, error) {
	f, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		if gone(err) {
			return 0, errGone
		}
		return 0, err
	}
	defer f.Close()
	b := make([]byte, maxStatBytes)
	n, err := f.Read(b)
	if err != nil {
		if gone(err) {
			return 0, errGone
		}
		return 0, fmt.Errorf("reading the stat of pid %d: %w", pid, err)
	}
	start, err := ParseStatStart(b[:n])
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return start, nil
}

// procExeLink reads the link /proc/PID/exe under proc: the executable's
// path as the process sees it, with " (deleted)" appended when its file
// was unlinked. errGone when the process has ended or has no executable
// (a kernel thread).
func procExeLink(proc string, pid int) (string, error) {
	l, err := os.Readlink(filepath.Join(proc, strconv.Itoa(pid), "exe"))
	if err != nil && gone(err) {
		return "", errGone
	}
	return l, err
}

// gone says whether err means that the process is not there (any more).
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// exeBase is the base name of an executable link, without " (deleted)".
func exeBase(link string) string {
	return filepath.Base(strings.TrimSuffix(link, deletedSuffix))
}

// onDisk says where the running image f of process pid, whose link is
// link, lies: path is the executable's path (link, less " (deleted)"
// unless a file of that very name is the image), and ondisk whether the
// file at that path in the process's own root still is the image that
// runs. An unlinked file, one replaced since (dpkg renames a new version
// over the old), or a file mounted over, are not.
func onDisk(proc string, pid int, link string, f *os.File) (path string, ondisk bool, err error) {
	img, err := f.Stat()
	if err != nil {
		return link, false, err
	}
	root := filepath.Join(proc, strconv.Itoa(pid), "root")
	if st, err := os.Stat(root + link); err == nil && os.SameFile(st, img) {
		return link, true, nil
	} else if err != nil && !gone(err) && !strings.HasSuffix(link, deletedSuffix) {
		// The process's root cannot be looked into (another user's
		// process, without the right to): only the kernel's word is left.
		return link, true, nil
	}
	return strings.TrimSuffix(link, deletedSuffix), false, nil
}
