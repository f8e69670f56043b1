package revprobe

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzQuoteBanner: whatever a peer sends, its banner is one line of
// valid UTF-8 text without control characters, that unquotes to exactly
// the bytes sent.
func FuzzQuoteBanner(f *testing.F) {
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
	f.Add([]byte("220 mail ESMTP\x1b[2J\u2028forged line\u202e"))
	f.Add([]byte{0xff, 0xfe, 0x00, '"', '\\'})
	f.Fuzz(func(t *testing.T, b []byte) {
		q := QuoteBanner(b)
		if !utf8.ValidString(q) {
			t.Fatalf("%q is not valid UTF-8", q)
		}
		for _, r := range q {
			if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u202e' || r == '\u0085' {
				t.Fatalf("%q holds %U", q, r)
			}
		}
		if !strings.HasPrefix(q, `"`) || !strings.HasSuffix(q, `"`) {
			t.Fatalf("%q is not quoted", q)
		}
		back, err := strconv.Unquote(q)
		if err != nil || back != string(b) {
			t.Fatalf("%q unquotes to %q, %v; want %q", q, back, err, b)
		}
	})
}
