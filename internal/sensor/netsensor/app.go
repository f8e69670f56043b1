package netsensor

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Application protocols the sensor reads.
const (
	appNone = iota
	appHTTP
	appFTP
	appSMTP
	appDNS
)

// maxField bounds any string taken from a packet into a record.
const maxField = 256

// appState is a flow's application-layer state: the request waiting for
// its reply, and whether each side's banner was taken.
type appState struct {
	proto uint8
	// bannerClient and bannerServer: the first bytes from that side were
	// taken (on an unassigned port).
	bannerClient, bannerServer bool
	// The pending request.
	pending  bool
	method   string // HTTP method, FTP or SMTP command
	arg      string // HTTP path, FTP or SMTP argument
	host     string // HTTP Host header
	user     string // FTP user name, for anonymous logins
	dataMode bool   // SMTP: the client is sending the message
	// FTP: the data connection the last PORT or EPRT named (login.go).
	dataAddr netip.Addr
	dataPort uint16
	// SMTP AUTH: credentials are being exchanged (the client's lines
	// are not commands); the mechanism and the user they name.
	authMode, authSeen bool
	authMech, authUser string
	// DNS: the query by id.
	dnsID    uint16
	dnsName  string
	dnsType  string
	dnsAsked bool
}

// guessApp picks the protocol of a flow from its service port.
func guessApp(proto uint8, port uint16) uint8 {
	switch {
	case proto == ProtoUDP && port == 53:
		return appDNS
	case proto == ProtoTCP && port == 21:
		return appFTP
	case proto == ProtoTCP && (port == 25 || port == 587):
		return appSMTP
	}
	return appNone
}

var httpMethods = []string{"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PROPFIND"}

// httpRequest reads an HTTP request line ("GET /x HTTP/1.1") and the Host
// header from the start of a segment.
func httpRequest(b []byte) (method, path, host string, ok bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 3 || sp > 10 {
		return "", "", "", false
	}
	m := string(b[:sp])
	found := false
	for _, hm := range httpMethods {
		if m == hm {
			found = true
			break
		}
	}
	if !found {
		return "", "", "", false
	}
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	parts := bytes.SplitN(line, []byte(" "), 3)
	if len(parts) < 2 {
		return "", "", "", false
	}
	path = clean(parts[1])
	if i := bytes.Index(b, []byte("\r\nHost:")); i >= 0 {
		h := b[i+7:]
		if e := bytes.Index(h, []byte("\r\n")); e >= 0 {
			h = h[:e]
		}
		host = clean(bytes.TrimSpace(h))
	} else if i := bytes.Index(b, []byte("\r\nhost:")); i >= 0 {
		h := b[i+7:]
		if e := bytes.Index(h, []byte("\r\n")); e >= 0 {
			h = h[:e]
		}
		host = clean(bytes.TrimSpace(h))
	}
	return m, path, host, true
}

// httpStatus reads the status of a response line ("HTTP/1.1 404 ...").
func httpStatus(b []byte) (int, bool) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.")) || len(b) < 12 || b[8] != ' ' {
		return 0, false
	}
	return threeDigits(b[9:12])
}

// commandLine splits a client's "CMD argument\r\n" (FTP, SMTP).
func commandLine(b []byte) (cmd, arg string, ok bool) {
	line, _, found := bytes.Cut(b, []byte("\r\n"))
	if !found {
		line, _, found = bytes.Cut(b, []byte("\n"))
	}
	if !found || len(line) == 0 {
		return "", "", false
	}
	c, a, _ := bytes.Cut(line, []byte(" "))
	if len(c) < 3 || len(c) > 8 {
		return "", "", false
	}
	for _, x := range c {
		if !(x >= 'A' && x <= 'Z' || x >= 'a' && x <= 'z') {
			return "", "", false
		}
	}
	return strings.ToUpper(string(c)), clean(bytes.TrimSpace(a)), true
}

// replyCode reads a server's "NNN text" reply (FTP, SMTP); for a
// multi-line reply ("NNN-...") it is the code of its first line.
func replyCode(b []byte) (int, bool) {
	if len(b) < 4 || (b[3] != ' ' && b[3] != '-' && b[3] != '\r') {
		return 0, false
	}
	return threeDigits(b[:3])
}

