// Package nids reads the alerts of network intrusion-detection systems and
// turns each into a NIDS.ALERT event (event.TypeNIDSAlert). It reads three
// forms, one line each:
//
//   - Suricata's EVE JSON (eve.json): the records with "event_type":"alert";
//     the others (dns, flow, http, tls, fileinfo, stats ...) are
//     ErrNotAlert, which callers skip quietly.
//   - alert_fast, which Snort 2, Snort 3 and Suricata all write:
//     "07/13/2016-22:42:07.573103  [**] [1:2100498:7] GPL ATTACK_RESPONSE id
//     check returned root [**] [Classification: Potentially Bad Traffic]
//     [Priority: 2] {TCP} 82.165.177.154:80 -> 10.16.1.11:54186".
//   - Snort 3's alert_json: one object per line with the fields the sensor
//     was configured to write (by default timestamp, pkt_num, proto,
//     pkt_gen, pkt_len, dir, src_ap, dst_ap, rule and action).
//
// The event's ip is the alert's destination address, the attacked host;
// its attributes are src, dst, sport, dport, proto, gid, sid, rev, msg,
// classification, priority and action where the alert has them, plus what
// each form adds (docs/EVENTS.md). Every accepted line gives an event that
// passes event.Validate once normalised.
package nids

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/event"
)

// Default sources of the events.
const (
	SourceSuricata = "suricata"
	SourceSnort    = "snort"
)

// ErrNotAlert is returned for an EVE record that is not an alert (dns,
// flow, http, stats ...); callers skip these quietly.
var ErrNotAlert = errors.New("not an alert record")

// MaxLineBytes is the longest line worth reading: EVE alerts carry the
// packet and payload in base64 and outgrow event.MaxEventBytes.
const MaxLineBytes = 1 << 20

// maxText is the longest string attribute kept; longer ones are cut (at a
// character boundary), so an event always stays far below
// event.MaxEventBytes.
const maxText = 1024

// Options configure a parser; zero values take the defaults.
type Options struct {
	// Now is the clock: it gives yearless timestamps (Snort's
	// "MM/DD-hh:mm:ss") the year that puts them nearest before now.
	Now func() time.Time
	// Location is the zone of timestamps that carry none (alert_fast,
	// alert_json, EVE without an offset); default local time.
	Location *time.Location
	// Source is the events' source; default "suricata" for EVE and
	// "snort" for the others.
	Source string
}

// Parser turns alert lines into events. It holds no state between lines
// and is safe for concurrent use.
type Parser struct {
	now    func() time.Time
	loc    *time.Location
	source string
}

// NewParser checks the options.
func NewParser(o Options) (*Parser, error) {
	if err := checkName(o.Source); err != nil {
		return nil, fmt.Errorf("nids: source %q: %w", o.Source, err)
	}
	p := &Parser{now: o.Now, loc: o.Location, source: o.Source}
	if p.now == nil {
		p.now = time.Now
	}
	if p.loc == nil {
		p.loc = time.Local
	}
	return p, nil
}

// alert is what every form says about one alert.
type alert struct {
	time         time.Time
	host         string
	src, dst     netip.Addr
	sport, dport int64 // -1: none
	proto        string
	gid, sid     int64
	rev          int64 // -1: none
	msg          string
	class        string
	priority     int64 // -1: none
	action       string
	extra        map[string]any
}

func newAlert() alert {
	return alert{sport: -1, dport: -1, gid: -1, sid: -1, rev: -1, priority: -1}
}

