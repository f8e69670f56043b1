package sensitise

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/engine/profile"
	"github.com/vigil-ids/vigil/internal/engine/signature"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/resolver/action"
	"github.com/vigil-ids/vigil/internal/testutil"
	"github.com/vigil-ids/vigil/internal/testutil/bustest"
)

// BenchmarkSensitiseRoundTrip measures a sensitise method's Execute, from
// the asking monitor to the reply of a real monitor (its signature engine
// turning a standby group on) over a real embedded bus on loopback, each
// followed by an Undo (not timed). It reports the p50 and p99 of Execute.
func BenchmarkSensitiseRoundTrip(b *testing.B) {
	s, mon, _ := bustest.StartLocal(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(svcRules), 0o600); err != nil {
		b.Fatal(err)
	}
	engines := engine.NewRegistry()
	for _, f := range []engine.Factory{signature.Factory(), profile.Factory()} {
		if err := engines.Register(f); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := config.Load([]byte(svcResource), filepath.Join(dir, "svc.yml"), config.Registries{Engines: engines})
	if err != nil {
		b.Fatal(err)
	}
	clk := clock.NewManual(t0)
	svc, err := monitor.New(context.Background(), monitor.Options{Config: cfg, Engines: engines, Conn: bustest.ConnectAs(b, s, mon, "svc"),
		DataDir: b.TempDir(), Clock: clk, Logger: testutil.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-svc.Ready()
	dom := bustest.ConnectAs(b, s, mon, "dom")
	arm := build(b, "  - {kind: sensitise, name: arm, monitor: svc, engine: signatures, action: enable-group, parameters: {group: exfiltration}}\n", action.Deps{Request: dom.Request})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		req := action.Request{ID: fmt.Sprint("dec-", i), Time: t0, Subject: action.Subject{Host: "web-1"}}
		start := time.Now()
		out, err := arm.Execute(context.Background(), req)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := arm.(action.Undoer).Undo(context.Background(), req, out); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
