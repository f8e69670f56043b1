package resolver

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/event"
)

// FuzzSubjectOf feeds report attributes (attacker-controlled: they come
// from packets and processes) to the subject reader: it never panics, a
// subject it accepts has the parts its kind needs, and the words it
// writes about it hold no raw control characters.
func FuzzSubjectOf(f *testing.F) {
	f.Add("addr", "src", "192.0.2.7", "10.0.0.3", "12", "80", "4242", "77", "/usr/sbin/apache2", "web-3")
	f.Add("conn", "", "::ffff:192.0.2.7", "2001:db8::1", "65535", "0", "1", "0", "", "h")
	f.Add("process", "", "", "", "", "", "-1", "x", "\x1b[31mevil\n", "web\x00-3")
	f.Add("addr", "src", "10.0.0.0/8", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, kind, attr, src, dst, sport, dport, pid, start, exe, host string) {
		rep := event.Report{Host: host, IP: dst, Attrs: map[string]any{
			"src": src, "dst": dst, "sport": sport, "dport": dport, "pid": pid, "start": start, "exe": exe,
		}}
		s, key, err := subjectOf(kind, attr, "", &rep)
		if err != nil {
			return
		}
		if key == "" {
			t.Fatal("a subject without a key")
		}
		switch kind {
		case "ip", "addr":
			if !s.Addr.IsValid() && !s.Prefix.IsValid() {
				t.Fatalf("an address subject without an address: %+v", s)
			}
		case "process":
			if s.Process == nil || s.Process.PID < 1 {
				t.Fatalf("a process subject without a process: %+v", s)
			}
		case "conn":
			if s.Conn == nil {
				t.Fatalf("a connection subject without a connection: %+v", s)
			}
		}
		d := describe(s)
		if strings.ContainsAny(d, "\x00\n\r\x1b") || !utf8.ValidString(d) {
			t.Fatalf("describe wrote raw control characters or bad UTF-8: %q", d)
		}
	})
}
