package netsensor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Source yields captured frames. The data returned by Next is valid until
// the next call.
type Source interface {
	Next() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
	// Drops is how many frames the kernel dropped (live capture only).
	Drops() uint64
	Close() error
}

// ErrTimeout is returned by a live source's Next when no frame arrived
// within its poll timeout; the caller gets a chance to do timed work.
var ErrTimeout = errors.New("no packet within the poll timeout")

// fileSource reads a pcap or pcapng capture.
type fileSource struct {
	c    io.Closer
	name string
	n    uint64  // records read
	fr   *framer // nil for a compressed capture
	// held is a packet read past damage found on the way to it: the
	// damage is returned first, the packet on the next call.
	held   bool
	heldD  []byte
	heldCI gopacket.CaptureInfo
	next   func() ([]byte, gopacket.CaptureInfo, error)
	lt     layers.LinkType
}

// OpenFile opens a pcap or pcapng capture file.
func OpenFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netsensor: %w", err)
	}
	s, err := OpenReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// OpenReader reads a pcap or pcapng capture (told apart by its first
// bytes) from r, which name identifies in errors; closing the source
// closes r. The framing is checked before the packets are read (see
// DamageError): a damaged part is reported by Next and skipped.
func OpenReader(r io.ReadCloser, name string) (Source, error) {
	br := bufio.NewReaderSize(r, framerBuffer)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("netsensor: %s: too short for a capture: %w", name, err)
	}
	s := &fileSource{c: r, name: name}
	ng := bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a})
	var in io.Reader = br
	if magic[0] != 0x1f || magic[1] != 0x8b { // gzip: read as it is
		s.fr = newFramer(br, ng)
		in = s.fr
	}
	if ng {
		nr, err := pcapgo.NewNgReader(in, pcapgo.NgReaderOptions{SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("netsensor: %s: not a readable pcapng file: %w", name, err)
		}
		s.next, s.lt = nr.ZeroCopyReadPacketData, nr.LinkType()
	} else {
		pr, err := pcapgo.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("netsensor: %s: not a pcap or pcapng file: %w", name, err)
		}
		s.next, s.lt = pr.ZeroCopyReadPacketData, pr.LinkType()
	}
	return s, nil
}

// Next returns the next packet, or a *DamageError where a damaged part of
// the file was skipped (reading may go on after it), or io.EOF.
func (s *fileSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	if d := s.damage(s.n); d != nil {
		return nil, gopacket.CaptureInfo{}, d
	}
	if s.held {
		s.held = false
		s.n++
		return s.heldD, s.heldCI, nil
	}
	data, ci, err := s.next()
	if err == nil {
		// The packet reader reads ahead: damage may have been found
		// before this packet only while reading it.
		if d := s.damage(s.n); d != nil {
			s.held, s.heldD, s.heldCI = true, data, ci
			return nil, gopacket.CaptureInfo{}, d
		}
	}
	if errors.Is(err, io.EOF) {
		if d := s.damage(math.MaxUint64); d != nil {
			return nil, gopacket.CaptureInfo{}, d
		}
		if ci.CaptureLength > 0 {
			// The header of a record, then the end of the file.
			err = fmt.Errorf("truncated: %d bytes announced: %w", ci.CaptureLength, io.ErrUnexpectedEOF)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, ci, fmt.Errorf("netsensor: %s: record %d: %w", s.name, s.n+1, err)
	}
	s.n++
	return data, ci, err
}

// damage is the damage the framer noted before record n+1, if any.
func (s *fileSource) damage(n uint64) error {
	if s.fr == nil {
		return nil
	}
	d := s.fr.takeDamage(n)
	if d == nil {
		return nil
	}
	d.Name = s.name
	return d
}

func (s *fileSource) LinkType() layers.LinkType { return s.lt }
func (s *fileSource) Drops() uint64             { return 0 }
func (s *fileSource) Close() error              { return s.c.Close() }

// liveSource captures on an interface with AF_PACKET (TPACKET_V3).
type liveSource struct {
	h     *afpacket.TPacket
	drops uint64
	last  time.Time
}

// LiveOptions size the capture ring.
type LiveOptions struct {
	// BlockSize and Blocks size the ring (default 1 MiB x 64).
	BlockSize, Blocks int
	// PollTimeout bounds how long Next waits for a frame (default 100 ms).
	PollTimeout time.Duration
}

// OpenLive opens a TPACKET_V3 ring on iface.
func OpenLive(iface string, o LiveOptions) (Source, error) {
	if o.BlockSize <= 0 {
		o.BlockSize = 1 << 20
	}
	if o.Blocks <= 0 {
		o.Blocks = 64
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 100 * time.Millisecond
	}
	h, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(1<<16),
		afpacket.OptBlockSize(o.BlockSize),
		afpacket.OptNumBlocks(o.Blocks),
		afpacket.OptPollTimeout(o.PollTimeout),
		afpacket.OptBlockTimeout(10*time.Millisecond),
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		return nil, fmt.Errorf("netsensor: capturing on %s (needs root or CAP_NET_RAW): %w", iface, err)
	}
	return &liveSource{h: h}, nil
}

func (s *liveSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.h.ZeroCopyReadPacketData()
	if errors.Is(err, afpacket.ErrTimeout) || errors.Is(err, afpacket.ErrPoll) {
		return nil, ci, ErrTimeout
	}
	if err != nil {
		return nil, ci, fmt.Errorf("netsensor: capture: %w", err)
	}
	return data, ci, nil
}

func (s *liveSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

func (s *liveSource) Drops() uint64 {
	// Reading the kernel's counters is a system call (afpacket keeps the
	// running total): at most every 100 ms.
	if time.Since(s.last) > 100*time.Millisecond {
		s.last = time.Now()
		if _, v3, err := s.h.SocketStats(); err == nil {
			s.drops = uint64(v3.Drops())
		}
	}
	return s.drops
}

func (s *liveSource) Close() error {
	s.h.Close()
	return nil
}
