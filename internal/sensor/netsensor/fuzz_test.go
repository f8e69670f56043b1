package netsensor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-ids/vigil/internal/event"
)

// seedFrames are well-formed frames of each kind the sensor reads, for the
// fuzzers to start from.
func seedFrames(tb testing.TB) [][]byte {
	syn := tcpPkt(tb, client, 40000, server, 80, "S", "")
	q := udpPkt(tb, client, 5000, server, 53, []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1})
	return [][]byte{
		syn,
		tcpPkt(tb, server, 80, client, 40000, "SA", ""),
		tcpPkt(tb, client, 40000, server, 80, "PA", "GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
		tcpPkt(tb, server, 80, client, 40000, "PA", "HTTP/1.1 200 OK\r\n\r\n"),
		tcpPkt(tb, server, 21, client, 40001, "PA", "220 ready\r\n"),
		tcpPkt(tb, client, 40002, server, 25, "PA", "EXPN root\r\n"),
		tcpPkt(tb, client, 40003, server, 9999, "FPU", ""),
		q,
		icmpUnreach(tb, server, client, 3, q),
		icmpEcho(tb, client, server, 8),
	}
}

// FuzzDecode decodes arbitrary bytes as every link type the sensor
// reads, and hands what decodes to a sensor: no panic, and what the
// decoder returns stays inside the frame.
func FuzzDecode(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr, uint8(0))
		f.Add(fr[14:], uint8(2)) // the same as raw IP
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw, layers.LinkTypeIPv6}
	f.Fuzz(func(t *testing.T, data []byte, link uint8) {
		dec, err := NewDecoder(links[int(link)%len(links)])
		if err != nil {
			t.Fatal(err)
		}
		s := New(Config{ID: "gw", MaxFlows: 16, RecordBudget: 4, MaxSubjects: 4}, event.NewSeededIDs(1), func(ev event.Event) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid record %s: %v", ev.AppendJSON(nil), err)
			}
		}, nil)
		var p Packet
		if err := dec.Decode(data, t0, len(data), &p); err != nil {
			return
		}
		if len(p.Payload) > len(data) {
			t.Fatalf("payload of %d bytes from a frame of %d", len(p.Payload), len(data))
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() {
			t.Fatalf("decoded packet without addresses: %+v", p)
		}
		s.Process(&p)
		s.Flush()
	})
}

// FuzzSensorStream feeds a sequence of frames (each prefixed by its
// length in one byte) through one sensor, so the fuzzer explores the flow
// state machine as well as the decoder. The flow table must stay within
// its bound.
func FuzzSensorStream(f *testing.F) {
	var all []byte
	for _, fr := range seedFrames(f) {
		if len(fr) < 256 {
			all = append(all, byte(len(fr)))
			all = append(all, fr...)
		}
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, _ := NewDecoder(layers.LinkTypeEthernet)
		const bound = 8
		s := New(Config{ID: "gw", MaxFlows: bound, RecordBudget: 16, MaxSubjects: 8, SummaryInterval: time.Second}, event.NewSeededIDs(1), func(ev event.Event) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid record %s: %v", ev.AppendJSON(nil), err)
			}
		}, nil)
		now := t0
		var p Packet
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			n = min(n, len(data))
			fr := data[:n]
			data = data[n:]
			now = now.Add(300 * time.Millisecond)
			if dec.Decode(fr, now, len(fr), &p) == nil {
				s.Process(&p)
			}
			if fl := s.Stats().Flows; fl > bound {
				t.Fatalf("%d flows in a table bounded at %d", fl, bound)
			}
		}
		s.Flush()
	})
}

