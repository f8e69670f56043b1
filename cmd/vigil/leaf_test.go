package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestLeafLinkCutAcrossNamespaces runs a domain and its enterprise as two
// sites would be: each `vigil up` in a network namespace of its own,
// joined by a veth pair and nothing else. The domain's bus (JetStream
// domain dom1) dials out to the enterprise's leaf port with a monitor
// certificate from `vigil pki`; the enterprise's monitor subscribes to the
// domain monitor's reports in domain dom1. Reports flow; then the link is
// cut (the domain's end of the veth set down) while the domain keeps
// analysing and reporting; once the link is back the enterprise's store
// holds every report exactly once.
func TestLeafLinkCutAcrossNamespaces(t *testing.T) {
	needTools(t, "ip", "nsenter", "curl")
	pid := os.Getpid()
	n := pid%200 + 20
	eNS, dNS := fmt.Sprintf("lf-e-%d", pid), fmt.Sprintf("lf-d-%d", pid)
	eIf, dIf := fmt.Sprintf("lfe%d", pid), fmt.Sprintf("lfd%d", pid)
	eIP, dIP := fmt.Sprintf("10.%d.252.1", n), fmt.Sprintf("10.%d.252.2", n)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", eNS).Run()
		_ = exec.Command("ip", "netns", "del", dNS).Run()
	})
	sh(t, "ip", "netns", "add", eNS)
	sh(t, "ip", "netns", "add", dNS)
	sh(t, "ip", "link", "add", eIf, "netns", eNS, "type", "veth", "peer", "name", dIf, "netns", dNS)
	for _, side := range []struct{ ns, ifname, ip string }{{eNS, eIf, eIP}, {dNS, dIf, dIP}} {
		sh(t, "ip", "-n", side.ns, "addr", "add", side.ip+"/30", "dev", side.ifname)
		sh(t, "ip", "-n", side.ns, "link", "set", side.ifname, "up")
		sh(t, "ip", "-n", side.ns, "link", "set", "lo", "up")
	}

	// The CA; the enterprise bus's certificate for its address; the
	// domain's monitor certificate, its identity on the enterprise's bus.
	dir := t.TempDir()
	ca := filepath.Join(dir, "pki")
	if out, code := run(t, "", "pki", "init", "--dir", ca); code != 0 {
		t.Fatalf("pki init: exit %d\n%s", code, out)
	}
	for _, name := range []string{eIP, "dom1"} {
		if out, code := run(t, "", "pki", "issue", "--dir", ca, "--role", "monitor", "--name", name); code != 0 {
			t.Fatalf("pki issue %s: exit %d\n%s", name, code, out)
		}
	}
	issued := func(name, ext string) string { return filepath.Join(ca, "issued", name+ext) }
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The enterprise: its bus on loopback for its own monitor, its leaf
	// port on the veth address with mutual TLS.
	entCfg := write("enterprise.yaml", fmt.Sprintf(`monitor: {name: ent, layer: enterprise}
subscriptions:
  - {monitor: dom1, domain: dom1}
server:
  listen: 127.0.0.1:4222
  tls: {cert: %s, key: %s, client_ca: %s, crl: %s}
  jetstream: {domain: ent}
  leaf: {listen: "%s:7422"}
`, issued(eIP, ".crt"), issued(eIP, ".key"), filepath.Join(ca, "ca.crt"), filepath.Join(ca, "crl.pem"), eIP))
	// The domain: a monitor whose rule reports every probe event, its bus
	// on loopback, dialling the enterprise (no inbound port).
	write("rules.yaml", `rules:
  - id: leaf-probe
    title: A probe event
    severity: red
    suppress: 0s
    match: {type: PROC.SPAWN, where: {name: leafprobe}}
    report: "probe {pid} on {host}"
`)
	domCfg := write("domain.yaml", fmt.Sprintf(`monitor: {name: dom1, layer: domain}
sources:
  - {name: observations, subjects: ["vigil.obs.>"], delivery: durable}
engines:
  - {kind: signature, name: signatures, rules: [rules.yaml]}
server:
  listen: 127.0.0.1:4222
  jetstream: {domain: dom1}
  leaf:
    remotes:
      - url: nats-leaf://%s:7422
        tls: {ca: %s, cert: %s, key: %s, crl: %s}
`, eIP, filepath.Join(ca, "ca.crt"), issued("dom1", ".crt"), issued("dom1", ".key"), filepath.Join(ca, "crl.pem")))

	api := "http://127.0.0.1:8080"
	ent := startIn(t, eNS, "up", "--config", entCfg, "--listen", "127.0.0.1:8080", "--data", filepath.Join(dir, "ent-data"), "--no-agent")
	domData := filepath.Join(dir, "dom-data")
	dom := startIn(t, dNS, "up", "--config", domCfg, "--listen", "127.0.0.1:8080", "--data", domData, "--no-agent")
	for _, s := range []struct {
		ns, what string
		p        *proc
	}{{eNS, "enterprise", ent}, {dNS, "domain", dom}} {
		testutil.WaitFor(t, 20*time.Second, "the "+s.what+"'s API", func() bool {
			return exec.Command("ip", "netns", "exec", s.ns, "curl", "-sf", "-o", "/dev/null", api+"/healthz").Run() == nil
		})
	}
	// The API answers a moment before the banner is written: the banners
	// are read once whole.
	for _, p := range []*proc{ent, dom} {
		testutil.WaitFor(t, 10*time.Second, "the whole banner", func() bool { return strings.Contains(p.Out.String(), "Press Ctrl-C to stop.") })
	}
	if out := ent.Out.String(); !strings.Contains(out, "leaf:       JetStream domain ent; accepting leaf nodes on nats-leaf://"+eIP+":7422") {
		t.Errorf("the enterprise's banner does not say it accepts leaf nodes:\n%s", out)
	}
	if out := dom.Out.String(); !strings.Contains(out, "leaf:       JetStream domain dom1; leaf node of nats-leaf://"+eIP+":7422") {
		t.Errorf("the domain's banner does not say whom it joins:\n%s", out)
	}
	testutil.WaitFor(t, 20*time.Second, "the domain's leaf link up", func() bool { return strings.Contains(dom.Out.String(), "leaf link up") })

	next := 0
	probe := func(count int) {
		t.Helper()
		var b strings.Builder
		for i := 0; i < count; i++ {
			next++
			fmt.Fprintf(&b, `{"type":"PROC.SPAWN","host":"srv-1","ip":"10.9.0.1","attrs":{"name":"leafprobe","pid":%d}}`+"\n", next)
		}
		out, code := runIn(t, dNS, b.String(), "ingest", "events", "--bus", "nats://127.0.0.1:4222",
			"--bus-identity", filepath.Join(domData, "bus", "sensor.json"), "-")
		if code != 0 {
			t.Fatalf("ingest in the domain: exit %d\n%s", code, out)
		}
	}
	reports := func() (total, distinct int) {
		evs := nsEvents(t, eNS, api+"/api/events?type=REPORT&limit=10000")
		ids := map[string]bool{}
		for _, ev := range evs {
			if ev.Str("monitor") == "dom1" {
				total++
				ids[ev.ID] = true
			}
		}
		return total, len(ids)
	}

	probe(20)
	testutil.WaitFor(t, 20*time.Second, "the domain's first reports at the enterprise", func() bool { total, _ := reports(); return total >= 20 })

	// The cut: the domain's end of the link goes down. The domain keeps
	// analysing; its reports wait in its own stream.
	sh(t, "ip", "-n", dNS, "link", "set", dIf, "down")
	cut := time.Now()
	probe(30)
	testutil.WaitFor(t, 20*time.Second, "the domain to log the link lost", func() bool { return strings.Contains(dom.Out.String(), "leaf link lost") })
	t.Logf("the domain noticed the cut within %v", time.Since(cut).Round(100*time.Millisecond))
	probe(10)
	if total, _ := reports(); total != 20 {
		t.Errorf("the enterprise holds %d of the domain's reports during the cut, want the 20 from before", total)
	}
	sh(t, "ip", "-n", dNS, "link", "set", dIf, "up")
	back := time.Now()
	testutil.WaitFor(t, 30*time.Second, "every report at the enterprise after the link is back", func() bool { total, _ := reports(); return total >= 60 })
	t.Logf("the enterprise caught up %v after the link came back (cut for %v)", time.Since(back).Round(100*time.Millisecond), back.Sub(cut).Round(100*time.Millisecond))
	testutil.WaitFor(t, 20*time.Second, "the domain to log the link back", func() bool {
		return strings.Count(dom.Out.String(), "leaf link up") >= 2
	})
	time.Sleep(time.Second) // a doubled report would show by now
	if total, distinct := reports(); total != 60 || distinct != 60 {
		t.Errorf("the enterprise's store holds %d of the domain's reports (%d distinct), want each of the 60 exactly once", total, distinct)
	}
	for _, p := range []*proc{dom, ent} {
		if _, err := p.Stop(t, 15*time.Second); err != nil {
			t.Errorf("vigil up on SIGTERM: %v", err)
		}
	}
	if t.Failed() || os.Getenv("LEAF_TEST_LOG") != "" {
		t.Logf("domain:\n%s\nenterprise:\n%s", dom.Out.String(), ent.Out.String())
	}
}
