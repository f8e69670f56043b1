package event

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxSyscallNr is the highest system call number a count vector may carry.
const MaxSyscallNr = 1023

// SyscallCount is how many times one system call was made.
type SyscallCount struct {
	Nr    uint16
	Count uint64
}

// CountVector is the system calls one process made during one interval
// (seed 001 section 3.2): sparse, sorted by system call number, without
// zero counts.
type CountVector struct {
	Host     string
	IP       string
	PID      int32
	Process  string // the process name (comm)
	Exe      string // the executable's path, when known
	Start    time.Time
	Interval time.Duration
	Counts   []SyscallCount
}

// Total returns the number of system calls in the vector.
func (v *CountVector) Total() uint64 {
	var t uint64
	for _, c := range v.Counts {
		t += c.Count
	}
	return t
}

// Normalized returns the dense vector of n entries (system calls numbered n
// and above are dropped), each count divided by the vector's total (seed
// 001 section 3.2). An all-zero vector stays all zero.
func (v *CountVector) Normalized(n int) []float64 {
	out := make([]float64, n)
	total := v.Total()
	if total == 0 {
		return out
	}
	for _, c := range v.Counts {
		if int(c.Nr) < n {
			out[c.Nr] = float64(c.Count) / float64(total)
		}
	}
	return out
}

// Validate checks the vector's invariants.
func (v *CountVector) Validate() error {
	if v.Host == "" {
		return fieldErr("host", "missing")
	}
	if err := checkName(v.Host); err != nil {
		return fieldErr("host", "%v", err)
	}
	if err := checkName(v.Process); err != nil {
		return fieldErr("process", "%v", err)
	}
	if len(v.Exe) > 4096 {
		return fieldErr("exe", "longer than 4096 bytes")
	}
	if v.PID < 0 {
		return fieldErr("pid", "negative")
	}
	if v.Start.IsZero() {
		return fieldErr("time", "missing")
	}
	if v.Interval <= 0 {
		return fieldErr("interval_ms", "must be positive")
	}
	for i, c := range v.Counts {
		if c.Nr > MaxSyscallNr {
			return fieldErr("counts", "system call number %d over %d", c.Nr, MaxSyscallNr)
		}
		if c.Count == 0 {
			return fieldErr("counts", "zero count for system call %d", c.Nr)
		}
		if i > 0 && v.Counts[i-1].Nr >= c.Nr {
			return fieldErr("counts", "system calls not sorted or repeated at %d", c.Nr)
		}
	}
	return nil
}

// SyscallName returns the x86-64 name of system call nr, or "sys_<nr>" for
// a number without one.
func SyscallName(nr uint16) string {
	if int(nr) < len(syscallNamesX8664) && syscallNamesX8664[nr] != "" {
		return syscallNamesX8664[nr]
	}
	return "sys_" + strconv.Itoa(int(nr))
}

// SyscallNr returns the x86-64 number of the named system call; it accepts
// the "sys_<nr>" form of SyscallName too.
func SyscallNr(name string) (uint16, bool) {
	if rest, ok := strings.CutPrefix(name, "sys_"); ok {
		if n, err := strconv.ParseUint(rest, 10, 16); err == nil && n <= MaxSyscallNr {
			return uint16(n), true
		}
	}
	nr, ok := syscallNrs[name]
	return nr, ok
}

// syscallNrs is the inverse of syscallNamesX8664, built once; read only.
var syscallNrs = func() map[string]uint16 {
	m := make(map[string]uint16, len(syscallNamesX8664))
	for i, s := range syscallNamesX8664 {
		if s != "" {
			m[s] = uint16(i)
		}
	}
	return m
}()

// NumSyscalls is the size of the x86-64 system call table (the highest
// number plus one).
func NumSyscalls() int { return len(syscallNamesX8664) }

