package netsensor

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/vigil-ids/vigil/internal/event"
)

// loadCaptures reads the shared captures into memory.
func loadCaptures(tb testing.TB) (frames [][]byte, cis []gopacket.CaptureInfo) {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(datasets, "pcap-*", "*.pcap*"))
	more, _ := filepath.Glob(filepath.Join(datasets, "pcap-*", "*.cap"))
	files = append(files, more...)
	if len(files) == 0 {
		tb.Skip("no shared captures (../shared/datasets is not beside this checkout)")
	}
	for _, f := range files {
		src, err := OpenFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for {
			data, ci, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			frames = append(frames, append([]byte(nil), data...))
			cis = append(cis, ci)
		}
		src.Close()
	}
	return frames, cis
}

// BenchmarkSensor decodes and processes the shared captures' packets, over
// and over, time kept increasing.
func BenchmarkSensor(b *testing.B) {
	frames, cis := loadCaptures(b)
	dec, _ := NewDecoder(1)
	var records int
	s := New(Config{ID: "bench"}, event.NewSeededIDs(1), func(event.Event) { records++ }, nil)
	// Time goes forward through the loop: 10 microseconds a packet.
	times := make([]time.Duration, len(frames))
	for i := range times {
		times[i] = time.Duration(i) * 10 * time.Microsecond
	}
	span := time.Duration(len(frames)) * 10 * time.Microsecond
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var p Packet
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(frames)
		ts := base.Add(time.Duration(i/len(frames))*span + times[k])
		if err := dec.Decode(frames[k], ts, cis[k].Length, &p); err != nil {
			continue
		}
		s.Process(&p)
	}
	b.ReportMetric(float64(records)/float64(b.N), "records/packet")
}
