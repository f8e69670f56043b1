package yamlnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/readlimit"
)

// Limits of every file read with this package.
const (
	// MaxFileBytes bounds a file.
	MaxFileBytes = 4 << 20
	// MaxDuration bounds a duration (a year).
	MaxDuration = 365 * 24 * time.Hour
)

// ReadFile reads a file of this package's kind through the MaxFileBytes
// limit: a larger file (or an endless one, /dev/zero) is refused as soon as
// the limit is passed, with an error naming the file and the limit.
func ReadFile(path string) ([]byte, error) {
	return readlimit.ReadFile(path, MaxFileBytes)
}

// Pos is a position in a file.
type Pos struct{ Line, Col int }

// Reader reads the nodes of one file, collecting its problems.
type Reader struct {
	// File names the file in problems.
	File string
	// Problems are the mistakes found so far.
	Problems Problems
	// Pos, when not nil, receives the position of every path Decode
	// fills (the key of a mapping entry, the item of a list).
	Pos map[string]Pos
}

// Addf records a problem at n (nil: no position) and path.
func (r *Reader) Addf(n *yaml.Node, path, format string, args ...any) {
	pr := Problem{File: r.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	r.Problems = append(r.Problems, pr)
}

// Add records problems found elsewhere.
func (r *Reader) Add(ps ...Problem) { r.Problems = append(r.Problems, ps...) }

// Err returns the problems, sorted, as an *Error; nil when there are none.
func (r *Reader) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	r.Problems.Sort()
	return &Error{Problems: r.Problems}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Documents decodes the YAML documents of a file's bytes in turn and
// calls fn with each non-empty document's root node (aliases kept) and
// its index. A file over MaxFileBytes is a problem and is not decoded; a
// syntax error ends the file (the decoder cannot go on) and is a problem
// with its line. It tells whether the whole file was read.
func (r *Reader) Documents(data []byte, fn func(i int, root *yaml.Node)) bool {
	if len(data) > MaxFileBytes {
		r.Addf(nil, "", "the file is larger than %d bytes", MaxFileBytes)
		return false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			msg := err.Error()
			pr := Problem{File: r.File, Line: 1, Col: 1, Msg: strings.TrimPrefix(msg, "yaml: ")}
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				pr.Line, _ = strconv.Atoi(m[1])
				pr.Msg = m[2]
			}
			r.Problems = append(r.Problems, pr)
			return false
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		fn(i, root)
	}
}

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// Lookup returns the value of key in the mapping n (nil when n is not a
// mapping or has no such key).
func Lookup(n *yaml.Node, key string) *yaml.Node {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			return Resolve(n.Content[j+1])
		}
	}
	return nil
}

// IsNull tells whether n is an empty value (nothing, ~ or null).
func IsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// Describe names what n is, for "want X, not Y" messages: a scalar's
// text, quoted, or "a mapping", "a list", "an empty value".
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "an empty value"
		}
		return strconv.Quote(n.Value)
	}
	return "a node"
}

// KindName names the kind of n: "mapping", "list", "empty value" or
// "value".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "empty value"
		}
		return "value"
	}
	return "node"
}

// Mapping tells whether n is a mapping, and records a problem (want what)
// when it is not.
func (r *Reader) Mapping(n *yaml.Node, path, what string) bool {
	if n.Kind == yaml.MappingNode {
		return true
	}
	r.Addf(n, path, "want %s, not %s", what, Describe(n))
	return false
}

// UnknownKey records that the key k is not one of known.
func (r *Reader) UnknownKey(k *yaml.Node, path string, known []string) {
	hint := DidYouMean(k.Value, known)
	if hint == "" && len(known) > 0 {
		sorted := append([]string(nil), known...)
		sort.Strings(sorted)
		hint = " (known: " + strings.Join(sorted, ", ") + ")"
	}
	r.Addf(k, path, "unknown key %q%s", k.Value, hint)
}

// Missing records that the mapping n lacks key; hint, when not empty,
// says what the key is for.
func (r *Reader) Missing(n *yaml.Node, path, key, hint string) {
	if hint != "" {
		hint = " (" + hint + ")"
	}
	r.Addf(n, path, "missing %q%s", key, hint)
}

// Scalars.

// String reads a string.
func (r *Reader) String(n *yaml.Node, path string) string {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		r.Addf(n, path, "want a string, not %s", Describe(n))
		return ""
	}
	return n.Value
}