// threeDigits reads a status or reply code: three digits, 100 to 599.
func threeDigits(b []byte) (int, bool) {
	n := 0
	for _, c := range b[:3] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 100 && n <= 599
}

// dnsMessage reads a DNS message's id, first question and response code.
func dnsMessage(b []byte) (id uint16, name, qtype string, response bool, rcode string, answers int, ok bool) {
	var d layers.DNS
	if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || len(d.Questions) == 0 {
		return 0, "", "", false, "", 0, false
	}
	q := d.Questions[0]
	return d.ID, clean(q.Name), q.Type.String(), d.QR, rcodeName(uint8(d.ResponseCode)), len(d.Answers), true
}

// rcodeNames are the mnemonics of DNS response codes (RFC 1035, RFC 2136).
var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

func rcodeName(c uint8) string {
	if int(c) < len(rcodeNames) {
		return rcodeNames[c]
	}
	return "RCODE" + strconv.Itoa(int(c))
}

// clean makes bytes from the network a valid, bounded string: invalid
// UTF-8 becomes U+FFFD and the length is capped. Escaping for display is
// the job of whoever displays it.
func clean(b []byte) string {
	if len(b) > maxField {
		b = b[:maxField]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// banner renders a service's first bytes: printable ASCII as is, anything
// else as \xNN, at most n bytes of input.
func banner(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	var sb strings.Builder
	const hex = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c >= 0x20 && c < 0x7f && c != '\\':
			sb.WriteByte(c)
		default:
			sb.WriteString(`\x`)
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&0xf])
		}
	}
	return sb.String()
}

// guessBanner names the service a banner looks like.
func guessBanner(b []byte, fromServer bool) string {
	up := bytes.ToUpper(b[:min(len(b), 128)])
	switch {
	case bytes.HasPrefix(b, []byte("SSH-")):
		return "ssh"
	case bytes.HasPrefix(b, []byte("HTTP/1.")) || bytes.HasPrefix(b, []byte("HTTP/2")):
		return "http"
	case !fromServer && func() bool { _, _, _, ok := httpRequest(b); return ok }():
		return "http"
	case fromServer && bytes.HasPrefix(b, []byte("220")) && bytes.Contains(up, []byte("FTP")):
		return "ftp"
	case fromServer && bytes.HasPrefix(b, []byte("220")) && (bytes.Contains(up, []byte("SMTP")) || bytes.Contains(up, []byte("MAIL"))):
		return "smtp"
	case fromServer && bytes.HasPrefix(b, []byte("220")):
		return "ftp-or-smtp"
	case bytes.HasPrefix(b, []byte{0x16, 0x03}):
		return "tls"
	}
	return "unknown"
}

// bannerRecord records the first bytes one side of a flow to an
// unassigned port sent; reply says the other side had spoken first.
func (s *Sensor) bannerRecord(f *flow, b []byte, toServer, reply bool) {
	if !s.allowed(f) {
		return
	}
	from := "client"
	if !toServer {
		from = "server"
	}
	a := map[string]any{
		"banner": banner(b, s.cfg.BannerBytes), "from": from, "guess": guessBanner(b, !toServer), "bytes": int64(len(b)),
	}
	if reply {
		a["reply"] = true
	}
	s.record(f, TypeBanner, a)
}

