// Package event defines Vigil's canonical records and their codecs.
//
// Three records travel through Vigil:
//
//   - Event: one observation (seed 000 section 3.2 generalised): a stable id,
//     a time, a type from the ontology, the entity it is about (host id and
//     IP address), the source that produced it, and name-value attributes.
//   - CountVector: the system calls one process made during one interval
//     (seed 001 section 3.2), sparse.
//   - Report: an analysis result of an engine. A report is also an event of
//     type REPORT, so a parent monitor consumes its children's reports like
//     any other observation (EMERALD's recursion, seed 002 section 3.2).
//
// Each record has a JSON codec with stable, documented field names (for
// people and other tools: JSON lines files, stdout, the HTTP API) and a
// compact binary codec for the bus. Every decoder treats its input as
// hostile: it checks sizes before allocating, rejects invalid UTF-8, unknown
// fields and wrong types with an error that names the field, and never
// panics. This package imports nothing else of Vigil's.
package event

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on an event. A record over any of them is rejected by every decoder
// with an error naming the limit; they are part of the contract (see
// docs/EVENTS.md).
const (
	// MaxEventBytes is the largest encoded event (JSON line or compact form).
	MaxEventBytes = 64 << 10
	// MaxIDLen is the longest event id.
	MaxIDLen = 128
	// MaxTypeLen is the longest event type.
	MaxTypeLen = 64
	// MaxNameLen is the longest host, source or attribute name.
	MaxNameLen = 255
	// MaxAttrs is the largest number of attributes on one event.
	MaxAttrs = 256
	// MaxListLen is the longest list attribute value.
	MaxListLen = 4096
)

// Event is one observation about one entity.
//
// Attribute values are of exactly one of these Go types: string, int64,
// float64 (finite), bool or []string. Decoders produce only these; Validate
// rejects anything else.
type Event struct {
	// ID is stable and unique: the same observation delivered twice has the
	// same id, which is how the bus and the store de-duplicate.
	ID string
	// Time is when the observation was made (not when it was received).
	Time time.Time
	// Type names what was observed, from the ontology (see types.go).
	Type string
	// Host is the id of the entity the event is about.
	Host string
	// IP is the entity's address, in canonical text form, or empty.
	IP string
	// Source names what produced the event (a sensor, a monitor, a tool).
	Source string
	// Attrs holds the name-value pairs of the observation.
	Attrs map[string]any
}

