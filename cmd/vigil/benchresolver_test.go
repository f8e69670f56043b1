package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestBenchResolver runs a short `vigil bench resolver` and checks that
// its figures hold together: every report offered was decided on (none
// dropped) and the decisions the policies' counts call for were made
// and stored; every process action over the
// bus was executed and acknowledged by the effector; latencies are
// positive and ordered (p50 <= p99 <= max); and, as root, every nftables
// block was found in place (as another user, the part says why it was
// skipped).
func TestBenchResolver(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine: the effector names processes by their /proc entries")
	}
	out, code := run(t, "", "bench", "resolver", "--json", "--policies", "20", "--rate", "1000", "--duration", "500ms", "--sources", "50",
		"--actions", "10", "--nft-add", "300", "--nft-apply", "1000", "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if help, code := run(t, "", "bench", "resolver", "--help"); code != 0 || !strings.Contains(help, "CrowdSec") {
		t.Errorf("vigil bench resolver --help: exit %d\n%s", code, help)
	}
	if msg, code := run(t, "", "bench", "resolver", "--actions", "100000"); code != 2 || !strings.Contains(msg, "--actions 100000: at most 2000") {
		t.Errorf("too many actions: exit %d\n%s", code, msg)
	}
	var res struct {
		Decide struct {
			Policies  int            `json:"policies"`
			Offered   int            `json:"offered"`
			Decided   int            `json:"decided"`
			Dropped   int            `json:"dropped"`
			Rate      float64        `json:"reports_per_s"`
			Latency   latency        `json:"latency"`
			Decisions map[string]int `json:"decisions"`
			Stored    int            `json:"stored"`
		} `json:"decide"`
		Effect struct {
			Actions      int     `json:"actions"`
			Done         int     `json:"done"`
			Acknowledged int     `json:"acknowledged"`
			EffectorDone int     `json:"effector_done"`
			Reply        latency `json:"offer_to_reply"`
			Decided      latency `json:"offer_to_decided"`
			PeerSeconds  float64 `json:"peer_seconds"`
			PeerSource   string  `json:"peer_source"`
		} `json:"effect"`
		Nft struct {
			Skipped        string  `json:"skipped"`
			ExecuteN       int     `json:"execute_n"`
			ExecuteSeconds float64 `json:"execute_seconds"`
			AddN           int     `json:"add_n"`
			AddSeconds     float64 `json:"add_seconds"`
			ApplyN         int     `json:"apply_n"`
			ApplySeconds   float64 `json:"apply_seconds"`
			InPlace        []int   `json:"in_place"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	d := res.Decide
	if d.Policies != 20 || d.Offered != 500 || d.Decided != d.Offered || d.Dropped != 0 || d.Rate <= 0 {
		t.Errorf("decision unit: %+v; want 500 reports offered to 20 policies, all decided on, none dropped", d)
	}
	d.Latency.check(t, "decision unit", d.Decided)
	// 50 sources send 10 reports each, to the policy of their rule,
	// which decides at every 5th: 100 decisions, of which the log
	// method's default budget (30 a minute) lets 30 act and suppresses
	// the rest; all are stored.
	if d.Decisions["done"] != 30 || d.Decisions["suppressed"] != 70 || len(d.Decisions) != 2 || d.Stored != 100 {
		t.Errorf("decisions %v, %d stored; want 30 done and 70 suppressed, all stored", d.Decisions, d.Stored)
	}
	e := res.Effect
	if e.Actions != 10 || e.Done != 10 || e.Acknowledged != 10 || e.EffectorDone != 10 {
		t.Errorf("effector: %+v; want 10 actions done, acknowledged and counted by the effector", e)
	}
	e.Reply.check(t, "offer to reply", 10)
	e.Decided.check(t, "offer to decided", 10)
	if e.Reply.P50 > e.Decided.P50 || e.Reply.Max > e.Decided.Max {
		t.Errorf("the effector's reply (p50 %v, max %v µs) came after the decision was recorded (p50 %v, max %v µs)", e.Reply.P50, e.Reply.Max, e.Decided.P50, e.Decided.Max)
	}
	if e.PeerSeconds != 10 || !strings.Contains(e.PeerSource, "docs.crowdsec.net") {
		t.Errorf("peer figure %v from %q", e.PeerSeconds, e.PeerSource)
	}
	n := res.Nft
	if os.Geteuid() != 0 {
		if !strings.Contains(n.Skipped, "root") {
			t.Errorf("nftables as a user: skipped %q, want the reason", n.Skipped)
		}
		return
	}
	if n.Skipped != "" {
		t.Fatalf("nftables skipped as root: %s", n.Skipped)
	}
	if n.ExecuteN != 300 || n.AddN != 300 || n.ApplyN != 1000 || n.ExecuteSeconds <= 0 || n.AddSeconds <= 0 || n.ApplySeconds <= 0 {
		t.Errorf("nftables: %+v", n)
	}
	if len(n.InPlace) != 3 || n.InPlace[0] != 300 || n.InPlace[1] != 300 || n.InPlace[2] != 1000 {
		t.Errorf("blocks found in place %v, want [300 300 1000]", n.InPlace)
	}
}

// latency is a bench latency summary, in microseconds.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
}

func (l latency) check(t *testing.T, what string, n int) {
	t.Helper()
	if l.N != n || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("%s latency %+v: want %d samples, 0 < p50 <= p99 <= max", what, l, n)
	}
}
