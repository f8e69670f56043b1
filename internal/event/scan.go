package event

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// A small, strict JSON scanner for the records' JSON forms. It splits an
// object into raw values without copying, checks the full JSON grammar
// (RFC 8259) of every value it passes over, and reports the byte offset of
// the first mistake. The callers interpret the raw values. It exists
// because the records are decoded on hot paths (ingest, the HTTP API,
// replays) where a general reflection-based decoder costs several times
// more.

// syntaxError is malformed JSON at an offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.off, e.msg)
}

type scanner struct {
	data []byte
	pos  int
	base int // offset of data within the whole record, for messages
}

func (s *scanner) fail(msg string) error { return &syntaxError{off: s.base + s.pos, msg: msg} }

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) eof() error {
	return &syntaxError{off: s.base + s.pos, msg: "the record ends early"}
}

// value skips over one JSON value and returns its bytes.
func (s *scanner) value(depth int) ([]byte, error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil, s.eof()
	}
	start := s.pos
	var err error
	switch c := s.data[s.pos]; {
	case c == '"':
		_, err = s.stringEnd()
	case c == '{':
		err = s.compound(depth, '}', nil)
	case c == '[':
		err = s.compound(depth, ']', nil)
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		err = s.number()
	default:
		err = s.fail(fmt.Sprintf("unexpected character %q", rune(c)))
	}
	if err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 64

// compound moves past an object (end '}') or array (end ']') starting at
// pos, calling each, when not nil, with every member: its key (quoted; nil
// in an array) and its value.
func (s *scanner) compound(depth int, end byte, each func(key, val []byte) error) error {
	if depth >= maxDepth {
		return s.fail("nested too deeply")
	}
	s.pos++ // '{' or '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == end {
		s.pos++
		return nil
	}
	for {
		var key []byte
		if end == '}' {
			s.skipSpace()
			if s.pos >= len(s.data) {
				return s.eof()
			}
			if s.data[s.pos] != '"' {
				return s.fail("want a string as an object key")
			}
			start := s.pos
			if _, err := s.stringEnd(); err != nil {
				return err
			}
			key = s.data[start:s.pos]
			s.skipSpace()
			if s.pos >= len(s.data) {
				return s.eof()
			}
			if s.data[s.pos] != ':' {
				return s.fail("want ':' after an object key")
			}
			s.pos++
		}
		val, err := s.value(depth + 1)
		if err != nil {
			return err
		}
		if each != nil {
			if err := each(key, val); err != nil {
				return err
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.eof()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case end:
			s.pos++
			return nil
		default:
			return s.fail(fmt.Sprintf("want ',' or %q", end))
		}
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) {
		return s.eof()
	}
	if string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) number() error {
	d := s.data
	i := s.pos
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if digits() == 0 {
		s.pos = i
		return s.fail("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			s.pos = i
			return s.fail("invalid number: no digits after '.'")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.pos = i
			return s.fail("invalid number: no digits in the exponent")
		}
	}
	s.pos = i
	return nil
}

// stringEnd moves past the string starting at pos and reports whether it
// held escapes. It checks escapes, control characters and UTF-8.
func (s *scanner) stringEnd() (escaped bool, err error) {
	d := s.data
	i := s.pos + 1
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				s.pos = i
				return false, s.eof()
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex4(d[i+2:i+6]) {
					s.pos = i
					return false, s.fail("invalid \\u escape")
				}
				i += 6
			default:
				s.pos = i
				return false, s.fail("invalid escape")
			}
		case c < 0x20:
			s.pos = i
			return false, s.fail("control character in a string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				return false, s.fail("invalid UTF-8")
			}
			i += size
		}
	}
	s.pos = i
	return false, s.eof()
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// unquote returns the text of a JSON string the scanner has accepted.
func unquote(raw []byte) string {
	body := raw[1 : len(raw)-1]
	i := 0
	for i < len(body) && body[i] != '\\' {
		i++
	}
	if i == len(body) {
		return string(body) // no escapes: the common case
	}
	out := make([]byte, 0, len(body))
	out = append(out, body[:i]...)
	for i < len(body) {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch body[i+1] {
		case '"', '\\', '/':
			out = append(out, body[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hex4(body[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
					if r2 := rune(hex4(body[i+2 : i+6])); utf16.DecodeRune(r, r2) != utf8.RuneError {
						r = utf16.DecodeRune(r, r2)
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		}
		i += 2
	}
	return string(out)
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c-'a') + 10
		default:
			v |= uint16(c-'A') + 10
		}
	}
	return v
}

// field is one member of an object: its name and raw value.
type field struct {
	name string
	raw  []byte
}

// splitObject splits a JSON object into its members, in order, rejecting
// anything that is not exactly one object, names given twice, and more
// than max members.
func splitObject(data []byte, max int) ([]field, error) {
	s := scanner{data: data}
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil, errors.New("empty record")
	}
	if s.data[s.pos] != '{' {
		return nil, fmt.Errorf("not a JSON object (starts with %q)", truncate(string(data[s.pos:]), 16))
	}
	var fields []field
	err := s.compound(0, '}', func(key, val []byte) error {
		name := unquote(key)
		for _, f := range fields {
			if f.name == name {
				return fieldErr(name, "appears twice")
			}
		}
		if len(fields) == max {
			return fmt.Errorf("more than the limit of %d members", max)
		}
		fields = append(fields, field{name: name, raw: val})
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return nil, errors.New("trailing data after the JSON object")
	}
	return fields, nil
}

// splitArray splits a JSON array the scanner has accepted into its items.
func splitArray(data []byte) ([][]byte, error) {
	s := scanner{data: data}
	var items [][]byte
	err := s.compound(0, ']', func(_, val []byte) error {
		items = append(items, val)
		return nil
	})
	return items, err
}
