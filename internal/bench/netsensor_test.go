package bench

import (
	"context"
	"path/filepath"
	"testing"
)

// TestRunNetsensor runs the benchmark small: a flood capture written by
// the benchmark itself is looped, then the flood run must hold the flow
// table at its bound.
func TestRunNetsensor(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a few hundred thousand packets")
	}
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.pcap")
	if err := writeFlood(seed, 1000); err != nil {
		t.Fatal(err)
	}
	res, err := RunNetsensor(context.Background(), NetBenchOptions{Pcaps: []string{seed}, Packets: 20_000, Flood: 300_000, Dir: dir, Tcpdump: ""})
	if err != nil {
		t.Fatal(err)
	}
	// 1000 packets a copy: 20 copies.
	if res.Packets != 20_000 || res.PacketsPerS <= 0 || res.TcpdumpMissing == "" {
		t.Errorf("looped run %+v", res)
	}
	// The 20,000 attempts all go to one server, whose record budget
	// (1000 an interval by default) holds back most records: some, not
	// all, come out.
	if res.Records < 1000 || res.Records >= 20_000 {
		t.Errorf("%d records from 20,000 unanswered SYNs to one server", res.Records)
	}
	f := res.Flood
	if f == nil {
		t.Fatal("no flood run")
	}
	if f.FlowBound <= 0 || f.MaxFlows > f.FlowBound || f.FlowsEvicted == 0 && f.Sources > f.FlowBound {
		t.Errorf("flood run %+v: the table must stay within its bound, evicting", f)
	}
}
