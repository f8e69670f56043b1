package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSignatureTargetVerdict(t *testing.T) {
	for _, tc := range []struct {
		rate, ratio float64
		want        string
	}{
		{2e6, 3, "target (engine >= 1,000,000 events/s and >= 2x decode only): met"},
		{9e5, 3, "not met"},
		{2e6, 1.5, "not met"},
	} {
		var b bytes.Buffer
		r := SignatureResult{EngineRate: tc.rate, Ratio: tc.ratio}
		if err := r.WriteSummary(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) || r.Met() != (tc.want != "not met") {
			t.Errorf("rate %g ratio %g: %q (Met %v), want %q", tc.rate, tc.ratio, b.String(), r.Met(), tc.want)
		}
	}
}

func TestAgentSummaryPerInterval(t *testing.T) {
	r := AgentBenchResult{Measures: []AgentMeasure{
		{Subject: "vigil agent", Interval: 4 * time.Second, CPUPerSample: 10, PeakRSSMB: 20},
		{Subject: "node_exporter", Interval: 4 * time.Second, CPUPerSample: 20, PeakRSSMB: 30},
		{Subject: "vigil agent", Interval: time.Second, CPUPerSample: 6, PeakRSSMB: 20},
		{Subject: "node_exporter", Interval: time.Second, CPUPerSample: 4, PeakRSSMB: 30},
	}}
	var b bytes.Buffer
	if err := r.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "every 4s: vigil agent / node_exporter CPU per sample = 0.50") ||
		!strings.Contains(lines[1], "every 1s: vigil agent / node_exporter CPU per sample = 1.50") {
		t.Fatalf("summary:\n%s", b.String())
	}
	b.Reset()
	_ = AgentBenchResult{PeerMissing: "no node_exporter given"}.WriteSummary(&b)
	if b.String() != "peer not measured: no node_exporter given\n" {
		t.Fatalf("without the peer: %q", b.String())
	}
}

func TestBusSummarySkipsPartialRuns(t *testing.T) {
	var b bytes.Buffer
	if err := (BusResult{Phases: []Phase{{Name: "raw core pub/sub (ceiling)", Rate: 1}}}).WriteSummary(&b); err != nil || b.Len() != 0 {
		t.Fatalf("partial run wrote %q, %v", b.String(), err)
	}
}
