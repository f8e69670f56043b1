package track

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// BenchmarkHandle feeds M3 and M4 a mixed stream over 2,000 hosts.
func BenchmarkHandle(b *testing.B) {
	ms := mustLoad(b, "m3.yaml", "m4.yaml")
	e := New(ms, Options{})
	types := []string{event.TypeSysCPU, event.TypeSysProcsGrowth, event.TypeSysDiskIO, event.TypeProcCPU, event.TypeNIDSAlert, event.TypeSysNetRX, event.TypeProcSpawn}
	evs := make([]event.Event, 1<<14)
	for i := range evs {
		ip := fmt.Sprintf("10.0.%d.%d", i%2000/256, i%2000%256)
		evs[i] = event.Event{ID: fmt.Sprint(i), Type: types[(i*7919)%len(types)], IP: ip}
		if evs[i].Type == event.TypeNIDSAlert {
			evs[i].Attrs = map[string]any{"dst": ip}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := evs[i%len(evs)]
		ev.Time = t0.Add(time.Duration(i) * 50 * time.Microsecond)
		e.Handle(&ev, func(Report) {})
	}
}
