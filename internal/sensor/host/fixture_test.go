package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procSpec describes a process of a fixture /proc tree.
type procSpec struct {
	pid, ppid  int
	comm       string
	state      string
	utime      uint64 // clock ticks (100 per second)
	stime      uint64
	start      uint64 // clock ticks since boot
	rssPages   int
	unreadable bool // a directory without a stat file (vanished mid-read)
}

// treeSpec describes a whole fixture /proc tree.
type treeSpec struct {
	procs            []procSpec
	cpuBusy, cpuIdle uint64 // ticks
	memTotalKB       uint64
	memAvailKB       uint64
	rx, tx           uint64 // eth0 bytes
	reads, writes    uint64 // sda operations
	tcpEstablished   int
	tcpListen        int
	udp              int
}

// writeTree writes a /proc tree with the files the extractor reads, in the
// kernel's formats.
func writeTree(t *testing.T, dir string, s treeSpec) {
	t.Helper()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", fmt.Sprintf("cpu  %d 0 0 %d 0 0 0 0 0 0\ncpu0 %d 0 0 %d 0 0 0 0 0 0\nintr 0\nctxt 0\nbtime 1764000000\nprocesses %d\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
		s.cpuBusy, s.cpuIdle, s.cpuBusy, s.cpuIdle, len(s.procs)))
	write("meminfo", fmt.Sprintf("MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\nBuffers:        0 kB\nCached:         0 kB\n",
		s.memTotalKB, s.memAvailKB/2, s.memAvailKB))
	write("net/dev", fmt.Sprintf("Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 999999 10 0 0 0 0 0 0 999999 10 0 0 0 0 0 0\n  eth0: %d 100 0 0 0 0 0 0 %d 100 0 0 0 0 0 0\n", s.rx, s.tx))
	write("diskstats", fmt.Sprintf("   8       0 sda %d 0 0 0 %d 0 0 0 0 0 0 0 0 0 0 0 0\n   8       1 sda1 %d 0 0 0 %d 0 0 0 0 0 0 0 0 0 0 0 0\n   7       0 loop0 500 0 0 0 500 0 0 0 0 0 0 0 0 0 0 0 0\n",
		s.reads, s.writes, s.reads, s.writes))
	var tcp strings.Builder
	tcp.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	n := 0
	for i := 0; i < s.tcpListen; i++ {
		fmt.Fprintf(&tcp, "%4d: 00000000:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n", n, 8000+i, 1000+n)
		n++
	}
	for i := 0; i < s.tcpEstablished; i++ {
		fmt.Fprintf(&tcp, "%4d: 0100000A:1F40 0200000A:%04X 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n", n, 40000+i, 1000+n)
		n++
	}
	write("net/tcp", tcp.String())
	var udp strings.Builder
	udp.WriteString("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n")
	for i := 0; i < s.udp; i++ {
		fmt.Fprintf(&udp, "%4d: 00000000:%04X 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 %d 2 0000000000000000 0\n", i, 5000+i, 3000+i)
	}
	write("net/udp", udp.String())
	write("net/sockstat", fmt.Sprintf("sockets: used %d\nTCP: inuse %d orphan 0 tw 2 alloc %d mem 10\nUDP: inuse %d mem 1\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n",
		s.tcpListen+s.tcpEstablished+s.udp, s.tcpListen+s.tcpEstablished, s.tcpListen+s.tcpEstablished, s.udp))
	write("net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
	for _, p := range s.procs {
		if p.unreadable {
			if err := os.MkdirAll(filepath.Join(dir, fmt.Sprint(p.pid)), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		state := p.state
		if state == "" {
			state = "S"
		}
		write(fmt.Sprintf("%d/stat", p.pid), fmt.Sprintf("%d (%s) %s %d %d %d 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 1 0 %d 10000000 %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			p.pid, p.comm, state, p.ppid, p.pid, p.pid, p.utime, p.stime, p.start, p.rssPages))
	}
}
