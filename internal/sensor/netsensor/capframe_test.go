package netsensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-ids/vigil/internal/event"
)

// capture is a written capture file and where each record starts.
type capture struct {
	data   []byte
	starts []int // byte offset of each record (block)
	frames [][]byte
}

// writeCapture writes the seed frames, a second apart, as a pcap or a
// pcapng file.
func writeCapture(t *testing.T, ng bool) capture {
	return writeFrames(t, ng, seedFrames(t))
}

// bigFrames are the seed frames padded to 3,000 bytes, so that the packet
// reader (which reads ahead 4 KiB) meets damage only while reading the
// packet after it.
func bigFrames(t *testing.T) [][]byte {
	var out [][]byte
	for _, fr := range seedFrames(t) {
		out = append(out, append(bytes.Clone(fr), make([]byte, 3000-len(fr))...))
	}
	return out
}

func writeFrames(t *testing.T, ng bool, frames [][]byte) capture {
	t.Helper()
	var buf bytes.Buffer
	c := capture{frames: frames}
	var write func(gopacket.CaptureInfo, []byte) error
	flush := func() error { return nil }
	if ng {
		w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		write, flush = w.WritePacket, w.Flush
	} else {
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		write = w.WritePacket
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	for i, fr := range c.frames {
		c.starts = append(c.starts, buf.Len())
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(fr), Length: len(fr)}
		if err := write(ci, fr); err != nil {
			t.Fatal(err)
		}
		if err := flush(); err != nil {
			t.Fatal(err)
		}
	}
	c.data = buf.Bytes()
	return c
}

// readAll reads a capture to its end: the packets' bytes, and the damage
// reported.
func readAll(t *testing.T, data []byte, name string) ([][]byte, []*DamageError) {
	t.Helper()
	src, err := OpenReader(io.NopCloser(bytes.NewReader(data)), name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var pkts [][]byte
	var dmg []*DamageError
	for i := 0; i < 1000; i++ {
		d, _, err := src.Next()
		var de *DamageError
		switch {
		case errors.Is(err, io.EOF):
			return pkts, dmg
		case errors.As(err, &de):
			if de.Record != uint64(len(pkts)) {
				t.Errorf("damage after record %d reported after %d packets", de.Record, len(pkts))
			}
			dmg = append(dmg, de)
		case err != nil:
			t.Fatalf("after %d packets: %v", len(pkts), err)
		default:
			pkts = append(pkts, bytes.Clone(d))
		}
	}
	t.Fatal("no end")
	return nil, nil
}

func checkPackets(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("packet %d differs from the one written", i+1)
		}
	}
}

func checkDamage(t *testing.T, dmg []*DamageError, want DamageError) {
	t.Helper()
	if len(dmg) != 1 {
		t.Fatalf("%d damages reported, want 1: %v", len(dmg), dmg)
	}
	d := *dmg[0]
	d.Reason = ""
	if d != want {
		t.Errorf("damage %+v, want %+v", d, want)
	}
	if msg := dmg[0].Error(); !strings.Contains(msg, want.Name) || dmg[0].Reason == "" {
		t.Errorf("message %q", msg)
	}
}

// TestCaptureIntact reads both formats whole, with no damage reported.
func TestCaptureIntact(t *testing.T) {
	for _, ng := range []bool{false, true} {
		c := writeCapture(t, ng)
		pkts, dmg := readAll(t, c.data, "ok")
		checkPackets(t, pkts, c.frames)
		if len(dmg) != 0 {
			t.Errorf("ng=%v: damage reported in an intact file: %v", ng, dmg)
		}
	}
}

// TestCaptureTruncated cuts each format in the middle of its seventh
// record: the six before it are read, and the damage is reported at the
// seventh's offset, reaching to the end.
func TestCaptureTruncated(t *testing.T) {
	for _, ng := range []bool{false, true} {
		c := writeCapture(t, ng)
		cut := c.starts[6] + 20
		pkts, dmg := readAll(t, c.data[:cut], "cut.pcap")
		checkPackets(t, pkts, c.frames[:6])
		checkDamage(t, dmg, DamageError{Name: "cut.pcap", Offset: int64(c.starts[6]), Record: 6, Skipped: 20, End: true})
		// Cut inside a record header (pcap) or block header (pcapng).
		cut = c.starts[6] + 6
		pkts, dmg = readAll(t, c.data[:cut], "cut.pcap")
		checkPackets(t, pkts, c.frames[:6])
		checkDamage(t, dmg, DamageError{Name: "cut.pcap", Offset: int64(c.starts[6]), Record: 6, Skipped: 6, End: true})
	}
}

// TestPcapCorruptRecordHeader gives the fourth record of a pcap file an
// impossible captured length: the reader resynchronises on the fifth and
// reads on to the end.
func TestPcapCorruptRecordHeader(t *testing.T) {
	for _, bad := range []uint32{0xffffffff, 65536, 1 << 19, 0} {
		c := writeCapture(t, false)
		if bad == 0 {
			c = writeFrames(t, false, bigFrames(t))
			bad = 1 << 30
		}
		binary.LittleEndian.PutUint32(c.data[c.starts[3]+8:], bad)
		pkts, dmg := readAll(t, c.data, "bad.pcap")
		checkPackets(t, pkts, append(append([][]byte{}, c.frames[:3]...), c.frames[4:]...))
		checkDamage(t, dmg, DamageError{Name: "bad.pcap", Offset: int64(c.starts[3]), Record: 3, Skipped: int64(c.starts[4] - c.starts[3])})
	}
}

// TestPcapGarbageInserted puts junk between two records: it is skipped,
// nothing else is lost.
func TestPcapGarbageInserted(t *testing.T) {
	c := writeCapture(t, false)
	junk := bytes.Repeat([]byte{0xff, 0x13, 0x00, 0x7f, 0xee}, 41)
	data := append(append(append([]byte{}, c.data[:c.starts[5]]...), junk...), c.data[c.starts[5]:]...)
	pkts, dmg := readAll(t, data, "junk.pcap")
	checkPackets(t, pkts, c.frames)
	checkDamage(t, dmg, DamageError{Name: "junk.pcap", Offset: int64(c.starts[5]), Record: 5, Skipped: int64(len(junk))})
}

// TestPcapngCorruptBlockLength corrupts the fourth packet block of a
// pcapng file in its leading length, then in its trailing one: the block
// is skipped and the rest read.
func TestPcapngCorruptBlockLength(t *testing.T) {
	for _, where := range []string{"leading", "leading-aligned", "trailing", "huge", "big frames"} {
		c := writeCapture(t, true)
		if where == "big frames" {
			c = writeFrames(t, true, bigFrames(t))
		}
		at := c.starts[3]
		l := binary.LittleEndian.Uint32(c.data[at+4:])
		switch where {
		case "leading", "big frames":
			binary.LittleEndian.PutUint32(c.data[at+4:], l+3)
		case "leading-aligned":
			binary.LittleEndian.PutUint32(c.data[at+4:], l+8)
		case "trailing":
			binary.LittleEndian.PutUint32(c.data[at+int(l)-4:], l+4)
		case "huge":
			binary.LittleEndian.PutUint32(c.data[at+4:], 0xfffffff0)
		}
		pkts, dmg := readAll(t, c.data, "bad.pcapng")
		checkPackets(t, pkts, append(append([][]byte{}, c.frames[:3]...), c.frames[4:]...))
		checkDamage(t, dmg, DamageError{Name: "bad.pcapng", Offset: int64(at), Record: 3, Skipped: int64(c.starts[4] - at)})
	}
}

// TestDamagedCaptureRun runs the sensor over a damaged file on disk: the
// run ends without error, the packets around the damage are counted, and
// the damage is logged with the file and the offset.
func TestDamagedCaptureRun(t *testing.T) {
	c := writeCapture(t, true)
	binary.LittleEndian.PutUint32(c.data[c.starts[2]+4:], 7)
	path := filepath.Join(t.TempDir(), "damaged.pcapng")
	if err := os.WriteFile(path, c.data[:c.starts[8]+10], 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var logs bytes.Buffer
	s := New(Config{ID: "gw"}, event.NewSeededIDs(1), func(event.Event) {}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.Run(t.Context(), src); err != nil {
		t.Fatalf("run over a damaged file: %v", err)
	}
	st := s.Stats()
	if st.CaptureDamage != 2 || st.Packets+st.Skipped+st.DecodeErrors != 7 {
		t.Errorf("stats %+v: want 2 damages and the 7 packets outside them", st)
	}
	for _, want := range []string{"damaged capture: skipped", "file=" + path, "offset=" + itoa(c.starts[2]), "offset=" + itoa(c.starts[8]), "to_end=true"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestDamageScanBounded fills a pcapng file after its first packets with
// 8 MiB of blocks that all look plausible at their start (a known type,
// an aligned length of almost 1 MiB) and never end right: the scan that
// looks for the next good block at every 4 bytes stays linear (the reader
// is refilled once per MiB, not once per step) and reports one damage
// reaching the end.
func TestDamageScanBounded(t *testing.T) {
	c := writeCapture(t, true)
	data := bytes.Clone(c.data[:c.starts[5]])
	const l = MaxCaptureRecord - 4 // its trailing word falls on a type word
	var w [8]byte
	binary.LittleEndian.PutUint32(w[0:], 6)
	binary.LittleEndian.PutUint32(w[4:], l)
	junk := bytes.Repeat(w[:], 8<<20/8)
	data = append(data, junk...)
	start := time.Now()
	pkts, dmg := readAll(t, data, "flood.pcapng")
	took := time.Since(start)
	checkPackets(t, pkts, c.frames[:5])
	checkDamage(t, dmg, DamageError{Name: "flood.pcapng", Offset: int64(c.starts[5]), Record: 5, Skipped: int64(len(junk)), End: true})
	if took > 30*time.Second {
		t.Errorf("scanning 8 MiB of damage took %v", took)
	}
	t.Logf("8 MiB of damage scanned in %v", took)
}
