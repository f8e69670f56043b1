package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/engine/signature"
)

// TestRunSignature runs the benchmark small and checks that every phase
// handled every event, that all the rules compiled and some reported,
// and that the engine built state; it asserts nothing about speed.
func TestRunSignature(t *testing.T) {
	var progress bytes.Buffer
	res, err := RunSignature(SignatureOptions{Rules: 50, Events: 20_000, Pool: 10_000, Keys: 2000, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rules != 50 || res.Engine.Rules != 50 || res.MatchRules+res.ThresholdRules+res.SequenceRules != 50 ||
		res.ThresholdRules == 0 || res.SequenceRules == 0 {
		t.Errorf("rules: %+v", res)
	}
	if len(res.Phases) != 3 {
		t.Fatalf("phases %+v", res.Phases)
	}
	for _, p := range res.Phases {
		if p.Events != 20_000 || p.Rate <= 0 || p.Seconds <= 0 {
			t.Errorf("phase %+v", p)
		}
		if !strings.Contains(progress.String(), p.Name) {
			t.Errorf("progress lacks %s", p.Name)
		}
	}
	if res.Engine.Events != 20_000 || res.Engine.Reports == 0 || res.Reports.Rules == 0 ||
		res.Reports.Match+res.Reports.Threshold+res.Reports.Sequence != res.Engine.Reports {
		t.Errorf("engine %+v, reports %+v", res.Engine, res.Reports)
	}
	if res.Engine.Groups == 0 || res.Sources < 1000 || res.Ratio <= 0 || res.MonitorRatio <= 0 {
		t.Errorf("result %+v", res)
	}
}

// TestGenRulesCompile checks that the full generated rule set compiles,
// with the kinds in their shares.
func TestGenRulesCompile(t *testing.T) {
	text, kinds := genRules(1000, 7)
	rs, err := signature.Parse("bench.yaml", []byte(text), signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, k := range kinds {
		n[k]++
	}
	if len(rs.Rules) != 1000 || n["match"] != 700 || n["threshold"] != 200 || n["sequence"] != 100 {
		t.Errorf("%d rules compiled, kinds %v", len(rs.Rules), n)
	}
}
