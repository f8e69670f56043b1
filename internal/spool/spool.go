// Package spool is a bounded first-in first-out queue of records on disk.
// Sensors append what they observe to it, which never waits for the
// network, and a forwarder delivers the records to the bus in order,
// committing each batch only once the bus has acknowledged it; an outage
// of the bus, or of the sensor itself, loses nothing that fits in the
// bound. When the bound is reached the oldest records are dropped and
// counted, so the loss is known and can be reported.
//
// The queue is a directory of segment files (NNNNNNNNNNNNNNNN.seg) and a
// cursor file naming the next record to deliver. A record is a uvarint
// length, a CRC-32C of the data, and the data; a torn record at the end of
// the last segment (a crash mid-write) is cut off when the spool opens.
//
// Delivery is at least once: the cursor file is written at most once per
// Options.CursorEvery (and when the spool closes or delivery empties a
// segment), so a crash delivers again what the bus acknowledged in the
// last interval.
// Records carry their own ids, by which the bus drops such repeats.
package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
)

// MaxRecord is the largest record accepted.
const MaxRecord = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure a spool.
type Options struct {
	Dir string
	// MaxBytes bounds the files on disk (default 64 MiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts (default
	// MaxBytes/8).
	SegmentBytes int64
	// CursorEvery is the longest the cursor file lags behind the
	// committed cursor (default DefaultCursorEvery; negative: written at
	// every commit).
	CursorEvery time.Duration
	// Clock times CursorEvery (default the wall clock).
	Clock  clock.Clock
	Logger *slog.Logger
}

// DefaultCursorEvery is the default of Options.CursorEvery: well inside
// the bus's window for dropping repeated ids (two minutes).
const DefaultCursorEvery = time.Second

// Cursor is a position in the spool: a segment and an offset in it.
type Cursor struct {
	Seg uint64
	Off int64
}

type segment struct {
	seq     uint64
	size    int64
	records int
}

// Spool is an open spool. It is safe for concurrent use by one appender
// and one reader.
type Spool struct {
	o       Options
	mu      sync.Mutex
	segs    []segment // oldest first; the last is being written
	w       *os.File
	bw      *bufio.Writer
	cur     Cursor // next record to deliver
	dropped uint64
	ready   chan struct{}
	closed  bool
	saved   Cursor    // the cursor the file holds
	savedAt time.Time // when it was written
	// The reader's: the segment it has open (rseq), kept between Reads,
	// and the buffers a Read reads its chunks into, reused by the next.
	// rsegs and rout are the last Read's lists, reused likewise.
	rmu   sync.Mutex
	rf    *os.File
	rseq  uint64
	rbufs [][]byte
	rsegs []segment
	rout  [][]byte
}

// Open opens (creating if need be) the spool in o.Dir.
func Open(o Options) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = config.DefaultSpoolMaxBytes
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = max(o.MaxBytes/8, 64<<10)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CursorEvery == 0 {
		o.CursorEvery = DefaultCursorEvery
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{o: o, ready: make(chan struct{}, 1)}
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seg, err := s.scan(seq)
		if err != nil {
			return nil, err
		}
		s.segs = append(s.segs, seg)
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	if err := s.readCursor(); err != nil {
		return nil, err
	}
	s.saved, s.savedAt = s.cur, o.Clock.Now()
	if len(s.segs) == 0 {
		s.segs = append(s.segs, segment{seq: 1})
	}
	if err := s.openWriter(); err != nil {
		return nil, err
	}
	if s.pendingLocked() {
		s.signal()
	}
	return s, nil
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.o.Dir, fmt.Sprintf("%016d.seg", seq))
}

