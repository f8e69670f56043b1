package monitor

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/clock"
)

// Messages that are not events are logged, at most once per badLogEvery
// per subject, each line saying how many of that subject's were skipped
// since the previous one. At most badLogSubjects subjects are tracked;
// beyond them the others share one entry, so a publisher inventing
// subjects cannot grow the monitor's memory.
const (
	badLogEvery    = 10 * time.Second
	badLogSubjects = 256
	// badLogHead is how many of a message's first bytes a line shows,
	// escaped.
	badLogHead = 32
	// badLogText bounds each string from the network in a line.
	badLogText = 200
)

// otherSubjects is the entry shared once badLogSubjects are tracked.
const otherSubjects = "(other subjects)"

// badLog rate-limits the log lines about undecodable messages.
type badLog struct {
	log   *slog.Logger
	clock clock.Clock
	text  string // the line's message
	mu    sync.Mutex
	subj  map[string]*badEntry
}

type badEntry struct {
	last    time.Time // when a line was written for the subject
	skipped uint64    // messages not logged since
}

func newBadLog(log *slog.Logger, c clock.Clock) *badLog {
	return newBadLogText(log, c, "message on the bus is not an event; skipped")
}

// newBadLogText is a badLog whose lines say text.
func newBadLogText(log *slog.Logger, c clock.Clock, text string) *badLog {
	return &badLog{log: log, clock: c, text: text, subj: map[string]*badEntry{}}
}

// note records one undecodable message of source src on subject, and logs
// it unless a line for the same subject was written within badLogEvery.
func (b *badLog) note(src, subject string, data []byte, err error) {
	now := b.clock.Now()
	b.mu.Lock()
	e := b.subj[subject]
	if e == nil {
		// One place stays for the shared entry.
		if len(b.subj) >= badLogSubjects-1 {
			b.forget(now)
		}
		if len(b.subj) >= badLogSubjects-1 {
			subject = otherSubjects
			e = b.subj[subject]
		}
		if e == nil {
			e = &badEntry{}
			b.subj[subject] = e
		}
	}
	if !e.last.IsZero() && now.Sub(e.last) < badLogEvery {
		e.skipped++
		b.mu.Unlock()
		return
	}
	skipped := e.skipped
	e.last, e.skipped = now, 0
	b.mu.Unlock()
	b.log.Warn(b.text,
		"source", src, "subject", printable(subject, badLogText), "bytes", len(data),
		"err", printable(err.Error(), badLogText), "head", printable(string(data[:min(len(data), badLogHead)]), 4*badLogHead),
		"skipped_since_last", skipped)
}

// forget drops the entries with nothing pending whose last line is older
// than badLogEvery. The caller holds mu.
func (b *badLog) forget(now time.Time) {
	for k, e := range b.subj {
		if e.skipped == 0 && now.Sub(e.last) >= badLogEvery {
			delete(b.subj, k)
		}
	}
}

// printable escapes s for a log line: printable ASCII but the backslash
// stays, everything else (control characters, other runes, invalid
// UTF-8) is written as a Go escape; the result is cut at about max bytes.
func printable(s string, max int) string {
	var sb strings.Builder
	for i, r := range s {
		if sb.Len() >= max {
			sb.WriteString("...")
			break
		}
		switch {
		case r == utf8.RuneError && len(s[i:]) > 0 && !validAt(s, i):
			sb.WriteString(`\x`)
			sb.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r >= 0x20 && r < 0x7f && r != '\\':
			sb.WriteRune(r)
		default:
			q := strconv.QuoteRuneToASCII(r)
			sb.WriteString(q[1 : len(q)-1])
		}
	}
	return sb.String()
}

// validAt reports whether s holds a valid encoding at i (U+FFFD itself).
func validAt(s string, i int) bool {
	r, n := utf8.DecodeRuneInString(s[i:])
	return r != utf8.RuneError || n == 3
}
