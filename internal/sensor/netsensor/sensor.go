package netsensor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Record types.
const (
	TypeConn    = "NET.CONN"    // a connection attempt and its outcome
	TypeFlow    = "NET.FLOW"    // an answered flow's end, with what it carried
	TypeProbe   = "NET.PROBE"   // a transport-management probe (FIN, NULL, XMAS ... to no connection)
	TypeICMP    = "NET.ICMP"    // an ICMP message
	TypeHTTP    = "NET.HTTP"    // an HTTP request and its status
	TypeFTP     = "NET.FTP"     // an FTP command and its reply
	TypeSMTP    = "NET.SMTP"    // an SMTP command and its reply
	TypeDNS     = "NET.DNS"     // a DNS query and its answer
	TypeBanner  = "NET.BANNER"  // the first bytes of traffic on an unassigned port
	TypeSummary = "NET.SUMMARY" // an interval summary of a subject
	TypeIP      = "NET.IP"      // an IP packet with options, or of a protocol other than TCP, UDP, ICMP
)

// Outcomes of connection attempts.
const (
	OutcomeEstablished = "established"
	OutcomeRefused     = "refused"
	OutcomeUnanswered  = "unanswered"
	OutcomeUnreachable = "unreachable"
)

// Stats count what the sensor did.
type Stats struct {
	Packets, Bytes      uint64
	Skipped             uint64 // frames without IP
	DecodeErrors        uint64
	Records             uint64
	Suppressed          uint64 // activity records over a destination's budget
	Watched             uint64 // records marked watched (to or from a watched address)
	Flows               int
	FlowsEvicted        uint64
	KernelDrops         uint64
	LastPacket          time.Time
	SummariesCompleted  uint64
	OutOfOrderTimestamp uint64
	CaptureDamage       uint64 // damaged parts of a capture file skipped
}

// Sensor turns packets into records. It is used from one goroutine.
type Sensor struct {
	cfg   Config
	ids   event.IDSource
	emit  func(event.Event)
	log   *slog.Logger
	flows *flowTable
	sum   *summaries
	now   time.Time
	tick  time.Time // next time to expire flows
	stats Stats
	drops func() uint64
	// ipSeen are the NET.IP records made this interval.
	ipSeen map[ipKey]struct{}
	// watch holds the watch-address requests in force (watch.go).
	watch watches
}

