// Package bus connects Vigil's parts over NATS: an embedded server (with
// JetStream, its store under the data directory) for the single-machine
// default, or any external NATS deployment for fleets, through the same
// client code. It owns the subject names, the durable streams, TLS and
// per-identity credentials, publishing with acknowledgement and
// de-duplication by event id, and durable consumers that resume where a
// restarted monitor stopped.
//
// # Subjects
//
// Every subject Vigil uses is built here (see also docs/BUS.md):
//
//	vigil.obs.<host>       observations (events) about a host       stream VIGIL_OBS
//	vigil.live.<host>      observations sent at most once           core NATS, no stream
//	vigil.cv.<host>        system-call count vectors of a host      stream VIGIL_CV
//	vigil.report.<monitor> reports a monitor disseminates           stream VIGIL_REPORTS
//	vigil.ctl.<monitor>.<sender>  configuration requests to a monitor (request/reply, monitors only)
//	vigil.hb.<component>   heartbeats of sensors and monitors (core NATS)
//	vigil.effect.<host>    requests to a host agent's effector (request/reply, monitors only)
//	vigil.agentctl.<host>  configuration requests to a host agent (request/reply, monitors only)
//	vigil.probe.<monitor>.<sender>  probes of a monitor by its parent (request/reply, monitors only)
//
// <host> and <monitor> are tokens: characters other than A-Z a-z 0-9 _ -
// become '_', so "10.0.0.3" routes as "10_0_0_3". The token only routes;
// the true host id travels in the record.
package bus

import "strings"

// Subject prefixes and stream names.
const (
	PrefixObs       = "vigil.obs."
	PrefixLive      = "vigil.live."
	PrefixCV        = "vigil.cv."
	PrefixReport    = "vigil.report."
	PrefixCtl       = "vigil.ctl."
	PrefixHeartbeat = "vigil.hb."
	PrefixEffect    = "vigil.effect."
	PrefixAgentCtl  = "vigil.agentctl."
	PrefixProbe     = "vigil.probe."

	StreamObs     = "VIGIL_OBS"
	StreamCV      = "VIGIL_CV"
	StreamReports = "VIGIL_REPORTS"

	// AllObs matches every durable observation subject.
	AllObs = PrefixObs + ">"
	// AllLive matches every at-most-once observation subject.
	AllLive = PrefixLive + ">"
)

// DurableSpaces are the subject spaces (prefixes) held in durable streams.
var DurableSpaces = []string{PrefixObs, PrefixCV, PrefixReport}

// maxToken bounds a subject token built from outside data.
const maxToken = 128

// Token turns a host id or monitor name into a single subject token.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	if len(s) > maxToken {
		s = s[:maxToken]
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; tokenChar(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// ObsSubject is where observations about host are published.
func ObsSubject(host string) string { return PrefixObs + Token(host) }

// LiveSubject is where observations about host are published at most
// once: no stream keeps them, so they cost the bus nothing beyond delivery.
func LiveSubject(host string) string { return PrefixLive + Token(host) }

// CVSubject is where count vectors of host are published.
func CVSubject(host string) string { return PrefixCV + Token(host) }

// ReportSubject is where monitor disseminates its reports.
func ReportSubject(monitor string) string { return PrefixReport + Token(monitor) }

// CtlSubject is where sender asks monitor target for a configuration
// change (internal/controlmsg: sensitise an engine for a while, revert;
// request/reply). The sender's token is part of the subject, so that on a
// bus with mutual TLS only the certificate of that monitor can send as it,
// and only to its children, its peers and itself (docs/BUS.md); target
// takes the sender from the subject and accepts only its parent and its
// peers when it declares either (internal/control). The sensors' identity
// may neither publish nor subscribe there.
func CtlSubject(target, sender string) string {
	return PrefixCtl + Token(target) + "." + Token(sender)
}

// CtlListenSubject is what monitor subscribes to for the configuration
// requests sent to it, whoever the sender (the last token of CtlSubject).
func CtlListenSubject(monitor string) string { return PrefixCtl + Token(monitor) + ".*" }

// SubjectSender is the last token of subject: the sender of a request on
// CtlSubject or ProbeSubject, as the bus routed it. ok is false when the
// subject has no such token below prefix.
func SubjectSender(subject, prefix string) (sender string, ok bool) {
	rest, found := strings.CutPrefix(subject, prefix)
	if !found {
		return "", false
	}
	target, sender, found := strings.Cut(rest, ".")
	if !found || target == "" || sender == "" || strings.Contains(sender, ".") {
		return "", false
	}
	return sender, true
}

// ProbeSubject is where sender asks monitor target for what it holds
// (its current tracks, a subject's profile summary, the evidence behind a
// report) and gets it back (request/reply). The sender's token is part of
// the subject, so that on a bus with mutual TLS only the certificate of
// that monitor can send as it (docs/BUS.md); target answers its parent.
func ProbeSubject(target, sender string) string {
	return PrefixProbe + Token(target) + "." + Token(sender)
}

// ProbeListenSubject is what monitor subscribes to for the probes sent to
// it, whoever the sender (the last token of ProbeSubject).
func ProbeListenSubject(monitor string) string { return PrefixProbe + Token(monitor) + ".*" }

// HeartbeatSubject is where component announces it is alive.
func HeartbeatSubject(component string) string { return PrefixHeartbeat + Token(component) }

// EffectSubject is where the effector of host answers requests to act on
// its processes and services (internal/effectmsg). Only a monitor's
// identity may publish there; the sensors' identity may subscribe and
// answer.
func EffectSubject(host string) string { return PrefixEffect + Token(host) }

// AgentCtlSubject is where the host agent of host answers configuration
// requests (internal/controlmsg: sample faster for a while). Like
// EffectSubject, only a monitor's identity may publish there; the
// sensors' identity may subscribe and answer.
func AgentCtlSubject(host string) string { return PrefixAgentCtl + Token(host) }

// streamFor names the durable stream holding subject, or "".
func streamFor(subject string) string {
	switch {
	case strings.HasPrefix(subject, PrefixObs):
		return StreamObs
	case strings.HasPrefix(subject, PrefixCV):
		return StreamCV
	case strings.HasPrefix(subject, PrefixReport):
		return StreamReports
	}
	return ""
}