// event builds the NIDS.ALERT event of a, with source def unless the
// parser has one.
func (p *Parser) event(a alert, def string) (event.Event, error) {
	if !a.dst.IsValid() {
		return event.Event{}, errors.New("no destination address")
	}
	if !a.src.IsValid() {
		return event.Event{}, errors.New("no source address")
	}
	if a.sid < 0 {
		return event.Event{}, errors.New("no signature id")
	}
	if err := checkName(a.host); err != nil {
		return event.Event{}, fmt.Errorf("host %q: %w", a.host, err)
	}
	attrs := make(map[string]any, 16+len(a.extra))
	for k, v := range a.extra {
		attrs[k] = v
	}
	attrs["src"], attrs["dst"] = a.src.String(), a.dst.String()
	if a.sport >= 0 {
		attrs["sport"] = a.sport
	}
	if a.dport >= 0 {
		attrs["dport"] = a.dport
	}
	if a.proto != "" {
		attrs["proto"] = a.proto
	}
	if a.gid < 0 {
		a.gid = 1 // the rules' generator, when the record does not say
	}
	attrs["gid"], attrs["sid"] = a.gid, a.sid
	if a.rev >= 0 {
		attrs["rev"] = a.rev
	}
	if m := text(a.msg); m != "" {
		attrs["msg"] = m
	}
	if c := text(a.class); c != "" && c != "none" && c != "(null)" {
		attrs["classification"] = c
	}
	if a.priority >= 0 {
		attrs["priority"] = a.priority
	}
	if a.action != "" {
		attrs["action"] = strings.ToLower(text(a.action))
	}
	src := p.source
	if src == "" {
		src = def
	}
	ev := event.Event{Type: event.TypeNIDSAlert, Host: a.host, IP: a.dst.String(), Source: src, Attrs: attrs}
	if !a.time.IsZero() {
		ev.Time = a.time.UTC()
	}
	return ev, nil
}

// ---- Suricata EVE JSON ----

// eveRecord holds the fields of an EVE record that an alert event uses.
type eveRecord struct {
	Timestamp   string          `json:"timestamp"`
	EventType   string          `json:"event_type"`
	Host        string          `json:"host"`
	InIface     string          `json:"in_iface"`
	FlowID      json.Number     `json:"flow_id"`
	SrcIP       string          `json:"src_ip"`
	SrcPort     *int64          `json:"src_port"`
	DestIP      string          `json:"dest_ip"`
	DestPort    *int64          `json:"dest_port"`
	Proto       json.RawMessage `json:"proto"`
	AppProto    string          `json:"app_proto"`
	CommunityID string          `json:"community_id"`
	ICMPType    *int64          `json:"icmp_type"`
	ICMPCode    *int64          `json:"icmp_code"`
	Alert       *struct {
		Action      string `json:"action"`
		GID         *int64 `json:"gid"`
		SignatureID *int64 `json:"signature_id"`
		Rev         *int64 `json:"rev"`
		Signature   string `json:"signature"`
		Category    string `json:"category"`
		Severity    *int64 `json:"severity"`
	} `json:"alert"`
}

// ParseEVE reads one line of Suricata's EVE JSON. It returns ErrNotAlert
// for records of other event types, and an error naming the field for an
// alert record that is malformed.
func (p *Parser) ParseEVE(line []byte) (event.Event, error) {
	var r eveRecord
	err := json.Unmarshal(line, &r)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return event.Event{}, fmt.Errorf("eve: malformed JSON at byte %d: %v", se.Offset, se)
	case r.EventType == "" && err != nil:
		return event.Event{}, fmt.Errorf("eve: %w", jsonError(err))
	case r.EventType == "":
		return event.Event{}, errors.New("eve: a record without event_type")
	case r.EventType != "alert":
		return event.Event{}, ErrNotAlert
	case err != nil:
		return event.Event{}, fmt.Errorf("eve: %w", jsonError(err))
	case r.Alert == nil:
		return event.Event{}, errors.New("eve: an alert record without its alert object")
	}
	a := newAlert()
	a.host = r.Host
	if r.Timestamp != "" {
		if a.time, err = p.eveTime(r.Timestamp); err != nil {
			return event.Event{}, fmt.Errorf("eve: timestamp %q: not a time", r.Timestamp)
		}
	}
	if a.src, err = addr(r.SrcIP); err != nil {
		return event.Event{}, fmt.Errorf("eve: src_ip %q: %w", r.SrcIP, err)
	}
	if a.dst, err = addr(r.DestIP); err != nil {
		return event.Event{}, fmt.Errorf("eve: dest_ip %q: %w", r.DestIP, err)
	}
	if a.sport, err = port("src_port", r.SrcPort); err != nil {
		return event.Event{}, fmt.Errorf("eve: %w", err)
	}
	if a.dport, err = port("dest_port", r.DestPort); err != nil {
		return event.Event{}, fmt.Errorf("eve: %w", err)
	}
	if len(r.Proto) > 0 {
		var s string
		if err := json.Unmarshal(r.Proto, &s); err != nil {
			s = string(r.Proto) // a number
		}
		a.proto = normProto(s)
	}
	al := r.Alert
	if al.SignatureID == nil {
		return event.Event{}, errors.New("eve: alert.signature_id missing")
	}
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{
		{"alert.gid", al.GID, &a.gid}, {"alert.signature_id", al.SignatureID, &a.sid},
		{"alert.rev", al.Rev, &a.rev}, {"alert.severity", al.Severity, &a.priority},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 {
			return event.Event{}, fmt.Errorf("eve: %s %d is negative", f.name, *f.v)
		}
		*f.dst = *f.v
	}
	a.msg, a.class, a.action = al.Signature, al.Category, al.Action
	a.extra = map[string]any{}
	if r.FlowID != "" {
		if n, err := strconv.ParseInt(string(r.FlowID), 10, 64); err == nil {
			a.extra["flow_id"] = n
		} else {
			a.extra["flow_id"] = text(string(r.FlowID))
		}
	}
	for k, v := range map[string]string{"app_proto": r.AppProto, "in_iface": r.InIface, "community_id": r.CommunityID} {
		if v != "" {
			a.extra[k] = text(v)
		}
	}
	if err := icmp(a.extra, r.ICMPType, r.ICMPCode); err != nil {
		return event.Event{}, fmt.Errorf("eve: %w", err)
	}
	ev, err := p.event(a, SourceSuricata)
	if err != nil {
		return event.Event{}, fmt.Errorf("eve: %w", err)
	}
	return ev, nil
}