// New returns a sensor that hands its records to emit.
func New(cfg Config, ids event.IDSource, emit func(event.Event), log *slog.Logger) *Sensor {
	cfg.defaults()
	if ids == nil {
		ids = event.NewRandomIDs()
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sensor{cfg: cfg, ids: ids, emit: emit, log: log, ipSeen: map[ipKey]struct{}{}}
	s.flows = newFlowTable(cfg.MaxFlows, cfg.AttemptTimeout, cfg.UDPIdle, cfg.TCPIdle)
	s.sum = newSummaries(&s.cfg)
	return s
}

// FlowBound is the most flows the sensor holds at once.
func (s *Sensor) FlowBound() int { return s.flows.max }

// Stats returns the sensor's counters.
func (s *Sensor) Stats() Stats {
	st := s.stats
	st.Flows = s.flows.len()
	st.FlowsEvicted = s.flows.evicted
	if s.drops != nil {
		st.KernelDrops = s.drops()
	}
	return st
}

// Run reads src until it ends (a file) or ctx does (live), then flushes.
func (s *Sensor) Run(ctx context.Context, src Source) error {
	dec, err := NewDecoder(src.LinkType())
	if err != nil {
		return err
	}
	s.drops = src.Drops
	var p Packet
	for ctx.Err() == nil {
		data, ci, err := src.Next()
		if errors.Is(err, ErrTimeout) {
			s.Advance(s.cfg.Clock.Now())
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if de := (*DamageError)(nil); errors.As(err, &de) {
			s.stats.CaptureDamage++
			s.log.Warn("damaged capture: skipped", "file", de.Name, "offset", de.Offset, "after_record", de.Record,
				"skipped_bytes", de.Skipped, "reason", de.Reason, "to_end", de.End)
			continue
		}
		if err != nil {
			s.Flush()
			return err
		}
		if derr := dec.Decode(data, ci.Timestamp, ci.Length, &p); derr != nil {
			if errors.Is(derr, ErrSkip) {
				s.stats.Skipped++
			} else {
				s.stats.DecodeErrors++
			}
			continue
		}
		s.Process(&p)
	}
	s.Flush()
	return nil
}

// Process takes one decoded packet.
func (s *Sensor) Process(p *Packet) {
	s.stats.Packets++
	s.stats.Bytes += uint64(p.Length)
	if p.Time.Before(s.now) {
		// Time never runs backwards for the sensor's clocks.
		s.stats.OutOfOrderTimestamp++
		p.Time = s.now
	}
	s.advanceTo(p.Time)
	s.stats.LastPacket = p.Time
	s.sum.gateway.packet(p)
	if p.IPOptions != 0 {
		s.ipRecord(p)
	}
	if p.Fragment {
		s.countHosts(p)
		return
	}
	switch p.Proto {
	case ProtoTCP:
		s.tcp(p)
	case ProtoUDP:
		s.udp(p)
	case ProtoICMP, ProtoICMPv6:
		s.icmp(p)
	default:
		s.countHosts(p)
		if p.IPOptions == 0 {
			s.ipRecord(p)
		}
	}
}

// Advance moves the sensor's clock (live capture with no traffic) so that
// attempts time out and intervals close.
func (s *Sensor) Advance(now time.Time) {
	if now.After(s.now) {
		s.advanceTo(now)
	}
}

func (s *Sensor) advanceTo(now time.Time) {
	s.now = now
	if s.sum.start.IsZero() {
		s.sum.reset(now.Truncate(s.cfg.SummaryInterval))
	}
	iv := s.cfg.SummaryInterval
	for !now.Before(s.sum.start.Add(iv)) {
		end := s.sum.start.Add(iv)
		s.expire(end)
		s.closeInterval(end)
		if now.Sub(end) >= iv {
			// Quiet intervals have nothing to report: skip them.
			s.sum.reset(now.Truncate(iv))
		}
	}
	if !now.Before(s.tick) {
		s.expire(now)
		s.tick = now.Add(250 * time.Millisecond)
	}
}

func (s *Sensor) expire(now time.Time) { s.flows.expire(now, s.ended) }

func (s *Sensor) closeInterval(end time.Time) {
	st := s.Stats()
	extra := map[string]any{
		"flows": int64(st.Flows), "flows_evicted": int64(st.FlowsEvicted), "decode_errors": int64(st.DecodeErrors),
		"kernel_drops": int64(st.KernelDrops), "records_suppressed_total": int64(st.Suppressed),
	}
	s.sum.emit(end, s.cfg.ID, extra, s.out)
	clear(s.ipSeen)
	s.stats.SummariesCompleted++
	s.sum.reset(end)
}

// Flush ends every flow (attempts still waiting are unanswered) and emits
// the last interval's summaries: the end of a capture file.
func (s *Sensor) Flush() {
	s.flows.drain(s.ended)
	if !s.sum.start.IsZero() && s.sum.gateway.packets > 0 {
		s.closeInterval(s.now)
	}
}

func (s *Sensor) out(ev event.Event) {
	ev.Time = ev.Time.UTC()
	ev.ID = s.ids.NewID(ev.Time)
	if ev.Source == "" {
		ev.Source = s.cfg.ID
	}
	s.stats.Records++
	if s.watch.cur.Load() != nil && s.watchedRecord(&ev) {
		ev.Attrs["watched"] = true
		s.stats.Watched++
	}
	s.emit(ev)
}

// allowed takes one record from the budget of f's server for the
// interval, or counts it as suppressed when the budget is spent. Callers
// ask before building a record.
func (s *Sensor) allowed(f *flow) bool {
	return s.takeBudget(s.flowSums(f).dstSum, f.client, f.server)
}

// takeBudget takes one record from a destination's budget for the
// interval, or counts it as suppressed when the budget is spent; a record
// to or from a watched address is always kept (and counted in the
// budget).
func (s *Sensor) takeBudget(dst *counters, a, b netip.Addr) bool {
	if dst.records >= uint64(s.cfg.RecordBudget) && !s.watched(a, b) {
		dst.suppressed++
		s.stats.Suppressed++
		return false
	}
	dst.records++
	return true
}

// record emits an activity record about f's server; the caller has taken
// it from the budget (allowed).
func (s *Sensor) record(f *flow, typ string, attrs map[string]any) {
	attrs["proto"] = protoName(f.proto)
	attrs["src"] = f.client.String()
	attrs["dst"] = f.server.String()
	if f.proto == ProtoTCP || f.proto == ProtoUDP {
		attrs["sport"] = int64(f.cport)
		attrs["dport"] = int64(f.sport)
	}
	if f.unassigned {
		attrs["unassigned"] = true
	}
	if f.dir != "" {
		attrs["direction"] = f.dir
	}
	var names []string
	for _, k := range f.streams {
		names = append(names, s.cfg.Streams[k].Name)
	}
	// Application-layer streams are known once the record's kind is.
	if app := appOf(typ); app != "" {
		t := traffic{proto: f.proto, src: f.client, dst: f.server, dport: f.sport, unassigned: f.unassigned, app: app, dir: f.dir}
		for i := range s.cfg.Streams {
			if len(s.cfg.Streams[i].Apps) > 0 && s.cfg.Streams[i].matches(&t) {
				names = append(names, s.cfg.Streams[i].Name)
			}
		}
	}
	if len(names) > 0 {
		attrs["streams"] = names
	}
	s.out(event.Event{Time: s.now, Type: typ, IP: f.server.String(), Attrs: attrs})
}

func appOf(typ string) string {
	switch typ {
	case TypeHTTP:
		return "http"
	case TypeFTP:
		return "ftp"
	case TypeSMTP:
		return "smtp"
	case TypeDNS:
		return "dns"
	case TypeBanner:
		return "banner"
	}
	return ""
}

// flowSums points f at the current interval's counters of its subjects.
// The first time in an interval that a flow is active (a packet), its
// peers and ports count towards its subjects' distinct ones; a flow that
// only ends in the interval (a timeout) is not active in it.
func (s *Sensor) flowSums(f *flow) *flow { return s.flowSumsOf(f, false) }

func (s *Sensor) flowSumsOf(f *flow, active bool) *flow {
	if f.epoch == s.sum.epoch && f.dstSum != nil {
		if active && !f.counted {
			s.countDistinct(f)
		}
		return f
	}
	f.epoch = s.sum.epoch
	f.srcSum = s.sum.srcOf(f.client)
	f.dstSum = s.sum.dstOf(f.server)
	f.svcSum = nil
	if f.proto == ProtoTCP || f.proto == ProtoUDP {
		f.svcSum = s.sum.svcOf(f.server, f.sport, f.proto)
	}
	f.streamSums = f.streamSums[:0]
	for _, k := range f.streams {
		f.streamSums = append(f.streamSums, s.sum.stream[k])
	}
	f.counted = false
	if active {
		s.countDistinct(f)
	}
	return f
}

func (s *Sensor) countDistinct(f *flow) {
	f.counted = true
	f.srcSum.peer(f.server)
	f.dstSum.peer(f.client)
	if f.proto == ProtoTCP || f.proto == ProtoUDP {
		f.srcSum.port(f.sport)
		f.dstSum.port(f.sport)
		f.svcSum.peer(f.client)
	}
}

// countFlow counts a packet of f on its subjects.
func (s *Sensor) countFlow(f *flow, p *Packet) {
	s.flowSumsOf(f, true)
	f.srcSum.packet(p)
	f.dstSum.packet(p)
	if f.svcSum != nil {
		f.svcSum.packet(p)
	}
	for _, c := range f.streamSums {
		c.packet(p)
	}
}

// countHosts counts a packet that belongs to no flow on its hosts.
func (s *Sensor) countHosts(p *Packet) {
	src, dst := s.sum.srcOf(p.Src), s.sum.dstOf(p.Dst)
	src.packet(p)
	dst.packet(p)
	src.peer(p.Dst)
	dst.peer(p.Src)
}

// newFlow starts a flow from client to server.
func (s *Sensor) newFlow(p *Packet, client netip.Addr, cport uint16, server netip.Addr, sport uint16, st fstate) *flow {
	k := makeKey(p.Proto, client, cport, server, sport)
	f := s.flows.add(k, s.evicted)
	f.client, f.server, f.cport, f.sport, f.proto = client, server, cport, sport, p.Proto
	f.state, f.first, f.last = st, p.Time.UnixNano(), p.Time.UnixNano()
	f.unassigned = !s.cfg.assigned(server, sport, p.Proto)
	f.dir = s.cfg.direction(client, server)
	f.appGuess = guessApp(p.Proto, sport)
	t := traffic{proto: p.Proto, src: client, dst: server, dport: sport, flags: p.Flags, tcpFlags: p.Proto == ProtoTCP, unassigned: f.unassigned, dir: f.dir}
	for i := range s.cfg.Streams {
		if len(s.cfg.Streams[i].Apps) == 0 && s.cfg.Streams[i].matches(&t) {
			f.streams = append(f.streams, i)
		}
	}
	s.flows.place(f)
	return f
}

// evicted is called for a flow pushed out of a full table: an attempt
// still waiting is counted as unanswered, without a record.
func (s *Sensor) evicted(f *flow) {
	if f.state == stPending {
		s.tally(f, OutcomeUnanswered)
	}
}

// tally counts an attempt's outcome on every subject of f: its source,
// destination and service, its streams and the gateway.
func (s *Sensor) tally(f *flow, outcome string) {
	s.each(f, func(c *counters) {
		switch outcome {
		case OutcomeEstablished:
			c.established++
		case OutcomeRefused:
			c.refused++
		case OutcomeUnreachable:
			c.unreach++
		case OutcomeUnanswered:
			c.unans++
		}
	})
}

// each applies count to every subject's counters of f.
func (s *Sensor) each(f *flow, count func(*counters)) {
	s.flowSums(f)
	count(f.srcSum)
	count(f.dstSum)
	if f.svcSum != nil {
		count(f.svcSum)
	}
	for _, c := range f.streamSums {
		count(c)
	}
	count(&s.sum.gateway)
}

// ended records what a flow that ends leaves unsaid: an attempt nobody
// answered, a probe nobody reset, a request without its reply, and, for
// an answered flow, what it carried.
func (s *Sensor) ended(f *flow) {
	switch f.state {
	case stPending:
		s.outcome(f, OutcomeUnanswered, nil)
	case stProbe:
		s.probeOutcome(f, "none")
	}
	s.pendingApp(f)
	if f.answered && s.allowed(f) {
		end := "open" // gone quiet, or still open at the end of a capture
		if f.state == stClosing {
			end = "closed"
		}
		s.record(f, TypeFlow, map[string]any{
			"bytes_to_server": int64(f.bytesToServer), "bytes_to_client": int64(f.bytesToClient),
			"bytes":             int64(f.bytesToServer + f.bytesToClient),
			"packets_to_server": int64(f.pktsToServer), "packets_to_client": int64(f.pktsToClient),
			"duration_s": float64((f.last-f.first)/1e6) / 1000, "end": end,
		})
	}
}

// carried counts a packet's payload in its direction.
func (f *flow) carried(p *Packet, toServer bool) {
	if toServer {
		f.bytesToServer += uint64(len(p.Payload))
		f.pktsToServer++
	} else {
		f.bytesToClient += uint64(len(p.Payload))
		f.pktsToClient++
	}
}

// outcome records a connection attempt's outcome.
func (s *Sensor) outcome(f *flow, outcome string, extra map[string]any) {
	s.tally(f, outcome)
	if !s.allowed(f) {
		return
	}
	a := make(map[string]any, 16)
	a["outcome"], a["tries"] = outcome, int64(f.tries)
	if outcome == OutcomeEstablished {
		a["rtt_ms"] = float64((s.now.UnixNano()-f.first)/1000) / 1000
	}
	for k, v := range extra {
		a[k] = v
	}
	s.record(f, TypeConn, a)
}

func (s *Sensor) probeOutcome(f *flow, answer string) {
	if !s.allowed(f) {
		return
	}
	s.record(f, TypeProbe, map[string]any{"flags": FlagString(f.flags), "answer": answer, "tries": int64(f.tries)})
}

// isProbe tells the flag combinations of stealth scans and other
// transport-management probes that open no connection: NULL, FIN,
// FIN+PSH+URG (XMAS), SYN with FIN or RST, and any without ACK but SYN.
func isProbe(flags uint8) bool {
	f := flags &^ (FlagECE | FlagCWR)
	switch {
	case f == 0:
		return true
	case f&FlagSYN != 0:
		return f&(FlagFIN|FlagRST) != 0
	case f&FlagACK != 0, f&FlagRST != 0:
		return false
	}
	return true // FIN, URG, PSH combinations without ACK
}

// lookup finds p's flow in either direction: toServer when p goes from
// the flow's client to its server (or when there is no flow yet).
func (s *Sensor) lookup(p *Packet) (f *flow, toServer bool) {
	if f = s.flows.get(makeKey(p.Proto, p.Src, p.SrcPort, p.Dst, p.DstPort)); f != nil {
		return f, true
	}
	if f = s.flows.get(makeKey(p.Proto, p.Dst, p.DstPort, p.Src, p.SrcPort)); f != nil {
		return f, false
	}
	return nil, true
}

func (s *Sensor) tcp(p *Packet) {
	f, toServer := s.lookup(p)
	syn := p.Flags&(FlagSYN|FlagACK|FlagFIN|FlagRST) == FlagSYN
	if f == nil {
		switch {
		case syn:
			f = s.newFlow(p, p.Src, p.SrcPort, p.Dst, p.DstPort, stPending)
			f.tries = 1
			s.attempt(f)
		case isProbe(p.Flags):
			f = s.newFlow(p, p.Src, p.SrcPort, p.Dst, p.DstPort, stProbe)
			f.flags, f.tries = p.Flags, 1
			s.each(f, func(c *counters) { c.probes++ })
		case p.Flags&FlagRST != 0 || p.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
			// A reset or SYN-ACK to nothing we know: backscatter, a scan
			// that began before the sensor. Counted, not followed.
			s.countHosts(p)
			return
		default:
			// The middle of a connection older than the sensor: the
			// server is the side on the lower port.
			if p.SrcPort < p.DstPort {
				f = s.newFlow(p, p.Dst, p.DstPort, p.Src, p.SrcPort, stMidstream)
				toServer = false
			} else {
				f = s.newFlow(p, p.Src, p.SrcPort, p.Dst, p.DstPort, stMidstream)
			}
			f.answered = true
			if bareACK(p) {
				// Or an ACK probe: a reset in answer tells (ackprobe.go).
				f.ackProbe, f.ackFromClient, f.tries = true, toServer, 1
			}
		}
		f.carried(p, toServer)
		s.countFlow(f, p)
		if len(p.Payload) > 0 {
			s.payload(f, p, toServer)
		}
		return
	}
	s.flows.touch(f, p.Time)
	f.carried(p, toServer)
	s.countFlow(f, p)
	switch f.state {
	case stPending:
		switch {
		case toServer && syn:
			f.tries++
		case !toServer && p.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
			s.outcome(f, OutcomeEstablished, nil)
			f.state, f.answered = stOpen, true
			s.flows.place(f)
		case !toServer && p.Flags&FlagRST != 0:
			s.outcome(f, OutcomeRefused, map[string]any{"answer": "rst"})
			f.state = stClosing
			s.flows.place(f)
		}
	case stProbe:
		if toServer && p.Flags == f.flags {
			f.tries++
		}
		if !toServer && p.Flags&FlagRST != 0 {
			s.probeOutcome(f, "rst")
			f.state = stClosing
			s.flows.place(f)
		}
	default:
		if f.ackProbe && s.ackProbeStep(f, p, toServer) {
			return
		}
		if len(p.Payload) > 0 {
			s.payload(f, p, toServer)
		}
		if p.Flags&(FlagFIN|FlagRST) != 0 && f.state != stClosing {
			f.state = stClosing
			s.flows.place(f)
		}
	}
}

// attempt counts a new connection attempt on its subjects.
func (s *Sensor) attempt(f *flow) {
	s.flowSumsOf(f, true)
	s.each(f, func(c *counters) { c.attempts++ })
}

func (s *Sensor) udp(p *Packet) {
	f, toServer := s.lookup(p)
	if f == nil {
		f = s.newFlow(p, p.Src, p.SrcPort, p.Dst, p.DstPort, stPending)
		f.tries = 1
		s.attempt(f)
		f.carried(p, true)
	} else {
		s.flows.touch(f, p.Time)
		f.carried(p, toServer)
		if f.state == stPending {
			if toServer {
				f.tries++
			} else {
				s.outcome(f, OutcomeEstablished, nil)
				f.state, f.answered = stOpen, true
				s.flows.place(f)
			}
		}
	}
	s.countFlow(f, p)
	if len(p.Payload) > 0 {
		s.payload(f, p, toServer)
	}
}

func (s *Sensor) icmp(p *Packet) {
	s.countHosts(p)
	errMsg := p.Quoted
	if errMsg {
		s.sum.dstOf(p.Dst).icmpErrors++
		s.sum.srcOf(p.Src).icmpErrors++
		s.sum.gateway.icmpErrors++
	}
	// The attempt an unreachable answers.
	unreachable := p.Quoted && (p.Proto == ProtoICMP && p.ICMPType == 3 || p.Proto == ProtoICMPv6 && p.ICMPType == 1)
	if unreachable && (p.Inner.Proto == ProtoTCP || p.Inner.Proto == ProtoUDP) {
		q := p.Inner
		f := s.flows.get(makeKey(q.Proto, q.Src, q.SrcPort, q.Dst, q.DstPort))
		if f == nil && q.Proto == ProtoTCP {
			f = s.ackProbeQuoted(q)
		}
		if f != nil {
			extra := map[string]any{"answer": "icmp", "icmp_type": int64(p.ICMPType), "icmp_code": int64(p.ICMPCode), "icmp_from": p.Src.String()}
			switch f.state {
			case stPending:
				outcome := OutcomeUnreachable
				// Port unreachable from the host itself: the port is closed.
				if (p.Proto == ProtoICMP && p.ICMPCode == 3 || p.Proto == ProtoICMPv6 && p.ICMPCode == 4) && p.Src == q.Dst {
					outcome = OutcomeRefused
				}
				s.outcome(f, outcome, extra)
				f.state = stClosing
				s.flows.place(f)
			case stProbe:
				s.probeOutcome(f, "icmp-unreachable")
				f.state = stClosing
				s.flows.place(f)
			case stMidstream:
				if f.ackProbe && q.Src == f.ackSender() {
					s.ackProbeAnswered(f, "icmp-unreachable", nil)
				}
			}
		}
	}
	// The message itself, about its destination (within its budget).
	if !s.takeBudget(s.sum.dstOf(p.Dst), p.Src, p.Dst) {
		return
	}
	a := map[string]any{
		"proto": protoName(p.Proto), "src": p.Src.String(), "dst": p.Dst.String(),
		"icmp_type": int64(p.ICMPType), "icmp_code": int64(p.ICMPCode), "icmp_name": icmpName(p.Proto, p.ICMPType, p.ICMPCode),
	}
	// Echo data: beyond the usual few dozen bytes it carries something.
	switch {
	case p.Proto == ProtoICMP && (p.ICMPType == 8 || p.ICMPType == 0):
		a["payload_bytes"] = int64(len(p.Payload))
	case p.Proto == ProtoICMPv6 && (p.ICMPType == 128 || p.ICMPType == 129):
		a["payload_bytes"] = int64(max(len(p.Payload)-4, 0)) // after the identifier and sequence
	}
	if p.Quoted {
		if q := p.Inner; q.Proto == ProtoTCP || q.Proto == ProtoUDP {
			// An error about a flow nobody here started is unsolicited.
			known := s.flows.get(makeKey(q.Proto, q.Src, q.SrcPort, q.Dst, q.DstPort)) != nil ||
				s.flows.get(makeKey(q.Proto, q.Dst, q.DstPort, q.Src, q.SrcPort)) != nil
			a["quoted_flow_known"] = known
		}
		a["quoted_proto"] = protoName(p.Inner.Proto)
		a["quoted_src"] = p.Inner.Src.String()
		a["quoted_dst"] = p.Inner.Dst.String()
		if p.Inner.Proto == ProtoTCP || p.Inner.Proto == ProtoUDP {
			a["quoted_sport"] = int64(p.Inner.SrcPort)
			a["quoted_dport"] = int64(p.Inner.DstPort)
		}
	}
	t := traffic{proto: p.Proto, src: p.Src, dst: p.Dst, dir: s.cfg.direction(p.Src, p.Dst)}
	if t.dir != "" {
		a["direction"] = t.dir
	}
	if names := s.cfg.streamsOf(&t); len(names) > 0 {
		a["streams"] = names
		for i := range s.cfg.Streams {
			if s.cfg.Streams[i].matches(&t) {
				s.sum.stream[i].packet(p)
			}
		}
	}
	s.out(event.Event{Time: s.now, Type: TypeICMP, IP: p.Dst.String(), Attrs: a})
}

func icmpName(proto, typ, code uint8) string {
	if proto == ProtoICMPv6 {
		switch typ {
		case 1:
			return "destination-unreachable"
		case 3:
			return "time-exceeded"
		case 128:
			return "echo-request"
		case 129:
			return "echo-reply"
		case 135:
			return "neighbor-solicitation"
		case 136:
			return "neighbor-advertisement"
		}
		return "other"
	}
	switch typ {
	case 0:
		return "echo-reply"
	case 3:
		switch code {
		case 0:
			return "net-unreachable"
		case 1:
			return "host-unreachable"
		case 3:
			return "port-unreachable"
		case 13:
			return "admin-prohibited"
		}
		return "destination-unreachable"
	case 5:
		return "redirect"
	case 8:
		return "echo-request"
	case 11:
		return "time-exceeded"
	case 13:
		return "timestamp-request"
	case 14:
		return "timestamp-reply"
	case 15:
		return "information-request"
	case 16:
		return "information-reply"
	case 17:
		return "address-mask-request"
	case 18:
		return "address-mask-reply"
	}
	return "other"
}
