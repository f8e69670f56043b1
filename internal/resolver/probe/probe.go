// Package probe holds the response methods that check integrity when a
// policy asks (seed 000's self-healing loop: "is the web server still
// serving what it should?"): http-probe fetches a URL and compares its
// status and the SHA-256 of its body with what is expected; file-probe
// hashes files on the monitor's host and compares them with a recorded
// SHA-256 or with the MD5 that the Debian package owning them lists in
// dpkg's database; exe-probe hashes the executables of running processes
// on the monitor's host as they run (through /proc/PID/exe: a deleted or
// replaced file is still read as it runs) and compares them in the same
// two ways.
//
// A probe changes nothing. Its result is the decision's outcome: Execute
// returns an Outcome whose Detail says "pass" and what matched, or an
// error wrapping a *ErrMismatch that names what differs, so that the
// decision is recorded as failed with that reason and the response event
// carries it. Failing to probe at all (a refused TLS handshake, a
// timeout, an unreadable file) is an error that wraps no ErrMismatch.
// Everything a probe reads is bounded (body and file sizes, time), and
// what it reads is only hashed and measured, never interpreted.
package probe

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// The kinds this package registers.
const (
	KindHTTP = "http-probe"
	KindFile = "file-probe"
	KindExe  = "exe-probe"
)

// Register adds the probe kinds to r.
func Register(r *action.Registry) error {
	for _, f := range []action.Factory{httpFactory(), fileFactory(), exeFactory()} {
		if err := r.Register(f); err != nil {
			return err
		}
	}
	return nil
}

// ErrMismatch is what a probe that ran found different from what was
// expected. Execute wraps it; errors.As finds it (several, for a
// file-probe whose files differ, are joined).
type ErrMismatch struct {
	// PID and Start name the process whose executable was probed (its
	// start time in clock ticks since boot); zero for other probes.
	PID   int
	Start uint64
	// Target is what was probed: a URL, a file's path, an executable's
	// path.
	Target string
	// What is the property that differs: "status", "body sha256",
	// "body size", "sha256", "md5", "existence", "owner", "executable"
	// (deleted or replaced since its process started), "baseline" (an
	// executable the baseline does not list).
	What string
	// Want and Got are the expected and the found value.
	Want, Got string
}

func (e *ErrMismatch) Error() string {
	proc := ""
	if e.PID != 0 {
		proc = fmt.Sprintf("pid %d (start %d) ", e.PID, e.Start)
	}
	return fmt.Sprintf("%s%s: %s differs: want %s, got %s", proc, strconv.Quote(e.Target), e.What, e.Want, e.Got)
}

// isHex reports whether s is n lower- or upper-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// netipParse parses an IP address (no zone).
func netipParse(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	return a, err
}
