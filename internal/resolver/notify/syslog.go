package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Syslog transports.
const (
	NetUDP = "udp"
	NetTCP = "tcp"
	NetTLS = "tls"
)

// DefaultSDID is the structured-data id of a decision's element: the
// documentation enterprise number of RFC 5612, until a site sets its own.
const DefaultSDID = "vigil@32473"

// The default longest message per transport: what rsyslog and syslog-ng
// take by default over UDP, and more over a stream.
const (
	defaultMaxUDP    = 8192
	defaultMaxStream = 65536
	maxMessage       = 1 << 20
	maxUDP           = 65000
)

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// SyslogSettings are a syslog method's section of a resource object.
type SyslogSettings struct {
	// Network is udp, tcp (RFC 6587 octet counting) or tls (RFC 5425).
	Network string `yaml:"network"`
	// Address is the receiver's host:port.
	Address string `yaml:"address"`
	// CAFile and ServerName tune the TLS verification, which is always
	// on: the roots (system ones by default) and the name checked (the
	// address's host by default).
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	// Facility is a facility name (local0 by default).
	Facility string `yaml:"facility"`
	// AppName and Hostname fill the header (the host's name by default).
	AppName  string `yaml:"app_name"`
	Hostname string `yaml:"hostname"`
	// SDID names the structured-data element (name@enterprise-number).
	SDID string `yaml:"sd_id"`
	// Timeout bounds a connection and a write.
	Timeout time.Duration `yaml:"timeout"`
	// MaxMessageBytes cuts longer messages in their MSG part (0: 8192 over
	// UDP, 65536 over a stream).
	MaxMessageBytes int    `yaml:"max_message_bytes"`
	Format          string `yaml:"format"`

	base string
}

func newSyslogSettings() config.Settings {
	return &SyslogSettings{Network: NetUDP, Facility: "local0", AppName: "vigil", SDID: DefaultSDID, Timeout: DefaultTimeout, Format: FormatVigil}
}

// Validate checks the transport, address, header fields and limits.
func (s *SyslogSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	switch s.Network {
	case NetUDP, NetTCP, NetTLS:
	default:
		p.Addf(config.Join(path, "network"), "unknown network %q (want udp, tcp or tls)", action.Clip(s.Network, 32))
	}
	if host, port, err := net.SplitHostPort(s.Address); err != nil || host == "" || port == "" {
		p.Addf(config.Join(path, "address"), "want host:port, not %q", action.Clip(s.Address, 64))
	}
	if _, ok := facilities[s.Facility]; !ok {
		p.Addf(config.Join(path, "facility"), "unknown facility %q (want kern, user, ..., local0 to local7)", action.Clip(s.Facility, 32))
	}
	if !headerField(s.AppName, 48) {
		p.Addf(config.Join(path, "app_name"), "want 1 to 48 printable ASCII characters without spaces")
	}
	if s.Hostname != "" && !headerField(s.Hostname, 255) {
		p.Addf(config.Join(path, "hostname"), "want 1 to 255 printable ASCII characters without spaces")
	}
	if !sdName(s.SDID) || !strings.Contains(s.SDID, "@") {
		p.Addf(config.Join(path, "sd_id"), "want name@enterprise-number, up to 32 printable ASCII characters without = ] \" or spaces")
	}
	if s.Timeout <= 0 || s.Timeout > 10*time.Minute {
		p.Addf(config.Join(path, "timeout"), "must be between 1ns and 10m")
	}
	if s.MaxMessageBytes != 0 && (s.MaxMessageBytes < 480 || s.MaxMessageBytes > maxMessage) {
		p.Addf(config.Join(path, "max_message_bytes"), "must be 0 (the transport's default) or between 480 and %d", maxMessage)
	}
	if s.Network == NetUDP && s.MaxMessageBytes > maxUDP {
		p.Addf(config.Join(path, "max_message_bytes"), "a UDP datagram holds at most %d bytes", maxUDP)
	}
	if s.Network != NetTLS && (s.CAFile != "" || s.ServerName != "") {
		p.Addf(config.Join(path, "ca_file"), "ca_file and server_name apply to network tls only")
	}
	action.CheckCAFile(p, config.Join(path, "ca_file"), action.Deps{}.Path(s.base, s.CAFile))
	validFormat(p, path, s.Format)
}

