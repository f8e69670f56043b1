package netsensor

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/netspec"
)

// Config configures a sensor.
type Config struct {
	// ID names the sensor (the source of its records).
	ID string
	// SummaryInterval is the length of an interval summary (default 10 s).
	SummaryInterval time.Duration
	// MaxFlows bounds the flow table (default 262,144).
	MaxFlows int
	// AttemptTimeout is how long a connection attempt waits for an answer
	// before it is recorded as unanswered (default 5 s).
	AttemptTimeout time.Duration
	// TCPIdle and UDPIdle expire quiet flows (default 5 min and 60 s).
	TCPIdle, UDPIdle time.Duration
	// RecordBudget bounds the activity records per destination host per
	// interval (default 1,000); the rest are counted in its summary.
	RecordBudget int
	// MaxSubjects bounds the subjects of each kind in an interval's
	// summaries (default 1,000); further ones are summed as "other".
	MaxSubjects int
	// Subjects are the kinds of interval summary made: gateway, src, dst,
	// service, stream (default all).
	Subjects []string
	// Services are those the site runs; traffic to any other port is the
	// unassigned stream, and its first bytes are recorded as a banner.
	// Empty: every port counts as assigned.
	Services []netspec.Service
	// Internal are the site's own networks. With them, records carry
	// their direction (inbound is the pass-through traffic of seed 004:
	// from outside to inside), and streams can select by it.
	Internal []netip.Prefix
	// Streams are the named event streams records are tagged with.
	Streams []Stream
	// BannerBytes is how much of a banner is kept (default 64).
	BannerBytes int
	// Clock tells the time while a live capture is quiet, so that flows
	// and summaries still end on time (default the wall clock).
	Clock clock.Clock
}

// Stream selects traffic (seed 004 section 3): every criterion given must
// hold; a list holds when any of its items does.
type Stream struct {
	Name      string
	Protocols []uint8
	Src, Dst  []netip.Prefix
	// Ports are destination (service) ports.
	Ports []uint16
	// Flags are TCP flag sets; a TCP record matches one when its flags are
	// exactly that set (SYN for an attempt; FIN, NONE, FIN+PSH+URG ... for
	// probes).
	Flags []uint8
	// Unassigned selects traffic to ports that are not the site's
	// services.
	Unassigned bool
	// Apps selects application-layer records: http, ftp, smtp, dns, banner.
	Apps []string
	// Direction selects by where traffic comes from and goes, given the
	// internal networks: inbound (outside to inside: pass-through
	// traffic), outbound, internal, external.
	Direction string
}

// Directions of traffic relative to the internal networks.
const (
	DirInbound  = "inbound"
	DirOutbound = "outbound"
	DirInternal = "internal"
	DirExternal = "external"
)

// direction tells where traffic from src to dst goes; "" without internal
// networks.
func (c *Config) direction(src, dst netip.Addr) string {
	if len(c.Internal) == 0 {
		return ""
	}
	in, out := inPrefixes(c.Internal, src), inPrefixes(c.Internal, dst)
	switch {
	case !in && out:
		return DirInbound
	case in && !out:
		return DirOutbound
	case in && out:
		return DirInternal
	}
	return DirExternal
}

func (c *Config) defaults() {
	if c.ID == "" {
		c.ID = "netsensor"
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.SummaryInterval <= 0 {
		c.SummaryInterval = config.DefaultSummaryInterval
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = config.DefaultMaxFlows
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = config.DefaultAttemptTimeout
	}
	if c.TCPIdle <= 0 {
		c.TCPIdle = 5 * time.Minute
	}
	if c.UDPIdle <= 0 {
		c.UDPIdle = time.Minute
	}
	if c.RecordBudget <= 0 {
		c.RecordBudget = 1000
	}
	if c.MaxSubjects <= 0 {
		c.MaxSubjects = 1000
	}
	if len(c.Subjects) == 0 {
		c.Subjects = []string{"gateway", "src", "dst", "service", "stream"}
	}
	if c.BannerBytes <= 0 {
		c.BannerBytes = 64
	}
}

// assigned reports whether addr:port/proto is one of the site's services.
func (c *Config) assigned(addr netip.Addr, port uint16, proto uint8) bool {
	if len(c.Services) == 0 {
		return true
	}
	for _, s := range c.Services {
		if s.Matches(addr, port, proto) {
			return true
		}
	}
	return false
}

// traffic describes what a record or packet is, for stream matching.
type traffic struct {
	proto      uint8
	src, dst   netip.Addr
	dport      uint16
	flags      uint8
	tcpFlags   bool // flags is meaningful
	unassigned bool
	app        string
	dir        string
}

func (st *Stream) matches(t *traffic) bool {
	if len(st.Protocols) > 0 && !slices.Contains(st.Protocols, t.proto) {
		return false
	}
	if len(st.Src) > 0 && !inPrefixes(st.Src, t.src) {
		return false
	}
	if len(st.Dst) > 0 && !inPrefixes(st.Dst, t.dst) {
		return false
	}
	if len(st.Ports) > 0 && !slices.Contains(st.Ports, t.dport) {
		return false
	}
	if len(st.Flags) > 0 && (!t.tcpFlags || !slices.Contains(st.Flags, t.flags)) {
		return false
	}
	if st.Unassigned && !t.unassigned {
		return false
	}
	if len(st.Apps) > 0 && !slices.Contains(st.Apps, t.app) {
		return false
	}
	if st.Direction != "" && st.Direction != t.dir {
		return false
	}
	return true
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// streamsOf names the streams t belongs to.
func (c *Config) streamsOf(t *traffic) []string {
	var out []string
	for i := range c.Streams {
		if c.Streams[i].matches(t) {
			out = append(out, c.Streams[i].Name)
		}
	}
	return out
}
