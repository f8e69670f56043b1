package probe

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseMD5SumsLine(t *testing.T) {
	const sum = "7a52c94ace40d9c052cf40f3541637c3"
	for _, c := range []struct{ line, path, err string }{
		{sum + "  usr/bin/true", "usr/bin/true", ""},
		{sum + " *usr/bin/true", "usr/bin/true", ""},
		{strings.ToUpper(sum) + "  /usr/bin/true\r", "usr/bin/true", ""},
		{sum + "  usr/share/doc/a file with spaces", "usr/share/doc/a file with spaces", ""},
		{`\` + sum + `  usr/a\\b\nc`, "usr/a\\b\nc", ""},
		{`\` + sum + `  usr/a\x`, "", "unknown escape"},
		{`\` + sum + `  usr/a\`, "", "lone backslash"},
		{sum + "  ", "", "too short"},
		{sum + "  /", "", "names no path"},
		{sum + "\tusr/bin/true", "", "two spaces"},
		{"g" + sum[1:] + "  usr/bin/true", "", "32 hex digits"},
		{"", "", "too short"},
	} {
		s, p, err := ParseMD5SumsLine(c.line)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil || p != c.path || hex.EncodeToString(s[:]) != sum {
			t.Errorf("%q: %x %q %v", c.line, s, p, err)
		}
	}
}

func FuzzParseMD5SumsLine(f *testing.F) {
	f.Add("7a52c94ace40d9c052cf40f3541637c3  usr/bin/true")
	f.Add(`\7a52c94ace40d9c052cf40f3541637c3  a\\b\n`)
	f.Add("7a52c94ace40d9c052cf40f3541637c3 */x")
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		sum, path, err := ParseMD5SumsLine(line)
		if err != nil {
			return
		}
		if path == "" || path[0] == '/' || strings.IndexByte(path, 0) >= 0 {
			t.Fatalf("%q: path %q", line, path)
		}
		// A plain path written back as dpkg writes it reads the same.
		if !strings.ContainsAny(path, "\\\n\r") {
			s2, p2, err := ParseMD5SumsLine(hex.EncodeToString(sum[:]) + "  " + path)
			if err != nil || s2 != sum || p2 != path {
				t.Fatalf("%q: round trip %x %q %v", line, s2, p2, err)
			}
		}
	})
}
