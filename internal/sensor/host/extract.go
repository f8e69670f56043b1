// Package host is the user-space host sensor of seed 000 section 3.1: a
// state extractor that samples /proc (through prometheus/procfs, rooted at
// an injectable path) and an evaluator that keeps smoothed running
// averages of each metric and reports what departs from them as the
// observations of Table 1 — continuous slope anomalies (PROC.CPU, SYS.MEM,
// ...) and discrete events (PROC.SPAWN, SYS.PROCS.GROWTH, ...). The agent
// runs the two on a clock and hands the observations to a sink that never
// holds sampling up.
package host

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"
)

// Snapshot is one reading of the host's state: cumulative counters as the
// kernel keeps them. Rates are the evaluator's business.
type Snapshot struct {
	Time  time.Time
	Procs []Proc
	// BootTime is when the host booted (Unix seconds).
	BootTime uint64
	// Memory in bytes.
	MemTotal, MemAvailable uint64
	// CPU time of all CPUs in seconds: busy (not idle or iowait) and total.
	CPUBusy, CPUTotal float64
	// Net holds per-interface byte counters (loopback excluded).
	Net []Iface
	// DiskReads and DiskWrites count completed operations on whole disks.
	DiskReads, DiskWrites uint64
	// TCPInUse, TCPTimeWait and UDPInUse count sockets, IPv4 and IPv6
	// together (from net/sockstat{,6}: cheap to read however many
	// sockets there are; TCPStates gives the breakdown by state).
	TCPInUse, TCPTimeWait, UDPInUse int
}

// Iface is one network interface's counters.
type Iface struct {
	Name             string
	RxBytes, TxBytes uint64
}

// Proc is one process.
type Proc struct {
	PID, PPID int
	Name      string
	State     string
	// Start is the process's start time in clock ticks since boot; with the
	// pid it identifies the process across samples (pids are reused).
	Start uint64
	// RSS is resident memory in bytes; CPU is user+system time in seconds.
	RSS uint64
	CPU float64
}

// Key identifies a process across samples.
type Key struct {
	PID   int
	Start uint64
}

// Key returns the process's identity.
func (p *Proc) Key() Key { return Key{p.PID, p.Start} }

// ActiveSockets is the number of TCP and UDP sockets in use.
func (s *Snapshot) ActiveSockets() int { return s.TCPInUse + s.UDPInUse }

// Extractor reads snapshots from a proc filesystem.
type Extractor struct {
	root string
	fs   procfs.FS
	bfs  *blockdevice.FS
	log  *slog.Logger

	stat *statReader

	// Where the snapshot being taken is (Phase): a phase* constant, and
	// the process whose stat file is being read.
	phase atomic.Int32
	pid   atomic.Int64

	mu     sync.Mutex
	warned map[string]bool // unreadable entries already reported
	users  map[int]string  // user names by id, as looked up
}

// maxWarned bounds the set of entries reported as unreadable.
const maxWarned = 1024

// NewExtractor reads the proc filesystem at procRoot (normally /proc).
// Block device statistics come from procRoot/diskstats.
func NewExtractor(procRoot string, log *slog.Logger) (*Extractor, error) {
	if log == nil {
		log = slog.Default()
	}
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("host sensor: proc filesystem at %s: %w", procRoot, err)
	}
	e := &Extractor{root: procRoot, fs: pfs, log: log, warned: map[string]bool{}, stat: newStatReader(procRoot)}
	// The block device reader wants a sysfs too, though diskstats lives in
	// proc; any directory serves.
	if bfs, err := blockdevice.NewFS(procRoot, procRoot); err == nil {
		e.bfs = &bfs
	}
	return e, nil
}

// Root is the proc filesystem the extractor reads.
func (e *Extractor) Root() string { return e.root }

// Snapshot reads the host's state now. It is used from one goroutine at a
// time. A process that vanishes while it is
// read is skipped silently; any other unreadable entry is reported once in
// the log and skipped.
func (e *Extractor) Snapshot(now time.Time) (*Snapshot, error) {
	s := &Snapshot{Time: now}
	defer e.phase.Store(phaseIdle)
	e.phase.Store(phaseStat)
	st, err := e.fs.Stat()
	if err != nil {
		return nil, fmt.Errorf("host sensor: %s/stat: %w", e.root, err)
	}
	s.BootTime = st.BootTime
	c := st.CPUTotal
	s.CPUTotal = c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal
	s.CPUBusy = s.CPUTotal - c.Idle - c.Iowait
	e.phase.Store(phaseMeminfo)
	if mi, err := e.fs.Meminfo(); err != nil {
		e.warn("meminfo", err)
	} else {
		if mi.MemTotal != nil {
			s.MemTotal = *mi.MemTotal * 1024
		}
		switch {
		case mi.MemAvailable != nil:
			s.MemAvailable = *mi.MemAvailable * 1024
		case mi.MemFree != nil:
			s.MemAvailable = *mi.MemFree * 1024
		}
	}
	e.phase.Store(phaseProcs)
	e.readProcs(s)
	e.phase.Store(phaseNet)
	e.readNet(s)
	e.phase.Store(phaseDisks)
	e.readDisks(s)
	e.phase.Store(phaseSockets)
	e.readSockets(s)
	return s, nil
}

// The phases of a snapshot (Extractor.Phase).
const (
	phaseIdle int32 = iota
	phaseStat
	phaseMeminfo
	phaseProcs
	phaseNet
	phaseDisks
	phaseSockets
)

var phaseNames = [...]string{phaseIdle: "not reading", phaseStat: "stat", phaseMeminfo: "meminfo",
	phaseProcs: "processes", phaseNet: "network", phaseDisks: "disks", phaseSockets: "sockets"}