// Strings reads a list of strings.
func (r *Reader) Strings(n *yaml.Node, path string) []string {
	n = Resolve(n)
	if n.Kind != yaml.SequenceNode {
		r.Addf(n, path, "want a list of strings, not %s", Describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, it := range n.Content {
		out = append(out, r.String(it, Index(path, i)))
	}
	return out
}

// OneOrMore reads a list of strings, or one string as a list of one
// (where a language says "a value or a list").
func (r *Reader) OneOrMore(n *yaml.Node, path string) []string {
	n = Resolve(n)
	if n.Kind == yaml.ScalarNode && !IsNull(n) {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		r.Addf(n, path, "want a string or a list of strings, not %s", Describe(n))
		return nil
	}
	return r.Strings(n, path)
}

// Bool reads true or false.
func (r *Reader) Bool(n *yaml.Node, path string) bool {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		r.Addf(n, path, "want true or false, not %s", Describe(n))
		return false
	}
	v, _ := strconv.ParseBool(strings.ToLower(n.Value))
	return v
}

// Int64 reads a whole number from min to max.
func (r *Reader) Int64(n *yaml.Node, path string, min, max int64) int64 {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		r.Addf(n, path, "want a whole number, not %s", Describe(n))
		return 0
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v < min || v > max {
		r.Addf(n, path, "want a whole number from %d to %d, not %s", min, max, Describe(n))
		return 0
	}
	return v
}

// Int reads a whole number that fits 32 bits.
func (r *Reader) Int(n *yaml.Node, path string) int {
	return int(r.Int64(n, path, math.MinInt32, math.MaxInt32))
}

// Number reads a finite number.
func (r *Reader) Number(n *yaml.Node, path string) float64 {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
		r.Addf(n, path, "want a number, not %s", Describe(n))
		return 0
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		if i, ierr := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); ierr == nil {
			return float64(i)
		}
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.Addf(n, path, "want a number, not %s", Describe(n))
		return 0
	}
	return f
}

// Fraction reads a number from 0 to 1 (a probability, a score); with
// zeroOK false, 0 is a mistake.
func (r *Reader) Fraction(n *yaml.Node, path string, zeroOK bool) float64 {
	before := len(r.Problems)
	f := r.Number(n, path)
	if len(r.Problems) > before {
		return 0
	}
	if f < 0 || f > 1 || f == 0 && !zeroOK {
		want := "from 0 to 1"
		if !zeroOK {
			want = "above 0, at most 1"
		}
		r.Addf(n, path, "want a number %s, not %s", want, Describe(n))
		return 0
	}
	return f
}

// Duration reads a duration such as 10s or 5m, positive (or zero, with
// zeroOK) and at most MaxDuration.
func (r *Reader) Duration(n *yaml.Node, path string, zeroOK bool) time.Duration {
	n = Resolve(n)
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		r.Addf(n, path, "want a duration such as 10s or 5m, not %s", Describe(n))
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		r.Addf(n, path, "want a duration such as 10s or 5m, not %s", Describe(n))
		return 0
	}
	switch {
	case d < 0 && zeroOK:
		r.Addf(n, path, "want a duration such as 10s or 5m (or 0), not %s", Describe(n))
		return 0
	case d <= 0 && !zeroOK:
		r.Addf(n, path, "want a positive duration such as 10s or 5m, not %s", Describe(n))
		return 0
	case d > MaxDuration:
		r.Addf(n, path, "want a duration of at most %s, not %s", durationText(MaxDuration), Describe(n))
		return 0
	}
	return d
}

func durationText(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// Severity reads green, yellow or red; false when it could not.
func (r *Reader) Severity(n *yaml.Node, path string) (event.Severity, bool) {
	n = Resolve(n)
	if n.Kind == yaml.ScalarNode && !IsNull(n) {
		if sev, err := event.ParseSeverity(n.Value); err == nil {
			return sev, true
		}
	}
	r.Addf(n, path, "want a severity (green, yellow or red), not %s", Describe(n))
	return 0, false
}

// CIDR reads an address prefix such as 10.0.0.0/8, or one address (see
// ParseCIDR).
func (r *Reader) CIDR(n *yaml.Node, path string) (netip.Prefix, bool) {
	n = Resolve(n)
	if n.Kind == yaml.ScalarNode && !IsNull(n) {
		if p, ok := ParseCIDR(n.Value); ok {
			return p, true
		}
	}
	r.Addf(n, path, "want an address or prefix such as 10.0.0.0/8, not %s", Describe(n))
	return netip.Prefix{}, false
}

// ParseCIDR reads an address prefix such as 10.0.0.0/8 (masked), or one
// address as the prefix of its full length; IPv4-mapped IPv6 addresses
// and prefixes become IPv4 ones.
func ParseCIDR(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}
