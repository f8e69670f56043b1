package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

var t0 = time.Date(2005, 1, 6, 18, 33, 4, 123456789, time.UTC)

// sampleEvents covers every value type and the awkward strings.
func sampleEvents() []Event {
	return []Event{
		{
			ID: "01AN4Z07BY79KA1307SR9X4MV3", Time: t0, Type: TypeProcCPU, Host: "web-3", IP: "10.0.0.24", Source: "agent",
			Attrs: map[string]any{"name": "sftp-server", "pid": int64(30039), "state": "S", "parent_name": "sshd", "ppid": int64(30038), "cpu_pct": 41.5},
		},
		{
			ID: "a", Time: t0.Add(time.Second), Type: TypeSysProcsGrowth, Host: "10.0.0.20", Source: "agent",
			Attrs: map[string]any{"num_procs": int64(56), "whole": 3.0, "neg": -1e-9, "huge": 1e300, "ok": true, "no": false},
		},
		{
			ID: "x:y.z-1_2", Time: t0, Type: "HTTP.REQUEST", IP: "2001:db8::1", Source: "netsensor",
			Attrs: map[string]any{
				"path":   "/<script>alert('x')</script>?a=1&b=2",
				"agent":  "quote\" backslash\\ newline\n tab\t nul\x00 bell\x07 sep\u2028 emoji \U0001F600 é",
				"hosts":  []string{"a", "<b>", ""},
				"empty":  []string{},
				"min":    int64(-1 << 63),
				"max":    int64(1<<63 - 1),
				"zero":   0.0,
				"tiny":   5e-324,
				"dotted": "v",
			},
		},
		{ID: "noattrs", Time: t0, Type: "T", Host: "h", Source: ""},
	}
}

func eventsEqual(t *testing.T, want, got Event) {
	t.Helper()
	if !want.Time.Equal(got.Time) {
		t.Errorf("time: want %v, got %v", want.Time, got.Time)
	}
	want.Time, got.Time = time.Time{}, time.Time{}
	if len(want.Attrs) == 0 && len(got.Attrs) == 0 {
		want.Attrs, got.Attrs = nil, nil
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip changed the event:\nwant %#v\ngot  %#v", want, got)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		t.Run(ev.ID, func(t *testing.T) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("sample invalid: %v", err)
			}
			b := ev.AppendJSON(nil)
			got, err := DecodeJSON(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			eventsEqual(t, ev, got)
			if again := got.AppendJSON(nil); !bytes.Equal(again, b) {
				t.Errorf("re-encoding differs:\n%s\n%s", b, again)
			}
		})
	}
}

func TestCompactRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		t.Run(ev.ID, func(t *testing.T) {
			b := ev.AppendCompact(nil)
			got, err := DecodeCompact(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			eventsEqual(t, ev, got)
			viaBus, err := DecodeBus(b)
			if err != nil {
				t.Fatal(err)
			}
			eventsEqual(t, ev, viaBus)
		})
	}
}

// TestJSONGolden pins the JSON form: field names, order, escaping and
// number formatting are a contract.
func TestJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, ev := range sampleEvents() {
		buf.Write(ev.AppendJSON(nil))
		buf.WriteByte('\n')
	}
	golden := filepath.Join("testdata", "events.golden.jsonl")
	testutil.Golden(t, golden, buf.Bytes())
}

