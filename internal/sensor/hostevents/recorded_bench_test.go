//go:build linux && amd64

package hostevents

import (
	"log/slog"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/spool"
)

// recordRing opens the event programs, runs script under sh and returns
// the raw records it made, as the ring buffer held them, with the
// converter that saw them (its tree holds the script's processes).
func recordRing(b *testing.B, script string) ([][]byte, *converter) {
	b.Helper()
	s, err := Open(Options{Host: "bench", Events: config.DefaultAgentEvents(), Spawn: true})
	if err != nil {
		b.Skipf("skipped: %v", err)
	}
	defer s.Close()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	var raws [][]byte
	for {
		s.rd.SetDeadline(time.Now().Add(50 * time.Millisecond))
		if err := s.rd.ReadInto(&s.rec); err != nil {
			break
		}
		raws = append(raws, slices.Clone(s.rec.RawSample))
	}
	return raws, s.conv
}

// convertAll decodes, converts and encodes records as the agent does,
// b.N times over, and reports the cost per unit (what the script did n
// times).
func convertAll(b *testing.B, raws [][]byte, c *converter, n int, unit string) {
	cc := comms{}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, raw := range raws {
			r, err := decode(raw, cc)
			if err != nil {
				b.Fatal(err)
			}
			c.reset()
			c.add(&r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1000, "µs/"+unit)
}

// BenchmarkRecordedExecs measures what user space does for the records of
// real execs of short-lived processes (a shell running /bin/true 300
// times: fork, exec and exit records, the exec's PROC.EXEC and PROC.SPAWN
// and the exit's PROC.EXIT, made in compact form), replayed (sudo go test -run
// '^$' -bench Recorded ./internal/sensor/hostevents).
func BenchmarkRecordedExecs(b *testing.B) {
	const n = 300
	raws, c := recordRing(b, "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done")
	convertAll(b, raws, c, n, "exec")
}

// BenchmarkRecordedOpens measures the same for a shell opening
// /etc/shadow 2,000 times (its FILE.OPEN events, as in the event flood).
func BenchmarkRecordedOpens(b *testing.B) {
	const n = 2000
	raws, c := recordRing(b, "i=0; while [ $i -lt 2000 ]; do : < /etc/shadow; i=$((i+1)); done")
	convertAll(b, raws, c, n, "open")
}

// BenchmarkRecordedExecsSpooled measures the agent's user-space work for
// the same records short of the network: each batch of events (made in
// compact form, checked as they are written) appended to an on-disk spool, then read back
// from it, its records' keys read (as the bus does to publish them) and
// committed, as its deliverer does before publishing
// (sudo go test -run '^$' -bench RecordedExecsSpooled
// ./internal/sensor/hostevents).
func BenchmarkRecordedExecsSpooled(b *testing.B) {
	const n = 300
	raws, c := recordRing(b, "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done")
	sp, err := spool.Open(spool.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	cc := comms{}
	var recs [][]byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.reset()
		for _, raw := range raws {
			r, err := decode(raw, cc)
			if err != nil {
				b.Fatal(err)
			}
			c.add(&r)
			if c.pending() < 64 && raw != nil {
				continue
			}
			recs = c.records(recs[:0])
			if err := sp.AppendAll(recs); err != nil {
				b.Fatal(err)
			}
			c.reset()
			out, next, err := sp.Read(512)
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range out {
				if _, err := event.PeekCompact(o); err != nil {
					b.Fatal(err)
				}
			}
			if err := sp.Commit(next); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1000, "µs/exec")
}