// headerField checks a syslog header field: 1 to max PRINTUSASCII.
func headerField(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// sdName checks an SD-NAME (an SD-ID or a PARAM-NAME).
func sdName(s string) bool {
	return headerField(s, 32) && !strings.ContainsAny(s, "=]\"")
}

func syslogFactory() action.Factory {
	return action.Factory{
		Kind:        KindSyslog,
		NewSettings: newSyslogSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*SyslogSettings)
			if !ok {
				return nil, fmt.Errorf("syslog: settings of type %T", cs)
			}
			return newSyslog(s, deps)
		},
	}
}

// Syslog sends each decision as one RFC 5424 message.
type Syslog struct {
	s        *SyslogSettings
	tls      *tls.Config
	hostname string
	max      int
	clock    clock.Clock
	deps     action.Deps
	pid      int

	mu    sync.Mutex
	conn  net.Conn
	dials int // connections made, to say when one was made anew
}

var (
	_ action.Method = (*Syslog)(nil)
	_ action.Closer = (*Syslog)(nil)
)

func newSyslog(s *SyslogSettings, deps action.Deps) (*Syslog, error) {
	l := &Syslog{s: s, clock: clockOf(deps), deps: deps, pid: os.Getpid(), hostname: s.Hostname, max: s.MaxMessageBytes}
	if l.hostname == "" {
		h, err := os.Hostname()
		if err != nil || !headerField(h, 255) {
			h = "-"
		}
		l.hostname = h
	}
	if l.max == 0 {
		l.max = defaultMaxStream
		if s.Network == NetUDP {
			l.max = defaultMaxUDP
		}
	}
	if s.Network == NetTLS {
		name := s.ServerName
		if name == "" {
			name, _, _ = net.SplitHostPort(s.Address)
		}
		c, err := action.ClientTLS(deps.Path(s.base, s.CAFile), name)
		if err != nil {
			return nil, err
		}
		l.tls = c
	}
	return l, nil
}

// syslogSeverity maps a band onto a syslog severity: red is crit, yellow
// warning, green notice.
func syslogSeverity(s event.Severity) int {
	switch s {
	case event.SeverityRed:
		return 2
	case event.SeverityYellow:
		return 4
	}
	return 5
}

// Message renders req as one RFC 5424 message, without framing.
func (l *Syslog) Message(req action.Request) ([]byte, error) {
	sev := topSeverity(req.Reports)
	pri := facilities[l.s.Facility]*8 + syslogSeverity(sev)
	var b []byte
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, ">1 "...)
	t := req.Time
	if t.IsZero() {
		t = l.clock.Now()
	}
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, l.hostname...)
	b = append(b, ' ')
	b = append(b, l.s.AppName...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(l.pid), 10)
	b = append(b, " decision ["...)
	b = append(b, l.s.SDID...)
	param := func(name, value string) {
		if value == "" {
			return
		}
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, `="`...)
		b = appendParamValue(b, value)
		b = append(b, '"')
	}
	param("id", req.ID)
	param("monitor", l.deps.Monitor)
	param("policy", req.Policy)
	param("method", req.Method)
	param("kind", req.Kind)
	param("key", req.Key)
	param("host", subjectHost(req))
	param("ip", subjectIP(req))
	param("severity", sev.String())
	param("reports", strconv.Itoa(len(req.Reports)))
	if r := last(req.Reports); r != nil {
		param("report", r.ID)
		param("engine", r.Engine)
		param("model", r.Model)
		param("state", r.State)
		param("score", strconv.FormatFloat(r.Score, 'f', -1, 64))
	}
	if !req.Expires.IsZero() {
		param("expires", req.Expires.UTC().Format(time.RFC3339))
	}
	b = append(b, "] "...)
	var msg string
	switch l.s.Format {
	case FormatOCSF:
		body, err := render(FormatOCSF, req, l.deps.Monitor)
		if err != nil {
			return nil, err
		}
		msg = string(body)
	default:
		msg = title(req)
		if req.Reason != "" {
			msg += ": " + req.Reason
		}
		if r := last(req.Reports); r != nil && r.Explanation != "" {
			msg += " (" + r.Explanation + ")"
		}
	}
	b = appendMsg(b, msg, l.max-len(b), l.s.Format == FormatOCSF)
	return b, nil
}

