package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchHierarchyFast runs `vigil bench hierarchy --fast --json` (ten
// service monitors, two domains and an enterprise, then the ten services
// into one flat monitor) and checks that the figures hold together: every
// observation offered became one service report and one report at the
// top in both phases, nothing lost, latencies positive and ordered, the
// ratios present, the heartbeats of the hierarchy's 13 monitors counted,
// and every probe answered.
func TestBenchHierarchyFast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two embedded buses and 24 monitors")
	}
	out, code := run(t, "", "bench", "hierarchy", "--fast", "--json", "--log-level", "error", "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var res struct {
		Services int `json:"services"`
		Domains  int `json:"domains"`
		Phases   []struct {
			Name           string  `json:"name"`
			Monitors       int     `json:"monitors"`
			Offered        int     `json:"offered"`
			ServiceReports int     `json:"service_reports"`
			Delivered      int     `json:"delivered"`
			Lost           int     `json:"lost"`
			Rate           float64 `json:"reports_per_s"`
			P50            int64   `json:"p50_ns"`
			P99            int64   `json:"p99_ns"`
			Max            int64   `json:"max_ns"`
		} `json:"phases"`
		RateRatio  float64 `json:"rate_hierarchy_over_flat"`
		P99Ratio   float64 `json:"p99_hierarchy_over_flat"`
		Heartbeats struct {
			Monitors     int     `json:"monitors"`
			Messages     int     `json:"messages"`
			MessagesPerS float64 `json:"messages_per_s"`
			BytesPerS    float64 `json:"bytes_per_s"`
		} `json:"heartbeats"`
		Probes []struct {
			From   string `json:"from"`
			Via    string `json:"via"`
			To     string `json:"to"`
			Kind   string `json:"kind"`
			N      int    `json:"n"`
			Failed int    `json:"failed"`
			P50    int64  `json:"p50_ns"`
			P99    int64  `json:"p99_ns"`
		} `json:"probes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if res.Services != 10 || res.Domains != 2 || len(res.Phases) != 2 {
		t.Fatalf("result %+v", res)
	}
	for i, want := range []struct {
		name     string
		monitors int
	}{{"hierarchy", 13}, {"flat", 11}} {
		p := res.Phases[i]
		if p.Name != want.name || p.Monitors != want.monitors {
			t.Errorf("phase %d: %s with %d monitors, want %s with %d", i, p.Name, p.Monitors, want.name, want.monitors)
		}
		if p.Offered != 400 || p.ServiceReports != 400 || p.Delivered != 400 || p.Lost != 0 || p.Rate <= 0 {
			t.Errorf("%s: offered %d, service reports %d, at the top %d, lost %d, rate %v", p.Name, p.Offered, p.ServiceReports, p.Delivered, p.Lost, p.Rate)
		}
		if p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
			t.Errorf("%s: p50 %d p99 %d max %d", p.Name, p.P50, p.P99, p.Max)
		}
	}
	if res.RateRatio <= 0 || res.P99Ratio <= 0 {
		t.Errorf("ratios %v %v", res.RateRatio, res.P99Ratio)
	}
	if hb := res.Heartbeats; hb.Monitors != 13 || hb.Messages < 13 || hb.MessagesPerS <= 0 || hb.BytesPerS <= hb.MessagesPerS {
		t.Errorf("heartbeats %+v", hb)
	}
	if len(res.Probes) != 6 {
		t.Fatalf("probes %+v", res.Probes)
	}
	for _, p := range res.Probes {
		below, ok := map[string]string{"ent": "dom-", "dom-00": "svc-"}[p.From]
		if p.Via != "" {
			below, ok = "svc-", p.From == "ent" && p.Via == "dom-00"
		}
		if !ok || !strings.HasPrefix(p.To, below) || p.N != 20 || p.Failed != 0 || p.P50 <= 0 || p.P99 < p.P50 {
			t.Errorf("probe %+v", p)
		}
	}
}
