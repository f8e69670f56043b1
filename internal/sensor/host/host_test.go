package host

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// base is a quiet host: three processes of a web server and a shell.
func base() treeSpec {
	return treeSpec{
		procs: []procSpec{
			{pid: 1, ppid: 0, comm: "systemd", utime: 500, stime: 300, start: 1, rssPages: 3000},
			{pid: 100, ppid: 1, comm: "httpd", utime: 1000, stime: 200, start: 500, rssPages: 2560},
			{pid: 101, ppid: 100, comm: "httpd", utime: 50, stime: 10, start: 600, rssPages: 2560},
			{pid: 200, ppid: 1, comm: "bash", utime: 5, stime: 5, start: 700, rssPages: 1000},
			{pid: 999, unreadable: true},
		},
		cpuBusy: 100000, cpuIdle: 900000,
		memTotalKB: 16 << 20, memAvailKB: 12 << 20,
		rx: 1 << 30, tx: 1 << 29, reads: 10000, writes: 20000,
		tcpEstablished: 10, tcpListen: 3, udp: 4,
	}
}

// scenario is the DMZ story in miniature, one tree every 4 s: quiet, quiet,
// then httpd (101) starts burning CPU and forks a shell, then the shell is
// gone, httpd's memory jumps, 30 processes and 80 connections appear, and
// the system's CPU, memory, disk and network all jump.
func scenario() []treeSpec {
	s0 := base()
	s1 := base()
	s1.cpuBusy += 4000
	s1.cpuIdle += 36000
	for i := range s1.procs {
		s1.procs[i].utime += 2
	}
	s1.rx += 100 << 10
	s1.tx += 100 << 10
	s1.reads += 40
	s1.writes += 40

	s2 := s1
	s2.procs = append([]procSpec(nil), s1.procs...)
	s2.cpuBusy += 40000
	s2.cpuIdle += 40000
	s2.procs[2].utime += 380 // 95% of one CPU over 4 s
	s2.procs = append(s2.procs, procSpec{pid: 300, ppid: 101, comm: "sh", state: "R", start: 900, rssPages: 300, utime: 1})
	s2.rx += 100 << 10
	s2.tx += 100 << 10
	s2.reads += 40
	s2.writes += 40

	s3 := s2
	s3.procs = append([]procSpec(nil), s2.procs[:len(s2.procs)-1]...) // the shell exits
	s3.procs[2].utime += 380
	s3.procs[2].rssPages += 25600 // +100 MB
	for i := range 30 {
		s3.procs = append(s3.procs, procSpec{pid: 400 + i, ppid: 100, comm: "worker", start: 1000, rssPages: 100})
	}
	s3.cpuBusy += 76000
	s3.cpuIdle += 4000
	s3.memAvailKB = 4 << 20
	s3.rx += 400 << 20
	s3.tx += 40 << 20
	s3.reads += 4000
	s3.writes += 8000
	s3.tcpEstablished += 80
	return []treeSpec{s0, s1, s2, s3}
}

// runScenario feeds the scenario's trees to an agent with a manual clock
// and returns what it reported, one JSON line per observation, with the
// caller's uid (which depends on who runs the test) written as UID.
func runScenario(t *testing.T, cfg EvalConfig) []string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "proc")
	clk := clock.NewManual(t0)
	var sink bytes.Buffer
	var agent *Agent
	var lines []string
	for _, spec := range scenario() {
		// The same root, rewritten: processes that exited disappear.
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		writeTree(t, root, spec)
		if agent == nil {
			ex, err := NewExtractor(root, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Executable = func(pid int) string { return fmt.Sprintf("/usr/sbin/prog-%d", pid) }
			cfg.UID = ex.UID
			agent = NewAgent(AgentOptions{
				Extractor: ex, Eval: cfg, HostID: "web-3", IP: "10.0.0.3", Sink: NewJSONSink(&sink),
				IDs: event.NewSeededIDs(42), Logger: slog.New(slog.DiscardHandler),
			})
		}
		evs, err := agent.Step(clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if uid, ok := ev.Int("uid"); ok {
				if int(uid) != os.Getuid() {
					t.Errorf("uid %d, want the owner of the fixture, %d", uid, os.Getuid())
				}
				ev.Attrs["uid"] = "UID"
			}
			lines = append(lines, string(ev.AppendJSON(nil)))
		}
		clk.Advance(4 * time.Second)
	}
	if got := strings.Count(sink.String(), "\n"); got != len(lines) {
		t.Errorf("the sink got %d lines, the agent returned %d observations", got, len(lines))
	}
	return lines
}