// payload reads a segment's application data.
func (s *Sensor) payload(f *flow, p *Packet, toServer bool) {
	b := p.Payload
	if f.app == nil {
		f.app = s.flows.newApp()
		f.app.proto = f.appGuess
	}
	if f.unassigned {
		// The first bytes of each side: whoever speaks first (a
		// service's greeting, a client's request), and the answer (what a
		// shell prints for the first command it is sent).
		done := &f.app.bannerServer
		if toServer {
			done = &f.app.bannerClient
		}
		if !*done {
			reply := f.app.bannerClient || f.app.bannerServer
			*done = true
			s.bannerRecord(f, b, toServer, reply)
		}
	}
	if toServer {
		if m, path, host, ok := httpRequest(b); ok {
			if f.app.pending && f.app.proto == appHTTP {
				s.httpRecord(f, 0)
			}
			f.app.proto, f.app.pending, f.app.method, f.app.arg, f.app.host = appHTTP, true, m, path, host
			return
		}
	}
	switch f.app.proto {
	case appHTTP:
		if !toServer && f.app.pending {
			if code, ok := httpStatus(b); ok {
				s.httpRecord(f, code)
			}
		}
	case appFTP, appSMTP:
		if toServer {
			if f.app.dataMode {
				return // the message itself
			}
			if f.app.authMode {
				smtpAuthLine(f.app, b) // credentials, not a command
				return
			}
			if cmd, arg, ok := commandLine(b); ok {
				if f.app.pending {
					s.commandRecord(f, 0)
				}
				f.app.pending, f.app.method, f.app.arg = true, cmd, arg
				if f.app.proto == appFTP && cmd == "USER" {
					f.app.user = arg
				}
				if f.app.proto == appSMTP && cmd == "AUTH" {
					smtpAuthStart(f.app, arg)
				}
			}
			return
		}
		if code, ok := replyCode(b); ok {
			if f.app.dataMode {
				f.app.dataMode = false // the reply to the message
				return
			}
			if f.app.pending {
				if f.app.proto == appSMTP && f.app.method == "DATA" && code == 354 {
					f.app.dataMode = true
				}
				if f.app.proto == appSMTP && f.app.method == "AUTH" && code == 334 {
					f.app.authMode = true // a challenge: the AUTH goes on
					return
				}
				f.app.authMode = false
				s.commandRecord(f, code)
			}
		}
	case appDNS:
		id, name, qtype, response, rcode, answers, ok := dnsMessage(b)
		if !ok {
			return
		}
		if !response {
			f.app.dnsID, f.app.dnsName, f.app.dnsType, f.app.dnsAsked = id, name, qtype, true
			return
		}
		f.app.dnsAsked = false
		if s.allowed(f) {
			s.record(f, TypeDNS, map[string]any{"app": "dns", "query": name, "qtype": qtype, "rcode": rcode, "answers": int64(answers), "id": int64(id)})
		}
	}
}

func (s *Sensor) httpRecord(f *flow, status int) {
	f.app.pending = false
	if !s.allowed(f) {
		return
	}
	a := map[string]any{"method": f.app.method, "path": f.app.arg, "app": "http"}
	if f.app.host != "" {
		a["http_host"] = f.app.host
	}
	if status > 0 {
		a["status"] = int64(status)
	} else {
		a["status_seen"] = false
	}
	f.app.pending = false
	s.record(f, TypeHTTP, a)
}

func (s *Sensor) commandRecord(f *flow, code int) {
	f.app.pending = false
	extra := commandFields(f.app, code)
	if !s.allowed(f) {
		return
	}
	typ, app := TypeSMTP, "smtp"
	if f.app.proto == appFTP {
		typ, app = TypeFTP, "ftp"
	}
	a := map[string]any{"command": f.app.method, "app": app}
	if f.app.arg != "" {
		arg := f.app.arg
		if f.app.proto == appFTP && f.app.method == "PASS" && f.app.user != "anonymous" && f.app.user != "ftp" {
			arg = "********" // a real password does not travel further
		}
		if f.app.proto == appSMTP && f.app.method == "AUTH" {
			arg = f.app.authMech // nor do credentials sent with AUTH
		}
		a["argument"] = arg
	}
	if code > 0 {
		a["reply"] = int64(code)
	} else {
		a["reply_seen"] = false
	}
	if f.app.proto == appFTP && f.app.method == "PASS" && code == 230 && (f.app.user == "anonymous" || f.app.user == "ftp") {
		a["anonymous_login"] = true
	}
	if f.app.proto == appFTP && f.app.user != "" {
		a["user"] = f.app.user
	}
	for k, v := range extra {
		a[k] = v
	}
	f.app.pending = false
	s.record(f, typ, a)
}

// pendingApp records a request still waiting for its reply when its flow
// ends.
func (s *Sensor) pendingApp(f *flow) {
	if f.app == nil {
		return
	}
	switch {
	case f.app.pending && f.app.proto == appHTTP:
		s.httpRecord(f, 0)
	case f.app.pending:
		s.commandRecord(f, 0)
	case f.app.dnsAsked:
		f.app.dnsAsked = false
		if !s.allowed(f) {
			return
		}
		s.record(f, TypeDNS, map[string]any{"app": "dns", "query": f.app.dnsName, "qtype": f.app.dnsType, "rcode": "unanswered", "id": int64(f.app.dnsID)})
	}
}