// The JSON form of a count vector (stable; see docs/EVENTS.md):
//
//	{"time":"...","host":"web-3","ip":"10.0.0.3","pid":812,"process":"httpd",
//	 "exe":"/usr/sbin/httpd","interval_ms":1000,
//	 "counts":{"read":120,"write":14},"syscalls":{"0":120,"1":14}}
//
// time is the interval's start. counts is keyed by x86-64 system call name;
// syscalls holds the same counts keyed by number. A decoder needs only one
// of the two; when both are present they must agree.

// AppendJSON appends the JSON form of v to b.
func (v *CountVector) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = v.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","host":`...)
	b = appendString(b, v.Host)
	if v.IP != "" {
		b = append(b, `,"ip":`...)
		b = appendString(b, v.IP)
	}
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(v.PID), 10)
	b = append(b, `,"process":`...)
	b = appendString(b, v.Process)
	if v.Exe != "" {
		b = append(b, `,"exe":`...)
		b = appendString(b, v.Exe)
	}
	b = append(b, `,"interval_ms":`...)
	b = strconv.AppendInt(b, v.Interval.Milliseconds(), 10)
	b = append(b, `,"counts":{`...)
	for i, c := range v.Counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, SyscallName(c.Nr))
		b = append(b, ':')
		b = strconv.AppendUint(b, c.Count, 10)
	}
	b = append(b, `},"syscalls":{`...)
	for i, c := range v.Counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendUint(b, uint64(c.Nr), 10)
		b = append(b, `":`...)
		b = strconv.AppendUint(b, c.Count, 10)
	}
	return append(b, `}}`...)
}

