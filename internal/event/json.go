package event

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON form of an event is one object with these fields (stable; see
// docs/EVENTS.md):
//
//	{"id":"01J...","time":"2026-11-22T09:38:09.123Z","type":"PROC.CPU",
//	 "host":"web-3","ip":"10.0.0.24","source":"agent",
//	 "attrs":{"name":"sftp-server","pid":30039,"cpu_pct":41.5}}
//
// time is RFC 3339 (fractional seconds allowed, any offset; written in UTC).
// attrs values are strings, integers, numbers, booleans or lists of strings.
// An integer literal decodes to int64 (one outside its range is an error,
// not a float); a literal with a fraction or exponent to float64, and float64 values are always written with one, so a value
// keeps its type through a round trip. Unknown fields, wrong types, nested
// objects, nulls and invalid UTF-8 are errors.

// AppendJSON appends the JSON form of e (no trailing newline) to b.
// Attributes are written in name order, so equal events encode equally.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"host":`...)
	b = appendString(b, e.Host)
	if e.IP != "" {
		b = append(b, `,"ip":`...)
		b = appendString(b, e.IP)
	}
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	if len(e.Attrs) > 0 {
		b = append(b, `,"attrs":`...)
		b = appendAttrs(b, e.Attrs)
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler with the form of AppendJSON.
func (e Event) MarshalJSON() ([]byte, error) {
	if err := e.validateBody(); err != nil {
		return nil, err
	}
	return e.AppendJSON(nil), nil
}

// UnmarshalJSON implements json.Unmarshaler with the rules of DecodeJSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	ev, err := DecodeJSON(b)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

func appendAttrs(b []byte, attrs map[string]any) []byte {
	if len(attrs) > maxSmallAttrs {
		return appendManyAttrs(b, attrs)
	}
	// The pairs are taken in one pass into an array on the stack (an exec
	// has about twenty) and their positions sorted by key: no key is
	// looked up again, and sorting moves bytes, not pointers. Keys are
	// compared by their first eight bytes as a number first.
	var small [maxSmallAttrs]attr
	var order [maxSmallAttrs]uint8
	var prefix [maxSmallAttrs]uint64
	n := 0
	for k, v := range attrs {
		small[n] = attr{k, v}
		order[n] = uint8(n)
		prefix[n] = keyPrefix(k)
		n++
	}
	for i := 1; i < n; i++ {
		x := order[i]
		px, kx := prefix[x], small[x].k
		j := i
		for ; j > 0; j-- {
			y := order[j-1]
			if py := prefix[y]; py < px || py == px && small[y].k <= kx {
				break
			}
			order[j] = y
		}
		order[j] = x
	}
	b = append(b, '{')
	for i, o := range order[:n] {
		b = appendPair(b, i, small[o])
	}
	return append(b, '}')
}

// keyPrefix is k's first eight bytes as a big-endian number (zeros past
// its end): keys whose prefixes differ sort as their prefixes do.
func keyPrefix(k string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// maxSmallAttrs is how many attributes appendAttrs sorts on the stack.
const maxSmallAttrs = 32

// appendManyAttrs is appendAttrs for more attributes than that.
func appendManyAttrs(b []byte, attrs map[string]any) []byte {
	pairs := make([]attr, 0, len(attrs))
	for k, v := range attrs {
		pairs = append(pairs, attr{k, v})
	}
	slices.SortFunc(pairs, func(x, y attr) int { return strings.Compare(x.k, y.k) })
	b = append(b, '{')
	for i, p := range pairs {
		b = appendPair(b, i, p)
	}
	return append(b, '}')
}

// attr is one attribute while an event is written.
type attr struct {
	k string
	v any
}

// appendPair writes the i-th (from 0) name and value of an object.
func appendPair(b []byte, i int, a attr) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = appendString(b, a.k)
	b = append(b, ':')
	return appendValue(b, a.v)
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendString(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case float64:
		return appendFloat(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case []string:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']')
	}
	// Validate rejects other types; write them as text rather than fail.
	return appendString(b, fmt.Sprint(v))
}

// appendFloat writes f so that it reads back as a float: always with a
// fraction or an exponent. Non-finite values (rejected by Validate) are
// written as null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	start := len(b)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if bytes.IndexAny(b[start:], ".e") < 0 {
		b = append(b, ".0"...)
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Besides what JSON requires it
// escapes <, > and & (so the text is safe inside HTML and SSE) and U+2028,
// U+2029. Invalid UTF-8 becomes U+FFFD (decoders reject it beforehand).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainJSON[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainJSON holds the bytes appendString copies as they are: printable
// ASCII other than the quote, the backslash, <, > and &.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// DecodeJSON decodes one event from its JSON form. The id and time may be
// absent (Normalize fills them); everything present must be well-formed and
// the type and the host or ip must be there. Errors name the field.
func DecodeJSON(data []byte) (Event, error) {
	var ev Event
	if len(data) > MaxEventBytes {
		return ev, fmt.Errorf("event of %d bytes is over the limit of %d: %w", len(data), MaxEventBytes, ErrTooLarge)
	}
	if !utf8.Valid(data) {
		return ev, fmt.Errorf("invalid UTF-8 at byte %d", invalidUTF8At(data))
	}
	fields, err := decodeObject(data, 16)
	if err != nil {
		return ev, err
	}
	for _, f := range fields {
		k, raw := f.name, f.raw
		switch k {
		case "id":
			ev.ID, err = jsonString(k, raw)
		case "time":
			ev.Time, err = jsonTime(k, raw)
		case "type":
			ev.Type, err = jsonString(k, raw)
		case "host":
			ev.Host, err = jsonString(k, raw)
		case "ip":
			ev.IP, err = jsonString(k, raw)
		case "source":
			ev.Source, err = jsonString(k, raw)
		case "attrs":
			ev.Attrs, err = jsonAttrs(raw)
		default:
			err = fieldErr(k, "unknown field (known: id, time, type, host, ip, source, attrs)")
		}
		if err != nil {
			return Event{}, err
		}
	}
	if ev.ID != "" {
		if err := checkID(ev.ID); err != nil {
			return Event{}, fieldErr("id", "%v", err)
		}
	}
	if err := ev.validateBody(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// decodeObject splits a JSON object into its members (at most max).
func decodeObject(data []byte, max int) ([]field, error) {
	return splitObject(data, max)
}

func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func jsonString(field string, raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fieldErr(field, "want a string, got %s", kindOf(raw))
	}
	return unquote(raw), nil
}

func jsonTime(field string, raw []byte) (time.Time, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return time.Time{}, fieldErr(field, "want an RFC 3339 time string, got %s", kindOf(raw))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fieldErr(field, "not an RFC 3339 time: %q", truncate(s, 40))
	}
	return t.UTC(), nil
}

func jsonInt(field string, raw []byte) (int64, error) {
	if kindOf(raw) != "a number" {
		return 0, fieldErr(field, "want an integer, got %s", kindOf(raw))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fieldErr(field, "want an integer, got %s", truncate(string(raw), 24))
	}
	return n, nil
}

func jsonFloat(field string, raw []byte) (float64, error) {
	if kindOf(raw) != "a number" {
		return 0, fieldErr(field, "want a number, got %s", kindOf(raw))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return 0, fieldErr(field, "not a finite number: %s", truncate(string(raw), 24))
	}
	return f, nil
}

func jsonStrings(field string, raw []byte) ([]string, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fieldErr(field, "want a list of strings, got %s", kindOf(raw))
	}
	items, err := splitArray(raw)
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	if len(items) > MaxListLen {
		return nil, fieldErr(field, "list of %d items, more than the limit of %d", len(items), MaxListLen)
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, err := jsonString(fmt.Sprintf("%s[%d]", field, i), it)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func jsonAttrs(raw []byte) (map[string]any, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fieldErr("attrs", "want an object, got %s", kindOf(raw))
	}
	fields, err := decodeObject(raw, MaxAttrs)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, fieldErr("attrs."+fe.Field, "%s", fe.Msg)
		}
		return nil, fieldErr("attrs", "%v", err)
	}
	attrs := make(map[string]any, len(fields))
	for _, f := range fields {
		val, err := jsonValue(attrField, f.raw)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && strings.HasPrefix(fe.Field, attrField) {
				fe.Field = "attrs." + f.name + strings.TrimPrefix(fe.Field, attrField)
			}
			return nil, err
		}
		attrs[f.name] = val
	}
	return attrs, nil
}

