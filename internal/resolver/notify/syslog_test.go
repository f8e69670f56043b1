package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// syslogMsg is an RFC 5424 message taken apart.
type syslogMsg struct {
	pri                                     int
	timestamp, host, app, procid, msgid, sd string
	params                                  map[string]string // of the one SD element
	sdid                                    string
	msg                                     string
}

// parseSyslog reads one RFC 5424 message as a receiver would, with the
// escapes of section 6.3.3 undone in parameter values.
func parseSyslog(b []byte) (syslogMsg, error) {
	var m syslogMsg
	s := string(b)
	if !utf8.ValidString(s) {
		return m, errors.New("not UTF-8")
	}
	if strings.ContainsAny(s, "\r\n") {
		return m, errors.New("a line break in the message")
	}
	if !strings.HasPrefix(s, "<") {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return m, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri > 191 {
		return m, fmt.Errorf("bad PRI %q", s[1:end])
	}
	m.pri = pri
	s = s[end+1:]
	fields := strings.SplitN(s, " ", 7)
	if len(fields) < 7 || fields[0] != "1" {
		return m, fmt.Errorf("header: %q", s)
	}
	m.timestamp, m.host, m.app, m.procid, m.msgid = fields[1], fields[2], fields[3], fields[4], fields[5]
	if _, err := time.Parse(time.RFC3339Nano, m.timestamp); err != nil {
		return m, err
	}
	rest := fields[6]
	if !strings.HasPrefix(rest, "[") {
		return m, fmt.Errorf("no SD element: %q", rest)
	}
	i := 1
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return m, errors.New("SD-ID without parameters")
	}
	m.sdid = rest[1:sp]
	i = sp
	m.params = map[string]string{}
	for {
		if i >= len(rest) {
			return m, errors.New("unterminated SD element")
		}
		if rest[i] == ']' {
			i++
			break
		}
		if rest[i] != ' ' {
			return m, fmt.Errorf("at %d: %q", i, rest[i:])
		}
		i++
		eq := strings.IndexByte(rest[i:], '=')
		if eq < 0 || i+eq+1 >= len(rest) || rest[i+eq+1] != '"' {
			return m, errors.New("bad SD-PARAM")
		}
		name := rest[i : i+eq]
		if !sdName(name) {
			return m, fmt.Errorf("bad PARAM-NAME %q", name)
		}
		i += eq + 2
		var v strings.Builder
		for {
			if i >= len(rest) {
				return m, errors.New("unterminated PARAM-VALUE")
			}
			c := rest[i]
			if c == '\\' && i+1 < len(rest) && strings.IndexByte(`"\]`, rest[i+1]) >= 0 {
				v.WriteByte(rest[i+1])
				i += 2
				continue
			}
			if c == ']' {
				return m, errors.New("an unescaped ] in a PARAM-VALUE")
			}
			if c == '"' {
				i++
				break
			}
			v.WriteByte(c)
			i++
		}
		if _, dup := m.params[name]; dup {
			return m, fmt.Errorf("parameter %s twice", name)
		}
		m.params[name] = v.String()
	}
	m.sd = rest[:i]
	if i < len(rest) {
		if rest[i] != ' ' {
			return m, errors.New("no space before MSG")
		}
		m.msg = rest[i+1:]
	}
	return m, nil
}

// syslogMethod builds a syslog method sending to addr over network.
func syslogMethod(t *testing.T, network, addr string, set func(*SyslogSettings)) action.Method {
	t.Helper()
	return build(t, KindSyslog, testDeps(t), func(s config.Settings) {
		l := s.(*SyslogSettings)
		l.Network, l.Address, l.Hostname, l.Timeout = network, addr, "mon-1", 2*time.Second
		if set != nil {
			set(l)
		}
	})
}

// checkSample checks that m carries sampleRequest's decision.
func checkSample(t *testing.T, m syslogMsg) {
	t.Helper()
	if m.pri != 16*8+2 {
		t.Errorf("PRI %d, want local0.crit (130) for a red decision", m.pri)
	}
	if m.timestamp != "2026-03-14T15:09:26.535000Z" || m.host != "mon-1" || m.app != "vigil" || m.msgid != "decision" || m.procid != strconv.Itoa(os.Getpid()) {
		t.Errorf("header %q %q %q %q %q", m.timestamp, m.host, m.app, m.procid, m.msgid)
	}
	want := map[string]string{
		"id": "01JDEC0000000000000000001", "policy": "contain-web", "monitor": "svc-web", "host": "web-3", "ip": "10.0.0.3",
		"severity": "red", "reports": "2", "engine": "track", "model": "M3", "state": "Compromised", "score": "0.95",
	}
	if m.sdid != DefaultSDID {
		t.Errorf("SD-ID %q", m.sdid)
	}
	for k, v := range want {
		if m.params[k] != v {
			t.Errorf("param %s = %q, want %q", k, m.params[k], v)
		}
	}
	if !strings.Contains(m.msg, "track M3 red for web-3") || !strings.Contains(m.msg, "apache2 spawned a shell") {
		t.Errorf("MSG %q", m.msg)
	}
}

func TestSyslogOverUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := syslogMethod(t, NetUDP, pc.LocalAddr().String(), nil)
	out, err := m.Execute(context.Background(), sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := parseSyslog(buf[:n])
	if err != nil {
		t.Fatalf("%v in %q", err, buf[:n])
	}
	checkSample(t, msg)
	if !strings.Contains(out.Detail, fmt.Sprintf("sent %d bytes (vigil) over udp to %s", n, pc.LocalAddr())) {
		t.Errorf("detail %q", out.Detail)
	}
}

// readFramed reads one octet-counted frame (RFC 6587).
func readFramed(r *bufio.Reader) ([]byte, error) {
	lenText, err := r.ReadString(' ')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, " "))
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("bad frame length %q", lenText)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// streamServer accepts connections on l and delivers each frame read, and
// the number of the connection it came on; closeAfter > 0 closes a
// connection after that many frames, and then sends the frame.
func streamServer(t *testing.T, l net.Listener, closeAfter int) <-chan [2]string {
	t.Helper()
	out := make(chan [2]string, 16)
	go func() {
		for conn := 1; ; conn++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, conn int) {
				defer c.Close()
				r := bufio.NewReader(c)
				for n := 1; ; n++ {
					b, err := readFramed(r)
					if err != nil {
						return
					}
					if n == closeAfter {
						c.Close()
					}
					out <- [2]string{string(b), strconv.Itoa(conn)}
					if n == closeAfter {
						return
					}
				}
			}(c, conn)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return out
}

func receive(t *testing.T, ch <-chan [2]string) (syslogMsg, string) {
	t.Helper()
	select {
	case f := <-ch:
		m, err := parseSyslog([]byte(f[0]))
		if err != nil {
			t.Fatalf("%v in %q", err, f[0])
		}
		return m, f[1]
	case <-time.After(5 * time.Second):
		t.Fatal("no message arrived")
	}
	return syslogMsg{}, ""
}

func TestSyslogOverTCPWithOctetCounting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frames := streamServer(t, l, 0)
	m := syslogMethod(t, NetTCP, l.Addr().String(), nil)
	for i := 0; i < 2; i++ {
		if _, err := m.Execute(context.Background(), sampleRequest()); err != nil {
			t.Fatal(err)
		}
		msg, conn := receive(t, frames)
		checkSample(t, msg)
		if conn != "1" {
			t.Errorf("message %d came on connection %s; one connection serves them all", i, conn)
		}
	}
}

func TestSyslogReconnectsAfterTheReceiverDropsTheConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frames := streamServer(t, l, 1) // the receiver hangs up after each message
	m := syslogMethod(t, NetTCP, l.Addr().String(), nil)
	for i := 1; i <= 3; i++ {
		out, err := m.Execute(context.Background(), sampleRequest())
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		_, conn := receive(t, frames)
		if conn != strconv.Itoa(i) {
			t.Errorf("message %d came on connection %s, want %d", i, conn, i)
		}
		if i > 1 && !strings.Contains(out.Detail, "after reconnecting") {
			t.Errorf("message %d: detail %q does not say it reconnected", i, out.Detail)
		}
	}
}

