package effect

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// BenchmarkSignalRoundTrip measures a process action from the method's
// Execute to the effector's reply, over a real embedded bus and a real
// effector signalling a real process (STOP and CONT in turn, so the
// process lives on), and reports the p50 and p99 latencies.
func BenchmarkSignalRoundTrip(b *testing.B) {
	request := onBus(b, func(c *config.AgentEffector) { c.Budgets = nil })
	stop := build(b, "  - {kind: process, name: stop, action: STOP}\n", action.Deps{Request: request})
	cont := build(b, "  - {kind: process, name: cont, action: CONT}\n", action.Deps{Request: request})
	child := testutil.StartChild(b, "sleep", "300")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := stop
		if i%2 == 1 {
			m = cont
		}
		req := procReq(fmt.Sprintf("b%d", i), child)
		t0 := time.Now()
		if _, err := m.Execute(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
