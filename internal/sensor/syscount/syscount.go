// Package syscount is the kernel system call counter (seed 001 sections
// 3.1 and 3.2): an eBPF program on the sys_enter raw tracepoint counts
// system calls per (process, system call number) in kernel maps, and the
// Counter drains them every interval into one sparse event.CountVector per
// process that made system calls, so a host making a million system calls
// a second sends a fixed, small amount of data per active process.
//
// Counts are exact: the program counts into one of two maps, chosen by a
// map-in-map slot; at the end of an interval the Counter points the slot at
// the other map, which returns only after an RCU grace period (so no
// program can still be counting into the old map), then drains and empties
// the old map with batch lookups. Every system call lands in exactly one
// interval. The maps are bounded; calls that find the map full are counted
// as lost and reported with the interval, never dropped silently.
//
// A counter in a pid namespace other than the initial one counts only that
// namespace's processes, with the pids the namespace shows (the eBPF
// program translates them), unless Options.AllPidNamespaces says
// otherwise.
//
// Without root (or CAP_BPF and CAP_PERFMON) or kernel support, Open returns
// an *UnavailableError that says exactly what is missing.
package syscount

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
)

// Defaults.
const (
	DefaultInterval   = config.DefaultSyscallInterval
	DefaultMapEntries = config.DefaultSyscallMapEntries
	// MaxMapEntries bounds --syscall-map-entries (each entry takes about
	// 100 bytes of kernel memory, and there are two maps).
	MaxMapEntries = 1 << 22
)

// Options configure a Counter.
type Options struct {
	// Interval is the length of each count interval (default 1 s).
	Interval time.Duration
	// MapEntries bounds each of the two count maps: the (process, system
	// call) pairs one interval can hold (default 65536).
	MapEntries int
	// Host and IP name the machine in the vectors.
	Host, IP string
	// Procs limits the vectors to these process names (empty: all);
	// Exclude leaves these out. Counting itself is not filtered.
	Procs, Exclude []string
	// ProcRoot is the proc filesystem, for executables and names of
	// processes the kernel maps no longer name (default /proc).
	ProcRoot string
	// AllPidNamespaces counts every process of the machine even when the
	// counter runs in a pid namespace other than the initial one. By
	// default such a counter (in a container, in a lab host) counts only
	// the processes of its own namespace and of those below it, under the
	// pids its namespace gives them.
	AllPidNamespaces bool
	// SkipSelf leaves the counting process's own vectors out (a recorder
	// records what runs beside it).
	SkipSelf bool
	Clock    clock.Clock
	Logger   *slog.Logger
}

func (o *Options) defaults() error {
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Interval < 10*time.Millisecond || o.Interval > time.Hour {
		return fmt.Errorf("system call interval %v: want 10ms to 1h", o.Interval)
	}
	if o.MapEntries == 0 {
		o.MapEntries = DefaultMapEntries
	}
	if o.MapEntries < 16 || o.MapEntries > MaxMapEntries {
		return fmt.Errorf("system call map entries %d: want 16 to %d", o.MapEntries, MaxMapEntries)
	}
	if o.Host == "" {
		return errors.New("system call counter: no host id")
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// IntervalStats describe one drained interval.
type IntervalStats struct {
	Start    time.Time
	Interval time.Duration
	// Processes and Entries are what the kernel map held: processes that
	// made system calls, and (process, system call) pairs.
	Processes, Entries int
	// Calls is the number of system calls counted.
	Calls uint64
	// Lost is how many system calls found the count map full and were not
	// counted; OutOfRange how many had a number over the table's
	// (event.MaxSyscallNr); NamesLost how many process names could not be
	// kept. Exits is how many processes ended.
	Lost, OutOfRange, NamesLost, Exits uint64
	// Missed is how many system calls the kernel did not run the program
	// for, because another eBPF program was running on that CPU at the
	// time (Linux 5.12 and later count these).
	Missed uint64
	// Drain is how long the drain took.
	Drain time.Duration
}

// LossReason says, for a report, why counts were lost: the count maps of
// mapEntries entries were full.
func LossReason(mapEntries int) string {
	return fmt.Sprintf("system call count map full (%d entries); raise --syscall-map-entries", mapEntries)
}

// MissReason says, for a report, why calls were missed.
const MissReason = "the kernel skipped the counting program while another eBPF program ran on the same CPU"

// UnavailableError says why an eBPF part cannot run here: what is missing.
// The counter's and the host event programs' (Part) are of this type.
type UnavailableError struct {
	// Part names what cannot run (default "system call counter").
	Part string
	// Missing lists what is missing, each a short phrase
	// ("CAP_BPF", "kernel support for BPF_MAP_TYPE_ARRAY_OF_MAPS", ...).
	Missing []string
	// Detail explains, and Err is the underlying error, if any.
	Detail string
	Err    error
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	part := e.Part
	if part == "" {
		part = "system call counter"
	}
	b.WriteString(part + " unavailable")
	if len(e.Missing) > 0 {
		b.WriteString(": missing ")
		b.WriteString(strings.Join(e.Missing, ", "))
	}
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// filter keeps or drops vectors by process name.
type filter struct{ include, exclude map[string]bool }

func newFilter(procs, exclude []string) filter {
	set := func(names []string) map[string]bool {
		if len(names) == 0 {
			return nil
		}
		m := make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	return filter{include: set(procs), exclude: set(exclude)}
}

func (f filter) keep(name string) bool {
	if f.exclude[name] {
		return false
	}
	return f.include == nil || f.include[name]
}

// cleanName turns a kernel process name (at most 16 bytes, NUL padded, any
// bytes a process chose) into valid text without control characters.
func cleanName(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
