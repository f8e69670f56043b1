package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Reading /proc/<pid>/stat is the agent's hot path: once per process per
// sample. procfs reads it through os.Open (which tries to register every
// file with the network poller: five or six system calls) and parses it
// with fmt.Fscan; on a host with 500 processes that made the agent cost more
// per sample than node_exporter. Here it takes three system calls (open,
// read, close) into a reused buffer and a parse without allocations beyond
// the name. The rest of /proc is read through procfs; the parse below is
// checked against procfs's on this machine's processes by the tests.

// statReader reads process stat files.
type statReader struct {
	root []byte // the proc root with a trailing slash
	path []byte // scratch for the file name
	buf  []byte // scratch for the contents
	page uint64
}

func newStatReader(root string) *statReader {
	r := &statReader{root: []byte(root), buf: make([]byte, 1024), page: uint64(os.Getpagesize())}
	if len(r.root) == 0 || r.root[len(r.root)-1] != '/' {
		r.root = append(r.root, '/')
	}
	return r
}

// errVanished marks a process that exited while it was read.
var errVanished = errors.New("process vanished")

// read reads and parses /proc/<pid>/stat.
func (r *statReader) read(pid int) (Proc, error) {
	r.path = append(r.path[:0], r.root...)
	r.path = strconv.AppendInt(r.path, int64(pid), 10)
	r.path = append(r.path, "/stat\x00"...)
	fd, err := syscall.Open(string(r.path[:len(r.path)-1]), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		if err == syscall.ENOENT || err == syscall.ESRCH {
			return Proc{}, errVanished
		}
		return Proc{}, err
	}
	defer syscall.Close(fd)
	n := 0
	for {
		m, err := syscall.Read(fd, r.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if err == syscall.ESRCH {
				return Proc{}, errVanished
			}
			return Proc{}, err
		}
		if m == 0 {
			break
		}
		n += m
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
	}
	return parseStat(r.buf[:n], r.page)
}

// parseStat parses the contents of /proc/<pid>/stat (proc(5)). The name
// may hold spaces and parentheses: it runs from the first '(' to the last
// ')'.
func parseStat(data []byte, pageSize uint64) (Proc, error) {
	var p Proc
	l := bytes.IndexByte(data, '(')
	r := bytes.LastIndexByte(data, ')')
	if l < 1 || r < l || r+2 > len(data) {
		return p, fmt.Errorf("malformed stat: no (name)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:l])))
	if err != nil {
		return p, fmt.Errorf("malformed stat: pid: %w", err)
	}
	p.PID = pid
	p.Name = string(data[l+1 : r])
	// Fields after the name, numbered from 3 as in proc(5): 3 state,
	// 4 ppid, 14 utime, 15 stime, 22 starttime, 24 rss.
	rest := data[r+2:]
	field := 3
	var utime, stime uint64
	for len(rest) > 0 && field <= 24 {
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		f := bytes.TrimSpace(rest[:end])
		rest = rest[min(end+1, len(rest)):]
		var err error
		switch field {
		case 3:
			p.State = string(f)
		case 4:
			p.PPID, err = strconv.Atoi(string(f))
		case 14:
			utime, err = strconv.ParseUint(string(f), 10, 64)
		case 15:
			stime, err = strconv.ParseUint(string(f), 10, 64)
		case 22:
			p.Start, err = strconv.ParseUint(string(f), 10, 64)
		case 24:
			var rss int64
			rss, err = strconv.ParseInt(string(f), 10, 64)
			p.RSS = uint64(max(rss, 0)) * pageSize
		}
		if err != nil {
			return p, fmt.Errorf("malformed stat: field %d: %w", field, err)
		}
		field++
	}
	if field <= 24 {
		return p, fmt.Errorf("malformed stat: %d fields", field-1)
	}
	p.CPU = float64(utime+stime) / userHZ
	return p, nil
}

// userHZ is the unit of the times in stat files (USER_HZ, 100 on Linux).
const userHZ = 100
