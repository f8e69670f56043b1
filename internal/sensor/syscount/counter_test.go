//go:build linux && amd64

package syscount

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

var (
	nrWrite, _   = event.SyscallNr("write")
	nrGetppid, _ = event.SyscallNr("getppid")
)

// openCounter opens a counter for a test, skipping with the reason when
// this machine cannot run it.
func openCounter(t testing.TB, o Options) *Counter {
	t.Helper()
	if o.Host == "" {
		o.Host = "test-host"
	}
	c, err := Open(o)
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// buildCaller compiles testdata/caller.c into dir under name (the name
// becomes the process name), skipping when there is no C compiler.
func buildCaller(t testing.TB, dir, name string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Skip("skipped: no C compiler (gcc or cc) to build the test's caller program")
		}
	}
	out := filepath.Join(dir, name)
	if b, err := exec.Command(cc, "-O1", "-o", out, "testdata/caller.c").CombinedOutput(); err != nil {
		t.Fatalf("building the caller: %v\n%s", err, b)
	}
	return out
}

// collector drains a counter every period in the background and keeps
// every vector it returns.
type collector struct {
	c     *Counter
	mu    sync.Mutex
	vecs  []event.CountVector
	stats []IntervalStats
	stop  chan struct{}
	done  chan error
}

func collect(c *Counter, period time.Duration) *collector {
	k := &collector{c: c, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-k.stop:
				k.done <- nil
				return
			case <-t.C:
			}
			if err := k.drain(); err != nil {
				k.done <- err
				return
			}
		}
	}()
	return k
}

func (k *collector) drain() error {
	vs, st, err := k.c.Drain()
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.vecs = append(k.vecs, vs...)
	k.stats = append(k.stats, st)
	k.mu.Unlock()
	return nil
}

// finish stops the background drains and drains once more, so that every
// system call made before finish was called is in k.vecs.
func (k *collector) finish(t testing.TB) {
	t.Helper()
	close(k.stop)
	if err := <-k.done; err != nil {
		t.Fatal(err)
	}
	if err := k.drain(); err != nil {
		t.Fatal(err)
	}
}

// sums adds up the vectors of each pid.
func (k *collector) sums() map[int32]*pidSum {
	out := map[int32]*pidSum{}
	for _, v := range k.vecs {
		s := out[v.PID]
		if s == nil {
			s = &pidSum{counts: map[uint16]uint64{}}
			out[v.PID] = s
		}
		s.vectors++
		s.names = append(s.names, v.Process)
		s.exe = v.Exe
		for _, c := range v.Counts {
			s.counts[c.Nr] += c.Count
		}
	}
	return out
}

type pidSum struct {
	vectors int
	names   []string
	exe     string
	counts  map[uint16]uint64
}

func TestExactCounts(t *testing.T) {
	c := openCounter(t, Options{Interval: 100 * time.Millisecond})
	caller := buildCaller(t, t.TempDir(), "vigil-exact")
	cases := []struct {
		name                    string
		writes, getppids, pause int
		phases                  int
	}{
		{"one burst", 1000, 5000, 0, 1},
		{"across intervals", 30001, 250003, 120, 4},
		{"no writes", 0, 77777, 30, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := collect(c, 50*time.Millisecond)
			cmd := exec.Command(caller, fmt.Sprint(tc.writes), fmt.Sprint(tc.getppids), fmt.Sprint(tc.pause), fmt.Sprint(tc.phases))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("caller: %v %s", err, out)
			}
			k.finish(t)
			s := k.sums()[int32(cmd.Process.Pid)]
			if s == nil {
				t.Fatalf("no vector for the caller (pid %d) in %d vectors", cmd.Process.Pid, len(k.vecs))
			}
			if got := s.counts[nrWrite]; got != uint64(tc.writes) {
				t.Errorf("write: counted %d, made %d", got, tc.writes)
			}
			if got := s.counts[nrGetppid]; got != uint64(tc.getppids) {
				t.Errorf("getppid: counted %d, made %d", got, tc.getppids)
			}
			if tc.phases > 1 && s.vectors < 2 {
				t.Errorf("a caller living %d ms gave %d vectors, want at least 2", tc.pause*tc.phases, s.vectors)
			}
			if !namedAfterExec(s.names, "vigil-exact") {
				t.Errorf("named %q, want vigil-exact", s.names)
			}
			// The executable is read from /proc while the process lives:
			// a caller that outlives a drain has it.
			if tc.phases > 1 && s.exe != caller {
				t.Errorf("executable %q, want %s", s.exe, caller)
			}
			var lost uint64
			for _, st := range k.stats {
				lost += st.Lost + st.Missed
			}
			if lost != 0 {
				t.Errorf("%d system calls lost", lost)
			}
		})
	}
}

