package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunHierarchySmall runs the hierarchy benchmark on a tiny tree (six
// service monitors, two domains, one enterprise; then the six services
// into one flat monitor): every observation offered comes back as one
// report at the top in both phases, with latencies that hold together
// and the ratios of the two phases; the hierarchy's heartbeats are
// counted and every probe (status and tracks, enterprise to domain and
// domain to service) is answered. It asserts nothing about speed.
func TestRunHierarchySmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two embedded buses and sixteen monitors")
	}
	var progress bytes.Buffer
	res, err := RunHierarchy(context.Background(), HierarchyOptions{Services: 6, Domains: 2, Rate: 120, Duration: time.Second, Dir: t.TempDir(), Progress: &progress,
		HeartbeatWindow: 3 * time.Second, Probes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Phases) != 2 || res.Phases[0].Name != "hierarchy" || res.Phases[1].Name != "flat" {
		t.Fatalf("phases %+v", res.Phases)
	}
	if res.Phases[0].Monitors != 9 || res.Phases[1].Monitors != 7 {
		t.Errorf("monitors %d and %d, want 9 (6+2+1) and 7 (6+1)", res.Phases[0].Monitors, res.Phases[1].Monitors)
	}
	for _, p := range res.Phases {
		if p.Offered != 120 || p.ServiceReports != 120 || p.Delivered != 120 || p.Lost != 0 {
			t.Errorf("%s: offered %d, service reports %d, delivered %d, lost %d", p.Name, p.Offered, p.ServiceReports, p.Delivered, p.Lost)
		}
		if p.Rate <= 0 || p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
			t.Errorf("%s: rate %v, p50 %v, p99 %v, max %v", p.Name, p.Rate, p.P50, p.P99, p.Max)
		}
		if !strings.Contains(progress.String(), p.Name) {
			t.Errorf("progress lacks %s:\n%s", p.Name, progress.String())
		}
	}
	if res.RateRatio <= 0 || res.P50Ratio <= 0 || res.P99Ratio <= 0 {
		t.Errorf("ratios %v %v %v", res.RateRatio, res.P50Ratio, res.P99Ratio)
	}
	// Nine monitors heartbeating every 2 s, counted for 3 s: at least
	// one round each, at most two and the first of a third.
	hb := res.Heartbeats
	if hb == nil || hb.Monitors != 9 || hb.ExpectedPerS != 4.5 || hb.Messages < 9 || hb.Messages > 27 || hb.BytesPerS < 50*hb.MessagesPerS || hb.IdleCPUShare <= 0 {
		t.Errorf("heartbeats %+v", hb)
	}
	if len(res.Probes) != 6 {
		t.Fatalf("probes %+v", res.Probes)
	}
	for i, want := range []struct{ from, via, to, kind string }{
		{"ent", "", "dom-00", "status"}, {"ent", "", "dom-00", "tracks"}, {"dom-00", "", "svc-000", "status"}, {"dom-00", "", "svc-000", "tracks"},
		{"ent", "dom-00", "svc-000", "status"}, {"ent", "dom-00", "svc-000", "tracks"},
	} {
		p := res.Probes[i]
		if p.From != want.from || p.Via != want.via || p.To != want.to || p.Kind != want.kind || p.N != 10 || p.Failed != 0 || p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
			t.Errorf("probe %d: %+v, want %v answered", i, p, want)
		}
	}
	var sum bytes.Buffer
	if err := res.WriteSummary(&sum); err != nil || !strings.Contains(sum.String(), "hierarchy / flat") || !strings.Contains(sum.String(), "heartbeats: 9 monitors every 2s") || !strings.Contains(sum.String(), "probe tracks  dom-00 -> svc-000") || !strings.Contains(sum.String(), "probe status  ent -> dom-00 -> svc-000") {
		t.Errorf("summary %q, %v", sum.String(), err)
	}
}
