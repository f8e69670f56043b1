package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunBus runs every phase on a small load and checks that each one
// accounts for every event; it asserts nothing about speed.
func TestRunBus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six embedded buses")
	}
	var progress bytes.Buffer
	res, err := RunBus(context.Background(), BusOptions{
		Events: 3000, LatencyEvents: 1000, CoreRate: 2000, JetStreamRate: 2000, Hosts: 7,
		Dir: t.TempDir(), Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Phases) != 7 || res.MsgBytes < 100 {
		t.Fatalf("result %+v", res)
	}
	for _, p := range res.Phases {
		want := 3000
		if strings.HasPrefix(p.Name, "latency") {
			want = 1000
			if p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 {
				t.Errorf("%s: quantiles p50 %v p99 %v max %v", p.Name, p.P50, p.P99, p.Max)
			}
		}
		if p.Events != want || p.Lost != 0 || p.Rate <= 0 {
			t.Errorf("%s: %d events, %d lost, rate %v", p.Name, p.Events, p.Lost, p.Rate)
		}
		if strings.Contains(p.Name, "JetStream") && strings.HasPrefix(p.Name, "monitor") && p.Stored != want {
			t.Errorf("%s: stored %d of %d", p.Name, p.Stored, want)
		}
		if !strings.Contains(progress.String(), p.Name) {
			t.Errorf("progress lacks %s", p.Name)
		}
	}
}

// TestRunBusTLS runs a phase in plaintext and over TLS: both carry
// every event, and the TLS phase says its ratio to the plaintext one.
func TestRunBusTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two embedded buses")
	}
	var progress bytes.Buffer
	res, err := RunBus(context.Background(), BusOptions{
		Events: 3000, Hosts: 7, Dir: t.TempDir(), Progress: &progress, Only: "monitor stored via JetStream", TLS: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Phases) != 2 || res.Phases[0].Name != "monitor stored via JetStream" || res.Phases[1].Name != "monitor stored via JetStream TLS" {
		t.Fatalf("phases %+v", res.Phases)
	}
	for _, p := range res.Phases {
		if p.Events != 3000 || p.Stored != 3000 || p.Lost != 0 {
			t.Errorf("%s: %d events, %d stored, %d lost", p.Name, p.Events, p.Stored, p.Lost)
		}
	}
	if r := res.Phases[1].VsPlain; r <= 0 || !strings.Contains(progress.String(), "of plaintext") {
		t.Errorf("the TLS phase's ratio %v; progress:\n%s", r, progress.String())
	}
}
