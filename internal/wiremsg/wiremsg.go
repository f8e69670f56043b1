// Package wiremsg reads and writes the small JSON messages Vigil's parts
// exchange over the bus in request and reply (effector requests, control
// requests): strictly, so that a message with an unknown field, trailing
// data or a name holding control characters is refused with an error
// naming what is wrong.
package wiremsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Encode writes a message. The message types of Vigil always marshal.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode reads exactly one JSON object of at most max bytes into v,
// refusing unknown fields and anything after the object.
func Decode(data []byte, max int, v any) error {
	if len(data) > max {
		return fmt.Errorf("%d bytes, at most %d", len(data), max)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("not JSON (offset %d): %v", se.Offset, se)
		case errors.As(err, &te):
			return fmt.Errorf("field %q: a %s where a %s belongs", te.Field, te.Value, te.Type)
		case errors.Is(err, io.EOF):
			return errors.New("empty message")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("not JSON: the message ends inside a value")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the message")
	}
	return nil
}

// Text says what is wrong with a name: missing (when required), longer
// than maxLen bytes, or holding a control character (C0, DEL, C1, the
// line and paragraph separators) or invalid UTF-8 (decoded as U+FFFD).
func Text(field, v string, maxLen int, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("missing %q", field)
	case len(v) > maxLen:
		return fmt.Errorf("%s longer than %d bytes", field, maxLen)
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 || c == 0x2028 || c == 0x2029 || c == 0xfffd {
			return fmt.Errorf("%s %q holds a control character or invalid UTF-8", field, v)
		}
	}
	return nil
}
