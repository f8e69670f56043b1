package hostevents

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Kind is what a kernel record reports (enum kind in bpf/hostevents.c).
type Kind uint32

// Record kinds.
const (
	KindExec Kind = iota + 1
	KindExit
	KindFork
	KindFile
	KindCred
	KindPtrace
	KindMemfd
	KindModule
	KindBPF
	KindConnect
	KindAccept
	kindMax
)

var kindNames = [...]string{"", "exec", "exit", "fork", "file", "cred", "ptrace", "memfd", "module", "bpf", "connect", "accept"}

func (k Kind) String() string {
	if k > 0 && k < kindMax {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// File operations (Record.Op).
const (
	OpOpen uint32 = iota + 1
	OpWrite
	OpTruncate
	OpRename
	OpUnlink
	OpChmod
	OpChown
	opMax
)

// Record flags.
const (
	FlagPathTrunc  = 1 << 0
	FlagExeDeleted = 1 << 1
	FlagExeMemfd   = 1 << 2
	FlagArgsTrunc  = 1 << 3
	FlagViaExec    = 1 << 4
	FlagPath2Trunc = 1 << 5
	FlagCwdTrunc   = 1 << 6
	// FlagPathUnclean: a path a system call was given has "." or ".."
	// components or repeated slashes; the kernel did not filter it (user
	// space cleans it and filters it again).
	FlagPathUnclean = 1 << 7
)

// The layout of a record: the header, a fixed body, then strings (see
// bpf/hostevents.c).
const (
	hdrSize   = 64
	bodySize  = 160
	dataOff   = hdrSize + bodySize
	pathCap   = 1024
	strCap    = 256
	argsCap   = 4096
	ancestors = 4
	// MaxRecordBytes bounds a record: the largest the kernel writes.
	MaxRecordBytes = dataOff + argsCap + 2*pathCap + 2*256
)

// Ancestor is a process above another, as the kernel saw it at exec.
type Ancestor struct {
	PID  uint32
	Comm string
}

// Record is one decoded kernel record. Which fields are set depends on
// Kind; strings are the kernel's bytes made valid text (see Text).
type Record struct {
	Kind                       Kind
	Flags                      uint32
	KTime                      uint64 // CLOCK_MONOTONIC ns
	PID, TID, PPID             uint32
	UID, EUID, GID             uint32
	Cgroup                     uint64
	Cgroups                    uint64 // exec: a key naming the process's cgroups in every hierarchy
	Comm                       string
	Path, Path2                string // exe, file, module file; rename's new path
	Cwd                        string // exec: the working directory
	Args                       []string
	ArgsBytes, ArgsTotal       uint32
	StdinMode, StdinRdev       uint32
	StdoutMode, StdoutRdev     uint32 // exec: fd 1's inode's mode (0: none) and device
	StdinPipe, StdoutPipe      uint64 // exec: inode numbers of the pipes on fd 0 and fd 1 (0: not a pipe)
	Ancestors                  []Ancestor
	ExitCode                   uint32
	Start                      uint64 // exit: the process's start, CLOCK_MONOTONIC ns
	BootStart                  uint64 // exec, exit: the process's start; fork: the child's; CLOCK_BOOTTIME ns, 0 unknown
	Child                      uint32 // fork
	Op, Mode, Owner, Group     uint32 // file
	OldUID, OldEUID, OldGID    uint32 // cred
	NewUID, NewEUID, NewGID    uint32
	Request, Target            uint32 // ptrace
	Str                        string // memfd name, module parameters, BPF program name
	A, B                       uint32 // memfd flags; module syscall and length or fd
	ProgType, InsnCnt          uint32 // bpf
	Family, Protocol, SockType uint16 // connect, accept
	LPort, RPort               uint16
	Result                     int32 // connect's return value
	LAddr, RAddr               netip.Addr
}

// DecodeError says what is wrong with a record.
type DecodeError struct {
	Kind   Kind
	Offset int
	What   string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("host event record (%v): %s at byte %d", e.Kind, e.What, e.Offset)
}

var le = binary.LittleEndian

// Decode reads one record as the kernel wrote it to the ring buffer. Every
// length is checked against the bytes there are; nothing is trusted.
func Decode(b []byte) (Record, error) { return decode(b, nil) }

// comms keeps the text of the process names lately decoded, so that the
// same name read again is not made text again (nor allocated). Bounded;
// not safe for concurrent use.
type comms map[[16]byte]string

// maxComms bounds a comms.
const maxComms = 4096

// text returns Comm(b) for the 16 bytes of a name.
func (c comms) text(b []byte) string {
	if c == nil {
		return Comm(b)
	}
	k := [16]byte(b)
	if s, ok := c[k]; ok {
		return s
	}
	if len(c) >= maxComms {
		clear(c)
	}
	s := Comm(b)
	c[k] = s
	return s
}

func decode(b []byte, cc comms) (Record, error) {
	var r Record
	if len(b) < dataOff {
		return r, &DecodeError{Offset: len(b), What: fmt.Sprintf("record of %d bytes is shorter than its %d-byte header and body", len(b), dataOff)}
	}
	if len(b) > MaxRecordBytes {
		return r, &DecodeError{Offset: MaxRecordBytes, What: fmt.Sprintf("record of %d bytes is longer than the %d the kernel writes", len(b), MaxRecordBytes)}
	}
	r.Kind = Kind(le.Uint32(b[0:]))
	r.Flags = le.Uint32(b[4:])
	r.KTime = le.Uint64(b[8:])
	r.PID, r.TID, r.PPID = le.Uint32(b[16:]), le.Uint32(b[20:]), le.Uint32(b[24:])
	r.UID, r.EUID, r.GID = le.Uint32(b[28:]), le.Uint32(b[32:]), le.Uint32(b[36:])
	r.Cgroup = le.Uint64(b[40:])
	r.Comm = cc.text(b[48:64])
	body, data := b[hdrSize:dataOff], b[dataOff:]
	u := func(i int) uint32 { return le.Uint32(body[4*i:]) }
	str := func(off, n uint32, limit int) (string, error) {
		if int(n) > limit {
			return "", &DecodeError{Kind: r.Kind, Offset: hdrSize, What: fmt.Sprintf("string length %d over its bound %d", n, limit)}
		}
		if int(off)+int(n) > len(data) {
			return "", &DecodeError{Kind: r.Kind, Offset: dataOff + int(off), What: fmt.Sprintf("string of %d bytes runs past the record's end (%d bytes of data)", n, len(data))}
		}
		return Text(data[off : off+n]), nil
	}
	var err error
	switch r.Kind {
	case KindExec:
		plen, alen, clen := u(0), u(1), u(6)
		r.ArgsTotal, r.StdinMode, r.StdinRdev = u(2), u(3), u(4)
		r.Cgroups = le.Uint64(body[32:])
		if r.Path, err = str(0, plen, pathCap-1); err != nil {
			return r, err
		}
		coff := (plen + 1) & (pathCap - 1)
		if r.Cwd, err = str(coff, clen, pathCap-1); err != nil {
			return r, err
		}
		aoff := (coff + clen + 1) & (2*pathCap - 1)
		if int(alen) > argsCap || int(aoff)+int(alen) > len(data) {
			return r, &DecodeError{Kind: r.Kind, Offset: dataOff + int(aoff), What: fmt.Sprintf("argv of %d bytes runs past the record's end", alen)}
		}
		r.ArgsBytes = alen
		r.Args = splitArgs(data[aoff : aoff+alen])
		n := int(u(5))
		if n > ancestors {
			return r, &DecodeError{Kind: r.Kind, Offset: hdrSize + 20, What: fmt.Sprintf("%d ancestors, at most %d", n, ancestors)}
		}
		r.Ancestors = make([]Ancestor, 0, n)
		for i := range n {
			a := body[40+20*i:]
			r.Ancestors = append(r.Ancestors, Ancestor{PID: le.Uint32(a), Comm: cc.text(a[4:20])})
		}
		r.BootStart = le.Uint64(body[120:])
		r.StdinPipe, r.StdoutPipe = le.Uint64(body[128:]), le.Uint64(body[136:])
		r.StdoutMode, r.StdoutRdev = le.Uint32(body[144:]), le.Uint32(body[148:])
	case KindExit:
		r.ExitCode, r.Start, r.BootStart = u(0), le.Uint64(body[8:]), le.Uint64(body[16:])
	case KindFork:
		r.Child, r.BootStart = u(0), le.Uint64(body[8:])
	case KindFile:
		r.Op, r.Mode, r.Owner, r.Group = u(0), u(1), u(2), u(3)
		if r.Op == 0 || r.Op >= opMax {
			return r, &DecodeError{Kind: r.Kind, Offset: hdrSize, What: fmt.Sprintf("unknown file operation %d", r.Op)}
		}
		plen, p2len := u(4), u(5)
		if r.Path, err = str(0, plen, pathCap-1); err != nil {
			return r, err
		}
		if p2len > 0 {
			if r.Path2, err = str((plen+1)&(pathCap-1), p2len, pathCap-1); err != nil {
				return r, err
			}
		}
	case KindCred:
		r.OldUID, r.OldEUID, r.OldGID = u(0), u(1), u(2)
		r.NewUID, r.NewEUID, r.NewGID = u(3), u(4), u(5)
		if r.Path, err = str(0, u(6), pathCap-1); err != nil {
			return r, err
		}
	case KindPtrace:
		r.Request, r.Target = u(0), u(1)
	case KindMemfd, KindModule:
		r.A, r.B = u(0), u(1)
		if r.Str, err = str(0, u(2), strCap-1); err != nil {
			return r, err
		}
		if plen := u(3); plen > 0 {
			if r.Path, err = str(strCap, plen, pathCap-1); err != nil {
				return r, err
			}
		}
	case KindBPF:
		r.A, r.ProgType, r.InsnCnt = u(0), u(1), u(2)
		r.Str = Comm(body[16:32])
	case KindConnect, KindAccept:
		r.Family, r.Protocol, r.SockType = le.Uint16(body[0:]), le.Uint16(body[2:]), le.Uint16(body[4:])
		r.LPort, r.RPort = le.Uint16(body[6:]), le.Uint16(body[8:])
		r.Result = int32(le.Uint32(body[12:]))
		switch r.Family {
		case 2:
			r.LAddr = netip.AddrFrom4([4]byte(body[16:20]))
			r.RAddr = netip.AddrFrom4([4]byte(body[32:36]))
		case 10:
			r.LAddr = netip.AddrFrom16([16]byte(body[16:32])).Unmap()
			r.RAddr = netip.AddrFrom16([16]byte(body[32:48])).Unmap()
		default:
			return r, &DecodeError{Kind: r.Kind, Offset: hdrSize, What: fmt.Sprintf("address family %d", r.Family)}
		}
	default:
		return r, &DecodeError{Kind: r.Kind, Offset: 0, What: fmt.Sprintf("unknown record kind %d", uint32(r.Kind))}
	}
	return r, nil
}

// userHZ is the unit of the times /proc shows in clock ticks (USER_HZ:
// 100 on every architecture Linux runs Vigil on).
const userHZ = 100

// StartTicks is a process's start in CLOCK_BOOTTIME ns (Record.BootStart)
// as /proc/PID/stat's field 22 shows it: clock ticks since boot, as the
// kernel's nsec_to_clock_t computes them.
func StartTicks(bootNS uint64) uint64 { return bootNS / (1e9 / userHZ) }

// splitArgs splits argv as the kernel keeps it: NUL-terminated strings, the
// last possibly cut.
func splitArgs(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = Text(p)
	}
	return out
}

// Text makes bytes of the kernel's (paths, arguments: anything a process
// chose) valid text: valid UTF-8 is kept as it is, control characters
// included (JSON escapes them); a byte that is not UTF-8 becomes \xNN, and
// a backslash \\, so the original bytes can be told apart and recovered.
func Text(b []byte) string {
	if utf8.Valid(b) && bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
			n = 1
		case r == '\\':
			sb.WriteString(`\\`)
		default:
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// Comm is a kernel process name (NUL padded, any bytes a process chose) as
// text without control characters.
func Comm(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, Text(b))
}