// Phase says what the snapshot being taken reads now (the file of /proc,
// and in the process phase the pid), for a watchdog in another goroutine.
func (e *Extractor) Phase() string {
	ph := e.phase.Load()
	if ph < 0 || int(ph) >= len(phaseNames) {
		return "unknown"
	}
	if ph == phaseProcs {
		return fmt.Sprintf("%s/%d/stat", e.root, e.pid.Load())
	}
	if ph == phaseIdle {
		return phaseNames[ph]
	}
	return e.root + " " + phaseNames[ph]
}

func (e *Extractor) readProcs(s *Snapshot) {
	procs, err := e.fs.AllProcs()
	if err != nil {
		e.warn("processes", err)
		return
	}
	s.Procs = make([]Proc, 0, len(procs))
	for _, p := range procs {
		e.pid.Store(int64(p.PID))
		pr, err := e.stat.read(p.PID)
		if err != nil {
			if err != errVanished && !vanished(err) {
				e.warn(fmt.Sprintf("%d/stat", p.PID), err)
			}
			continue
		}
		s.Procs = append(s.Procs, pr)
	}
	slices.SortFunc(s.Procs, func(a, b Proc) int { return a.PID - b.PID })
}

// UID reads the user a process runs as (the owner of its /proc directory),
// or -1. Like Executable it is read only for processes worth reporting.
func (e *Extractor) UID(pid int) int {
	fi, err := os.Stat(filepath.Join(e.root, strconv.Itoa(pid)))
	if err != nil {
		return -1
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid)
	}
	return -1
}

// maxUsers bounds the user names remembered.
const maxUsers = 4096

// UserName names the user with id uid from the user database (/etc/passwd
// and what the system adds), or "" when it has no name. Names are looked
// up once.
func (e *Extractor) UserName(uid int) string {
	e.mu.Lock()
	name, ok := e.users[uid]
	e.mu.Unlock()
	if ok {
		return name
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = u.Username
	}
	e.mu.Lock()
	if e.users == nil {
		e.users = map[int]string{}
	}
	if len(e.users) < maxUsers {
		e.users[uid] = name
	}
	e.mu.Unlock()
	return name
}

// Executable reads the path of a process's executable. It is read only for
// processes worth reporting, as it may be denied for other users'.
func (e *Extractor) Executable(pid int) string {
	p, err := e.fs.Proc(pid)
	if err != nil {
		return ""
	}
	exe, err := p.Executable()
	if err != nil {
		return ""
	}
	return exe
}

func (e *Extractor) readNet(s *Snapshot) {
	nd, err := e.fs.NetDev()
	if err != nil {
		e.warn("net/dev", err)
		return
	}
	for name, l := range nd {
		if name == "lo" {
			continue
		}
		s.Net = append(s.Net, Iface{Name: name, RxBytes: l.RxBytes, TxBytes: l.TxBytes})
	}
}

// partition matches block devices that are partitions or not disks at all;
// their operations are counted on the whole disk already.
var partition = regexp.MustCompile(`^(ram|loop|fd|zram|sr|(h|s|v|xv)d[a-z]+\d+|nvme\d+n\d+p\d+|mmcblk\d+p\d+)`)

func (e *Extractor) readDisks(s *Snapshot) {
	if e.bfs == nil {
		return
	}
	stats, err := e.bfs.ProcDiskstats()
	if err != nil {
		e.warn("diskstats", err)
		return
	}
	for _, d := range stats {
		if partition.MatchString(d.DeviceName) || len(d.DeviceName) > 2 && d.DeviceName[:3] == "dm-" {
			continue
		}
		s.DiskReads += d.ReadIOs
		s.DiskWrites += d.WriteIOs
	}
}

// tcpStates names the kernel's TCP states (include/net/tcp_states.h).
var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
	7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
}

func (e *Extractor) readSockets(s *Snapshot) {
	for _, read := range []struct {
		name string
		f    func() (*procfs.NetSockstat, error)
	}{{"net/sockstat", e.fs.NetSockstat}, {"net/sockstat6", e.fs.NetSockstat6}} {
		st, err := read.f()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				e.warn(read.name, err)
			}
			continue
		}
		for _, p := range st.Protocols {
			switch p.Protocol {
			case "TCP", "TCP6":
				s.TCPInUse += p.InUse
				if p.TW != nil {
					s.TCPTimeWait += *p.TW
				}
			case "UDP", "UDP6":
				s.UDPInUse += p.InUse
			}
		}
	}
}

// TCPStates counts TCP sockets (IPv4 and IPv6) by state, from net/tcp{,6}.
// Reading those tables costs time in proportion to the sockets, so it is
// done only for observations that report them.
func (e *Extractor) TCPStates() map[string]int {
	states := map[string]int{}
	for _, read := range []struct {
		name string
		f    func() (procfs.NetTCP, error)
	}{{"net/tcp", e.fs.NetTCP}, {"net/tcp6", e.fs.NetTCP6}} {
		lines, err := read.f()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				e.warn(read.name, err)
			}
			continue
		}
		for _, l := range lines {
			name := "UNKNOWN"
			if int(l.St) < len(tcpStates) && tcpStates[l.St] != "" {
				name = tcpStates[l.St]
			}
			states[name]++
		}
	}
	return states
}

// vanished reports whether err means the process went away while read.
func vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// warn logs an unreadable entry the first time only.
func (e *Extractor) warn(what string, err error) {
	e.mu.Lock()
	seen := e.warned[what]
	if !seen && len(e.warned) < maxWarned {
		e.warned[what] = true
	}
	e.mu.Unlock()
	if !seen {
		e.log.Warn("cannot read from the proc filesystem; skipping it (reported once)", "entry", filepath.Join(e.root, what), "err", err)
	}
}
