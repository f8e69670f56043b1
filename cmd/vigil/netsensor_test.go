package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// netLab is two network namespaces joined by a veth pair: a server side
// (10.77.<n>.1) and a client side (10.77.<n>.2). It is removed when the
// test ends.
type netLab struct {
	srv, cli     string // namespace names
	srvIf, cliIf string
	srvIP, cliIP string
}

// needTools skips the test unless it runs as root with the programs given.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and capture (CI runs as root)")
	}
	// Administration programs live in sbin, which a CI job's PATH may
	// lack.
	path := os.Getenv("PATH")
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if !strings.Contains(":"+path+":", ":"+dir+":") {
			path += ":" + dir
		}
	}
	t.Setenv("PATH", path)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian package; .ci/run installs it): %v", tool, err)
		}
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newNetLab(t *testing.T) *netLab {
	t.Helper()
	n := os.Getpid()%200 + 20
	l := &netLab{
		srv: fmt.Sprintf("vgl-srv-%d", os.Getpid()), cli: fmt.Sprintf("vgl-cli-%d", os.Getpid()),
		srvIf: fmt.Sprintf("vgs%d", os.Getpid()), cliIf: fmt.Sprintf("vgc%d", os.Getpid()),
		srvIP: fmt.Sprintf("10.77.%d.1", n), cliIP: fmt.Sprintf("10.77.%d.2", n),
	}
	t.Cleanup(func() {
		// Deleting a namespace deletes the veth end in it, and its peer.
		_ = exec.Command("ip", "netns", "del", l.srv).Run()
		_ = exec.Command("ip", "netns", "del", l.cli).Run()
	})
	sh(t, "ip", "netns", "add", l.srv)
	sh(t, "ip", "netns", "add", l.cli)
	sh(t, "ip", "link", "add", l.srvIf, "type", "veth", "peer", "name", l.cliIf)
	sh(t, "ip", "link", "set", l.srvIf, "netns", l.srv)
	sh(t, "ip", "link", "set", l.cliIf, "netns", l.cli)
	for _, side := range []struct{ ns, ifname, ip string }{{l.srv, l.srvIf, l.srvIP}, {l.cli, l.cliIf, l.cliIP}} {
		sh(t, "ip", "-n", side.ns, "addr", "add", side.ip+"/24", "dev", side.ifname)
		sh(t, "ip", "-n", side.ns, "link", "set", side.ifname, "up")
		sh(t, "ip", "-n", side.ns, "link", "set", "lo", "up")
	}
	// Port-unreachable answers are rate limited per destination; the UDP
	// scan must see every one.
	sh(t, "ip", "netns", "exec", l.srv, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0")
	return l
}

// in runs a command in a namespace.
func (l *netLab) in(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return sh(t, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// TestNetsensorLive captures on the server's veth while a client fetches
// pages from a real web server and scans it with nmap (SYN, FIN and UDP
// scans); the sensor's records tell each of these apart.
func TestNetsensorLive(t *testing.T) {
	needTools(t, "ip", "nsenter", "lighttpd", "curl", "nmap")
	l := newNetLab(t)
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("<h1>hello</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "lighttpd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`server.document-root = %q
server.port = 8000
server.bind = %q
server.errorlog = %q
mimetype.assign = (".html" => "text/html")
`, www, l.srvIP, filepath.Join(dir, "lighttpd.log"))), 0o644); err != nil {
		t.Fatal(err)
	}
	l.daemon(t, l.srv, "lighttpd", "-D", "-f", conf)

	sensor := startIn(t, l.srv, "netsensor", "--iface", l.srvIf, "--stdout", "--id", "gw-live",
		"--summary-interval", "1s", "--attempt-timeout", "1s", "--services", l.srvIP+":8000/tcp")
	testutil.WaitFor(t, 10*time.Second, "the sensor to capture", func() bool { return strings.Contains(sensor.Out.String(), "netsensor capturing") })
	url := fmt.Sprintf("http://%s:8000/", l.srvIP)
	testutil.WaitFor(t, 10*time.Second, "the web server", func() bool {
		return exec.Command("ip", "netns", "exec", l.cli, "curl", "-sf", "-o", "/dev/null", url+"index.html").Run() == nil
	})
	l.in(t, l.cli, "curl", "-s", "-o", "/dev/null", url+"missing.html")
	// SYN scan of eleven closed ports and the web server's; FIN scan of
	// five closed ports and the open one; UDP scan of three closed ports.
	nmap := []string{"nmap", "-n", "-Pn", "-T4", "--max-retries", "0", "-oN", "-"}
	l.in(t, l.cli, append(nmap, "-sS", "-p", "20-30,8000", l.srvIP)...)
	l.in(t, l.cli, append(nmap, "-sF", "-p", "40-44,8000", l.srvIP)...)
	l.in(t, l.cli, append(nmap, "-sU", "-p", "161,1900,9999", l.srvIP)...)
	time.Sleep(2500 * time.Millisecond) // past the attempt timeout and a summary interval
	sensor.Stop(t, 10*time.Second)
	var recs []event.Event
	for _, line := range strings.Split(sensor.Out.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		ev, err := event.DecodeJSON([]byte(line))
		if err != nil {
			t.Fatalf("a record that does not decode: %v\n%s", err, line)
		}
		recs = append(recs, ev)
	}
	type key struct{ typ, proto, dport, outcome string }
	seen := map[key]int{}
	for _, r := range recs {
		if r.Str("src") != l.cliIP || r.IP != l.srvIP && r.Type != "NET.SUMMARY" {
			continue
		}
		switch r.Type {
		case "NET.CONN":
			seen[key{r.Type, r.Str("proto"), r.Str("dport"), r.Str("outcome")}]++
		case "NET.PROBE":
			seen[key{r.Type, r.Str("proto"), r.Str("dport"), r.Str("flags") + "/" + r.Str("answer")}]++
		case "NET.HTTP":
			seen[key{r.Type, r.Str("method") + " " + r.Str("path"), r.Str("dport"), r.Str("status")}]++
		}
	}
	var missing []string
	want := func(k key) {
		if seen[k] == 0 {
			missing = append(missing, fmt.Sprint(k))
		}
	}
	want(key{"NET.HTTP", "GET /index.html", "8000", "200"})
	want(key{"NET.HTTP", "GET /missing.html", "8000", "404"})
	want(key{"NET.CONN", "tcp", "8000", "established"})
	for p := 20; p <= 30; p++ {
		want(key{"NET.CONN", "tcp", fmt.Sprint(p), "refused"})
	}
	for p := 40; p <= 44; p++ {
		want(key{"NET.PROBE", "tcp", fmt.Sprint(p), "F/rst"})
	}
	want(key{"NET.PROBE", "tcp", "8000", "F/none"}) // an open port ignores a FIN
	for _, p := range []string{"161", "1900", "9999"} {
		want(key{"NET.CONN", "udp", p, "refused"})
	}
	t.Logf("%d records; activity seen: %v", len(recs), seen)
	if len(missing) > 0 {
		t.Errorf("records missing: %v\nseen: %v", missing, seen)
	}
	// Summaries: the server's, with the scans' attempts and ports.
	var dst event.Event
	for _, r := range recs {
		if r.Type == "NET.SUMMARY" && r.Str("kind") == "dst" && r.Str("subject") == l.srvIP {
			if n, _ := r.Int("distinct_ports"); n >= 12 {
				dst = r
			}
		}
	}
	if dst.Type == "" {
		t.Errorf("no summary of %s with the scanned ports", l.srvIP)
	} else if n, _ := dst.Int("refused"); n < 11 {
		t.Errorf("summary %s: want at least 11 refused attempts", dst.AppendJSON(nil))
	}
	gateway := 0
	for _, r := range recs {
		if r.Type == "NET.SUMMARY" && r.Str("kind") == "gateway" {
			if _, ok := r.Int("kernel_drops"); !ok {
				t.Errorf("gateway summary without kernel drops: %s", r.AppendJSON(nil))
			}
			gateway++
		}
	}
	if gateway == 0 {
		t.Error("no gateway summaries")
	}
}

// startIn starts vigil in a network namespace.
func startIn(t *testing.T, ns string, args ...string) *proc {
	t.Helper()
	l := &netLab{}
	return startCmd(t, l.command(ns, vigilBin, args...))
}

// command runs a program in a namespace as the process itself (nsenter
// execs it; ip netns exec would stay as its parent and keep signals from
// it).
// daemon starts prog in namespace ns for the rest of the test, keeping
// its output to show if the test fails.
func (l *netLab) daemon(t *testing.T, ns, prog string, args ...string) {
	t.Helper()
	cmd := l.command(ns, prog, args...)
	var out vigilproc.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", prog, out.String())
		}
	})
}

