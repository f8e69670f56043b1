package classify

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// FuzzObserve hands the engine whatever valid count vectors the bytes
// decode to (any pid, name, time, interval, system call numbers and
// counts), several per input: it never panics, keeps its bounds, and
// every report it makes is valid.
func FuzzObserve(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, b := range []string{"nginx", "sshd", "nongrata:miner"} {
		v := vectorOf(rng, "web1", 7, "nginx", t0, one(b))
		f.Add(v.AppendCompact(nil), uint8(12))
	}
	odd := event.CountVector{Host: "h", PID: 1 << 30, Process: "x", Start: t0, Interval: 1500 * time.Millisecond,
		Counts: []event.SyscallCount{{Nr: 0, Count: 1 << 62}, {Nr: event.MaxSyscallNr, Count: 1 << 62}}}
	f.Add(odd.AppendCompact(nil), uint8(30))
	f.Fuzz(func(t *testing.T, data []byte, repeat uint8) {
		v, err := event.DecodeCountVectorCompact(data)
		if err != nil {
			return
		}
		e := newTestEngine(t, Options{MaxProcesses: 3, Stride: 1})
		emit := func(r event.Report) {
			r.Monitor = "m"
			if err := r.Validate(); err != nil {
				t.Fatalf("invalid report %+v: %v", r, err)
			}
		}
		for i := range int(repeat) {
			w := v
			w.PID = v.PID + int32(i%5)
			w.Start = v.Start.Add(time.Duration(i) * v.Interval)
			e.Observe(&w, emit)
		}
		if s := e.Stats(); s.Processes > 3 {
			t.Fatalf("%d processes followed, bound 3", s.Processes)
		}
	})
}
