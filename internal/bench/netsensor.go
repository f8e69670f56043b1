package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
)

// NetBenchOptions configure `vigil bench netsensor`.
type NetBenchOptions struct {
	// Pcaps are the captures, concatenated and looped.
	Pcaps []string
	// Packets is how many packets the looped capture holds at least
	// (default 5,000,000).
	Packets int
	// Tcpdump is the reference reader; empty or missing skips it.
	Tcpdump string
	// Dir holds the looped capture (default: a temporary directory).
	Dir string
	// CPUProfile, when set, is where the looped run's CPU profile goes.
	CPUProfile string
	// Flood is how many distinct spoofed sources the SYN flood capture
	// has (default 1,000,000; negative skips the flood run).
	Flood    int
	Progress io.Writer
}

// FloodResult is the sensor under a spoofed SYN flood: one SYN from each
// of many sources, a microsecond apart.
type FloodResult struct {
	Sources      int     `json:"sources"`
	Seconds      float64 `json:"seconds"`
	PacketsPerS  float64 `json:"packets_per_s"`
	PeakHeapMB   float64 `json:"peak_heap_mb"`
	MaxFlows     int     `json:"max_flows"`
	FlowBound    int     `json:"flow_bound"`
	FlowsEvicted uint64  `json:"flows_evicted"`
	Records      uint64  `json:"records"`
}

// NetBenchResult is one run.
type NetBenchResult struct {
	Packets        int          `json:"packets"`
	Bytes          int64        `json:"file_bytes"`
	Seconds        float64      `json:"seconds"`
	PacketsPerS    float64      `json:"packets_per_s"`
	Records        uint64       `json:"records"`
	RecordsPerS    float64      `json:"records_per_s"`
	PeakHeapMB     float64      `json:"peak_heap_mb"`
	MaxFlows       int          `json:"max_flows"`
	FlowsEvicted   uint64       `json:"flows_evicted"`
	TcpdumpSeconds float64      `json:"tcpdump_seconds,omitempty"`
	TcpdumpPPS     float64      `json:"tcpdump_packets_per_s,omitempty"`
	TcpdumpMissing string       `json:"tcpdump_missing,omitempty"`
	Ratio          float64      `json:"ratio_to_tcpdump,omitempty"`
	Flood          *FloodResult `json:"flood,omitempty"`
}