// eveTime reads an EVE timestamp: "2016-11-15T12:00:00.123456+0100",
// RFC 3339, or (old versions) no offset at all, in the parser's zone.
func (p *Parser) eveTime(s string) (time.Time, error) {
	for _, l := range []string{"2006-01-02T15:04:05Z0700", time.RFC3339Nano} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.ParseInLocation("2006-01-02T15:04:05", s, p.loc)
}

// ---- alert_fast ----

// ParseFast reads one alert_fast line, as Snort 2, Snort 3 and Suricata
// write it:
//
//	TIME [ACTION] [**] [GID:SID:REV] MSG [**] [Classification: C] [Priority: N] {PROTO} SRC[:PORT] -> DST[:PORT]
//
// TIME is "MM/DD/YYYY-hh:mm:ss.uuuuuu" (Suricata), "MM/DD/YY-..." (Snort
// with -y) or "MM/DD-..." (Snort). The action, classification and
// priority may be absent, Snort 3 quotes the message and may add
// "<interface>" before it and "[AppID: ...]" after the priority. Snort
// writes ports for TCP and UDP only; Suricata writes them for every
// protocol, and for ICMP they are the type and code.
func (p *Parser) ParseFast(line []byte) (event.Event, error) {
	ev, err := p.parseFast(strings.TrimRight(string(line), " \t\r\n"))
	if err != nil {
		return event.Event{}, fmt.Errorf("fast: %w", err)
	}
	return ev, nil
}

