package netsensor

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// frames is a source of n one-byte frames, then io.EOF.
type frames struct{ n int }

func (p *frames) Next() ([]byte, gopacket.CaptureInfo, error) {
	if p.n == 0 {
		return nil, gopacket.CaptureInfo{}, io.EOF
	}
	p.n--
	return []byte{0}, gopacket.CaptureInfo{}, nil
}
func (p *frames) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (p *frames) Drops() uint64             { return 0 }
func (p *frames) Close() error              { return nil }

func TestBatcherBounds(t *testing.T) {
	var writes [][]event.Event
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewBatcher(func(evs []event.Event) error {
		writes = append(writes, append([]event.Event(nil), evs...))
		return nil
	}, clk, testutil.Quiet())
	for i := range BatchRecords + 5 {
		b.Add(event.Event{ID: fmt.Sprint(i)})
	}
	if len(writes) != 1 || len(writes[0]) != BatchRecords {
		t.Fatalf("after %d records: %d writes, want one of %d", BatchRecords+5, len(writes), BatchRecords)
	}
	// Five wait while the capture goes on; once they have waited longer
	// than BatchWait they leave between packets.
	src := b.Source(&frames{n: 1000})
	for range 255 {
		src.Next()
	}
	if len(writes) != 1 {
		t.Fatalf("records written before they waited BatchWait")
	}
	clk.Advance(BatchWait + time.Millisecond)
	src.Next() // the 256th packet looks at the clock
	if len(writes) != 2 || len(writes[1]) != 5 {
		t.Fatalf("after the wait: %d writes, want the 5 waiting records written", len(writes))
	}
	if b.Written() != BatchRecords+5 {
		t.Fatalf("Written = %d, want %d", b.Written(), BatchRecords+5)
	}
	// A failed write is not counted as written.
	b2 := NewBatcher(func([]event.Event) error { return errors.New("disk full") }, clk, testutil.Quiet())
	b2.Add(event.Event{ID: "x"})
	b2.Flush()
	if b2.Written() != 0 {
		t.Fatalf("Written = %d after a failed write, want 0", b2.Written())
	}
}

func TestBatcherFlushesAtTheEnd(t *testing.T) {
	var n int
	b := NewBatcher(func(evs []event.Event) error { n += len(evs); return nil }, nil, nil)
	b.Add(event.Event{ID: "a"})
	src := b.Source(&frames{n: 0})
	if _, _, err := src.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	if n != 1 {
		t.Fatalf("%d records written when the capture ended, want 1", n)
	}
}
