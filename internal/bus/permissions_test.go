package bus

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/pki"
)

func TestPermissionsFor(t *testing.T) {
	agent, err := PermissionsFor(pki.RoleAgent, "web.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Permissions{
		Publish:        []string{"vigil.obs.web_1", "vigil.live.web_1", "vigil.cv.web_1", "vigil.hb.web_1"},
		Subscribe:      []string{"_INBOX.x509.agent.web_1.>", "vigil.effect.web_1", "vigil.agentctl.web_1"},
		AllowResponses: true,
	}
	if !slices.Equal(agent.Publish, want.Publish) || !slices.Equal(agent.Subscribe, want.Subscribe) || !agent.AllowResponses {
		t.Errorf("agent web.1: %+v, want %+v", agent, want)
	}

	// A monitor without a scope owns every host and has no children.
	mon, err := PermissionsFor(pki.RoleMonitor, "m1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// It configures itself only, as itself, and probes none.
	if !slices.Contains(mon.Publish, "vigil.effect.*") || !slices.Contains(mon.Publish, "vigil.report.m1") ||
		slices.ContainsFunc(mon.Publish, func(s string) bool {
			return strings.HasPrefix(s, PrefixCtl) && s != "vigil.ctl.m1.m1" || strings.HasPrefix(s, PrefixProbe)
		}) {
		t.Errorf("monitor m1 without a scope: publish %v", mon.Publish)
	}
	if !slices.Contains(mon.Subscribe, "vigil.ctl.m1.*") || !slices.Contains(mon.Subscribe, "vigil.probe.m1.*") {
		t.Errorf("monitor m1 does not take its own requests: subscribe %v", mon.Subscribe)
	}
	scoped, err := PermissionsFor(pki.RoleMonitor, "m1", map[string]MonitorScope{"m1": {Children: []string{"c1", "c.2"}, Peers: []string{"p1"}, Hosts: []string{"h1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(scoped.Publish, "vigil.probe.p1.m1") {
		t.Errorf("scoped monitor m1 probes its peer: %v", scoped.Publish)
	}
	for _, s := range []string{"vigil.ctl.c1.m1", "vigil.ctl.c_2.m1", "vigil.ctl.p1.m1", "vigil.probe.c1.m1", "vigil.probe.c_2.m1", "vigil.effect.h1", "vigil.agentctl.h1"} {
		if !slices.Contains(scoped.Publish, s) {
			t.Errorf("scoped monitor m1 may not publish on %s: %v", s, scoped.Publish)
		}
	}
	if slices.Contains(scoped.Publish, "vigil.effect.*") {
		t.Errorf("scoped monitor m1 asks every host's effector: %v", scoped.Publish)
	}

	op, err := PermissionsFor(pki.RoleOperator, "alice", nil)
	if err != nil || len(op.Publish) != 0 || op.AllowResponses {
		t.Errorf("operator: %+v, %v", op, err)
	}
	if _, err := PermissionsFor("admin", "x", nil); err == nil {
		t.Error("a role outside the table has permissions")
	}
	if _, err := PermissionsFor(pki.RoleAgent, "", nil); err == nil {
		t.Error("a certificate without a name has permissions")
	}
	// Every role the CA issues has a row.
	for _, r := range pki.Roles {
		if _, err := PermissionsFor(r, "x", nil); err != nil {
			t.Errorf("role %s: %v", r, err)
		}
	}
}

// TestPermissionsDocumented checks that docs/BUS.md shows the table the
// server applies.
func TestPermissionsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/BUS.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), PermissionsMarkdown()) {
		t.Errorf("docs/BUS.md does not hold the permission table; paste this:\n%s", PermissionsMarkdown())
	}
}
