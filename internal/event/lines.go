package event

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// LineError is a problem with one line of a JSON-lines stream. The reader
// skips the line and goes on.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// LineReader reads records from a JSON-lines stream, one per line. Blank
// lines are skipped. A line longer than its limit is skipped whole (the
// reader does not buffer it) and reported as a LineError, as is a line that
// does not decode; neither stops the stream.
type LineReader struct {
	r     *bufio.Reader
	max   int
	line  int
	buf   []byte
	valid bool
}

// NewLineReader reads lines of at most max bytes (MaxEventBytes when max is
// zero or less).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = MaxEventBytes
	}
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Line returns the number of the line last returned (1-based).
func (lr *LineReader) Line() int { return lr.line }

// Next returns the next non-blank line, without its line terminator. The
// slice is valid until the next call. At the end it returns io.EOF. A
// *LineError means that line was skipped; other errors come from the
// underlying reader and end the stream.
func (lr *LineReader) Next() ([]byte, error) {
	for {
		lr.buf = lr.buf[:0]
		tooLong := false
		size := 0
		for {
			frag, err := lr.r.ReadSlice('\n')
			size += len(frag)
			if !tooLong {
				if size > lr.max+2 { // room for "\r\n"
					tooLong = true
					lr.buf = lr.buf[:0]
				} else {
					lr.buf = append(lr.buf, frag...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				if size == 0 {
					return nil, io.EOF
				}
				break
			}
			if err != nil {
				return nil, err
			}
			break
		}
		lr.line++
		if tooLong {
			return nil, &LineError{Line: lr.line, Err: fmt.Errorf("line longer than the limit of %d bytes: %w", lr.max, ErrTooLarge)}
		}
		line := bytes.TrimRight(lr.buf, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(line) > lr.max {
			return nil, &LineError{Line: lr.line, Err: fmt.Errorf("line of %d bytes is over the limit of %d: %w", len(line), lr.max, ErrTooLarge)}
		}
		return line, nil
	}
}

// EventReader decodes events from a JSON-lines stream.
type EventReader struct {
	lr     *LineReader
	ids    IDSource
	now    func() time.Time
	source string
}

// NewEventReader returns a reader of JSON-lines events.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{lr: NewLineReader(r, MaxEventBytes)}
}

// Normalizing makes Next complete each event with Normalize: a missing id
// from ids, a missing time from now, a missing source with source.
func (er *EventReader) Normalizing(ids IDSource, now func() time.Time, source string) *EventReader {
	er.ids, er.now, er.source = ids, now, source
	return er
}

// Next returns the next event. Errors are as for LineReader.Next; a line
// that does not decode (or normalise) gives a *LineError naming the line
// and the field.
func (er *EventReader) Next() (Event, error) {
	line, err := er.lr.Next()
	if err != nil {
		return Event{}, err
	}
	ev, err := DecodeJSON(line)
	if err == nil && er.ids != nil {
		err = ev.Normalize(er.ids, er.now(), er.source)
	}
	if err != nil {
		return Event{}, &LineError{Line: er.lr.Line(), Err: err}
	}
	return ev, nil
}

// Line returns the number of the line last read.
func (er *EventReader) Line() int { return er.lr.Line() }