// FieldError reports a problem with one field of a record.
type FieldError struct {
	Field string // e.g. "time", "attrs.pid"
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ErrTooLarge is wrapped by errors about records over MaxEventBytes.
var ErrTooLarge = errors.New("record too large")

// Validate checks that e is a complete, well-formed event: all of the
// limits above, a non-zero time, a type, a host or an IP, and attribute
// values of the allowed types. It returns the first problem found.
func (e *Event) Validate() error {
	if e.ID == "" {
		return fieldErr("id", "missing")
	}
	if err := checkID(e.ID); err != nil {
		return fieldErr("id", "%v", err)
	}
	if e.Time.IsZero() {
		return fieldErr("time", "missing")
	}
	if err := e.validateBody(); err != nil {
		return err
	}
	return nil
}

// validateBody checks every field but the id and the time, which may be
// filled in later by Normalize.
func (e *Event) validateBody() error {
	if err := e.validateFields(); err != nil {
		return err
	}
	for k, v := range e.Attrs {
		if err := checkAttr(k, v); err != nil {
			return err
		}
	}
	return nil
}

// validateFields checks the type, host, ip and source, and the number of
// attributes.
func (e *Event) validateFields() error {
	if err := checkHead(e.Type, e.Host, e.IP, e.Source); err != nil {
		return err
	}
	if len(e.Attrs) > MaxAttrs {
		return fieldErr("attrs", "%d attributes, more than the limit of %d", len(e.Attrs), MaxAttrs)
	}
	return nil
}

// checkAttr checks one attribute's name and value.
func checkAttr(k string, v any) error {
	if err := checkAttrName(k); err != nil {
		return fieldErr("attrs", "attribute name %q: %v", k, err)
	}
	if err := checkValue(v); err != nil {
		return fieldErr("attrs."+k, "%v", err)
	}
	return nil
}

// Normalize fills what a producer may leave out: a missing id from ids, a
// missing time with now, a missing source with source. It canonicalises
// the IP address and the time (UTC). It then validates the result.
func (e *Event) Normalize(ids IDSource, now time.Time, source string) error {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if e.ID == "" {
		e.ID = ids.NewID(e.Time)
	}
	if e.Source == "" {
		e.Source = source
	}
	if e.IP != "" {
		if a, err := netip.ParseAddr(e.IP); err == nil {
			e.IP = a.Unmap().String()
		}
	}
	return e.Validate()
}

// Clone returns a deep copy of e.
func (e Event) Clone() Event {
	if e.Attrs != nil {
		m := make(map[string]any, len(e.Attrs))
		for k, v := range e.Attrs {
			if l, ok := v.([]string); ok {
				v = slices.Clone(l)
			}
			m[k] = v
		}
		e.Attrs = m
	}
	return e
}

// Str returns the string attribute k, or "" when absent. Numbers and
// booleans are formatted.
func (e *Event) Str(k string) string {
	switch v := e.Attrs[k].(type) {
	case string:
		return v
	case nil:
		return ""
	case []string:
		return strings.Join(v, ",")
	default:
		return FormatValue(v)
	}
}

// Field returns the text of a field: the event's own type, host, ip or
// source, or else the attribute of that name (as Str formats it).
func (e *Event) Field(name string) string {
	switch name {
	case "type":
		return e.Type
	case "host":
		return e.Host
	case "ip":
		return e.IP
	case "source":
		return e.Source
	}
	return e.Str(name)
}

// Num returns the numeric attribute k as a float64, and whether it was a
// number.
func (e *Event) Num(k string) (float64, bool) {
	switch v := e.Attrs[k].(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// Int returns the integer attribute k, and whether it was an integer.
func (e *Event) Int(k string) (int64, bool) {
	v, ok := e.Attrs[k].(int64)
	return v, ok
}

// SetAttr sets attribute k, creating the map when needed.
func (e *Event) SetAttr(k string, v any) {
	if e.Attrs == nil {
		e.Attrs = make(map[string]any)
	}
	e.Attrs[k] = v
}

// FormatValue renders an attribute value as text, the way the JSON codec
// does (without quotes for strings).
func FormatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return string(appendFloat(nil, v))
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []string:
		return strings.Join(v, ",")
	}
	return fmt.Sprint(v)
}

func checkValue(v any) error {
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return errors.New("invalid UTF-8")
		}
	case int64, bool:
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("not a finite number")
		}
	case []string:
		if len(v) > MaxListLen {
			return fmt.Errorf("list of %d items, more than the limit of %d", len(v), MaxListLen)
		}
		for i, s := range v {
			if !utf8.ValidString(s) {
				return fmt.Errorf("item %d: invalid UTF-8", i)
			}
		}
	default:
		return fmt.Errorf("unsupported value type %T (want string, integer, number, boolean or list of strings)", v)
	}
	return nil
}

// checkID accepts 1..MaxIDLen characters of [A-Za-z0-9._:-]: safe in a
// NATS header, a URL and a log line.
func checkID(s string) error {
	if len(s) > MaxIDLen {
		return fmt.Errorf("%d bytes, longer than the limit of %d", len(s), MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !idByte[c] {
			return fmt.Errorf("character %q not allowed in an id (use A-Z a-z 0-9 . _ : -)", rune(c))
		}
	}
	return nil
}

// CheckType accepts event types: a letter, then letters, digits, '.', '_'
// or '-', at most MaxTypeLen bytes.
func CheckType(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxTypeLen {
		return fmt.Errorf("%d bytes, longer than the limit of %d", len(s), MaxTypeLen)
	}
	if !isAlpha(s[0]) {
		return fmt.Errorf("%q must start with a letter", s)
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("character %q not allowed in a type", rune(c))
		}
	}
	return nil
}

// checkName accepts host ids and sources: valid UTF-8 without control
// characters, at most MaxNameLen bytes.
func checkName(s string) error {
	if len(s) > MaxNameLen {
		return fmt.Errorf("%d bytes, longer than the limit of %d", len(s), MaxNameLen)
	}
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] >= 0x20 && s[i] < 0x7f
	}
	if ascii {
		return nil
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

// checkAttrName accepts attribute names: 1..MaxNameLen bytes of
// [A-Za-z0-9_.:-].
func checkAttrName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%d bytes, longer than the limit of %d", len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !idByte[c] {
			return fmt.Errorf("character %q not allowed in an attribute name", rune(c))
		}
	}
	return nil
}

// idByte holds the bytes allowed in ids and attribute names:
// [A-Za-z0-9._:-].
var idByte = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = isAlnum(b) || b == '.' || b == '_' || b == ':' || b == '-'
	}
	return t
}()

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }
