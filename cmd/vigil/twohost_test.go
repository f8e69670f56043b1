package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/testutil"
)

// TestEnrolledAgentAcrossNamespaces runs a monitor and a host as two
// machines would be: each in a network namespace of its own, joined by a
// veth pair and nothing else. The monitor serves its embedded bus with
// mutual TLS on its veth address and enrols hosts there; the host enrols
// with a single-use token, pinning the CA's fingerprint, and its agent's
// observations reach the monitor's store, stamped with their publisher.
// The host's key then tries to speak for another host, and the bus
// refuses it: nothing about that host reaches the monitor.
func TestEnrolledAgentAcrossNamespaces(t *testing.T) {
	needTools(t, "ip", "nsenter", "curl")
	pid := os.Getpid()
	n := pid%200 + 20
	mNS, aNS := fmt.Sprintf("vth-m-%d", pid), fmt.Sprintf("vth-a-%d", pid)
	mIf, aIf := fmt.Sprintf("vthm%d", pid), fmt.Sprintf("vtha%d", pid)
	mIP, aIP := fmt.Sprintf("10.%d.251.1", n), fmt.Sprintf("10.%d.251.2", n)
	t.Cleanup(func() {
		// Deleting a namespace deletes the veth end in it, and its peer.
		_ = exec.Command("ip", "netns", "del", mNS).Run()
		_ = exec.Command("ip", "netns", "del", aNS).Run()
	})
	sh(t, "ip", "netns", "add", mNS)
	sh(t, "ip", "netns", "add", aNS)
	sh(t, "ip", "link", "add", mIf, "netns", mNS, "type", "veth", "peer", "name", aIf, "netns", aNS)
	for _, side := range []struct{ ns, ifname, ip string }{{mNS, mIf, mIP}, {aNS, aIf, aIP}} {
		sh(t, "ip", "-n", side.ns, "addr", "add", side.ip+"/30", "dev", side.ifname)
		sh(t, "ip", "-n", side.ns, "link", "set", side.ifname, "up")
		sh(t, "ip", "-n", side.ns, "link", "set", "lo", "up")
	}

	// The CA, the bus server's certificate for its address, and host-a's
	// token, on the monitor's machine.
	dir := t.TempDir()
	ca := filepath.Join(dir, "pki")
	out, code := run(t, "", "pki", "init", "--dir", ca)
	if code != 0 {
		t.Fatalf("pki init: exit %d\n%s", code, out)
	}
	if out, code := run(t, "", "pki", "issue", "--dir", ca, "--role", "monitor", "--name", mIP); code != 0 {
		t.Fatalf("pki issue: exit %d\n%s", code, out)
	}
	out, code = run(t, "", "pki", "token", "--dir", ca, "--role", "agent", "--name", "host-a", "--log-level", "error")
	tok := regexp.MustCompile(`(?m)^token (\S+)$`).FindStringSubmatch(out)
	fp := regexp.MustCompile(`(sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	if code != 0 || tok == nil || fp == nil {
		t.Fatalf("pki token: exit %d, want the token and the CA's fingerprint\n%s", code, out)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Machine M: the monitor, its bus on the veth address with mutual
	// TLS, its API on loopback, no local agent; the enrolment server.
	cfg := filepath.Join(dir, "monitor.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`monitor:
  name: mon-1
  layer: service
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
    delivery: durable
server:
  listen: %[1]s:4222
  tls:
    cert: %[2]s
    key: %[3]s
    client_ca: %[4]s
    crl: %[5]s
`, mIP, filepath.Join(ca, "issued", mIP+".crt"), filepath.Join(ca, "issued", mIP+".key"),
		filepath.Join(ca, "ca.crt"), filepath.Join(ca, "crl.pem"))), 0o644); err != nil {
		t.Fatal(err)
	}
	api := "http://127.0.0.1:8080"
	mon := startIn(t, mNS, "up", "--config", cfg, "--listen", "127.0.0.1:8080", "--data", filepath.Join(dir, "data"), "--no-agent")
	startIn(t, mNS, "pki", "serve-enroll", "--dir", ca, "--name", mIP, "--listen", mIP+":8443")
	testutil.WaitFor(t, 20*time.Second, "the monitor's API in its namespace", func() bool {
		return exec.Command("ip", "netns", "exec", mNS, "curl", "-sf", "-o", "/dev/null", api+"/healthz").Run() == nil
	})

	// Machine A: enrolment over the veth, then the agent on the bus. The
	// agent checks the server too, against the CRL enrolment gave it
	// (bus.tls.crl in its resource object, which, like every resource
	// object, names a monitor).
	testutil.WaitFor(t, 20*time.Second, "the enrolment server, reached from the host's namespace", func() bool {
		return exec.Command("ip", "netns", "exec", aNS, "curl", "-sfk", "-o", "/dev/null", fmt.Sprintf("https://%s:8443/v1/crl", mIP)).Run() == nil
	})
	tls := filepath.Join(dir, "host-a")
	out, code = runIn(t, aNS, "", "enroll", "--server", fmt.Sprintf("https://%s:8443", mIP), "--token-file", tokenFile,
		"--ca-fingerprint", fp[1], "--name", "host-a", "--dir", tls)
	if code != 0 || !strings.Contains(out, "enrolled as host-a (role agent)") {
		t.Fatalf("enroll from the host's namespace: exit %d\n%s", code, out)
	}
	agentCfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(agentCfg, []byte(fmt.Sprintf("monitor: {name: host-a}\nbus:\n  tls:\n    ca: %s\n    crl: %s\n",
		filepath.Join(tls, "ca.crt"), filepath.Join(tls, "crl.pem"))), 0o644); err != nil {
		t.Fatal(err)
	}
	busArgs := []string{"--bus", fmt.Sprintf("tls://%s:4222", mIP), "--bus-ca", filepath.Join(tls, "ca.crt"),
		"--bus-cert", filepath.Join(tls, "host-a.crt"), "--bus-key", filepath.Join(tls, "host-a.key")}
	// Off loopback a client with a certificate refuses to start without
	// the CA's CRL.
	out, code = runIn(t, aNS, "", append([]string{"ingest", "events"}, append(busArgs, "-")...)...)
	if code != 2 || !strings.Contains(out, "without the CA's CRL") {
		t.Errorf("a client without the CRL: exit %d, want 2 and a refusal to start\n%s", code, out)
	}
	busArgs = append(busArgs, "--bus-crl", filepath.Join(tls, "crl.pem"))
	agentArgs := func(host string) []string {
		return append([]string{"agent", "--config", agentCfg, "--host-id", host, "--ip", aIP, "--interval", "300ms", "--window", "2",
			"--spool-dir", filepath.Join(dir, "spool-"+host), "--stdout=false"}, busArgs...)
	}
	agent := startIn(t, aNS, agentArgs("host-a")...)
	var seen []event.Event
	// The agent reports changes only: a quiet machine may give it nothing
	// to publish, so the test starts short processes for it to see.
	churn := processChurn(t)
	testutil.WaitFor(t, 30*time.Second, "host-a's observations in the monitor's store", func() bool {
		churn()
		seen = nsEvents(t, mNS, api+"/api/events?host=host-a")
		return len(seen) >= 3
	})
	for _, ev := range seen {
		if ev.Host != "host-a" || ev.Str("published_by") != "host-a" {
			t.Fatalf("observation of host %q published by %q, want host-a for both: %+v", ev.Host, ev.Str("published_by"), ev)
		}
	}
	if _, err := agent.Stop(t, 10*time.Second); err != nil {
		t.Errorf("the agent on SIGTERM: %v\n%s", err, agent.Out.String())
	}

	// The stolen key: host-a's certificate speaking for host-b, as a
	// one-off event and as an agent. The bus refuses each publish (the
	// certificate may publish on vigil.obs.host-a only), so nothing about
	// host-b reaches the monitor, not even to be dropped there as
	// misrouted.
	// The client logs the server's refusal as logfmt quotes it.
	refused := `Permissions Violation for Publish to \"vigil.obs.host-b\"`
	out, code = runIn(t, aNS, `{"type":"PROC.SPAWN","host":"host-b","ip":"10.0.0.9","attrs":{"name":"sh","parent_name":"httpd","pid":4242}}`+"\n",
		append(append([]string{"ingest", "events"}, busArgs...), "-")...)
	if code != 2 || !strings.Contains(out, refused) || !strings.Contains(out, "published 0 events") {
		t.Errorf("ingest of an event about host-b with host-a's key: exit %d, want 2, the refusal and nothing published\n%s", code, out)
	}
	impostor := startIn(t, aNS, agentArgs("host-b")...)
	testutil.WaitFor(t, 20*time.Second, "the bus's refusal in the impostor's log", func() bool {
		churn()
		return strings.Contains(impostor.Out.String(), refused)
	})
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if got := nsEvents(t, mNS, api+"/api/events?host=host-b"); len(got) != 0 {
			t.Fatalf("the monitor holds %d observations of host-b published with host-a's key: %+v", len(got), got)
		}
	}
	if _, err := impostor.Stop(t, 10*time.Second); err != nil {
		t.Errorf("the impostor agent on SIGTERM: %v", err)
	}
	if !strings.Contains(impostor.Out.String(), "delivered=0") {
		t.Errorf("the impostor agent delivered observations:\n%s", impostor.Out.String())
	}
	serverSaw := false
	for _, l := range strings.Split(mon.Out.String(), "\n") {
		serverSaw = serverSaw || strings.Contains(l, "user:agent:host-a") && strings.Contains(l, "Publish Violation") && strings.Contains(l, "vigil.obs.host-b")
	}
	if !serverSaw {
		t.Errorf("the monitor's bus logged no refusal of agent:host-a publishing for host-b:\n%s", mon.Out.String())
	}
	metrics := sh(t, "ip", "netns", "exec", mNS, "curl", "-sf", api+"/metrics")
	if want := `vigil_events_misrouted_total{monitor="mon-1",source="observations"} 0`; !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "vigil_events_misrouted_total"))
	}
}

// runIn runs vigil in a network namespace to its end, with stdin, and
// returns its output and exit code.
func runIn(t *testing.T, ns, stdin string, args ...string) (string, int) {
	t.Helper()
	l := &netLab{}
	cmd := l.command(ns, vigilBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("vigil %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// nsEvents reads the monitor's API from inside its namespace.
func nsEvents(t *testing.T, ns, url string) []event.Event {
	t.Helper()
	body := sh(t, "ip", "netns", "exec", ns, "curl", "-sf", url)
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("%s: %v\n%s", url, err, body)
	}
	out := make([]event.Event, len(raw))
	for i, r := range raw {
		ev, err := event.DecodeJSON(r)
		if err != nil {
			t.Fatalf("API returned an undecodable event %s: %v", r, err)
		}
		out[i] = ev
	}
	return out
}

// processChurn returns a function that, called while polling, starts a
// short process at most every half second (60 at most), so that an agent,
// which reports changes only, has something to report on a quiet machine.
func processChurn(t *testing.T) func() {
	var started []*exec.Cmd
	var last time.Time
	t.Cleanup(func() {
		for _, c := range started {
			_ = c.Wait()
		}
	})
	return func() {
		if len(started) >= 60 || time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		if c := exec.Command("sleep", "0.8"); c.Start() == nil {
			started = append(started, c)
		}
	}
}