func (p *Parser) parseFast(s string) (event.Event, error) {
	i := strings.Index(s, "[**]")
	if i < 0 {
		return event.Event{}, errors.New("no [**]: not an alert_fast line")
	}
	a := newAlert()
	head := strings.TrimSpace(s[:i])
	tsText, rest, _ := strings.Cut(head, " ")
	var (
		err      error
		suricata bool // a four-digit year: ports on every protocol
	)
	if a.time, suricata, err = p.snortTime(tsText); err != nil {
		return event.Event{}, err
	}
	if rest = strings.TrimSpace(rest); rest != "" {
		if len(rest) < 2 || rest[0] != '[' || rest[len(rest)-1] != ']' {
			return event.Event{}, fmt.Errorf("%q before [**]: want [action]", text(rest))
		}
		a.action = strings.TrimSpace(rest[1 : len(rest)-1])
	}
	body := strings.TrimLeft(s[i+len("[**]"):], " ")
	j := strings.IndexByte(body, ']')
	if !strings.HasPrefix(body, "[") || j < 0 {
		return event.Event{}, errors.New("no [gid:sid:rev] after [**]")
	}
	if a.gid, a.sid, a.rev, err = rule(body[1:j]); err != nil {
		return event.Event{}, err
	}
	body = body[j+1:]
	k := strings.LastIndex(body, "[**]")
	if k < 0 {
		return event.Event{}, errors.New("no [**] after the message")
	}
	msg := strings.TrimSpace(body[:k])
	a.extra = map[string]any{}
	if strings.HasPrefix(msg, "<") { // Snort 3's alert_interface
		if e := strings.IndexByte(msg, '>'); e > 0 {
			if iface := strings.TrimSpace(msg[1:e]); iface != "" {
				a.extra["in_iface"] = text(iface)
			}
			msg = strings.TrimSpace(msg[e+1:])
		}
	}
	if len(msg) >= 2 && msg[0] == '"' && msg[len(msg)-1] == '"' { // Snort 3
		msg = msg[1 : len(msg)-1]
	}
	a.msg = msg
	tail := strings.TrimLeft(body[k+len("[**]"):], " ")
	for strings.HasPrefix(tail, "[") {
		e := strings.IndexByte(tail, ']')
		if e < 0 {
			return event.Event{}, errors.New("a [ without its ]")
		}
		key, v, _ := strings.Cut(tail[1:e], ":")
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(key) {
		case "Classification":
			a.class = v
		case "Priority":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return event.Event{}, fmt.Errorf("priority %q: not a number", text(v))
			}
			a.priority = n
		case "AppID":
			if v != "" {
				a.extra["app_proto"] = strings.ToLower(text(v))
			}
		}
		tail = strings.TrimLeft(tail[e+1:], " ")
	}
	e := strings.IndexByte(tail, '}')
	if !strings.HasPrefix(tail, "{") || e < 0 {
		return event.Event{}, errors.New("no {protocol} before the addresses")
	}
	if a.proto = normProto(tail[1:e]); a.proto == "" {
		return event.Event{}, errors.New("an empty {protocol}")
	}
	from, to, ok := strings.Cut(strings.TrimSpace(tail[e+1:]), " -> ")
	if !ok {
		return event.Event{}, errors.New("no \"SRC -> DST\" after the protocol")
	}
	ports := suricata || hasPorts(a.proto)
	if a.src, a.sport, err = endpoint(from, ports); err != nil {
		return event.Event{}, fmt.Errorf("source %q: %w", text(from), err)
	}
	if a.dst, a.dport, err = endpoint(to, ports); err != nil {
		return event.Event{}, fmt.Errorf("destination %q: %w", text(to), err)
	}
	switch {
	case a.proto == "icmp" || a.proto == "icmpv6":
		// Suricata writes an ICMP message's type and code as its ports.
		if a.sport >= 0 {
			a.extra["icmp_type"] = a.sport
		}
		if a.dport >= 0 {
			a.extra["icmp_code"] = a.dport
		}
		a.sport, a.dport = -1, -1
	case !hasPorts(a.proto):
		a.sport, a.dport = -1, -1 // Suricata's zeros
	}
	return p.event(a, SourceSnort)
}

// rule reads "gid:sid:rev".
func rule(s string) (gid, sid, rev int64, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("rule %q: want gid:sid:rev", text(s))
	}
	var n [3]int64
	for i, f := range parts {
		if n[i], err = strconv.ParseInt(strings.TrimSpace(f), 10, 64); err != nil || n[i] < 0 {
			return 0, 0, 0, fmt.Errorf("rule %q: want gid:sid:rev", text(s))
		}
	}
	return n[0], n[1], n[2], nil
}

// snortTime reads "MM/DD/YYYY-hh:mm:ss.uuuuuu", "MM/DD/YY-hh:mm:ss.uuuuuu"
// or "MM/DD-hh:mm:ss.uuuuuu" in the parser's zone; the last gets the year
// that puts it nearest before now. long says the year had four digits.
func (p *Parser) snortTime(s string) (t time.Time, long bool, err error) {
	date, _, _ := strings.Cut(s, "-")
	layout := "01/02-15:04:05"
	switch strings.Count(date, "/") {
	case 2:
		layout = "01/02/06-15:04:05"
		if len(date) > len("01/02/06") {
			layout, long = "01/02/2006-15:04:05", true
		}
	case 1:
	default:
		return time.Time{}, false, fmt.Errorf("timestamp %q: want MM/DD[/YYYY]-hh:mm:ss.uuuuuu", text(s))
	}
	t, err = time.ParseInLocation(layout, s, p.loc)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("timestamp %q: want MM/DD[/YYYY]-hh:mm:ss.uuuuuu", text(s))
	}
	if layout == "01/02-15:04:05" {
		t = p.withYear(t)
	}
	return t, long, nil
}

