package netsensor

import "net/netip"

// ACK probes. A bare ACK (no SYN before it, no data) to a connection the
// sensor has not seen is either the middle of a connection older than the
// sensor or a probe: nmap's ACK and window scans (-sA, -sW) send one to
// each port and read the answer. A host resets an ACK that belongs to no
// connection of its own, so a reset coming straight back, or an ICMP
// unreachable quoting the ACK, shows the ACK opened nothing: it is
// recorded as a NET.PROBE with flags "A", not as a tiny flow. Which ports
// answer at all (unfiltered) and which stay silent (filtered) is the map
// of a firewall's rules such a scan draws. An ACK nobody answers stays a
// mid-stream flow, as an old connection's lone ACK would.

// maxACKTries is the most times a probe's ACK is sent again (nmap tries
// twice or three times); more bare ACKs are one side of a connection
// whose other side the sensor does not see.
const maxACKTries = 4

// bareACK: an ACK without data and without SYN, FIN, RST, PSH or URG.
func bareACK(p *Packet) bool {
	return p.Flags&^(FlagECE|FlagCWR) == FlagACK && len(p.Payload) == 0
}

// ackSender is the side that sent f's first ACK.
func (f *flow) ackSender() netip.Addr {
	if f.ackFromClient {
		return f.client
	}
	return f.server
}

// ackProbeStep takes a packet of a flow that began as a bare ACK: the
// ACK again (counted as a try), a reset from the other side (the probe's
// answer), or anything else, which makes it an ordinary mid-stream flow.
// It reports whether the packet was taken.
func (s *Sensor) ackProbeStep(f *flow, p *Packet, toServer bool) bool {
	fromSender := toServer == f.ackFromClient
	switch {
	case fromSender && bareACK(p) && f.tries < maxACKTries:
		f.tries++
		return true
	case !fromSender && p.Flags&FlagRST != 0 && len(p.Payload) == 0:
		s.ackProbeAnswered(f, "rst", p)
		return true
	}
	f.ackProbe = false
	return false
}

// ackProbeQuoted finds the ACK probe an ICMP error quotes when the flow
// is filed the other way round (its ports made the prober look like the
// server).
func (s *Sensor) ackProbeQuoted(q Quote) *flow {
	f := s.flows.get(makeKey(q.Proto, q.Dst, q.DstPort, q.Src, q.SrcPort))
	if f != nil && f.state == stMidstream && f.ackProbe {
		return f
	}
	return nil
}

// ackProbeAnswered turns f into the probe it was: from the ACK's sender
// to its receiver, recorded once with its answer (for a reset, rst is
// the reset and its window is recorded: a window scan reads open ports
// from a non-zero one).
func (s *Sensor) ackProbeAnswered(f *flow, answer string, rst *Packet) {
	if !f.ackFromClient {
		s.turn(f)
	}
	f.ackProbe, f.answered = false, false
	f.flags = FlagACK
	f.state = stClosing
	s.flows.place(f)
	s.each(f, func(c *counters) { c.probes++ })
	if !s.allowed(f) {
		return
	}
	a := map[string]any{"flags": FlagString(f.flags), "answer": answer, "tries": int64(f.tries)}
	if rst != nil {
		a["window"] = int64(rst.Window)
	}
	s.record(f, TypeProbe, a)
}

// turn swaps f's client and server (a mid-stream flow filed by its ports
// the wrong way round), with what depends on them.
func (s *Sensor) turn(f *flow) {
	f.client, f.server = f.server, f.client
	f.cport, f.sport = f.sport, f.cport
	f.bytesToServer, f.bytesToClient = f.bytesToClient, f.bytesToServer
	f.pktsToServer, f.pktsToClient = f.pktsToClient, f.pktsToServer
	f.ackFromClient = !f.ackFromClient
	s.flows.rekey(f, makeKey(f.proto, f.client, f.cport, f.server, f.sport))
	f.unassigned = !s.cfg.assigned(f.server, f.sport, f.proto)
	f.dir = s.cfg.direction(f.client, f.server)
	f.appGuess = guessApp(f.proto, f.sport)
	t := traffic{proto: f.proto, src: f.client, dst: f.server, dport: f.sport, flags: FlagACK, tcpFlags: true, unassigned: f.unassigned, dir: f.dir}
	f.streams = f.streams[:0]
	for i := range s.cfg.Streams {
		if len(s.cfg.Streams[i].Apps) == 0 && s.cfg.Streams[i].matches(&t) {
			f.streams = append(f.streams, i)
		}
	}
	// Its subjects' counters are looked up afresh.
	f.epoch = 0
	f.dstSum = nil
}
