package effector

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// pfKthread is the kernel's PF_KTHREAD flag (field 9 of /proc/PID/stat).
const pfKthread = 0x00200000

// procStat is what the effector reads of /proc/PID/stat.
type procStat struct {
	Comm  string
	PPID  int
	Flags uint64
	Start uint64 // clock ticks since boot
}

// readStat reads /proc/PID/stat under proc. The process name may hold any
// byte, parentheses and spaces included: the fields follow the last ')'.
func readStat(proc string, pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return st, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (procStat, error) {
	var st procStat
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return st, errors.New("stat: no process name in parentheses")
	}
	st.Comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (the state); field N is f[N-3].
	if len(f) < 22-3+1 {
		return st, fmt.Errorf("stat: %d fields after the name, want at least %d", len(f), 22-3+1)
	}
	var err error
	if st.PPID, err = strconv.Atoi(f[4-3]); err != nil {
		return st, fmt.Errorf("stat: parent pid: %w", err)
	}
	if st.Flags, err = strconv.ParseUint(f[9-3], 10, 64); err != nil {
		return st, fmt.Errorf("stat: flags: %w", err)
	}
	if st.Start, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		return st, fmt.Errorf("stat: start time: %w", err)
	}
	return st, nil
}

// ListenerPID finds the process listening on TCP port (any local address)
// through the proc filesystem at proc: the owner of the listening socket's
// inode. It finds the embedded bus server a local agent connects to, so
// that the effector never signals it. 0 and an error when none is found.
func ListenerPID(proc string, port int) (int, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(proc, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(fl) < 10 || fl[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(fl[1], ':')
			if i < 0 {
				continue
			}
			if p, err := strconv.ParseUint(fl[1][i+1:], 16, 16); err == nil && int(p) == port {
				inodes["socket:["+fl[9]+"]"] = true
			}
		}
		f.Close()
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listens on TCP port %d", port)
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(proc, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && inodes[target] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds the socket listening on TCP port %d: %w", port, fs.ErrNotExist)
}
