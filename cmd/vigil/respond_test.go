package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestBlocksSurviveSIGKILL: a monitor with an nftables method (acting in a
// network namespace of the test's own) blocks an address for an operator;
// it is killed with SIGKILL while the block is in force and an element it
// never made (an orphan) is added to its set; restarted on the same data,
// it removes the orphan, keeps the block, and the block still ends on
// time, recorded as expired.
func TestBlocksSurviveSIGKILL(t *testing.T) {
	ns := testutil.NewNetns(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("needs the nft command to look at the table (Debian nftables)")
	}
	def, err := os.ReadFile("../../configs/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ro := strings.Replace(string(def), "responses:\n", "responses:\n  - kind: nftables\n    name: block\n    netns: "+ns.Path+"\n", 1)
	if ro == string(def) {
		t.Fatal("no responses: section in configs/default.yaml")
	}
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte(ro), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	httpPort, busPort := testutil.FreePort(t), testutil.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	up := func() *proc {
		p := start(t, "up", "--config", cfg, "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--bus-listen", fmt.Sprintf("127.0.0.1:%d", busPort), "--data", data, "--agent-host-id", "sigkill-host")
		waitHTTP(t, base+"/healthz", 10*time.Second)
		return p
	}
	set := func() string {
		out, err := exec.Command("ip", "netns", "exec", ns.Name, nft, "list", "set", "inet", "vigil", "block4").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list set: %v: %s", err, out)
		}
		return string(out)
	}
	first := up()
	const blocked, orphan = "192.0.2.77", "198.18.5.5"
	out, code := run(t, "", "respond", "block", blocked, "--method", "block", "--for", "8s", "--reason", "test", "--url", base)
	if code != 0 || !strings.Contains(out, "done") {
		t.Fatalf("respond block: exit %d\n%s", code, out)
	}
	blockedAt := time.Now()
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")
	if s := set(); !strings.Contains(s, blocked) {
		t.Fatalf("the block is not in the set:\n%s", s)
	}
	if _, err := first.End(t, syscall.SIGKILL, 5*time.Second); err == nil {
		t.Log("the monitor ended cleanly under SIGKILL?")
	}
	if out, err := exec.Command("ip", "netns", "exec", ns.Name, nft, "add", "element", "inet", "vigil", "block4", "{ "+orphan+" timeout 1h }").CombinedOutput(); err != nil {
		t.Fatalf("adding the orphan: %v: %s", err, out)
	}
	up()
	testutil.WaitFor(t, 5*time.Second, "the orphan removed at start", func() bool { return !strings.Contains(set(), orphan) })
	if time.Since(blockedAt) < 7*time.Second {
		if s := set(); !strings.Contains(s, blocked) {
			t.Errorf("the block was lost in the restart:\n%s", s)
		}
	}
	testutil.WaitFor(t, 15*time.Second, "the decision expired on time", func() bool {
		resp, err := http.Get(base + "/api/responses/" + id)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var row struct {
			Status string `json:"status"`
		}
		return json.NewDecoder(resp.Body).Decode(&row) == nil && row.Status == "expired"
	})
	if late := time.Since(blockedAt); late > 12*time.Second {
		t.Errorf("expired %v after the block of 8s", late)
	}
	if s := set(); strings.Contains(s, blocked) {
		t.Errorf("the block outlived its decision:\n%s", s)
	}
}
