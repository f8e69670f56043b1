// Package fwlog reads the packet log lines that Linux firewalls write
// (the iptables LOG target and nftables "log" statements, both through the
// kernel's nf_log_syslog formatter) and turns each into an event: the
// discarded or passed traffic stream of seed 004 section 3.
//
// A line looks like
//
//	Nov 22 11:00:00 gw kernel: [ 512.1] DROP IN=eth0 OUT= MAC=... SRC=203.0.113.5 DST=10.0.0.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=40000 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0
//
// with a BSD syslog, RFC 3339 (rsyslog, journalctl -o short-iso) or no
// timestamp at all (dmesg). The text between the kernel's header and IN=
// is the rule's log prefix, which tells the action.
package fwlog

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Event types.
const (
	TypeDrop = "NET.FW.DROP" // a packet the firewall discarded (or rejected)
	TypePass = "NET.FW.PASS" // a packet the firewall logged and let through
)

// ErrNotPacketLog is returned for a line that is not a firewall packet
// log line (the other lines of a syslog file); callers skip these quietly.
var ErrNotPacketLog = errors.New("not a firewall packet log line")

// Default patterns that tell the action from a rule's log prefix.
const (
	DefaultDropPattern = `(?i)drop|block|reject|deny|denied|discard`
	DefaultPassPattern = `(?i)accept|allow|pass|permit`
)

// Parser turns log lines into events.
type Parser struct {
	drop, pass *regexp.Regexp
	// unknown is the type of lines whose prefix matches neither pattern.
	unknown string
	now     func() time.Time
	loc     *time.Location
	source  string
}

// Options configure a parser; zero values take the defaults.
type Options struct {
	DropPattern, PassPattern string           // regular expressions on the log prefix
	Unmatched                string           // TypeDrop (default) or TypePass
	Now                      func() time.Time // the clock: the year of BSD timestamps, the time of lines without one
	Location                 *time.Location   // of BSD timestamps (default local time)
	Source                   string           // the events' source (default the line's host, else "firewall")
}