// FuzzApp runs the application-layer parsers on arbitrary bytes: what
// they return is valid UTF-8 of bounded length.
func FuzzApp(f *testing.F) {
	for _, s := range []string{
		"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.0 404 Not Found\r\n", "USER anonymous\r\n", "PASS secret\r\n",
		"220 mail ESMTP\r\n", "SSH-2.0-OpenSSH_9.2\r\n", "EXPN root\r\n", "\xff\xfe\x00GET",
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte{0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1})
	ok := func(t *testing.T, what, s string, max int) {
		if !utf8.ValidString(s) || len(s) > max {
			t.Fatalf("%s: %q (%d bytes)", what, s, len(s))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, path, host, good := httpRequest(b); good {
			ok(t, "method", m, maxField)
			ok(t, "path", path, 3*maxField)
			ok(t, "host", host, 3*maxField)
		}
		if code, good := httpStatus(b); good && (code < 100 || code > 599) {
			t.Fatalf("status %d", code)
		}
		if cmd, arg, good := commandLine(b); good {
			ok(t, "command", cmd, 3*maxField)
			ok(t, "argument", arg, 3*maxField)
		}
		if code, good := replyCode(b); good && (code < 100 || code > 599) {
			t.Fatalf("reply code %d", code)
		}
		if _, name, qtype, _, rcode, _, good := dnsMessage(b); good {
			ok(t, "query", name, 3*maxField)
			ok(t, "qtype", qtype, 64)
			ok(t, "rcode", rcode, 16)
		}
		ok(t, "banner", banner(b, 64), 4*64)
		ok(t, "guess", guessBanner(b, true), 16)
	})
}

// FuzzCapture reads arbitrary bytes as a capture file: an error or
// packets, never a panic, and never a record larger than the file.
func FuzzCapture(f *testing.F) {
	var pcap, ng bytes.Buffer
	w := pcapgo.NewWriter(&pcap)
	_ = w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	nw, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	for _, fr := range seedFrames(f) {
		ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(fr), Length: len(fr)}
		_ = w.WritePacket(ci, fr)
		_ = nw.WritePacket(ci, fr)
	}
	_ = nw.Flush()
	f.Add(pcap.Bytes())
	f.Add(ng.Bytes())
	// Damaged: cut short, a length corrupted, junk inside.
	for _, b := range [][]byte{pcap.Bytes(), ng.Bytes()} {
		f.Add(b[:len(b)*2/3])
		bad := bytes.Clone(b)
		bad[len(b)/2] ^= 0x40
		bad[len(b)/2+5] ^= 0x81
		f.Add(bad)
		f.Add(append(append(bytes.Clone(b[:len(b)/3]), 0xde, 0xad, 0xbe, 0xef, 0, 0, 1), b[len(b)/3:]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The framing: every damage lies within the input, comes in order
		// and ends the reading at most once; the reading ends.
		if src, err := OpenReader(io.NopCloser(bytes.NewReader(data)), "fuzz"); err == nil {
			var packets uint64
			var last int64 = -1
			ended := false
			for i := 0; ; i++ {
				if i > len(data)+2 {
					t.Fatalf("no end after %d calls on %d bytes", i, len(data))
				}
				d, _, err := src.Next()
				var de *DamageError
				if errors.As(err, &de) {
					if ended || de.Offset <= last || de.Offset < 0 || de.Skipped <= 0 || de.Offset+de.Skipped > int64(len(data)) || de.Record != packets {
						t.Fatalf("damage %+v after %d packets, previous at %d, input of %d bytes", *de, packets, last, len(data))
					}
					last, ended = de.Offset, de.End
					continue
				}
				if err != nil {
					break
				}
				if len(d) > len(data) {
					t.Fatalf("a record of %d bytes from %d bytes of input", len(d), len(data))
				}
				packets++
			}
			src.Close()
		}
		src, err := OpenReader(io.NopCloser(bytes.NewReader(data)), "fuzz")
		if err != nil {
			return
		}
		defer src.Close()
		s := New(Config{ID: "gw", MaxFlows: 16}, event.NewSeededIDs(1), func(event.Event) {}, slog.New(slog.DiscardHandler))
		ctx := context.Background()
		err = s.Run(ctx, &limited{Source: src, max: len(data), t: t})
		_ = err // a malformed record ends the run with an error; that is the point
	})
}

// limited checks that a source never returns more than the input held.
type limited struct {
	Source
	max int
	t   *testing.T
}

func (l *limited) Next() ([]byte, gopacket.CaptureInfo, error) {
	d, ci, err := l.Source.Next()
	if err == nil && len(d) > l.max {
		l.t.Fatalf("a record of %d bytes from %d bytes of input", len(d), l.max)
	}
	return d, ci, err
}