func TestIntervalsTileTime(t *testing.T) {
	c := openCounter(t, Options{Interval: 100 * time.Millisecond})
	k := collect(c, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	k.finish(t)
	for i := 1; i < len(k.stats); i++ {
		prev, st := k.stats[i-1], k.stats[i]
		if !prev.Start.Add(prev.Interval).Equal(st.Start) {
			t.Fatalf("interval %d starts at %v, the one before ends at %v", i, st.Start, prev.Start.Add(prev.Interval))
		}
	}
	for _, v := range k.vecs {
		if err := v.Validate(); err != nil {
			t.Fatalf("vector of %d (%s): %v", v.PID, v.Process, err)
		}
	}
}

func TestShortLivedProcessKeepsItsName(t *testing.T) {
	c := openCounter(t, Options{Interval: 100 * time.Millisecond})
	caller := buildCaller(t, t.TempDir(), "vigil-brief")
	k := collect(c, time.Second) // the process is gone long before a drain
	start := time.Now()
	cmd := exec.Command(caller, "3", "5", "50")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caller: %v %s", err, out)
	}
	lived := time.Since(start)
	k.finish(t)
	s := k.sums()[int32(cmd.Process.Pid)]
	if s == nil {
		t.Fatalf("the process that lived %v was not counted", lived)
	}
	if len(s.names) != 1 || s.names[0] != "vigil-brief" {
		t.Errorf("named %q, want vigil-brief", s.names)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil && c.exec == nil {
		t.Error("the kernel has BTF, but the program noting executables did not load")
	}
	if c.exec != nil && s.exe != caller {
		t.Errorf("executable %q, want %s (noted at exec)", s.exe, caller)
	}
	if s.counts[nrWrite] != 3 || s.counts[nrGetppid] != 5 {
		t.Errorf("counted write %d, getppid %d; want 3, 5", s.counts[nrWrite], s.counts[nrGetppid])
	}
	var exits uint64
	for _, st := range k.stats {
		exits += st.Exits
	}
	if exits == 0 {
		t.Error("no exit noticed")
	}
}

func TestThousandProcessesAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: starts 1000 processes")
	}
	const n = 1000
	c := openCounter(t, Options{Interval: 200 * time.Millisecond})
	caller := buildCaller(t, t.TempDir(), "vigil-many")
	k := collect(c, 100*time.Millisecond)
	cmds := make([]*exec.Cmd, n)
	gates := make([]io.WriteCloser, n)
	for i := range cmds {
		cmds[i] = exec.Command(caller, "0", fmt.Sprint(100+i), "0", "1", "1")
		var err error
		if gates[i], err = cmds[i].StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmds[i].Start(); err != nil {
			for _, c := range cmds[:i] {
				c.Process.Kill()
				c.Wait()
			}
			t.Fatalf("starting caller %d: %v", i, err)
		}
	}
	for _, g := range gates { // let them all go
		g.Close()
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	k.finish(t)
	sums := k.sums()
	missing, wrong := 0, 0
	for i, cmd := range cmds {
		s := sums[int32(cmd.Process.Pid)]
		switch {
		case s == nil:
			missing++
		case s.counts[nrGetppid] != uint64(100+i) || !namedAfterExec(s.names, "vigil-many"):
			wrong++
			if wrong < 4 {
				t.Errorf("caller %d (pid %d): getppid %d named %q, want %d vigil-many", i, cmd.Process.Pid, s.counts[nrGetppid], s.names, 100+i)
			}
		}
	}
	if missing > 0 || wrong > 0 {
		t.Errorf("of %d processes, %d not counted, %d counted wrong", n, missing, wrong)
	}
}

func TestFullMapLossIsCounted(t *testing.T) {
	c := openCounter(t, Options{Interval: time.Hour, MapEntries: 16})
	caller := buildCaller(t, t.TempDir(), "vigil-fill")
	// More (process, system call) pairs than the map holds.
	for range 8 {
		if out, err := exec.Command(caller, "10", "10").CombinedOutput(); err != nil {
			t.Fatalf("caller: %v %s", err, out)
		}
	}
	_, st, err := c.Drain()
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries > 16 {
		t.Errorf("drained %d entries from a map of 16", st.Entries)
	}
	if st.Lost == 0 {
		t.Errorf("map full but no loss counted (%+v)", st)
	}
	// The next interval starts empty: nothing lost is counted twice.
	_, st2, err := c.Drain()
	if err != nil {
		t.Fatal(err)
	}
	if st2.Lost >= st.Lost && st2.Entries >= 16 {
		t.Errorf("second interval %+v after %+v", st2, st)
	}
}

func TestFilterByProcessName(t *testing.T) {
	c := openCounter(t, Options{Interval: time.Hour, Procs: []string{"vigil-kept"}})
	dir := t.TempDir()
	kept := buildCaller(t, dir, "vigil-kept")
	other := buildCaller(t, dir, "vigil-other")
	for _, p := range []string{kept, other} {
		if out, err := exec.Command(p, "1", "1").CombinedOutput(); err != nil {
			t.Fatalf("caller: %v %s", err, out)
		}
	}
	vs, st, err := c.Drain()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Process != "vigil-kept" {
		var names []string
		for _, v := range vs {
			names = append(names, v.Process)
		}
		t.Errorf("vectors of %q, want only vigil-kept", names)
	}
	if st.Processes < 2 {
		t.Errorf("%d processes counted, want at least the 2 callers", st.Processes)
	}
}

// TestUnprivileged runs Open in a process without capabilities and checks
// that it says what is missing.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("VIGIL_SYSCOUNT_OPEN") == "1" {
		_, err := Open(Options{Host: "h"})
		fmt.Println("ERR:", err)
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to start a process as another user")
	}
	dir, err := os.MkdirTemp("", "vigil-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "syscount.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnprivileged$")
	cmd.Env = append(os.Environ(), "VIGIL_SYSCOUNT_OPEN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := string(out)
	for _, want := range []string{"system call counter unavailable", "missing CAP_BPF, CAP_PERFMON", "uid 65534", "setcap cap_bpf,cap_perfmon+ep"} {
		if !strings.Contains(got, want) {
			t.Errorf("unprivileged Open said %q; want it to mention %q", got, want)
		}
	}
}

// namedAfterExec tells whether a process's names, interval by interval,
// end with want and are otherwise this test's own name: a child counted
// between fork and exec is still this program.
func namedAfterExec(names []string, want string) bool {
	self := filepath.Base(os.Args[0])
	if len(self) > 15 {
		self = self[:15]
	}
	for i, n := range names {
		if n != want && (n != self || i == len(names)-1) {
			return false
		}
	}
	return len(names) > 0
}
