package resolver

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The safety rules every decision passes, whatever its policy says.

// protected says why a subject may not be acted on ("" when it may).
func (u *Unit) protected(s action.Subject, reports []event.Report) string {
	for _, pf := range u.prot {
		switch {
		case s.Addr.IsValid() && pf.Contains(s.Addr):
			return fmt.Sprintf("address %s is protected (%s)", s.Addr, pf)
		case s.Prefix.IsValid() && s.Prefix.Overlaps(pf):
			return fmt.Sprintf("prefix %s holds protected addresses (%s)", s.Prefix, pf)
		case s.Conn != nil && pf.Contains(s.Conn.Remote.Addr()):
			return fmt.Sprintf("the connection's remote address %s is protected (%s)", s.Conn.Remote.Addr(), pf)
		}
	}
	if s.Process != nil {
		if u.protPIDs[s.Process.PID] {
			return fmt.Sprintf("process %d is protected (pid 1 and the monitor's own)", s.Process.PID)
		}
		var last event.Report
		if len(reports) > 0 {
			last = reports[len(reports)-1]
		}
		if n := processName(s, &last); u.protName[n] {
			return fmt.Sprintf("process %s is protected", strconv.Quote(n))
		}
	}
	return ""
}

// spoofable says why an address may have been forged ("" when a
// triggering report shows it could not have been): an address is blocked
// only when a report about it carries src_verified with that address as
// its src. Otherwise it names the target instead.
func spoofable(s action.Subject, reports []event.Report) string {
	for _, r := range reports {
		if v, _ := r.Attrs[AttrSrcVerified].(bool); !v {
			continue
		}
		src, _ := r.Attrs["src"].(string)
		a, err := netip.ParseAddr(src)
		if err != nil {
			continue
		}
		a = a.Unmap()
		if s.Addr.IsValid() && a == s.Addr || s.Prefix.IsValid() && s.Prefix.Contains(a) {
			return ""
		}
	}
	what := "address " + s.Addr.String()
	if s.Prefix.IsValid() {
		what = "prefix " + s.Prefix.String()
	}
	target := ""
	if n := len(reports); n > 0 {
		last := reports[n-1]
		switch dst, _ := last.Attrs["dst"].(string); {
		case dst != "":
			target = dst
		case last.IP != "":
			target = last.IP
		default:
			target = last.Host
		}
	}
	return fmt.Sprintf("no report shows that %s could not have been forged (%s: a completed handshake, an established flow, an authenticated log line); the target is %s", what, AttrSrcVerified, strconv.Quote(target))
}
