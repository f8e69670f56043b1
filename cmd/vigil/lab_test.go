package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/lab"
)

// TestLabDMZ runs `vigil lab dmz --fast --json` (as root, with Debian's
// apache2, apache2-utils and nmap) and checks what holds of seed 000's
// experiment so far: no server leaves green before the scan, the flooded
// host 3 is the one whose M3 score rises highest, and the lab leaves no
// namespace behind.
func TestLabDMZ(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 90 s")
	}
	if err := lab.Check(); err != nil {
		t.Skipf("cannot run the lab here: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(vigilBin, "lab", "dmz", "--fast", "--json", "--dir", dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vigil lab dmz: %v\n%s", err, out)
	}
	var res lab.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("timeline:\n%s", strings.Join(res.Timeline, "\n"))
	h3 := res.Hosts["host3"]
	if h3 == nil {
		t.Fatalf("no host3 in %s", out)
	}
	for name, h := range res.Hosts {
		if h.LeftGreenBeforeScan {
			t.Errorf("%s left green before the scan", name)
		}
		if name != "host3" && h.MaxScore >= h3.MaxScore {
			t.Errorf("%s's M3 score %.2f is not below the flooded host 3's %.2f", name, h.MaxScore, h3.MaxScore)
		}
	}
	if h3.YellowAfter == nil || res.Table2["host3"]["PROC.SPAWN"] == 0 {
		t.Errorf("host 3 never reached yellow, or its spawns were not observed: %+v %v", h3, res.Table2)
	}
	if ns, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(ns), "vl") {
		t.Errorf("namespaces left behind: %s", ns)
	}
	_ = os.Remove(dir)
}