// NewParser compiles the options.
func NewParser(o Options) (*Parser, error) {
	if o.DropPattern == "" {
		o.DropPattern = DefaultDropPattern
	}
	if o.PassPattern == "" {
		o.PassPattern = DefaultPassPattern
	}
	p := &Parser{unknown: TypeDrop, now: o.Now, loc: o.Location, source: o.Source}
	var err error
	if p.drop, err = regexp.Compile(o.DropPattern); err != nil {
		return nil, fmt.Errorf("fwlog: drop pattern: %w", err)
	}
	if p.pass, err = regexp.Compile(o.PassPattern); err != nil {
		return nil, fmt.Errorf("fwlog: pass pattern: %w", err)
	}
	switch o.Unmatched {
	case "", TypeDrop, "drop":
	case TypePass, "pass":
		p.unknown = TypePass
	default:
		return nil, fmt.Errorf("fwlog: unmatched action %q: want drop or pass", o.Unmatched)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.loc == nil {
		p.loc = time.Local
	}
	return p, nil
}

// Parse reads one line. It returns ErrNotPacketLog for lines that are not
// packet log lines, and an error naming the field for a packet log line
// that is malformed.
func (p *Parser) Parse(line []byte) (event.Event, error) {
	in := bytes.Index(line, []byte("IN="))
	if in < 0 || (in > 0 && line[in-1] != ' ' && line[in-1] != ']') || !bytes.Contains(line[in:], []byte(" SRC=")) {
		return event.Event{}, ErrNotPacketLog
	}
	ts, host, prefix := p.header(string(line[:in]))
	attrs := make(map[string]any, 20)
	if prefix != "" {
		attrs["prefix"] = prefix
	}
	typ := p.unknown
	switch {
	case prefix != "" && p.drop.MatchString(prefix):
		typ = TypeDrop
	case prefix != "" && p.pass.MatchString(prefix):
		typ = TypePass
	}
	attrs["action"] = strings.ToLower(strings.TrimPrefix(typ, "NET.FW."))
	var (
		src, dst   netip.Addr
		proto      string
		flags      []string
		quoted     int // depth inside an ICMP error's quoted packet
		fieldsSeen = map[string]bool{}
	)
	for _, tok := range strings.Fields(string(line[in:])) {
		if quoted > 0 || strings.HasPrefix(tok, "[") {
			// The packet an ICMP error quotes: "[SRC=... DST=... ]".
			quoted += strings.Count(tok, "[") - strings.Count(tok, "]")
			continue
		}
		k, v, hasValue := strings.Cut(tok, "=")
		if !hasValue {
			switch k {
			case "SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR":
				flags = append(flags, k)
			case "DF", "MF", "CE":
				attrs[strings.ToLower(k)] = true
			}
			continue
		}
		if fieldsSeen[k] {
			continue
		}
		fieldsSeen[k] = true
		var err error
		switch k {
		case "IN", "OUT", "PHYSIN", "PHYSOUT", "MAC":
			if v != "" {
				attrs[strings.ToLower(k)] = strings.ToValidUTF8(v, "\uFFFD")
			}
		case "SRC":
			src, err = netip.ParseAddr(v)
		case "DST":
			dst, err = netip.ParseAddr(v)
		case "PROTO":
			proto = strings.ToLower(v)
		case "SPT", "DPT", "LEN", "TTL", "HOPLIMIT", "ID", "WINDOW", "TYPE", "CODE", "SEQ", "UID", "GID", "MARK":
			err = p.number(attrs, k, v)
		}
		if err != nil {
			return event.Event{}, fmt.Errorf("fwlog: field %s=%q: %w", k, v, err)
		}
	}
	if !src.IsValid() || !dst.IsValid() {
		return event.Event{}, fmt.Errorf("fwlog: a packet log line without SRC= and DST= addresses")
	}
	attrs["src"], attrs["dst"] = src.String(), dst.String()
	if proto == "" {
		return event.Event{}, fmt.Errorf("fwlog: a packet log line without PROTO=")
	}
	attrs["proto"] = proto
	if len(flags) > 0 {
		attrs["flags"] = strings.Join(flags, ",")
	}
	// Names that match the network sensor's records.
	rename(attrs, "spt", "sport")
	rename(attrs, "dpt", "dport")
	rename(attrs, "type", "icmp_type")
	rename(attrs, "code", "icmp_code")
	if ts.IsZero() {
		ts = p.now()
	}
	src2 := p.source
	switch {
	case src2 != "":
	case host != "":
		src2 = host
	default:
		src2 = "firewall"
	}
	ev := event.Event{Time: ts.UTC(), Type: typ, Host: host, IP: dst.String(), Source: src2, Attrs: attrs}
	return ev, nil
}

func rename(m map[string]any, from, to string) {
	if v, ok := m[from]; ok {
		delete(m, from)
		m[to] = v
	}
}

// number stores a numeric field under its lower-case name. ID and MARK
// may be hexadecimal.
func (p *Parser) number(attrs map[string]any, k, v string) error {
	base := 10
	if strings.HasPrefix(v, "0x") {
		base, v = 16, v[2:]
	}
	n, err := strconv.ParseInt(v, base, 64)
	if err != nil {
		return errors.New("not a number")
	}
	if n < 0 {
		return errors.New("negative")
	}
	attrs[strings.ToLower(k)] = n
	return nil
}

// bsdLayout is the timestamp of traditional syslog lines (RFC 3164).
const bsdLayout = "Jan _2 15:04:05"

// isoLayouts are the timestamps of rsyslog's high-precision format and of
// journalctl -o short-iso / short-iso-precise.
var isoLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000000-0700"}

// header reads what precedes IN=: a timestamp, the host, the program
// ("kernel:"), a kernel timestamp ("[ 512.1]"), then the log prefix.
func (p *Parser) header(h string) (ts time.Time, host, prefix string) {
	rest := h
	if len(rest) >= len(bsdLayout) {
		if t, err := time.ParseInLocation(bsdLayout, rest[:len(bsdLayout)], p.loc); err == nil {
			ts = p.withYear(t)
			rest = strings.TrimLeft(rest[len(bsdLayout):], " ")
			host, rest = cutWord(rest)
		}
	}
	if ts.IsZero() {
		if first, after := cutWord(rest); first != "" {
			for _, l := range isoLayouts {
				if t, err := time.Parse(l, first); err == nil {
					ts = t
					host, rest = cutWord(after)
					break
				}
			}
		}
	}
	if host != "" && strings.HasSuffix(host, ":") {
		// "kernel:" right after the timestamp: no host field.
		rest, host = host+" "+rest, ""
	}
	// The program: "kernel:", or "kernel[...]:" in some relays.
	if i := strings.Index(rest, "kernel"); i >= 0 && i < 8 {
		if j := strings.IndexByte(rest[i:], ':'); j >= 0 && j < 16 {
			rest = rest[i+j+1:]
		}
	}
	rest = strings.TrimLeft(rest, " ")
	// The kernel's own timestamp, "[12345.678901]".
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j > 0 && isKernelTime(rest[1:j]) {
			rest = rest[j+1:]
		}
	}
	prefix = strings.TrimSpace(rest)
	if len(prefix) > 64 {
		prefix = prefix[:64]
	}
	return ts, host, strings.ToValidUTF8(prefix, "\uFFFD")
}

func isKernelTime(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, c := range s {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " ")
	w, r, _ := strings.Cut(s, " ")
	return w, r
}

// withYear gives a BSD timestamp, which has none, the year that puts it
// nearest before the clock's now (a log read on January 1st is mostly
// last December's).
func (p *Parser) withYear(t time.Time) time.Time {
	now := p.now().In(p.loc)
	y := time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, p.loc)
	if y.Sub(now) > 24*time.Hour {
		y = y.AddDate(-1, 0, 0)
	}
	return y
}