// RunNetsensor builds the looped capture, runs the sensor over it on one
// core, and times tcpdump reading the same file.
func RunNetsensor(ctx context.Context, o NetBenchOptions) (NetBenchResult, error) {
	var res NetBenchResult
	if o.Packets <= 0 {
		o.Packets = 5_000_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if len(o.Pcaps) == 0 {
		return res, errors.New("no captures given")
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "vigil-netbench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	looped := filepath.Join(dir, "looped.pcap")
	n, err := loopCaptures(o.Pcaps, looped, o.Packets)
	if err != nil {
		return res, err
	}
	fi, _ := os.Stat(looped)
	res.Packets, res.Bytes = n, fi.Size()
	fmt.Fprintf(o.Progress, "looped capture: %d packets, %.0f MB from %d files\n", n, float64(res.Bytes)/1e6, len(o.Pcaps))

	run, err := runSensor(ctx, looped, netsensor.Config{ID: "bench"}, o.CPUProfile)
	if err != nil {
		return res, err
	}
	res.Seconds = run.el.Seconds()
	res.PacketsPerS = float64(run.st.Packets+run.st.Skipped+run.st.DecodeErrors) / run.el.Seconds()
	res.Records = run.records
	res.RecordsPerS = float64(run.records) / run.el.Seconds()
	res.PeakHeapMB = run.peakMB
	res.MaxFlows, res.FlowsEvicted = run.maxFlows, run.st.FlowsEvicted
	fmt.Fprintf(o.Progress, "vigil netsensor: %.2f s, %.0f packets/s, %d records (%.0f/s), peak heap %.1f MB, at most %d flows, %d evicted\n",
		res.Seconds, res.PacketsPerS, res.Records, res.RecordsPerS, res.PeakHeapMB, res.MaxFlows, res.FlowsEvicted)

	if o.Tcpdump == "" {
		res.TcpdumpMissing = "no tcpdump given"
	} else if _, err := os.Stat(o.Tcpdump); err != nil {
		res.TcpdumpMissing = "tcpdump not found at " + o.Tcpdump + " (Debian: apt-get install tcpdump)"
	} else {
		cmd := exec.CommandContext(ctx, "taskset", "-c", "0", o.Tcpdump, "-n", "-r", looped)
		if _, err := exec.LookPath("taskset"); err != nil {
			cmd = exec.CommandContext(ctx, o.Tcpdump, "-n", "-r", looped)
		}
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return res, fmt.Errorf("tcpdump: %w", err)
		}
		res.TcpdumpSeconds = time.Since(t0).Seconds()
		res.TcpdumpPPS = float64(n) / res.TcpdumpSeconds
		res.Ratio = res.PacketsPerS / res.TcpdumpPPS
		fmt.Fprintf(o.Progress, "tcpdump -n -r: %.2f s, %.0f packets/s; vigil/tcpdump %.2f\n", res.TcpdumpSeconds, res.TcpdumpPPS, res.Ratio)
	}
	if o.Flood == 0 {
		o.Flood = 1_000_000
	}
	if o.Flood > 0 {
		flood := filepath.Join(dir, "flood.pcap")
		if err := writeFlood(flood, o.Flood); err != nil {
			return res, err
		}
		os.Remove(looped) // room on small disks
		cfg := netsensor.Config{ID: "bench"}
		run, err := runSensor(ctx, flood, cfg, "")
		if err != nil {
			return res, err
		}
		res.Flood = &FloodResult{
			Sources: o.Flood, Seconds: run.el.Seconds(), PacketsPerS: float64(run.st.Packets) / run.el.Seconds(),
			PeakHeapMB: run.peakMB, MaxFlows: run.maxFlows, FlowBound: run.bound, FlowsEvicted: run.st.FlowsEvicted, Records: run.records,
		}
		fmt.Fprintf(o.Progress, "SYN flood from %d sources: %.0f packets/s, peak heap %.1f MB, at most %d flows (bound %d), %d evicted, %d records\n",
			o.Flood, res.Flood.PacketsPerS, res.Flood.PeakHeapMB, res.Flood.MaxFlows, res.Flood.FlowBound, res.Flood.FlowsEvicted, res.Flood.Records)
	}
	return res, nil
}

// sensorRun is what runSensor measured.
type sensorRun struct {
	st       netsensor.Stats
	el       time.Duration
	records  uint64
	peakMB   float64
	maxFlows int
	bound    int
}

// runSensor runs the sensor over a capture on one core. The file is read
// once before, so that it is in the page cache, and the heap is returned
// first so that the peak measured is the sensor's.
func runSensor(ctx context.Context, path string, cfg netsensor.Config, profile string) (sensorRun, error) {
	var r sensorRun
	if err := warm(path); err != nil {
		return r, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	s := netsensor.New(cfg, event.NewSeededIDs(1), func(event.Event) { r.records++ }, nil)
	r.bound = s.FlowBound()
	src, err := netsensor.OpenFile(path)
	if err != nil {
		return r, err
	}
	defer src.Close()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	var peak uint64
	go func() { // peak heap, sampled
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}()
	if profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return r, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return r, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	err = s.Run(ctx, &maxFlowsSource{Source: src, s: s, max: &r.maxFlows})
	r.el = time.Since(start)
	close(stop)
	<-sampled
	r.st = s.Stats()
	r.peakMB = float64(peak) / (1 << 20)
	debug.FreeOSMemory()
	return r, err
}

// writeFlood writes a spoofed SYN flood: one SYN from each of n distinct
// sources (random addresses, random ports) to one web server, a
// microsecond apart.
func writeFlood(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return err
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, DstIP: net.IPv4(10, 0, 0, 3).To4()}
	tcp := &layers.TCP{DstPort: 80, SYN: true, Window: 1024}
	buf := gopacket.NewSerializeBuffer()
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[uint32]struct{}, n)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; {
		a := rng.Uint32()
		if _, dup := seen[a]; dup || a>>24 == 0 || a>>24 >= 224 {
			continue
		}
		seen[a] = struct{}{}
		ip.SrcIP = net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4()
		tcp.SrcPort, tcp.Seq = layers.TCPPort(1024+rng.IntN(60000)), rng.Uint32()
		_ = tcp.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			return err
		}
		ts = ts.Add(time.Microsecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
			return err
		}
		i++
	}
	return bw.Flush()
}

// maxFlowsSource notes the largest flow table seen, every 4096 packets.
type maxFlowsSource struct {
	netsensor.Source
	s   *netsensor.Sensor
	max *int
	n   int
}

func (m *maxFlowsSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	m.n++
	if m.n%4096 == 0 {
		*m.max = max(*m.max, m.s.Stats().Flows)
	}
	return m.Source.Next()
}

func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// loopCaptures writes the captures one after another, again and again,
// until at least n packets are written. Time keeps going forward: each copy
// starts a second after the previous ended.
func loopCaptures(files []string, out string, n int) (int, error) {
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return 0, err
	}
	type pkt struct {
		data []byte
		ci   gopacket.CaptureInfo
	}
	var all [][]pkt
	for _, path := range files {
		src, err := netsensor.OpenFile(path)
		if err != nil {
			return 0, err
		}
		if src.LinkType() != layers.LinkTypeEthernet {
			src.Close()
			return 0, fmt.Errorf("%s: link type %v; the looped capture is Ethernet", path, src.LinkType())
		}
		var pk []pkt
		for {
			data, ci, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				return 0, err
			}
			pk = append(pk, pkt{append([]byte(nil), data...), ci})
		}
		src.Close()
		if len(pk) > 0 {
			all = append(all, pk)
		}
	}
	if len(all) == 0 {
		return 0, errors.New("the captures hold no packets")
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	written := 0
	for written < n {
		for _, pk := range all {
			base := pk[0].ci.Timestamp
			var last time.Time
			for _, p := range pk {
				ci := p.ci
				ci.Timestamp = clock.Add(max(ci.Timestamp.Sub(base), 0))
				last = ci.Timestamp
				if err := w.WritePacket(ci, p.data); err != nil {
					return written, err
				}
				written++
			}
			clock = last.Add(time.Second)
		}
	}
	return written, bw.Flush()
}
