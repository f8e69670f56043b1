package health

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/clock"
)

func TestBoard(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	b := New(clk, slog.New(slog.DiscardHandler))
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collectors()...)
	gauge := func(cond string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if cond == "" && mf.GetName() == "vigil_healthy" {
					return m.GetGauge().GetValue()
				}
				if mf.GetName() == "vigil_health_condition" && len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == cond {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no gauge for %q", cond)
		return -1
	}

	if b.Err() != nil || b.InputErr() != nil || len(b.Conditions()) != 0 || gauge("") != 1 {
		t.Fatalf("a new board is not healthy: %v %v %v", b.Err(), b.InputErr(), b.Conditions())
	}
	if n := testutil.CollectAndCount(prometheus.Collector(reg), "vigil_health_condition"); n != len(Known) {
		t.Errorf("%d condition gauges, want %d", n, len(Known))
	}

	b.Set(StoreStalled, "10 items wait", false)
	clk.Advance(time.Second)
	b.Set(JetStream, "write error: no space left on device", true)
	clk.Advance(time.Second)
	b.Set(JetStream, "JetStream is disabled", true) // a new reason keeps Since
	cs := b.Conditions()
	if len(cs) != 2 || cs[0].Name != JetStream || cs[1].Name != StoreStalled || !cs[0].Since.Equal(t0.Add(time.Second)) || cs[0].Reason != "JetStream is disabled" {
		t.Errorf("conditions %+v", cs)
	}
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "jetstream: JetStream is disabled") || !strings.Contains(err.Error(), "store_stalled: 10 items wait") {
		t.Errorf("Err %v", err)
	}
	if err := b.InputErr(); err == nil || strings.Contains(err.Error(), "store_stalled") || !strings.Contains(err.Error(), "jetstream") {
		t.Errorf("InputErr %v names other than the blocking condition", err)
	}
	if gauge("") != 0 || gauge(JetStream) != 1 || gauge(StoreStalled) != 1 || gauge(StoreWrite) != 0 {
		t.Errorf("gauges: healthy %v jetstream %v stalled %v store_write %v", gauge(""), gauge(JetStream), gauge(StoreStalled), gauge(StoreWrite))
	}

	b.Clear(JetStream)
	if b.InputErr() != nil || b.Err() == nil || b.Holds(JetStream) {
		t.Errorf("after clearing jetstream: input %v, all %v", b.InputErr(), b.Err())
	}
	b.Clear(StoreStalled)
	b.Clear(StoreStalled) // clearing what does not hold is nothing
	if b.Err() != nil || gauge("") != 1 || gauge(JetStream) != 0 {
		t.Errorf("after clearing all: %v", b.Err())
	}
}