func TestSyslogReportsAnUnreachableReceiver(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = syslogMethod(t, NetTCP, addr, nil).Execute(context.Background(), sampleRequest())
	if err == nil || !strings.Contains(err.Error(), "connecting to tcp "+addr) {
		t.Fatalf("error %v, want one naming the receiver", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"logs.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

func TestSyslogOverTLSVerifiesTheReceiver(t *testing.T) {
	cert, ca := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	frames := streamServer(t, l, 0)
	// Without the CA the receiver's certificate does not verify.
	if _, err := syslogMethod(t, NetTLS, l.Addr().String(), nil).Execute(context.Background(), sampleRequest()); err == nil {
		t.Fatal("sent over TLS to a receiver whose certificate does not verify")
	}
	// A name the certificate does not carry does not verify either.
	_, err = syslogMethod(t, NetTLS, l.Addr().String(), func(s *SyslogSettings) { s.CAFile, s.ServerName = ca, "other.test" }).
		Execute(context.Background(), sampleRequest())
	if err == nil {
		t.Fatal("sent over TLS with a server name the certificate does not carry")
	}
	m := syslogMethod(t, NetTLS, l.Addr().String(), func(s *SyslogSettings) { s.CAFile = ca })
	for i := 0; i < 2; i++ {
		out, err := m.Execute(context.Background(), sampleRequest())
		if err != nil {
			t.Fatal(err)
		}
		msg, conn := receive(t, frames)
		checkSample(t, msg)
		if strings.Contains(out.Detail, "reconnecting") {
			t.Errorf("message %d on connection %s: %q; the TLS connection should have stayed up", i, conn, out.Detail)
		}
	}
}

func TestSyslogKeepsAttackerStringsInsideTheirField(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := syslogMethod(t, NetUDP, pc.LocalAddr().String(), nil)
	req := sampleRequest()
	evil := "web-3\"] [fake@1 x=\"y\"]\n<13>1 2026-01-01T00:00:00Z forged app - - - hello\\\u2028\x00\xff"
	req.Reports[1].Host = evil
	req.Subject.Host = ""
	req.Reports[1].Explanation = "line1\r\nline2 \\u000a"
	if _, err := m.Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := parseSyslog(buf[:n])
	if err != nil {
		t.Fatalf("%v in %q", err, buf[:n])
	}
	if msg.sdid != DefaultSDID || msg.params["id"] != req.ID {
		t.Errorf("the forged element took over: %+v", msg)
	}
	want := strings.NewReplacer("\n", `\u000a`, "\u2028", `\u2028`, "\x00", `\u0000`, "\xff", "\uFFFD").Replace(evil)
	if msg.params["host"] != want {
		t.Errorf("host %q, want %q", msg.params["host"], want)
	}
	if !strings.Contains(msg.msg, `line1\u000d\u000aline2 \\u000a`) {
		t.Errorf("MSG %q: the line breaks are not escaped, or a backslash is not doubled", msg.msg)
	}
}

func TestSyslogOCSFMessageIsOneJSONFinding(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := syslogMethod(t, NetUDP, pc.LocalAddr().String(), func(s *SyslogSettings) { s.Format = FormatOCSF })
	req := sampleRequest()
	req.Reports[1].Explanation = "shell \u0085 next line"
	if _, err := m.Execute(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := parseSyslog(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(msg.msg), &f); err != nil {
		t.Fatalf("MSG is not JSON: %v\n%s", err, msg.msg)
	}
	checkOCSF(t, f, req)
}

func TestSyslogCutsLongMessagesToTheLimit(t *testing.T) {
	l := &Syslog{s: newSyslogSettings().(*SyslogSettings), hostname: "h", max: 600, clock: testDeps(t).Clock}
	req := sampleRequest()
	req.Reason = strings.Repeat("é", 1000)
	b, err := l.Message(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 600 || !utf8.Valid(b) {
		t.Errorf("%d bytes (valid UTF-8: %v), want at most 600", len(b), utf8.Valid(b))
	}
	if _, err := parseSyslog(b); err != nil {
		t.Error(err)
	}
}

// FuzzSyslogMessage renders decisions with arbitrary report strings: every
// message parses, holds no line break, and gives back each value with
// only its breaks escaped.
func FuzzSyslogMessage(f *testing.F) {
	f.Add("web-3", "apache2 spawned a shell", "M3")
	f.Add("a\"]b", "x\ny\\z", "]")
	f.Add("\xff\xfe", "\u2028\u0085", "=\" ")
	f.Fuzz(func(t *testing.T, host, explanation, model string) {
		l := &Syslog{s: newSyslogSettings().(*SyslogSettings), hostname: "h", max: defaultMaxUDP, clock: testDeps(nil).Clock}
		req := sampleRequest()
		req.Subject.Host = ""
		req.Reports[1].Host, req.Reports[1].Explanation, req.Reports[1].Model = host, explanation, model
		b, err := l.Message(req)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseSyslog(b)
		if err != nil {
			t.Fatalf("%v in %q", err, b)
		}
		for _, c := range b {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control byte %#x in %q", c, b)
			}
		}
		for name, v := range map[string]string{"host": host, "model": model} {
			want := strings.ToValidUTF8(v, "\uFFFD")
			var w strings.Builder
			for _, r := range want {
				if isBreak(r) {
					fmt.Fprintf(&w, `\u%04x`, r)
				} else {
					w.WriteRune(r)
				}
			}
			if v != "" && m.params[name] != w.String() {
				t.Fatalf("%s %q came back as %q", name, v, m.params[name])
			}
		}
	})
}

func TestSyslogFramesStayWholeUnderConcurrentDecisions(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frames := streamServer(t, l, 0)
	m := syslogMethod(t, NetTCP, l.Addr().String(), nil)
	const workers, each = 8, 10
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var err error
			for i := 0; i < each && err == nil; i++ {
				req := sampleRequest()
				req.ID = fmt.Sprintf("w%d-%d", w, i)
				_, err = m.Execute(context.Background(), req)
			}
			errs <- err
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < workers*each; i++ {
		msg, _ := receive(t, frames)
		seen[msg.params["id"]] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct decisions, want %d", len(seen), workers*each)
	}
}