// scan reads a segment to count its records, cutting off a torn tail.
func (s *Spool) scan(seq uint64) (segment, error) {
	f, err := os.OpenFile(s.path(seq), os.O_RDWR, 0)
	if err != nil {
		return segment{}, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	seg := segment{seq: seq}
	for {
		n, err := readRecord(r, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			s.o.Logger.Warn("spool: cutting a torn record off a segment", "segment", s.path(seq), "offset", seg.size, "err", err)
			if terr := f.Truncate(seg.size); terr != nil {
				return segment{}, fmt.Errorf("spool: truncating %s: %w", s.path(seq), terr)
			}
			break
		}
		seg.size += int64(n)
		seg.records++
	}
	return seg, nil
}

// readRecord reads one record; it returns the bytes it spans. With buf nil
// the data is skipped.
func readRecord(r *bufio.Reader, data *[]byte) (int, error) {
	cr := countingByteReader{r: r}
	l, err := binary.ReadUvarint(&cr)
	if err == io.EOF {
		return 0, io.EOF
	}
	if err != nil {
		return 0, fmt.Errorf("length: %w", err)
	}
	if l > MaxRecord {
		return 0, fmt.Errorf("length %d over the limit", l)
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return 0, fmt.Errorf("checksum: %w", unexpected(err))
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, fmt.Errorf("data: %w", unexpected(err))
	}
	if crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(sum[:]) {
		return 0, errors.New("checksum mismatch")
	}
	if data != nil {
		*data = b
	}
	return cr.n + 4 + int(l), nil
}

// countingByteReader counts the bytes a length took (one written with
// more bytes than it needs, in a damaged segment, spans them all).
type countingByteReader struct {
	r *bufio.Reader
	n int
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (s *Spool) cursorPath() string { return filepath.Join(s.o.Dir, "cursor") }

func (s *Spool) readCursor() error {
	b, err := os.ReadFile(s.cursorPath())
	if errors.Is(err, os.ErrNotExist) {
		if len(s.segs) > 0 {
			s.cur = Cursor{Seg: s.segs[0].seq}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var c Cursor
	if _, err := fmt.Sscanf(string(b), "%d %d", &c.Seg, &c.Off); err != nil {
		s.o.Logger.Warn("spool: unreadable cursor; delivering from the oldest record", "err", err)
		c = Cursor{}
	}
	// A cursor before the oldest segment (dropped) moves to it; one past a
	// segment's end stays there (the next read moves on).
	if len(s.segs) > 0 && c.Seg < s.segs[0].seq {
		c = Cursor{Seg: s.segs[0].seq}
	}
	s.cur = c
	return nil
}

func (s *Spool) writeCursor() error {
	tmp := s.cursorPath() + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.cur.Seg, s.cur.Off), 0o640); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	if err := os.Rename(tmp, s.cursorPath()); err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	s.saved, s.savedAt = s.cur, s.o.Clock.Now()
	return nil
}

func (s *Spool) openWriter() error {
	last := &s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.path(last.seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.w = f
	s.bw = bufio.NewWriterSize(f, 32<<10)
	if s.cur.Seg == 0 {
		s.cur = Cursor{Seg: s.segs[0].seq}
	}
	return nil
}

// Append adds a record at the end, dropping the oldest records when the
// spool would exceed its bound. The record is written to the operating
// system before Append returns (it survives the process, not the machine).
func (s *Spool) Append(rec []byte) error { return s.AppendAll([][]byte{rec}) }

// AppendAll appends recs in order, as Append does each, but written to
// the operating system together before it returns (one write where they
// fit the buffer). A record over MaxRecord is an error before anything is
// written.
func (s *Spool) AppendAll(recs [][]byte) error {
	for i, rec := range recs {
		if len(rec) > MaxRecord {
			return fmt.Errorf("spool: record %d of %d: %d bytes over the limit of %d", i+1, len(recs), len(rec), MaxRecord)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	for _, rec := range recs {
		last := &s.segs[len(s.segs)-1]
		if last.size >= s.o.SegmentBytes {
			if err := s.rotate(); err != nil {
				return err
			}
			last = &s.segs[len(s.segs)-1]
		}
		// The header is written in the buffer's free space (no
		// allocation for each record while it has room).
		hdr := binary.AppendUvarint(s.bw.AvailableBuffer(), uint64(len(rec)))
		hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(rec, castagnoli))
		n := len(hdr) - 4
		if _, err := s.bw.Write(hdr); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := s.bw.Write(rec); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		last.size += int64(n + 4 + len(rec))
		last.records++
		s.enforceBound()
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.signal()
	return nil
}

func (s *Spool) rotate() error {
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.segs = append(s.segs, segment{seq: s.segs[len(s.segs)-1].seq + 1})
	return s.openWriter()
}

// enforceBound drops whole segments, oldest first, while the spool is over
// its bound; the segment being written is kept.
func (s *Spool) enforceBound() {
	for len(s.segs) > 1 && s.size() > s.o.MaxBytes {
		old := s.segs[0]
		lost := old.records
		if s.cur.Seg == old.seq {
			// Part of it may have been delivered already.
			lost = s.recordsFrom(old, s.cur.Off)
		} else if s.cur.Seg > old.seq {
			lost = 0
		}
		if err := os.Remove(s.path(old.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.o.Logger.Warn("spool: removing a segment", "err", err)
		}
		s.segs = s.segs[1:]
		if s.cur.Seg <= old.seq {
			s.cur = Cursor{Seg: s.segs[0].seq}
		}
		if lost > 0 {
			s.dropped += uint64(lost)
			s.o.Logger.Warn("spool full: dropped the oldest undelivered records", "records", lost, "dropped_total", s.dropped, "max_bytes", s.o.MaxBytes)
		}
	}
}

// recordsFrom counts the records of seg at or after offset off.
func (s *Spool) recordsFrom(seg segment, off int64) int {
	f, err := os.Open(s.path(seg.seq))
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0
	}
	r := bufio.NewReader(f)
	n := 0
	for {
		if _, err := readRecord(r, nil); err != nil {
			return n
		}
		n++
	}
}

func (s *Spool) size() int64 {
	var t int64
	for _, sg := range s.segs {
		t += sg.size
	}
	return t
}

func (s *Spool) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value when records may be waiting.
func (s *Spool) Ready() <-chan struct{} { return s.ready }

// Dropped is how many records were dropped because the spool was full.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Bytes is the size of the spool on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size()
}

func (s *Spool) pendingLocked() bool {
	last := s.segs[len(s.segs)-1]
	return s.cur.Seg < last.seq || s.cur.Off < last.size
}

// Read returns up to max records from the cursor on, and the cursor after
// them; it does not move the cursor (Commit does). The segment being read
// stays open between calls, and its records are read in one go: a batch
// costs one system call, not several per record.
//
// The records, and the list of them, are valid until the next Read: it
// reads into the same memory (a reader that keeps a record longer copies
// it).
func (s *Spool) Read(max int) (recs [][]byte, _ Cursor, _ error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	cur := s.cur
	segs := append(s.rsegs[:0], s.segs...)
	s.rsegs = segs
	s.mu.Unlock()
	clear(s.rout)
	out := s.rout[:0]
	defer func() { s.rout = recs }()
	chunks := 0 // buffers of rbufs used by this Read
	s.trimBuffers()
	for _, sg := range segs {
		if sg.seq < cur.Seg {
			continue
		}
		if sg.seq > cur.Seg {
			cur = Cursor{Seg: sg.seq}
		}
		if cur.Off >= sg.size {
			continue
		}
		f, err := s.reader(sg.seq)
		if errors.Is(err, os.ErrNotExist) {
			continue // dropped meanwhile
		}
		if err != nil {
			return out, cur, fmt.Errorf("spool: %w", err)
		}
		if out, err = s.readRecords(f, sg.size, &cur, max, out, &chunks); err != nil {
			return out, cur, fmt.Errorf("spool: %w", err)
		}
		if len(out) >= max {
			break
		}
	}
	return out, cur, nil
}

// readChunk is how much of a segment Read reads at once (more when a
// record is larger).
const readChunk = 256 << 10

// reader returns the segment seq open for reading, opening it (and closing
// the one open before) when it is not. Called with rmu held.
func (s *Spool) reader(seq uint64) (*os.File, error) {
	if s.rf != nil && s.rseq == seq {
		return s.rf, nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	f, err := os.Open(s.path(seq))
	if err != nil {
		return nil, err
	}
	s.rf, s.rseq = f, seq
	return f, nil
}

// keptBuffers is how many of a Read's buffers the next one reuses; those
// beyond, and any larger than a chunk (a long record's), are let go, so
// that one large Read does not hold its memory for good.
const keptBuffers = 4

// trimBuffers lets go of the buffers the next Read will not reuse (called
// with rmu held, before a Read: the last one's records are then invalid).
func (s *Spool) trimBuffers() {
	if len(s.rbufs) > keptBuffers {
		clear(s.rbufs[keptBuffers:])
		s.rbufs = s.rbufs[:keptBuffers]
	}
	for i, b := range s.rbufs {
		if cap(b) > readChunk {
			s.rbufs[i] = nil
		}
	}
}

// chunk returns the i-th buffer of a Read, of n bytes, growing it when it
// is too small: to a whole chunk, or to n for a longer record (called with
// rmu held).
func (s *Spool) chunk(i, n int) []byte {
	if i == len(s.rbufs) {
		s.rbufs = append(s.rbufs, nil)
	}
	if cap(s.rbufs[i]) < n {
		s.rbufs[i] = make([]byte, max(n, readChunk))
	}
	return s.rbufs[i][:n]
}

// readRecords appends to out the records of f from cur on, up to size (the
// segment's length when Read began) and until out holds max, moving cur
// past them. Each chunk read goes into the next of the spool's buffers
// (*chunks counts those taken). It stops early at a record it cannot read
// (torn, or not there); Read then goes on with the next segment, as it
// always has.
func (s *Spool) readRecords(f *os.File, size int64, cur *Cursor, max int, out [][]byte, chunks *int) ([][]byte, error) {
	for len(out) < max && cur.Off < size {
		want := min(size-cur.Off, readChunk)
		buf := s.chunk(*chunks, int(want))
		*chunks++
		n, err := f.ReadAt(buf, cur.Off)
		if err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		buf = buf[:n]
		used := 0
		for len(out) < max {
			rec, l, err := splitRecord(buf[used:])
			if err != nil {
				if !errors.Is(err, errShort) {
					return out, nil // unreadable: stop here, as scan would cut it
				}
				if used == 0 && l > 0 && int64(l) <= size-cur.Off && len(buf) == int(want) {
					// A record longer than the chunk: read it whole.
					big := s.chunk(*chunks, l)
					*chunks++
					if _, err := f.ReadAt(big, cur.Off); err != nil {
						return out, nil
					}
					rec, l, err = splitRecord(big)
					if err != nil {
						return out, nil
					}
					out = append(out, rec)
					cur.Off += int64(l)
					break
				}
				if used == 0 {
					return out, nil // short of what the segment should hold
				}
				break
			}
			out = append(out, rec)
			used += l
			cur.Off += int64(l)
		}
	}
	return out, nil
}

// errShort says a buffer ends inside a record.
var errShort = errors.New("record continues past the buffer")

// splitRecord reads the record at the start of b: its data (aliasing b)
// and the bytes it spans. When b ends inside it, the error is errShort
// and n, if known, is the record's whole length.
func splitRecord(b []byte) (data []byte, n int, err error) {
	l, k := binary.Uvarint(b)
	if k == 0 {
		return nil, 0, errShort
	}
	if k < 0 {
		return nil, 0, errors.New("length: bad varint")
	}
	if l > MaxRecord {
		return nil, 0, fmt.Errorf("length %d over the limit", l)
	}
	n = k + 4 + int(l)
	if len(b) < n {
		return nil, n, errShort
	}
	data = b[k+4 : n : n]
	if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(b[k:]) {
		return nil, 0, errors.New("checksum mismatch")
	}
	return data, n, nil
}

// Commit marks everything before c delivered: the cursor moves there (and
// is saved), and segments wholly delivered are removed.
func (s *Spool) Commit(c Cursor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Seg < s.cur.Seg || c.Seg == s.cur.Seg && c.Off <= s.cur.Off {
		return nil
	}
	s.cur = c
	removed := false
	for len(s.segs) > 1 && s.segs[0].seq < c.Seg {
		if err := os.Remove(s.path(s.segs[0].seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
		s.segs = s.segs[1:]
		removed = true
	}
	if removed || s.o.Clock.Now().Sub(s.savedAt) >= s.o.CursorEvery {
		return s.writeCursor()
	}
	return nil
}

// Close flushes and closes the spool.
func (s *Spool) Close() error {
	s.rmu.Lock() // as Read: rmu, then mu
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	err := s.bw.Flush()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	if s.cur != s.saved {
		if cerr := s.writeCursor(); err == nil {
			err = cerr
		}
	}
	return err
}
