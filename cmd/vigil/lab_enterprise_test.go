package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/lab"
)

// TestLabEnterprise runs `vigil lab enterprise --fast --json` (as root,
// with Debian's apache2, postfix, nmap, curl, ncat and iproute2) and
// checks issue 19's acceptance, scenario by scenario: (a) the round-robin
// doorknob rattling is reported by the enterprise and by no domain; (b)
// the enterprise reports the web attack spreading from domain 1 to domain
// 2, sensitises domain 3, and domain 3 reports the first attempt against
// it; (c) the enterprise reports aggregate degradation no domain reports
// alone; (d) domain 2's killed monitor is lost at the enterprise within
// three heartbeats, alive again after its restart, and every report it
// made is at the enterprise; (e) across the 10 s cut of domain 1's leaf
// link, domain 1 keeps analysing and the enterprise catches up with every
// report it made. The lab takes well under four minutes and leaves no
// namespace behind.
func TestLabEnterprise(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 3 minutes")
	}
	if err := lab.CheckEnterprise(); err != nil {
		t.Skipf("cannot run the enterprise lab here: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	before := labNames("ve")
	cmd := exec.Command(vigilBin, "lab", "enterprise", "--fast", "--json", "--dir", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	var res lab.EnterpriseResult
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("vigil lab enterprise: %v; its output is not the outcome: %v\nprogress:\n%s\noutput:\n%s", err, jerr, stderr.String(), stdout.String())
	}
	var summary bytes.Buffer
	if serr := res.WriteSummary(&summary); serr != nil {
		t.Fatal(serr)
	}
	t.Logf("vigil lab enterprise --fast --json: %v\nprogress:\n%s\nsummary:\n%s", took.Round(time.Second), stderr.String(), summary.String())
	assertNothingLeft(t, "ve", before)
	if len(res.Missing) > 0 {
		t.Errorf("the hierarchy is missing parts: %s", strings.Join(res.Missing, "; "))
	}
	if took > 4*time.Minute {
		t.Errorf("the lab took %v with --fast, want under 4 minutes", took.Round(time.Second))
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		s := res.Scenario(id)
		if s == nil {
			t.Errorf("no scenario (%s) in the outcome", id)
			continue
		}
		if len(s.Checks) == 0 {
			t.Errorf("(%s) %s: no checks", id, s.Name)
		}
		for _, c := range s.Checks {
			if !c.OK {
				t.Errorf("(%s) %s: %s: %s", id, s.Name, c.What, c.Detail)
			}
		}
		if !s.Passed {
			t.Errorf("(%s) %s did not pass: %s", id, s.Name, s.Outcome)
		}
	}
	// The measured bounds the acceptance names.
	if d := res.Scenario("d"); d != nil {
		if v, ok := d.Timings["lost_after_kill"]; !ok || v > 4 {
			t.Errorf("(d) lost %v s after the kill, want within three heartbeats of 1 s (and one more)", v)
		}
	}
	if e := res.Scenario("e"); e != nil {
		if v := e.Timings["cut"]; v < 9 || v > 12 {
			t.Errorf("(e) the cut lasted %v s, want 10 s", v)
		}
	}
	if err != nil && res.Passed {
		t.Errorf("vigil lab enterprise failed although every scenario passed: %v", err)
	}
	if !res.Passed && err == nil {
		t.Error("vigil lab enterprise exited 0 although a scenario failed")
	}
}