func (l *netLab) command(ns, prog string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--", prog}, args...)...)
}

// TestNetsensorToBus reads a capture the test writes (a handshake, a
// refused and an unanswered attempt) and publishes the records to a
// running `vigil up`, where the API finds them by the server's address.
func TestNetsensorToBus(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "three.pcap")
	writeCapture(t, capture, [][]byte{
		segment(t, "192.0.2.10", 40000, "10.9.0.3", 80, "S"),
		segment(t, "10.9.0.3", 80, "192.0.2.10", 40000, "SA"),
		segment(t, "192.0.2.10", 40000, "10.9.0.3", 80, "A"),
		segment(t, "192.0.2.10", 40001, "10.9.0.3", 81, "S"),
		segment(t, "10.9.0.3", 81, "192.0.2.10", 40001, "RA"),
		segment(t, "192.0.2.10", 40002, "10.9.0.3", 82, "S"),
	})
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	start(t, "up", "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort),
		"--data", filepath.Join(dir, "data"), "--no-agent")
	waitHTTP(t, base+"/healthz", 10*time.Second)
	out, code := run(t, "", "netsensor", "--pcap", capture, "--id", "gw-test", "--bus", fmt.Sprintf("nats://127.0.0.1:%d", busPort), "--bus-identity", filepath.Join(dir, "data", "bus", "sensor.json"),
		"--spool-dir", filepath.Join(dir, "spool"))
	if code != 0 {
		t.Fatalf("netsensor exit %d:\n%s", code, out)
	}
	var conns, sums []event.Event
	testutil.WaitFor(t, 10*time.Second, "the records in the store", func() bool {
		conns = getEvents(t, base+"/api/events?ip=10.9.0.3&type=NET.CONN")
		sums = getEvents(t, base+"/api/events?ip=10.9.0.3&type=NET.SUMMARY")
		return len(conns) == 3 && len(sums) > 0
	})
	outcomes := map[string]string{}
	for _, c := range conns {
		outcomes[c.Str("dport")] = c.Str("outcome")
		if c.Source != "gw-test" {
			t.Errorf("record from %q, want gw-test", c.Source)
		}
	}
	if outcomes["80"] != "established" || outcomes["81"] != "refused" || outcomes["82"] != "unanswered" {
		t.Errorf("outcomes by port %v", outcomes)
	}
}

// segment crafts an Ethernet frame with a TCP segment; flags as tcpdump
// writes them (S, SA, RA, A ...).
func segment(t *testing.T, src string, sport uint16, dst string, dport uint16, flags string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 1024, Seq: 1,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), RST: strings.Contains(flags, "R")}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeCapture writes frames to a pcap file, 10 ms apart.
func writeCapture(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, fr := range frames {
		ts = ts.Add(10 * time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
			t.Fatal(err)
		}
	}
}