// jsonValue decodes one attribute value.
func jsonValue(field string, raw []byte) (any, error) {
	switch kindOf(raw) {
	case "a string":
		return jsonString(field, raw)
	case "a boolean":
		return raw[0] == 't', nil
	case "a list":
		return jsonStrings(field, raw)
	case "a number":
		if bytes.IndexAny(raw, ".eE") < 0 {
			// An integer literal is an int64, never silently a float.
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if errors.Is(err, strconv.ErrRange) {
				return nil, fieldErr(field, "integer %s is out of the 64-bit range (%d to %d); send it as a string, or as a number with a fraction", truncate(string(raw), 24), int64(math.MinInt64), int64(math.MaxInt64))
			}
			if err == nil {
				return n, nil
			}
		}
		f, err := jsonFloat(field, raw)
		if err != nil {
			return nil, err
		}
		return f, nil
	case "an object":
		return nil, fieldErr(field, "nested objects are not allowed; flatten them into dotted names (a.b)")
	}
	return nil, fieldErr(field, "null is not allowed")
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// AppendAttrsJSON appends attrs as a JSON object, names in order, values as
// in the event form.
func AppendAttrsJSON(b []byte, attrs map[string]any) []byte { return appendAttrs(b, attrs) }

// DecodeAttrsJSON decodes a JSON object of attributes with the rules of the
// event form's "attrs" field.
func DecodeAttrsJSON(data []byte) (map[string]any, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("invalid UTF-8 at byte %d", invalidUTF8At(data))
	}
	return jsonAttrs(data)
}

// AppendStringsJSON appends a list of strings as a JSON array.
func AppendStringsJSON(b []byte, l []string) []byte { return appendValue(b, nonNil(l)) }

// DecodeStringsJSON decodes a JSON array of strings.
func DecodeStringsJSON(data []byte) ([]string, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("invalid UTF-8 at byte %d", invalidUTF8At(data))
	}
	return jsonStrings("list", data)
}
