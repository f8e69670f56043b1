package resolver

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/yamlnode"
)

// Report attributes the decision unit reads (docs/RESPONSES.md).
const (
	// AttrSrcVerified on a report says that the address in its src
	// attribute could not have been forged (event.SourceVerified): only
	// such an address is blocked.
	AttrSrcVerified = event.AttrSrcVerified
	// AttrProcessStart is a process's start time in clock ticks since
	// boot (field 22 of /proc/PID/stat): with pid, what names a process.
	AttrProcessStart = "start"
)

// subjectOf takes what a policy's subject names out of a report: the
// subject, and a key part that identifies it.
func subjectOf(kind, attr, unit string, rep *event.Report) (action.Subject, string, error) {
	s := action.Subject{Host: rep.Host, Unit: unit}
	switch kind {
	case "host":
		if rep.Host == "" {
			return s, "", fmt.Errorf("the report names no host")
		}
	case "ip":
		a, err := netip.ParseAddr(rep.IP)
		if err != nil {
			return s, "", fmt.Errorf("the report's ip %q is not an address", rep.IP)
		}
		s.Addr = a.Unmap()
	case "addr":
		v, ok := rep.Attrs[attr].(string)
		if !ok {
			return s, "", fmt.Errorf("the report has no address in attribute %s", attr)
		}
		if a, err := netip.ParseAddr(v); err == nil {
			s.Addr = a.Unmap()
		} else if p, ok := yamlnode.ParseCIDR(v); ok {
			s.Prefix = p
		} else {
			return s, "", fmt.Errorf("attribute %s holds %q, not an address", attr, v)
		}
	case "process":
		pid, ok := intAttr(rep.Attrs, "pid")
		if !ok || pid < 1 {
			return s, "", fmt.Errorf("the report names no process (pid)")
		}
		start, ok := intAttr(rep.Attrs, AttrProcessStart)
		if !ok || start < 0 {
			return s, "", fmt.Errorf("the report names pid %d without its start time (attribute %s): a reused pid could be hit", pid, AttrProcessStart)
		}
		exe, _ := rep.Attrs["exe"].(string)
		s.Process = &action.Process{PID: int(pid), Start: uint64(start), Exe: exe}
	case "conn":
		src, _ := rep.Attrs["src"].(string)
		dst, _ := rep.Attrs["dst"].(string)
		sport, ok1 := intAttr(rep.Attrs, "sport")
		dport, ok2 := intAttr(rep.Attrs, "dport")
		sa, err1 := netip.ParseAddr(src)
		da, err2 := netip.ParseAddr(dst)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || sport < 0 || sport > 65535 || dport < 0 || dport > 65535 {
			return s, "", fmt.Errorf("the report names no connection (src, sport, dst, dport)")
		}
		s.Conn = &action.Conn{
			Local:  netip.AddrPortFrom(da.Unmap(), uint16(dport)),
			Remote: netip.AddrPortFrom(sa.Unmap(), uint16(sport)),
		}
	default:
		return s, "", fmt.Errorf("unknown subject %q", kind)
	}
	return s, subjectKey(s), nil
}

// subjectKey identifies a subject for idempotence: its address or prefix;
// or its host with its process (pid and start time) or connection; and
// its unit.
func subjectKey(s action.Subject) string {
	var key string
	switch {
	case s.Addr.IsValid():
		key = "addr=" + s.Addr.String()
	case s.Prefix.IsValid():
		key = "prefix=" + s.Prefix.Masked().String()
	case s.Process != nil:
		key = "host=" + s.Host + "|pid=" + strconv.Itoa(s.Process.PID) + "@" + strconv.FormatUint(s.Process.Start, 10)
	case s.Conn != nil:
		key = "host=" + s.Host + "|conn=" + s.Conn.Remote.String() + ">" + s.Conn.Local.String()
	default:
		key = "host=" + s.Host
	}
	if s.Unit != "" {
		key += "|unit=" + s.Unit
	}
	return key
}

func intAttr(attrs map[string]any, name string) (int64, bool) {
	switch v := attrs[name].(type) {
	case int64:
		return v, true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// describe names a subject in one line.
func describe(s action.Subject) string {
	var parts []string
	if s.Addr.IsValid() {
		parts = append(parts, "address "+s.Addr.String())
	}
	if s.Prefix.IsValid() {
		parts = append(parts, "prefix "+s.Prefix.String())
	}
	if s.Process != nil {
		parts = append(parts, fmt.Sprintf("process %d (started at tick %d, %s)", s.Process.PID, s.Process.Start, strconv.Quote(s.Process.Exe)))
	}
	if s.Conn != nil {
		parts = append(parts, "connection "+s.Conn.Remote.String()+" -> "+s.Conn.Local.String())
	}
	if s.Unit != "" {
		parts = append(parts, "unit "+strconv.Quote(s.Unit))
	}
	switch {
	case s.Host != "" && len(parts) == 0:
		parts = append(parts, "host "+strconv.Quote(s.Host))
	case s.Host != "":
		parts = append(parts, "on host "+strconv.Quote(s.Host))
	}
	return strings.Join(parts, " ")
}

// processName is the name a process subject is known by: its report's
// name attribute, or its executable's base name.
func processName(s action.Subject, rep *event.Report) string {
	if n, ok := rep.Attrs["name"].(string); ok && n != "" {
		return n
	}
	if s.Process != nil && s.Process.Exe != "" {
		return path.Base(s.Process.Exe)
	}
	return ""
}