// appendParamValue escapes a PARAM-VALUE: '"', '\' and ']' take a
// backslash (RFC 5424 section 6.3.3); control characters and Unicode line
// separators become \uXXXX, so that nothing from a report breaks a line or
// the element; bad UTF-8 becomes U+FFFD.
func appendParamValue(b []byte, s string) []byte {
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\' || r == ']':
			b = append(b, '\\', byte(r))
		case isBreak(r):
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// appendMsg appends the MSG part, cut to at most room bytes, control
// characters escaped as in parameter values. In text a backslash is
// doubled, so that an escape cannot be forged; JSON (isJSON) has its own
// escapes, and \uXXXX is one of them, so it is kept as it is.
func appendMsg(b []byte, s string, room int, isJSON bool) []byte {
	start := len(b)
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		mark := len(b)
		switch {
		case r == '\\' && !isJSON:
			b = append(b, '\\', '\\')
		case isBreak(r):
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = utf8.AppendRune(b, r)
		}
		if len(b)-start > room {
			return b[:mark]
		}
	}
	return b
}

// isBreak is a character that must not appear raw in a message.
func isBreak(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// Plan shows the message and where it would go.
func (l *Syslog) Plan(req action.Request) (string, error) {
	msg, err := l.Message(req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("send %d bytes over %s to %s: %s", len(msg), l.s.Network, l.s.Address, preview(msg)), nil
}

// Execute sends the message, reconnecting once if the connection has
// failed.
func (l *Syslog) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	msg, err := l.Message(req)
	if err != nil {
		return action.Outcome{}, err
	}
	frame := msg
	if l.s.Network != NetUDP {
		frame = append(strconv.AppendInt(nil, int64(len(msg)), 10), ' ')
		frame = append(frame, msg...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	reconnected := false
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return action.Outcome{}, fmt.Errorf("syslog: %w", err)
		}
		if l.conn != nil && l.s.Network != NetUDP && !l.alive() {
			l.drop()
		}
		if l.conn == nil {
			if err := l.dial(ctx); err != nil {
				return action.Outcome{}, err
			}
			reconnected = l.dials > 1
		}
		_ = l.conn.SetWriteDeadline(time.Now().Add(l.s.Timeout))
		_, err = l.conn.Write(frame)
		if err == nil {
			break
		}
		l.drop()
		if attempt > 0 {
			return action.Outcome{}, fmt.Errorf("syslog: writing to %s %s: %w", l.s.Network, l.s.Address, err)
		}
	}
	detail := fmt.Sprintf("sent %d bytes (%s) over %s to %s", len(msg), l.s.Format, l.s.Network, l.s.Address)
	if reconnected {
		detail += " after reconnecting"
	}
	return action.Outcome{Detail: detail}, nil
}

// alive tells whether a stream connection is still open: a receiver never
// sends, so anything to read, or its end, means the connection is gone.
func (l *Syslog) alive() bool {
	_ = l.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := l.conn.Read(one[:])
	_ = l.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

func (l *Syslog) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.s.Timeout)
	defer cancel()
	var c net.Conn
	var err error
	switch l.s.Network {
	case NetTLS:
		d := tls.Dialer{Config: l.tls}
		c, err = d.DialContext(ctx, "tcp", l.s.Address)
	default:
		var d net.Dialer
		c, err = d.DialContext(ctx, l.s.Network, l.s.Address)
	}
	if err != nil {
		return fmt.Errorf("syslog: connecting to %s %s: %w", l.s.Network, l.s.Address, err)
	}
	l.conn = c
	l.dials++
	return nil
}

func (l *Syslog) drop() {
	if l.conn != nil {
		_ = l.conn.Close()
		l.conn = nil
	}
}

// Close closes the connection.
func (l *Syslog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop()
	return nil
}