// withYear gives a yearless time the year that puts it nearest before the
// clock's now (up to a day ahead is taken as clock skew): a log read on
// January 1st is mostly last December's, and February 29th goes to the
// last leap year.
func (p *Parser) withYear(t time.Time) time.Time {
	now := p.now().In(p.loc)
	for y := now.Year() + 1; y > now.Year()-8; y-- {
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), p.loc)
		if c.Day() == t.Day() && c.Sub(now) <= 24*time.Hour {
			return c
		}
	}
	return time.Date(now.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), p.loc)
}

// endpoint reads "ADDR", "ADDR:PORT" or "[ADDR]:PORT". An IPv6 address
// with a port and without brackets is told from one without a port by
// ports, which says whether the line writes ports.
func endpoint(s string, ports bool) (netip.Addr, int64, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), int64(ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && (a.Is4() || !ports) {
		return a.WithZone("").Unmap(), -1, nil
	}
	if i := strings.LastIndexByte(s, ':'); ports && i > 0 {
		a, err := netip.ParseAddr(s[:i])
		n, perr := strconv.ParseUint(s[i+1:], 10, 16)
		if err == nil && perr == nil {
			return a.WithZone("").Unmap(), int64(n), nil
		}
	}
	return netip.Addr{}, 0, errors.New("not an address with an optional port")
}

// ---- Snort 3 alert_json ----

// snortRecord holds the alert_json fields an alert event uses.
type snortRecord struct {
	Timestamp string `json:"timestamp"`
	Seconds   *int64 `json:"seconds"`
	Proto     string `json:"proto"`
	SrcAddr   string `json:"src_addr"`
	SrcPort   *int64 `json:"src_port"`
	SrcAP     string `json:"src_ap"`
	DstAddr   string `json:"dst_addr"`
	DstPort   *int64 `json:"dst_port"`
	DstAP     string `json:"dst_ap"`
	GID       *int64 `json:"gid"`
	SID       *int64 `json:"sid"`
	Rev       *int64 `json:"rev"`
	Rule      string `json:"rule"`
	Msg       string `json:"msg"`
	Class     string `json:"class"`
	Priority  *int64 `json:"priority"`
	Action    string `json:"action"`
	Iface     string `json:"iface"`
	Service   string `json:"service"`
	ICMPType  *int64 `json:"icmp_type"`
	ICMPCode  *int64 `json:"icmp_code"`
}

// ParseSnortJSON reads one line of Snort 3's alert_json. The fields are
// those the sensor was configured with: the addresses from src_addr and
// dst_addr or src_ap and dst_ap, the rule from gid, sid and rev or rule,
// the time from timestamp ("MM/DD-hh:mm:ss.uuuuuu", or with a year) or
// seconds; without either the event takes the time it is read.
func (p *Parser) ParseSnortJSON(line []byte) (event.Event, error) {
	ev, err := p.parseSnortJSON(line)
	if err != nil {
		return event.Event{}, fmt.Errorf("alert_json: %w", err)
	}
	return ev, nil
}