func TestDecodeJSONErrors(t *testing.T) {
	long := `{"type":"T","host":"h","attrs":{"a":"` + strings.Repeat("x", MaxEventBytes) + `"}}`
	manyAttrs := func() string {
		var sb strings.Builder
		sb.WriteString(`{"type":"T","host":"h","attrs":{`)
		for i := 0; i <= MaxAttrs; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`"a` + strings.Repeat("0", 3-len(itoa(i))) + itoa(i) + `":1`)
		}
		sb.WriteString("}}")
		return sb.String()
	}()
	tests := []struct {
		name, in, want string
	}{
		{"not json", `hello`, "not a JSON object"},
		{"array", `[1,2]`, "not a JSON object"},
		{"truncated", `{"type":"T","host":`, "malformed JSON"},
		{"trailing", `{"type":"T","host":"h"} {}`, "trailing data"},
		{"unknown field", `{"type":"T","host":"h","colour":"red"}`, `field "colour": unknown field`},
		{"type number", `{"type":5,"host":"h"}`, `field "type": want a string, got a number`},
		{"missing type", `{"host":"h"}`, `field "type": missing`},
		{"bad type", `{"type":"PROC CPU","host":"h"}`, `field "type": character ' ' not allowed`},
		{"no entity", `{"type":"T"}`, `field "host": an event needs a host or an ip`},
		{"bad ip", `{"type":"T","ip":"10.0.0.300"}`, `field "ip": not an IP address`},
		{"bad time", `{"type":"T","host":"h","time":"yesterday"}`, `field "time": not an RFC 3339 time`},
		{"time number", `{"type":"T","host":"h","time":1234}`, `field "time": want an RFC 3339 time string, got a number`},
		{"bad id", `{"id":"a b","type":"T","host":"h"}`, `field "id": character ' ' not allowed`},
		{"host control", `{"type":"T","host":"a\u0007b"}`, `field "host": control character`},
		{"attrs list", `{"type":"T","host":"h","attrs":[1]}`, `field "attrs": want an object, got a list`},
		{"nested", `{"type":"T","host":"h","attrs":{"a":{"b":1}}}`, `field "attrs.a": nested objects are not allowed`},
		{"null", `{"type":"T","host":"h","attrs":{"a":null}}`, `field "attrs.a": null is not allowed`},
		{"list of numbers", `{"type":"T","host":"h","attrs":{"a":[1]}}`, `field "attrs.a[0]": want a string, got a number`},
		{"bad attr name", `{"type":"T","host":"h","attrs":{"a b":1}}`, `attribute name "a b"`},
		{"huge number", `{"type":"T","host":"h","attrs":{"a":1e999}}`, `field "attrs.a": not a finite number`},
		{"integer over 64 bits", `{"type":"T","host":"h","attrs":{"a":99999999999999999999}}`, `field "attrs.a": integer 99999999999999999999 is out of the 64-bit range`},
		{"integer under 64 bits", `{"type":"T","host":"h","attrs":{"a":-9223372036854775809}}`, `field "attrs.a": integer -9223372036854775809 is out of the 64-bit range`},
		{"duplicate", `{"type":"T","type":"U","host":"h"}`, `field "type": appears twice`},
		{"too many attrs", manyAttrs, `more than the limit of 256`},
		{"too large", long, "over the limit"},
		{"invalid utf8", "{\"type\":\"T\",\"host\":\"h\xff\"}", "invalid UTF-8 at byte 21"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeJSON([]byte(tc.in))
			if err == nil {
				t.Fatalf("decoded %q without error", truncate(tc.in, 60))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func itoa(i int) string { return FormatValue(int64(i)) }

// TestIntegerBounds: the 64-bit bounds themselves are integers, and a
// number written with a fraction or exponent stays a float.
func TestIntegerBounds(t *testing.T) {
	for in, want := range map[string]any{
		"9223372036854775807": int64(9223372036854775807), "-9223372036854775808": int64(-9223372036854775808),
		"1e20": 1e20, "99999999999999999999.0": 1e20,
	} {
		ev, err := DecodeJSON([]byte(`{"type":"T","host":"h","attrs":{"a":` + in + `}}`))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := ev.Attrs["a"]; got != want {
			t.Errorf("%s decoded as %T %v, want %T %v", in, got, got, want, want)
		}
	}
}

func TestDecodeCompactErrors(t *testing.T) {
	good := sampleEvents()[0].AppendCompact(nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, ErrNotCompact.Error()},
		{"wrong magic", []byte{0x00, 1, 2}, ErrNotCompact.Error()},
		{"trailing", append(append([]byte{}, good...), 0), "trailing data"},
		{"huge string length", []byte{magicEvent, 0xff, 0xff, 0xff, 0xff, 0x0f}, `field "id": count`},
		{"bad utf8", append([]byte{magicEvent, 1}, 0xff), `field "id": invalid UTF-8`},
	}
	for i := 1; i < len(good); i++ {
		tests = append(tests, struct {
			name string
			in   []byte
			want string
		}{"truncated at " + itoa(i), good[:i], ""})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCompact(tc.in)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	ids := NewSeededIDs(1)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.FixedZone("X", 3600))
	ev, err := DecodeJSON([]byte(`{"type":"SYS.CPU","ip":"::ffff:10.0.0.1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err == nil {
		t.Fatal("an event without id and time validated")
	}
	if err := ev.Normalize(ids, now, "api"); err != nil {
		t.Fatal(err)
	}
	if len(ev.ID) != IDLen || !ev.Time.Equal(now) || ev.Time.Location() != time.UTC || ev.Source != "api" || ev.IP != "10.0.0.1" {
		t.Errorf("normalised badly: %+v", ev)
	}
	keep := Event{ID: "mine", Time: t0, Type: "T", Host: "h", Source: "tool"}
	if err := keep.Normalize(ids, now, "api"); err != nil {
		t.Fatal(err)
	}
	if keep.ID != "mine" || !keep.Time.Equal(t0) || keep.Source != "tool" {
		t.Errorf("normalise overwrote given fields: %+v", keep)
	}
}

func TestIDs(t *testing.T) {
	a, b := NewSeededIDs(7), NewSeededIDs(7)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		tm := t0.Add(time.Duration(i) * time.Millisecond)
		x, y := a.NewID(tm), b.NewID(tm)
		if x != y {
			t.Fatalf("seeded sources diverged: %s %s", x, y)
		}
		if len(x) != IDLen || checkID(x) != nil {
			t.Fatalf("bad id %q", x)
		}
		if seen[x] {
			t.Fatalf("duplicate id %s", x)
		}
		seen[x] = true
		if x[:10] <= prev {
			t.Fatalf("time prefix not increasing: %s after %s", x[:10], prev)
		}
		prev = x[:10]
	}
	r1, r2 := NewRandomIDs(), NewRandomIDs()
	if r1.NewID(t0) == r2.NewID(t0) {
		t.Error("random sources gave the same id")
	}
}

func TestLineReader(t *testing.T) {
	good := `{"type":"T","host":"h"}`
	in := strings.Join([]string{
		good,
		"",
		`{"type":`,
		strings.Repeat("y", MaxEventBytes+10),
		"  ",
		good + "\r",
		`{"type":"T","host":"h","bogus":1}`,
		good,
	}, "\n")
	er := NewEventReader(strings.NewReader(in))
	var okLines []int
	var bad []string
	for {
		_, err := er.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			bad = append(bad, le.Error())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		okLines = append(okLines, er.Line())
	}
	if !reflect.DeepEqual(okLines, []int{1, 6, 8}) {
		t.Errorf("good lines %v, want [1 6 8]", okLines)
	}
	if len(bad) != 3 || !strings.HasPrefix(bad[0], "line 3: ") || !strings.Contains(bad[0], "the record ends early") ||
		!strings.HasPrefix(bad[1], "line 4: line longer than the limit") ||
		!strings.HasPrefix(bad[2], `line 7: field "bogus": unknown field`) {
		t.Errorf("bad lines reported as %q", bad)
	}
}

func TestTypes(t *testing.T) {
	types := HostTypes()
	if len(types) != 11 {
		t.Fatalf("Table 1 has 11 types, got %d", len(types))
	}
	cont := 0
	for _, ty := range types {
		if err := CheckType(ty); err != nil {
			t.Errorf("%s: %v", ty, err)
		}
		if CategoryOf(ty) == CategoryContinuous {
			cont++
		}
	}
	if cont != 7 || CategoryOf(TypeProcSpawn) != CategoryDiscrete || CategoryOf("NIDS.ALERT") != CategoryOther {
		t.Errorf("categories wrong: %d continuous", cont)
	}
	if !IsProcessLevel(TypeProcMem) || IsProcessLevel(TypeSysMem) {
		t.Error("process level wrong")
	}
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`,
		`"\ud800"`, `"\udc00x"`, `"\ud83dx\ude00"`, `"é中😀"`, `""`,
	} {
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		sc := scanner{data: []byte(s)}
		if _, err := sc.stringEnd(); err != nil || sc.pos != len(s) {
			t.Fatalf("%s: scanner stopped at %d: %v", s, sc.pos, err)
		}
		if got := unquote([]byte(s)); got != want {
			t.Errorf("unquote(%s) = %q, encoding/json reads %q", s, got, want)
		}
	}
	for _, bad := range []string{`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":"\x"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", `{"a":tru}`, `{"a":[1,]}`, `{"a":{"b" 1}}`, `{"a":1,}`, `{,}`} {
		if _, err := splitObject([]byte(bad), 10); err == nil {
			t.Errorf("accepted %q", bad)
		} else if json.Valid([]byte(bad)) {
			t.Errorf("rejected valid JSON %q: %v", bad, err)
		}
	}
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if _, err := splitObject([]byte(`{"a":`+deep+`}`), 10); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep nesting: %v", err)
	}
}

// TestAttributesWrittenInKeyOrder: an event's attributes are written in
// the order of their keys, every one once with its value, however many
// there are (up to 32 are sorted on the stack, more another way).
func TestAttributesWrittenInKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 31, 32, 33, 100} {
		attrs := map[string]any{}
		for len(attrs) < n {
			k := fmt.Sprintf("k%d", rng.IntN(10*n+10))
			attrs[k] = int64(len(k))
		}
		ev := Event{ID: "01JABCDEFGHJKMNPQRSTVWXYZ0", Time: time.Unix(1, 0), Type: "T", Host: "h", Attrs: attrs}
		b := ev.AppendJSON(nil)
		var got struct {
			Attrs json.RawMessage `json:"attrs"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%d attributes: %v in %s", n, err, b)
		}
		if n == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(got.Attrs))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			k := tok.(string)
			var v int64
			if err := dec.Decode(&v); err != nil || v != int64(len(k)) {
				t.Fatalf("%d attributes: %s's value %d (%v)", n, k, v, err)
			}
			keys = append(keys, k)
		}
		if len(keys) != n || !slices.IsSorted(keys) {
			t.Errorf("%d attributes written as %d keys, sorted: %v", n, len(keys), slices.IsSorted(keys))
		}
	}
}

// TestAppendValidCompact: a valid event is appended exactly as
// AppendCompact appends it; an invalid one is refused with the problem
// Validate reports, and what was in the buffer before it stays as it was.
// invalidEdit makes a valid event invalid in one way.
type invalidEdit struct {
	name string
	edit func(*Event)
}

// invalidEdits are the ways an event can be invalid that every writer of
// the compact form must refuse as Validate does.
func invalidEdits() []invalidEdit {
	return []invalidEdit{
		{"no id", func(e *Event) { e.ID = "" }},
		{"bad id", func(e *Event) { e.ID = "a b" }},
		{"no time", func(e *Event) { e.Time = time.Time{} }},
		{"bad type", func(e *Event) { e.Type = "PROC CPU" }},
		{"no host or ip", func(e *Event) { e.Host, e.IP = "", "" }},
		{"host with a control character", func(e *Event) { e.Host = "web\x073" }},
		{"host not UTF-8", func(e *Event) { e.Host = "web\xff" }},
		{"bad ip", func(e *Event) { e.IP = "10.0.0.300" }},
		{"bad source", func(e *Event) { e.Source = "a\nb" }},
		{"bad attribute name", func(e *Event) { e.Attrs["a b"] = "x" }},
		{"value not UTF-8", func(e *Event) { e.Attrs["exe"] = "/tmp/\xff" }},
		{"list item not UTF-8", func(e *Event) { e.Attrs["args"] = []string{"ok", "\xfe"} }},
		{"list too long", func(e *Event) { e.Attrs["args"] = make([]string, MaxListLen+1) }},
		{"not a finite number", func(e *Event) { e.Attrs["cpu_pct"] = math.Inf(1) }},
	}
}

func TestAppendValidCompact(t *testing.T) {
	checkCompactWriter(t, func(dst []byte, ev *Event) ([]byte, error) { return ev.AppendValidCompact(dst) },
		invalidEdit{"unsupported value", func(e *Event) { e.Attrs["when"] = time.Second }})
}

// checkCompactWriter checks a writer of the compact form: each sample
// event, appended after what the buffer held, decodes to itself; each
// invalid one (invalidEdits, and extra) is refused with Validate's error,
// the buffer left as it was.
func checkCompactWriter(t *testing.T, write func(dst []byte, ev *Event) ([]byte, error), extra ...invalidEdit) {
	t.Helper()
	prefix := []byte("earlier records")
	for _, ev := range sampleEvents() {
		t.Run(ev.ID, func(t *testing.T) {
			got, err := write(slices.Clone(prefix), &ev)
			if err != nil {
				t.Fatalf("valid event refused: %v", err)
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("the buffer's earlier bytes changed: %q", got[:len(prefix)])
			}
			back, err := DecodeCompact(got[len(prefix):])
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			eventsEqual(t, ev, back)
		})
	}
	valid := sampleEvents()[0]
	for _, tc := range append(invalidEdits(), extra...) {
		t.Run(tc.name, func(t *testing.T) {
			ev := valid.Clone()
			tc.edit(&ev)
			want := ev.Validate()
			if want == nil {
				t.Fatal("the edited event is valid: the case tests nothing")
			}
			got, err := write(slices.Clone(prefix), &ev)
			if err == nil || err.Error() != want.Error() {
				t.Errorf("error %v, want Validate's %v", err, want)
			}
			if !bytes.Equal(got, prefix) {
				t.Errorf("the buffer is %q, want it as it was (%q)", got, prefix)
			}
		})
	}
}
