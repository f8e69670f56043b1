// Package cvtest makes synthetic system call count vectors and recordings
// of them for the process classifier's tests: each class of process has a
// behaviour, the share of each system call in its calls, and its vectors
// are drawn around it.
package cvtest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// Behaviour is the share of each system call number in a process's calls.
type Behaviour map[uint16]float64

// Behaviours of the synthetic classes. Numbers are x86-64's: read 0,
// write 1, close 3, poll 7, mmap 9, nanosleep 35, getpid 39, sendto 44,
// recvfrom 45, clone 56, getppid 110, epoll_wait 232, openat 257; 450 is
// beyond the features a model keeps of them (the recordings never use it
// in training, so it counts as "other").
var Behaviours = map[string]Behaviour{
	"nginx":            {0: 0.30, 1: 0.30, 232: 0.25, 3: 0.10, 257: 0.05},
	"sshd":             {0: 0.20, 1: 0.20, 7: 0.40, 56: 0.10, 9: 0.10},
	"postgres":         {44: 0.30, 45: 0.30, 0: 0.15, 257: 0.15, 3: 0.10},
	"cron":             {35: 0.70, 257: 0.10, 3: 0.10, 0: 0.10},
	"nongrata:miner":   {39: 0.90, 9: 0.05, 0: 0.05},
	"nongrata:getppid": {110: 0.97, 1: 0.02, 0: 0.01},
}

// Hosts are the hosts of WriteRecordings.
var Hosts = []string{"host1", "host2", "host3"}

// Vector draws one count vector of behaviour b, about rate calls.
func Vector(rng *rand.Rand, host string, pid int32, name string, start time.Time, b Behaviour, rate float64) event.CountVector {
	v := event.CountVector{Host: host, PID: pid, Process: name, Exe: "/usr/sbin/" + name, Start: start, Interval: time.Second}
	nrs := make([]uint16, 0, len(b))
	for nr := range b {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	for _, nr := range nrs {
		n := uint64(b[nr]*rate*(0.7+0.6*rng.Float64()) + 0.5)
		if n > 0 {
			v.Counts = append(v.Counts, event.SyscallCount{Nr: nr, Count: n})
		}
	}
	return v
}

// Vectors draws n consecutive one-second vectors of one process: each
// mostly its behaviour b, mixed with up to 25% of another class's (a
// process does other things now and then), so that a model is not always
// sure.
func Vectors(rng *rand.Rand, host string, pid int32, name string, t0 time.Time, n int, b Behaviour) []event.CountVector {
	names := make([]string, 0, len(Behaviours))
	for n := range Behaviours {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]event.CountVector, n)
	for i := range out {
		other := Behaviours[names[rng.IntN(len(names))]]
		w := 0.25 * rng.Float64()
		mix := Behaviour{}
		for nr, q := range b {
			mix[nr] += (1 - w) * q
		}
		for nr, q := range other {
			mix[nr] += w * q
		}
		out[i] = Vector(rng, host, pid, name, t0.Add(time.Duration(i)*time.Second), mix, 50+150*rng.Float64())
	}
	return out
}

// T0 is when the recordings begin.
var T0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// WriteRecordings writes a recordings directory (docs/CLASSIFIER-DATA.md)
// under dir: hosts/<host>.jsonl for each of Hosts, with two processes of
// each known class recorded for seconds, and nongrata/<tool>.jsonl for
// each non-grata class, recorded on host1. It returns dir.
func WriteRecordings(t testing.TB, dir string, seconds int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	names := make([]string, 0, len(Behaviours))
	for n := range Behaviours {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, sub := range []string{"hosts", "nongrata"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for hi, h := range Hosts {
		var vs []event.CountVector
		pid := int32(1000 * (hi + 1))
		for _, n := range names {
			if len(n) > 9 && n[:9] == "nongrata:" {
				continue
			}
			for range 2 {
				pid++
				vs = append(vs, Vectors(rng, h, pid, n, T0, seconds, Behaviours[n])...)
			}
		}
		write(t, filepath.Join(dir, "hosts", h+".jsonl"), vs)
	}
	for _, n := range names {
		if len(n) <= 9 || n[:9] != "nongrata:" {
			continue
		}
		var vs []event.CountVector
		for p := range int32(2) {
			vs = append(vs, Vectors(rng, "host1", 9000+p, "tool", T0, seconds, Behaviours[n])...)
		}
		write(t, filepath.Join(dir, "nongrata", n[9:]+".jsonl"), vs)
	}
	return dir
}

func write(t testing.TB, path string, vs []event.CountVector) {
	t.Helper()
	slices.SortStableFunc(vs, func(a, b event.CountVector) int { return a.Start.Compare(b.Start) })
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscalls.WriteVectors(f, vs); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
