package yamlnode

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
)

func root(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return doc.Content[0]
}

// TestScalars reads good and bad values with each reader: the value, or
// one problem worded the same way, at the value's position.
func TestScalars(t *testing.T) {
	n := root(t, `
s: text
null:
list: [a, b]
one: a
yes: true
int: 0x10
big: 5000000000
num: 1.5e3
nan: .nan
frac: 0.25
zero: 0
dur: 90s
neg: -1s
long: 9000h
sev: red
cidr: 10.1.2.3/8
addr: ::ffff:192.0.2.1
`)
	var r Reader
	r.File = "f.yaml"
	get := func(k string) *yaml.Node { return Lookup(n, k) }
	if v := r.String(get("s"), "s"); v != "text" {
		t.Errorf("String: %q", v)
	}
	if v := r.Strings(get("list"), "list"); strings.Join(v, ",") != "a,b" {
		t.Errorf("Strings: %q", v)
	}
	if v := r.OneOrMore(get("one"), "one"); strings.Join(v, ",") != "a" {
		t.Errorf("OneOrMore: %q", v)
	}
	if !r.Bool(get("yes"), "yes") {
		t.Error("Bool")
	}
	if v := r.Int(get("int"), "int"); v != 16 {
		t.Errorf("Int: %d", v)
	}
	if v := r.Number(get("num"), "num"); v != 1500 {
		t.Errorf("Number: %v", v)
	}
	if v := r.Fraction(get("frac"), "frac", false); v != 0.25 {
		t.Errorf("Fraction: %v", v)
	}
	if v := r.Fraction(get("zero"), "zero", true); v != 0 {
		t.Errorf("Fraction zero: %v", v)
	}
	if v := r.Duration(get("dur"), "dur", false); v != 90*time.Second {
		t.Errorf("Duration: %v", v)
	}
	if v, ok := r.Severity(get("sev"), "sev"); !ok || v != event.SeverityRed {
		t.Errorf("Severity: %v %v", v, ok)
	}
	if p, ok := r.CIDR(get("cidr"), "cidr"); !ok || p.String() != "10.0.0.0/8" {
		t.Errorf("CIDR: %v", p)
	}
	if p, ok := r.CIDR(get("addr"), "addr"); !ok || p.String() != "192.0.2.1/32" {
		t.Errorf("CIDR of a mapped address: %v", p)
	}
	if len(r.Problems) > 0 {
		t.Fatalf("good values: %v", r.Problems)
	}

	r.String(get("null"), "null")
	r.String(get("list"), "list")
	r.Strings(get("one"), "one")
	r.Bool(get("s"), "s")
	r.Int(get("big"), "big")
	r.Number(get("nan"), "nan")
	r.Fraction(get("zero"), "zero", false)
	r.Fraction(get("num"), "num", true)
	r.Duration(get("s"), "s", true)
	r.Duration(get("neg"), "neg", true)
	r.Duration(get("zero"), "zero", false)
	r.Duration(get("long"), "long", false)
	r.Severity(get("s"), "s")
	r.CIDR(get("s"), "s")
	want := []string{
		`f.yaml:3:6: null: want a string, not an empty value`,
		`f.yaml:4:7: list: want a string, not a list`,
		`f.yaml:5:6: one: want a list of strings, not "a"`,
		`f.yaml:2:4: s: want true or false, not "text"`,
		`f.yaml:8:6: big: want a whole number from -2147483648 to 2147483647, not "5000000000"`,
		`f.yaml:10:6: nan: want a number, not ".nan"`,
		`f.yaml:12:7: zero: want a number above 0, at most 1, not "0"`,
		`f.yaml:9:6: num: want a number from 0 to 1, not "1.5e3"`,
		`f.yaml:2:4: s: want a duration such as 10s or 5m, not "text"`,
		`f.yaml:14:6: neg: want a duration such as 10s or 5m (or 0), not "-1s"`,
		`f.yaml:12:7: zero: want a positive duration such as 10s or 5m, not "0"`,
		`f.yaml:15:7: long: want a duration of at most 8760h, not "9000h"`,
		`f.yaml:2:4: s: want a severity (green, yellow or red), not "text"`,
		`f.yaml:2:4: s: want an address or prefix such as 10.0.0.0/8, not "text"`,
	}
	if len(r.Problems) != len(want) {
		t.Fatalf("got %d problems:\n%v", len(r.Problems), r.Problems.Error())
	}
	for i, w := range want {
		if got := r.Problems[i].String(); got != w {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

type inner struct {
	Port int      `yaml:"port"`
	Tags []string `yaml:"tags"`
}

type level int

func (l *level) ReadYAML(r *Reader, n *yaml.Node, path string) {
	if v := r.Int(n, path); v < 0 || v > 9 {
		r.Addf(n, path, "a level from 0 to 9")
	} else {
		*l = level(v)
	}
}

type settings struct {
	Name    string            `yaml:"name"`
	Every   time.Duration     `yaml:"every"`
	Ratio   *float64          `yaml:"ratio"`
	Inner   inner             `yaml:"inner"`
	Items   []inner           `yaml:"items"`
	ByName  map[string]inner  `yaml:"by_name"`
	Level   level             `yaml:"level"`
	Free    yaml.Node         `yaml:"free"`
	Counts  map[string]uint16 `yaml:"counts"`
	Enabled bool              `yaml:"enabled"`
	Inner2  *inner            `yaml:"inner2"`
	skipped int
}

// TestDecode fills a tagged struct: values, defaults kept for what is not
// given or empty, positions of every path, and every mistake at once.
func TestDecode(t *testing.T) {
	src := `name: web
every: 1m
ratio: 0.5
inner: {port: 80, tags: [a]}
items:
  - port: 1
  - {port: 2}
by_name:
  x: {port: 3}
level: 4
free: {anything: [goes]}
counts: {a: 7}
inner2:
`
	s := settings{Name: "default", Enabled: true}
	r := Reader{File: "s.yaml", Pos: map[string]Pos{}}
	r.Decode(root(t, src), &s, "")
	if len(r.Problems) > 0 {
		t.Fatal(r.Problems)
	}
	if s.Name != "web" || s.Every != time.Minute || s.Ratio == nil || *s.Ratio != 0.5 || s.Inner.Port != 80 || len(s.Items) != 2 ||
		s.Items[1].Port != 2 || s.ByName["x"].Port != 3 || s.Level != 4 || s.Free.Kind != yaml.MappingNode || s.Counts["a"] != 7 || !s.Enabled || s.Inner2 != nil {
		t.Errorf("decoded %+v", s)
	}
	for path, want := range map[string]Pos{"inner.port": {4, 9}, "items[1].port": {7, 6}, "by_name.x": {9, 3}, "level": {10, 1}} {
		if got := r.Pos[path]; got != want {
			t.Errorf("position of %s: %v, want %v", path, got, want)
		}
	}

	bad := `name: [x]
every: soon
inner: {port: eighty, tgas: [a]}
items: {port: 1}
level: 12
counts: {a: -1}
name: again
nmae: x
enabled:
`
	s = settings{}
	r = Reader{File: "s.yaml"}
	r.Decode(root(t, bad), &s, "")
	var got []string
	for _, p := range r.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`s.yaml:1:7: name: want a string, not a list`,
		`s.yaml:2:8: every: want a duration such as 10s or 5m, not "soon"`,
		`s.yaml:3:15: inner.port: want a whole number, not "eighty"`,
		`s.yaml:3:23: inner.tgas: unknown key "tgas" (did you mean "tags"?)`,
		`s.yaml:4:8: items: want a list, not a mapping`,
		`s.yaml:5:8: level: a level from 0 to 9`,
		`s.yaml:6:13: counts.a: want a whole number from 0 to 65535, not "-1"`,
		`s.yaml:7:1: name: key "name" is given twice (first on line 1)`,
		`s.yaml:8:1: nmae: unknown key "nmae" (did you mean "name"?)`,
		`s.yaml:9:9: enabled: want true or false, not an empty value`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var e *Error
	if err := r.Err(); !errors.As(err, &e) || len(e.Problems) != len(want) || !strings.HasPrefix(err.Error(), "10 problems:\n") {
		t.Errorf("Err: %v", err)
	}
}

// TestDocuments reads every document of a file, and reports a syntax
// error and an oversized file as problems.
func TestDocuments(t *testing.T) {
	var r Reader
	var n int
	// An empty document between two is an empty value (the caller says
	// whether that is a mistake).
	if !r.Documents([]byte("a: 1\n---\n---\nb: 2\n"), func(int, *yaml.Node) { n++ }) || n != 3 {
		t.Errorf("%d documents", n)
	}
	r = Reader{File: "x.yaml"}
	if r.Documents([]byte("a: [1\nb: 2\n"), func(int, *yaml.Node) {}) || len(r.Problems) != 1 || r.Problems[0].Line == 0 {
		t.Errorf("syntax error: %v", r.Problems)
	}
	r = Reader{File: "x.yaml"}
	if r.Documents(make([]byte, MaxFileBytes+1), func(int, *yaml.Node) {}) ||
		len(r.Problems) != 1 || !strings.Contains(r.Problems[0].String(), "larger than") {
		t.Errorf("large file: %v", r.Problems)
	}
}

func TestClosest(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{{"treshold", "threshold"}, {"mtach", "match"}, {"colour", ""}, {"nmae", "name"}} {
		best, _ := Closest(c.got, []string{"threshold", "match", "name", "layer"})
		if best != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.got, best, c.want)
		}
	}
	if d := EditDistance("kitten", "sitting"); d != 3 {
		t.Errorf("EditDistance = %d", d)
	}
}