func (p *Parser) parseSnortJSON(line []byte) (event.Event, error) {
	var r snortRecord
	if err := json.Unmarshal(line, &r); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return event.Event{}, fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, se)
		}
		return event.Event{}, jsonError(err)
	}
	a := newAlert()
	var err error
	switch {
	case r.Timestamp != "":
		if a.time, _, err = p.snortTime(r.Timestamp); err != nil {
			return event.Event{}, err
		}
	case r.Seconds != nil:
		a.time = time.Unix(*r.Seconds, 0)
		if *r.Seconds < 0 || a.time.Year() > 9999 {
			return event.Event{}, fmt.Errorf("seconds %d: out of range", *r.Seconds)
		}
	}
	a.proto = normProto(r.Proto)
	ports := hasPorts(a.proto)
	for _, e := range []struct {
		name, addr, ap string
		port           *int64
		a              *netip.Addr
		p              *int64
	}{
		{"src", r.SrcAddr, r.SrcAP, r.SrcPort, &a.src, &a.sport},
		{"dst", r.DstAddr, r.DstAP, r.DstPort, &a.dst, &a.dport},
	} {
		switch {
		case e.addr != "":
			if *e.a, err = addr(e.addr); err != nil {
				return event.Event{}, fmt.Errorf("%s_addr %q: %w", e.name, text(e.addr), err)
			}
		case e.ap != "":
			// "addr:port", the port 0 when the protocol has none.
			var pt int64
			if *e.a, pt, err = endpoint(e.ap, true); err != nil || pt < 0 {
				return event.Event{}, fmt.Errorf("%s_ap %q: not an address:port", e.name, text(e.ap))
			}
			if ports {
				*e.p = pt
			}
		}
		if e.port != nil {
			if *e.p, err = port(e.name+"_port", e.port); err != nil {
				return event.Event{}, err
			}
		}
	}
	if r.Rule != "" {
		if a.gid, a.sid, a.rev, err = rule(r.Rule); err != nil {
			return event.Event{}, err
		}
	}
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{{"gid", r.GID, &a.gid}, {"sid", r.SID, &a.sid}, {"rev", r.Rev, &a.rev}, {"priority", r.Priority, &a.priority}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 {
			return event.Event{}, fmt.Errorf("%s %d is negative", f.name, *f.v)
		}
		*f.dst = *f.v
	}
	a.msg, a.class, a.action = r.Msg, r.Class, r.Action
	a.extra = map[string]any{}
	if r.Iface != "" {
		a.extra["in_iface"] = text(r.Iface)
	}
	if r.Service != "" && r.Service != "unknown" {
		a.extra["app_proto"] = text(r.Service)
	}
	if err := icmp(a.extra, r.ICMPType, r.ICMPCode); err != nil {
		return event.Event{}, err
	}
	return p.event(a, SourceSnort)
}

// ---- helpers ----

// jsonError rephrases encoding/json's type errors with the field's path.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "a string"
		switch {
		case te.Type.String() == "json.Number":
			want = "a number"
		case te.Type.Kind() == reflect.Int64 || te.Type.Kind() == reflect.Pointer:
			want = "an integer"
		case te.Type.Kind() == reflect.Struct:
			want = "an object"
		}
		if te.Field == "" {
			return fmt.Errorf("a JSON %s, want an object", te.Value)
		}
		return fmt.Errorf("field %s: a JSON %s, want %s", te.Field, te.Value, want)
	}
	return err
}

// addr reads an IP address.
func addr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("missing")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IP address")
	}
	return a.WithZone("").Unmap(), nil
}

// port checks an optional port number; -1 when absent.
func port(name string, v *int64) (int64, error) {
	if v == nil {
		return -1, nil
	}
	if *v < 0 || *v > 65535 {
		return 0, fmt.Errorf("%s %d: not a port", name, *v)
	}
	return *v, nil
}

// icmp stores an ICMP type and code.
func icmp(attrs map[string]any, typ, code *int64) error {
	for _, f := range []struct {
		name string
		v    *int64
	}{{"icmp_type", typ}, {"icmp_code", code}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > 255 {
			return fmt.Errorf("%s %d: out of range", f.name, *f.v)
		}
		attrs[f.name] = *f.v
	}
	return nil
}

// normProto names a protocol as the network sensor does: tcp, udp, icmp,
// icmpv6, else lower case ("sctp"), or the number.
func normProto(s string) string {
	s = strings.ToLower(strings.TrimSpace(text(s)))
	s = strings.TrimPrefix(s, "proto:") // Suricata's unnamed protocols
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		switch n {
		case 1:
			return "icmp"
		case 6:
			return "tcp"
		case 17:
			return "udp"
		case 58:
			return "icmpv6"
		case 132:
			return "sctp"
		}
		return strconv.FormatUint(n, 10)
	}
	switch s {
	case "icmp4", "icmpv4":
		return "icmp"
	case "icmp6", "ipv6-icmp", "ipv6_icmp":
		return "icmpv6"
	}
	return s
}

// hasPorts says whether Snort writes ports for the protocol.
func hasPorts(proto string) bool {
	return proto == "tcp" || proto == "udp" || proto == "sctp"
}

// text makes s valid UTF-8 of at most maxText bytes.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxText {
		i := maxText
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// checkName accepts what an event's host and source may be: valid UTF-8
// without control characters, at most event.MaxNameLen bytes.
func checkName(s string) error {
	if len(s) > event.MaxNameLen {
		return fmt.Errorf("%d bytes, longer than the limit of %d", len(s), event.MaxNameLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("control character %U not allowed", r)
		}
	}
	return nil
}
