package host

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// TestStatAgreesWithProcfs reads every process of this machine with both
// parsers.
func TestStatAgreesWithProcfs(t *testing.T) {
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Skip("no /proc on this machine")
	}
	procs, err := fs.AllProcs()
	if err != nil {
		t.Fatal(err)
	}
	r := newStatReader("/proc")
	compared := 0
	for _, p := range procs {
		want, err1 := p.Stat()
		got, err2 := r.read(p.PID)
		again, err3 := p.Stat()
		if err1 != nil || err2 != nil || err3 != nil {
			continue // exited meanwhile
		}
		if got.PID != want.PID || got.Start != want.Starttime {
			t.Errorf("pid %d: got %+v, procfs reads %+v", p.PID, got, want)
		}
		// A process may rename itself (kernel workers do, by the work
		// they run) or be re-parented between two reads: a difference
		// in name or parent counts only if it holds across five tries
		// whose before and after reads agree.
		for try := 0; ; try++ {
			if want.Comm != again.Comm || want.PPID != again.PPID ||
				(got.Name == want.Comm && got.PPID == want.PPID) {
				break
			}
			if try == 4 {
				t.Errorf("pid %d: name %q parent %d, procfs reads %q %d", p.PID, got.Name, got.PPID, want.Comm, want.PPID)
				break
			}
			want, err1 = p.Stat()
			got, err2 = r.read(p.PID)
			again, err3 = p.Stat()
			if err1 != nil || err2 != nil || err3 != nil {
				break
			}
		}
		// State and memory change from one moment to the next (a process
		// can sleep and wake between two reads and be back by a third):
		// a difference counts only if it holds across five tries.
		for try := 0; ; try++ {
			if want.State != again.State || want.RSS != again.RSS ||
				(got.State == want.State && got.RSS == uint64(want.ResidentMemory())) {
				break
			}
			if try == 4 {
				t.Errorf("pid %d: state %s rss %d, procfs reads %s %d", p.PID, got.State, got.RSS, want.State, want.ResidentMemory())
				break
			}
			want, err1 = p.Stat()
			got, err2 = r.read(p.PID)
			again, err3 = p.Stat()
			if err1 != nil || err2 != nil || err3 != nil {
				break
			}
		}
		if d := got.CPU - want.CPUTime(); d > 0.05 || d < -0.05 { // read moments apart
			t.Errorf("pid %d: cpu %v vs %v", p.PID, got.CPU, want.CPUTime())
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no process compared")
	}
	if _, err := r.read(1 << 30); err != errVanished {
		t.Errorf("a missing process: %v", err)
	}
}

func TestParseStatHostileNames(t *testing.T) {
	page := uint64(os.Getpagesize())
	for _, name := range []string{"a b", "x) S 1 2", "((", ")", "", "名前"} {
		line := "4242 (" + name + ") R 7 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 9999 10000000 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
		p, err := parseStat([]byte(line), page)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if p.Name != name || p.PID != 4242 || p.PPID != 7 || p.State != "R" || p.CPU != 2 || p.Start != 9999 || p.RSS != 256*page {
			t.Errorf("%q: %+v", name, p)
		}
	}
	for _, bad := range []string{"", "4242", "4242 (x)", "4242 (x) R 7", "x (y) R 7 " + strings.Repeat("1 ", 30), "1 (x) R notanumber " + strings.Repeat("1 ", 30)} {
		if _, err := parseStat([]byte(bad), page); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (systemd) S 0 1 1 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 9 10000000 256 18446744073709551615\n"))
	f.Add([]byte("7 (a) b) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseStat(data, 4096)
		if err == nil && p.CPU < 0 {
			t.Fatalf("negative CPU from %q", data)
		}
	})
}