// TestScenarioGolden pins what the agent reports for the scenario.
func TestScenarioGolden(t *testing.T) {
	lines := runScenario(t, EvalConfig{Window: 2})
	testutil.Golden(t, filepath.Join("testdata", "scenario.golden.jsonl"), []byte(strings.Join(lines, "\n")+"\n"))

	types := map[string]int{}
	for _, l := range lines {
		ev, err := event.DecodeJSON([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		types[ev.Type]++
		switch ev.Type {
		case event.TypeProcSpawn:
			if pid, _ := ev.Int("pid"); pid == 300 && (ev.Str("name") != "sh" || ev.Str("parent_name") != "httpd" || ev.Str("ppid") != "101" || ev.Str("exe") != "/usr/sbin/prog-300") {
				t.Errorf("spawn %s", l)
			}
		case event.TypeProcCPU:
			if v, _ := ev.Num("value"); ev.Str("pid") != "101" || v < 90 || v > 100 {
				t.Errorf("cpu %s", l)
			}
		}
		if ev.Host != "web-3" || ev.IP != "10.0.0.3" || ev.Source != "agent" || len(ev.ID) != event.IDLen {
			t.Errorf("entity %s", l)
		}
	}
	for _, typ := range event.HostTypes() {
		if types[typ] == 0 {
			t.Errorf("the scenario produced no %s; got %v", typ, types)
		}
	}
}

// TestMonitoredSet checks --procs and --exclude.
func TestMonitoredSet(t *testing.T) {
	tests := []struct {
		procs, exclude []string
		want           []string // process names in PROC.* observations
	}{
		{nil, nil, []string{"httpd", "sh", "worker"}},
		{[]string{"httpd", "bash", "sh"}, nil, []string{"httpd", "sh"}},
		{nil, []string{"worker", "sh"}, []string{"httpd"}},
		{[]string{"bash"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.procs, tc.exclude), func(t *testing.T) {
			names := map[string]bool{}
			for _, l := range runScenario(t, EvalConfig{Window: 2, Procs: tc.procs, Exclude: tc.exclude}) {
				ev, _ := event.DecodeJSON([]byte(l))
				if event.IsProcessLevel(ev.Type) {
					names[ev.Str("name")] = true
				}
			}
			var got []string
			for n := range names {
				got = append(got, n)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("process observations name %v, want %v", got, tc.want)
			}
		})
	}
}

// TestExtractor checks one snapshot of a fixture tree, and that a process
// directory without its files (a process that exited while read) is
// skipped without complaint while an unreadable table is reported once.
func TestExtractor(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, base())
	var logs bytes.Buffer
	ex, err := NewExtractor(root, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ex.Snapshot(t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Procs) != 4 {
		t.Fatalf("%d processes, want 4 (the vanished one skipped)", len(s.Procs))
	}
	httpd := s.Procs[1]
	if httpd.Name != "httpd" || httpd.PID != 100 || httpd.PPID != 1 || httpd.CPU != 12 || httpd.RSS != 2560*uint64(os.Getpagesize()) || httpd.Start != 500 {
		t.Errorf("httpd %+v", httpd)
	}
	if s.MemTotal != 16<<30 || s.MemAvailable != 12<<30 || s.BootTime != 1764000000 {
		t.Errorf("memory %d %d boot %d", s.MemTotal, s.MemAvailable, s.BootTime)
	}
	if s.CPUBusy != 1000 || s.CPUTotal != 10000 {
		t.Errorf("cpu %v of %v", s.CPUBusy, s.CPUTotal)
	}
	if len(s.Net) != 1 || s.Net[0].Name != "eth0" || s.Net[0].RxBytes != 1<<30 {
		t.Errorf("net %+v (loopback must be left out)", s.Net)
	}
	if s.DiskReads != 10000 || s.DiskWrites != 20000 {
		t.Errorf("disk %d/%d (partitions and loop devices must be left out)", s.DiskReads, s.DiskWrites)
	}
	if s.TCPInUse != 13 || s.TCPTimeWait != 2 || s.UDPInUse != 4 || s.ActiveSockets() != 17 {
		t.Errorf("sockets: tcp %d (tw %d) udp %d", s.TCPInUse, s.TCPTimeWait, s.UDPInUse)
	}
	if st := ex.TCPStates(); st["ESTABLISHED"] != 10 || st["LISTEN"] != 3 {
		t.Errorf("TCP states %v", st)
	}
	if uid := ex.UID(100); uid != os.Getuid() {
		t.Errorf("uid %d", uid)
	}
	if logs.Len() != 0 {
		t.Errorf("complaints about a normal tree: %s", logs.String())
	}
	// A table that cannot be parsed is reported once, not every sample.
	if err := os.WriteFile(filepath.Join(root, "net", "tcp"), []byte("garbage\nnot a socket line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ex.TCPStates()
	}
	if n := strings.Count(logs.String(), "net/tcp"); n != 1 {
		t.Errorf("the unreadable table was reported %d times:\n%s", n, logs.String())
	}
	hostID, ip := Identity(root)
	if hostID == "" {
		t.Error("no host id")
	}
	_ = ip // the default route of the fixture names eth0, which this machine may lack
}

func TestWindow(t *testing.T) {
	w := newWindow(3)
	if w.len() != 0 || w.avg() == w.avg() { // NaN when empty
		t.Fatal("empty window")
	}
	for i, v := range []float64{1, 2, 3, 4, 5} {
		w.push(v)
		want := map[int]float64{0: 1, 1: 1.5, 2: 2, 3: 3, 4: 4}[i]
		if w.avg() != want {
			t.Errorf("after %v: avg %v, want %v", v, w.avg(), want)
		}
	}
	th := Threshold{Abs: 10, Rel: 0.5}
	for _, tc := range []struct {
		v, avg float64
		want   bool
	}{{15, 4, true}, {14, 4, false}, {40, 25, true}, {37, 25, false}, {5, 10, false}} {
		if got := th.exceeds(tc.v, tc.avg); got != tc.want {
			t.Errorf("exceeds(%v, %v) = %v", tc.v, tc.avg, got)
		}
	}
}
