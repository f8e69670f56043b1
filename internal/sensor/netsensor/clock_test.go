package netsensor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// quietSource is a live source that gives its frames, then only poll
// timeouts, as a capture on a quiet link does.
type quietSource struct {
	frames [][]byte
	at     time.Time
}

func (q *quietSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	if len(q.frames) > 0 {
		f := q.frames[0]
		q.frames = q.frames[1:]
		return f, gopacket.CaptureInfo{Timestamp: q.at, CaptureLength: len(f), Length: len(f)}, nil
	}
	time.Sleep(time.Millisecond)
	return nil, gopacket.CaptureInfo{}, ErrTimeout
}

func (q *quietSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (q *quietSource) Drops() uint64             { return 0 }
func (q *quietSource) Close() error              { return nil }

// TestQuietCaptureReadsClock sends one unanswered SYN, then nothing: the
// attempt is reported unanswered when the injected clock passes its
// timeout, not before, whatever the wall clock says.
func TestQuietCaptureReadsClock(t *testing.T) {
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) // after the wall clock: it alone would never time the attempt out
	clk := clock.NewManual(at)
	var mu sync.Mutex
	var recs []event.Event
	unanswered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			if r.Type == TypeConn && r.Str("outcome") == OutcomeUnanswered {
				return true
			}
		}
		return false
	}
	s := New(Config{ID: "gw", Clock: clk}, event.NewSeededIDs(1), func(ev event.Event) {
		mu.Lock()
		recs = append(recs, ev)
		mu.Unlock()
	}, testutil.Quiet())
	src := &quietSource{frames: [][]byte{tcpPkt(t, "10.0.0.1", 40000, "10.0.0.2", 22, "S", "")}, at: at}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, src) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(50 * time.Millisecond) // many polls with the clock still at the SYN
	if unanswered() {
		t.Fatal("the attempt timed out before the clock moved")
	}
	clk.Advance(10 * time.Second) // past the 5 s attempt timeout
	testutil.WaitFor(t, 10*time.Second, "the unanswered attempt", unanswered)
}
