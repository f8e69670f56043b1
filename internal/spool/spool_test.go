package spool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/testutil"
)

func open(t *testing.T, dir string, max int64) *Spool {
	t.Helper()
	s, err := Open(Options{Dir: dir, MaxBytes: max, SegmentBytes: 1 << 10, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rec(i int) []byte { return fmt.Appendf(nil, "record-%05d-%s", i, bytes.Repeat([]byte("x"), i%50)) }

// readAll reads and commits everything pending (copying the records: a
// Read's are valid until the next).
func readAll(t *testing.T, s *Spool) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		recs, next, err := s.Read(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, bytes.Clone(r))
		}
		if err := s.Commit(next); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOrderAcrossSegmentsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := range 100 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Deliver 30, then "crash" (close without reading the rest).
	recs, next, err := s.Read(30)
	if err != nil || len(recs) != 30 {
		t.Fatalf("read %d: %v", len(recs), err)
	}
	if err := s.Commit(next); err != nil {
		t.Fatal(err)
	}
	// Read but not committed: must come again.
	if _, _, err := s.Read(10); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test wants several", len(segs))
	}
	s = open(t, dir, 1<<20)
	for i := 100; i < 120; i++ {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, s)
	if len(got) != 90 {
		t.Fatalf("after a restart got %d records, want 90", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r, rec(30+i)) {
			t.Fatalf("record %d is %q, want %q", i, r, rec(30+i))
		}
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(n) != 1 {
		t.Errorf("%d segments left after delivering everything, want the one being written", len(n))
	}
	if s.Dropped() != 0 {
		t.Errorf("dropped %d", s.Dropped())
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := range 5 {
		s.Append(rec(i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	last := segs[len(segs)-1]
	f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{40, 1, 2}) // a record's length and part of its checksum
	f.Close()
	s = open(t, dir, 1<<20)
	s.Append(rec(5))
	got := readAll(t, s)
	if len(got) != 6 || !bytes.Equal(got[5], rec(5)) {
		t.Fatalf("got %d records after a torn tail", len(got))
	}
}

func TestBoundDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 4<<10) // 4 KiB in 1 KiB segments
	for i := range 300 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Bytes() > 5<<10 {
		t.Errorf("spool holds %d bytes, over its bound", s.Bytes())
	}
	got := readAll(t, s)
	if uint64(len(got))+s.Dropped() != 300 {
		t.Fatalf("delivered %d + dropped %d != 300 appended", len(got), s.Dropped())
	}
	if s.Dropped() == 0 || !bytes.Equal(got[len(got)-1], rec(299)) {
		t.Errorf("dropped %d; last %q", s.Dropped(), got[len(got)-1])
	}
	// What is kept is the newest, in order.
	first := 300 - len(got)
	for i, r := range got {
		if !bytes.Equal(r, rec(first+i)) {
			t.Fatalf("record %d is %q", i, r)
		}
	}
}

func TestAppendAllWritesABatchInOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	var batch [][]byte
	for i := range 100 {
		batch = append(batch, rec(i))
	}
	if err := s.AppendAll(batch[:60]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAll(batch[60:]); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) < 3 {
		t.Fatalf("%d segments; the test wants a batch to cross several", len(segs))
	}
	s.Close()
	s = open(t, dir, 1<<20) // what was written is on disk, and counted again
	got := readAll(t, s)
	if len(got) != 100 {
		t.Fatalf("got %d records, want 100", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r, rec(i)) {
			t.Fatalf("record %d is %q, want %q", i, r, rec(i))
		}
	}
}

func TestAppendAllRefusesAnOversizedRecordBeforeWriting(t *testing.T) {
	s := open(t, t.TempDir(), 1<<20)
	err := s.AppendAll([][]byte{rec(0), make([]byte, MaxRecord+1)})
	if err == nil || !strings.Contains(err.Error(), "record 2 of 2") {
		t.Fatalf("err %v, want the oversized record named", err)
	}
	if got := readAll(t, s); len(got) != 0 {
		t.Errorf("%d records written from a refused batch", len(got))
	}
}

// A crash (a second spool opened on the directory, the first never
// closed) delivers again at most what was committed since the cursor was
// last written; a close writes it.
func TestCursorLagsAtMostCursorEvery(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewManual(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	o := Options{Dir: dir, MaxBytes: 1 << 20, CursorEvery: time.Second, Clock: clk, Logger: testutil.Quiet()}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(n int) {
		t.Helper()
		recs, next, err := s.Read(n)
		if err != nil || len(recs) != n {
			t.Fatalf("read %d of %d: %v", len(recs), n, err)
		}
		if err := s.Commit(next); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		t.Helper()
		c, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := c.Read(100)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	commit(10)
	if n := pending(); n != 30 {
		t.Errorf("after a commit within the interval a crash delivers %d again, want all 30 (the cursor not yet written)", n)
	}
	clk.Advance(time.Second)
	commit(10)
	if n := pending(); n != 10 {
		t.Errorf("after a commit at the interval a crash delivers %d, want the 10 not committed", n)
	}
	commit(5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 5 {
		t.Errorf("after a close %d records are pending, want the 5 not committed", n)
	}
}

func TestForwardRetriesUntilDelivered(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	var mu sync.Mutex
	var delivered [][]byte
	failures := 3
	send := func(_ context.Context, recs [][]byte) error {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return errors.New("bus away")
		}
		for _, r := range recs {
			delivered = append(delivered, bytes.Clone(r)) // valid until send returns
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Forward(ctx, s, 16, send, testutil.Quiet()) }()
	for i := range 50 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(delivered)
		mu.Unlock()
		if n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 50", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for i, r := range delivered {
		if !bytes.Equal(r, rec(i)) {
			t.Fatalf("delivered out of order at %d: %q", i, r)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(Options{Dir: dir, Logger: testutil.Quiet()})
	if err != nil {
		f.Fatal(err)
	}
	s.Append([]byte("hello"))
	s.Append([]byte("world!"))
	s.Close()
	seg, err := os.ReadFile(filepath.Join(dir, "0000000000000001.seg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	f.Add([]byte{5, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			var rec []byte
			n, err := readRecord(r, &rec)
			if err != nil {
				return
			}
			if n < len(rec) || len(rec) > MaxRecord {
				t.Fatalf("record of %d bytes spanning %d", len(rec), n)
			}
		}
	})
}

// Read reads a segment in chunks; a record longer than a chunk, up to
// MaxRecord, comes back whole and in its place.
func TestReadReturnsRecordsLongerThanItsChunk(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), MaxBytes: 64 << 20, SegmentBytes: 4 << 20, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sizes := []int{1, readChunk - 10, readChunk + 1, 17, MaxRecord, 3, 2*readChunk + 5, 0}
	var want [][]byte
	for i, n := range sizes {
		r := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, r)
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, s)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

// Records read in one batch are each their own: changing one changes no
// other, and records appended meanwhile do not move them.
func TestReadRecordsStayPut(t *testing.T) {
	s := open(t, t.TempDir(), 1<<20)
	defer s.Close()
	for i := range 5 {
		if err := s.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs, _, err := s.Read(5)
	if err != nil || len(recs) != 5 {
		t.Fatalf("read %d: %v", len(recs), err)
	}
	recs[0] = append(recs[0], "more"...)
	for i := range 20 {
		if err := s.Append(rec(100 + i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 5; i++ {
		if !bytes.Equal(recs[i], rec(i)) {
			t.Fatalf("record %d became %q", i, recs[i])
		}
	}
}

// A Read reads into the memory the last one read into: once the first has
// made its buffer, reading a batch allocates nothing.
func TestReadReusesItsMemory(t *testing.T) {
	// One segment, and no cursor written within the test: what is counted
	// is the Read.
	s, err := Open(Options{Dir: t.TempDir(), MaxBytes: 1 << 20, SegmentBytes: 1 << 20, CursorEvery: time.Hour, Logger: testutil.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const runs, batch = 50, 10
	var want [][]byte
	for i := range (runs + 2) * batch {
		want = append(want, rec(i))
		if err := s.Append(want[i]); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	read := func() {
		recs, next, err := s.Read(batch)
		if err != nil || len(recs) != batch {
			t.Fatalf("read %d: %v", len(recs), err)
		}
		for _, r := range recs {
			if !bytes.Equal(r, want[n]) {
				t.Fatalf("record %d read as %q", n, r)
			}
			n++
		}
		if err := s.Commit(next); err != nil {
			t.Fatal(err)
		}
	}
	read() // the first Read makes its buffer
	if allocs := testing.AllocsPerRun(runs, read); allocs > 0 {
		t.Errorf("a Read of %d records makes %.1f allocations, want none", batch, allocs)
	}
}

// splitRecord, which reads records out of a chunk, reads what readRecord
// reads from a stream: the same records, the same lengths, and stops
// where it stops.
func FuzzSplitRecord(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'})
	var seg []byte
	for _, r := range [][]byte{[]byte("hello"), []byte("world!"), {}} {
		var hdr [binary.MaxVarintLen64 + 4]byte
		n := binary.PutUvarint(hdr[:], uint64(len(r)))
		binary.LittleEndian.PutUint32(hdr[n:], crc32.Checksum(r, castagnoli))
		seg = append(append(seg, hdr[:n+4]...), r...)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		off := 0
		for {
			var want []byte
			wn, werr := readRecord(r, &want)
			got, gn, gerr := splitRecord(data[off:])
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("at %d: readRecord %v, splitRecord %v", off, werr, gerr)
			}
			if werr != nil {
				if gn > 0 && !errors.Is(gerr, errShort) {
					t.Fatalf("at %d: a length %d with %v", off, gn, gerr)
				}
				return
			}
			if wn != gn || !bytes.Equal(want, got) {
				t.Fatalf("at %d: %d bytes %q, split %d bytes %q", off, wn, want, gn, got)
			}
			off += gn
		}
	})
}
