package resolver

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// BenchmarkDecide runs reports through a decision unit of 100 policies
// (each on its own rule, counting 5 reports a minute per source address)
// in enforce mode: each report matches one policy; one in five completes
// a count and is decided (and the budget then suppresses most).
func BenchmarkDecide(b *testing.B) {
	var pol strings.Builder
	pol.WriteString("  mode: enforce\n  policies:\n")
	for i := range 100 {
		fmt.Fprintf(&pol, "    - {name: p%d, where: {engine: signatures, model: rule-%d, severity: [yellow, red]}, count: 5, within: 1m, subject: \"addr:src\", methods: [block], duration: 10m}\n", i, i)
	}
	r := newRig(b, pol.String())
	reps := make([]event.Report, 4096)
	for i := range reps {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8 & 0x0f), byte(i)})
		reps[i] = report(a.String(), "10.0.0.3", true, event.SeverityRed)
		reps[i].Model = fmt.Sprintf("rule-%d", i%100)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep := reps[i%len(reps)]
		rep.Time = r.clk.Now()
		r.unit.Decide(b.Context(), rep)
		r.clk.Advance(100 * time.Microsecond)
	}
	b.StopTimer()
	r.unit.Flush(b.Context())
}