// DecodeCountVectorJSON decodes a count vector from its JSON form.
func DecodeCountVectorJSON(data []byte) (CountVector, error) {
	var v CountVector
	if len(data) > MaxEventBytes {
		return v, fmt.Errorf("count vector of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	fields, err := decodeObject(data, 16)
	if err != nil {
		return v, err
	}
	var byName, byNr map[uint16]uint64
	for _, f := range fields {
		k, raw := f.name, f.raw
		switch k {
		case "time":
			v.Start, err = jsonTime(k, raw)
		case "host":
			v.Host, err = jsonString(k, raw)
		case "ip":
			v.IP, err = jsonString(k, raw)
		case "pid":
			var n int64
			n, err = jsonInt(k, raw)
			if err == nil && (n < 0 || n > 1<<31-1) {
				err = fieldErr(k, "%d out of range", n)
			}
			v.PID = int32(n)
		case "process":
			v.Process, err = jsonString(k, raw)
		case "exe":
			v.Exe, err = jsonString(k, raw)
		case "interval_ms":
			var n int64
			n, err = jsonInt(k, raw)
			if err == nil && (n <= 0 || n > 24*3600*1000) {
				err = fieldErr(k, "%d out of range (1 ms to 24 h)", n)
			}
			v.Interval = time.Duration(n) * time.Millisecond
		case "counts":
			byName, err = jsonCounts(k, raw, func(name string) (uint16, bool) { return SyscallNr(name) })
		case "syscalls":
			byNr, err = jsonCounts(k, raw, func(name string) (uint16, bool) {
				n, err := strconv.ParseUint(name, 10, 16)
				return uint16(n), err == nil && n <= MaxSyscallNr
			})
		default:
			err = fieldErr(k, "unknown field (known: time, host, ip, pid, process, exe, interval_ms, counts, syscalls)")
		}
		if err != nil {
			return CountVector{}, err
		}
	}
	counts := byNr
	if counts == nil {
		counts = byName
	} else if byName != nil && !mapsEqual(byName, byNr) {
		return CountVector{}, fieldErr("counts", "disagrees with \"syscalls\"")
	}
	for nr, c := range counts {
		if c > 0 {
			v.Counts = append(v.Counts, SyscallCount{Nr: nr, Count: c})
		}
	}
	slices.SortFunc(v.Counts, func(a, b SyscallCount) int { return int(a.Nr) - int(b.Nr) })
	if err := v.Validate(); err != nil {
		return CountVector{}, err
	}
	return v, nil
}

func mapsEqual(a, b map[uint16]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		if y, ok := b[k]; !ok || x != y {
			return false
		}
	}
	return true
}

func jsonCounts(field string, raw []byte, nr func(string) (uint16, bool)) (map[uint16]uint64, error) {
	if kindOf(raw) != "an object" {
		return nil, fieldErr(field, "want an object, got %s", kindOf(raw))
	}
	fields, err := decodeObject(raw, MaxSyscallNr+1)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	out := make(map[uint16]uint64, len(fields))
	for _, f := range fields {
		name, rawCount := f.name, f.raw
		n, ok := nr(name)
		if !ok {
			return nil, fieldErr(field, "unknown system call %q", truncate(name, 40))
		}
		c, err := jsonInt(field+"."+name, rawCount)
		if err != nil {
			return nil, err
		}
		if c < 0 {
			return nil, fieldErr(field+"."+name, "negative count")
		}
		if _, dup := out[n]; dup {
			return nil, fieldErr(field, "system call %q appears twice", name)
		}
		out[n] = uint64(c)
	}
	return out, nil
}

// The compact form of a count vector:
//
//	byte    magic: magicCountVector (0xC1)
//	string  host, ip, process, exe
//	uvarint pid
//	svarint start, Unix nanoseconds
//	uvarint interval, nanoseconds
//	uvarint number of entries, then for each: uvarint number delta from the
//	        previous entry (the first from zero), uvarint count

// AppendCompact appends the compact form of v to b.
func (v *CountVector) AppendCompact(b []byte) []byte {
	b = append(b, magicCountVector)
	b = appendStr(b, v.Host)
	b = appendStr(b, v.IP)
	b = appendStr(b, v.Process)
	b = appendStr(b, v.Exe)
	b = binary.AppendUvarint(b, uint64(v.PID))
	b = binary.AppendVarint(b, v.Start.UnixNano())
	b = binary.AppendUvarint(b, uint64(v.Interval))
	b = binary.AppendUvarint(b, uint64(len(v.Counts)))
	prev := uint16(0)
	for _, c := range v.Counts {
		b = binary.AppendUvarint(b, uint64(c.Nr-prev))
		b = binary.AppendUvarint(b, c.Count)
		prev = c.Nr
	}
	return b
}

// DecodeCountVectorCompact decodes and validates a count vector's compact
// form.
func DecodeCountVectorCompact(data []byte) (CountVector, error) {
	var v CountVector
	if len(data) > MaxEventBytes {
		return v, fmt.Errorf("count vector of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	if len(data) == 0 || data[0] != magicCountVector {
		return v, ErrNotCompact
	}
	d := newDecoder(data[1:])
	v.Host = d.str("host")
	v.IP = d.str("ip")
	v.Process = d.str("process")
	v.Exe = d.str("exe")
	pid := d.uvarint("pid")
	if d.err == nil && pid > 1<<31-1 {
		d.fail("pid", "%d out of range", pid)
	}
	v.PID = int32(pid)
	v.Start = time.Unix(0, d.svarint("time")).UTC()
	iv := d.uvarint("interval_ms")
	if d.err == nil && iv > uint64(24*time.Hour) {
		d.fail("interval_ms", "over 24 h")
	}
	v.Interval = time.Duration(iv)
	n := d.count("counts", 2)
	if n > 0 {
		v.Counts = make([]SyscallCount, 0, n)
	}
	nr := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		delta := d.uvarint("counts")
		nr += delta
		if d.err == nil && (nr > MaxSyscallNr || (i > 0 && delta == 0)) {
			d.fail("counts", "bad system call number at entry %d", i)
		}
		v.Counts = append(v.Counts, SyscallCount{Nr: uint16(nr), Count: d.uvarint("counts")})
	}
	if d.err != nil {
		return CountVector{}, d.err
	}
	if len(d.buf) != 0 {
		return CountVector{}, fmt.Errorf("%d bytes of trailing data", len(d.buf))
	}
	if err := v.Validate(); err != nil {
		return CountVector{}, err
	}
	return v, nil
}
