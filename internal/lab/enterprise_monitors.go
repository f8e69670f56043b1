package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-ids/vigil/configs"
)

// The enterprise lab's monitors and sensors: their resource objects,
// starting them (and starting one again), waiting for them.

// domainConfig is domain d's monitor: its layer and parent, its own bus
// on the domain's network with mutual TLS and its own JetStream domain,
// dialling out to the enterprise's bus as a leaf node with the domain
// monitor's certificate; the gateway pack over its observations, every
// report published (the enterprise keeps those it subscribes to).
func (e *entLab) domainConfig(d int) (string, error) {
	name := domainName(d)
	analysis, err := domainAnalysis()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`# Domain %[1]s of vigil lab enterprise (written by the lab).
monitor:
  name: %[1]s
  layer: domain
  parent: %[2]s
  heartbeat: {interval: %[3]s}
server:
  listen: %[4]s:4222
  tls:
    cert: %[5]s
    key: %[6]s
    client_ca: %[7]s
    crl: %[8]s
  jetstream: {domain: %[1]s}
  leaf:
    remotes:
      - url: tls://%[9]s:7422
        tls: {ca: %[7]s, cert: %[10]s, key: %[11]s, crl: %[8]s}
%[12]s`, name, entName, entHeartbeat, e.busIP(d), e.certFile(e.busIP(d)), e.keyFile(e.busIP(d)),
		filepath.Join(e.pki, "ca.crt"), filepath.Join(e.pki, "crl.pem"), e.entIP(),
		e.certFile(name), e.keyFile(name), analysis), nil
}

// entConfig is the enterprise monitor: the domains are its children,
// whose heartbeats it watches and whose reports it subscribes to where
// they are stored (each domain's JetStream domain, across the leaf link);
// its bus accepts the domains' leaf nodes with mutual TLS.
func (e *entLab) entConfig() (string, error) {
	analysis, err := entAnalysis()
	if err != nil {
		return "", err
	}
	var subs strings.Builder
	var children []string
	for d := 1; d <= entDomains; d++ {
		fmt.Fprintf(&subs, "  - {monitor: %[1]s, domain: %[1]s, min_severity: green}\n", domainName(d))
		children = append(children, domainName(d))
	}
	return fmt.Sprintf(`# The enterprise monitor of vigil lab enterprise (written by the lab).
monitor:
  name: %[1]s
  layer: enterprise
  children: [%[2]s]
  heartbeat: {interval: %[3]s, lost_after: %[4]d}
server:
  listen: %[5]s:4222
  tls:
    cert: %[6]s
    key: %[7]s
    client_ca: %[8]s
    crl: %[9]s
  jetstream: {domain: %[1]s}
  leaf:
    listen: %[5]s:7422
subscriptions:
%[10]s%[11]s`, entName, strings.Join(children, ", "), entHeartbeat, entLostAfter, e.entIP(), e.certFile(e.entIP()), e.keyFile(e.entIP()),
		filepath.Join(e.pki, "ca.crt"), filepath.Join(e.pki, "crl.pem"), subs.String(), analysis), nil
}

// domainAnalysis is what a domain monitor analyses, and entAnalysis what
// the enterprise does with the domains' reports: the sections of the
// shipped configs/domain.yaml and configs/enterprise.yaml other than the
// monitor's identity, bus and subscriptions, which the lab writes. A
// binary without them runs the gateway pack in the domains and keeps the
// domains' reports at the enterprise.
func domainAnalysis() (string, error) {
	return shippedAnalysis("domain.yaml", `sources:
  - name: observations
    subjects: ["vigil.obs.>"]
    delivery: durable
engines:
  - kind: signature
    name: gateway-signatures
    rules: ["builtin:gateway.yaml"]
resolver: {publish: true, min_severity: green}
`)
}

func entAnalysis() (string, error) {
	return shippedAnalysis("enterprise.yaml", "resolver: {publish: true, min_severity: green}\n")
}

// labOwned are the sections of a resource object the lab writes itself.
var labOwned = map[string]bool{"monitor": true, "server": true, "bus": true, "subscriptions": true}

// shippedAnalysis is the shipped resource object name less the sections
// the lab writes, or fallback when the binary has none of that name.
func shippedAnalysis(name, fallback string) (string, error) {
	data, ok := configs.Shipped(name)
	if !ok {
		return fallback, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("the shipped configs/%s: %w", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("the shipped configs/%s is not a mapping", name)
	}
	m := doc.Content[0]
	kept := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !labOwned[m.Content[i].Value] {
			kept.Content = append(kept.Content, m.Content[i], m.Content[i+1])
		}
	}
	out, err := yaml.Marshal(kept)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("# From the shipped configs/%s:\n%s", name, out), nil
}

// startMonitors writes every monitor's resource object and account and
// starts it, one after the other: the domains, then the enterprise, whose
// subscriptions reach the domains' streams across their leaf links.
func (e *entLab) startMonitors() error {
	mons := []string{}
	for d := 1; d <= entDomains; d++ {
		mons = append(mons, domainName(d))
	}
	mons = append(mons, entName)
	for _, mon := range mons {
		if err := os.MkdirAll(e.monDir(mon), 0o755); err != nil {
			return err
		}
		var conf string
		var err error
		if mon == entName {
			conf, err = e.entConfig()
		} else {
			var d int
			fmt.Sscanf(mon, "d%d", &d)
			conf, err = e.domainConfig(d)
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(e.monConfig(mon), []byte(conf), 0o644); err != nil {
			return err
		}
		if e.pw == "" {
			pw, err := labAccount(e.o.Vigil, e.monData(mon), e.o.Dir)
			if err != nil {
				return err
			}
			e.pw = pw
		} else if err := addLabAccount(e.o.Vigil, e.monData(mon), e.pw); err != nil {
			return err
		}
	}
	// The hierarchy the four declare together (parents, children,
	// subscriptions and their JetStream domains) is checked first.
	files := make([]string, 0, len(mons))
	for _, mon := range mons {
		files = append(files, e.monConfig(mon))
	}
	if out, err := exec.Command(e.o.Vigil, append([]string{"check"}, files...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("vigil check of the lab's resource objects: %w: %s", err, strings.TrimSpace(string(out)))
	}
	for _, mon := range mons {
		logName := "mon-" + mon
		for try := 1; ; try++ {
			if err := e.startMonitor(mon, logName); err != nil {
				return err
			}
			err := e.waitMonitor(mon, logName)
			if err == nil {
				break
			}
			// A monitor that ended at its start is started again, a few
			// times, and the lab says so: the enterprise's subscriptions
			// need the domains' streams, which it reaches once their leaf
			// nodes have joined its bus; a domain's monitor may lose a
			// stream it was making to a JetStream restart under load.
			if !errors.Is(err, errExited) || try == 5 {
				return err
			}
			logName = fmt.Sprintf("mon-%s-try%d", mon, try+1)
			e.step("monitor %s ended at its start (%v); starting it again", mon, e.lastLine("mon-"+mon, try))
			if err := sleep(context.Background(), time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// lastLine is the last line of the log of a monitor's try.
func (e *entLab) lastLine(base string, try int) string {
	name := base
	if try > 1 {
		name = fmt.Sprintf("%s-try%d", base, try)
	}
	b, err := os.ReadFile(filepath.Join(e.o.Dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func (e *entLab) monConfig(mon string) string { return filepath.Join(e.monDir(mon), mon+".yaml") }

// errExited says a process ended while the lab waited for it.
var errExited = errors.New("ended")

// monProc is a monitor's process and the channel closed when it ends.
type monProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startMonitor starts a monitor in its namespace, logging to logName.log.
func (e *entLab) startMonitor(mon, logName string) error {
	ipPath, err := lookPath("ip")
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(e.o.Dir, logName+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(ipPath, "netns", "exec", e.ns(monNS(mon)), e.o.Vigil, "up", "--config", e.monConfig(mon), "--no-agent", "--data", e.monData(mon),
		"--bus-listen", e.busListen(mon), "--listen", e.apiIP(mon)+":8080", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting monitor %s: %w", mon, err)
	}
	p := &monProc{cmd: cmd, exited: make(chan struct{})}
	e.mu.Lock()
	e.procs = append(e.procs, cmd)
	e.mu.Unlock()
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	e.monMu.Lock()
	e.mons[mon] = p
	e.monMu.Unlock()
	return nil
}

func (e *entLab) busListen(mon string) string {
	if mon == entName {
		return e.entIP() + ":4222"
	}
	var d int
	fmt.Sscanf(mon, "d%d", &d)
	return e.busIP(d) + ":4222"
}

// waitMonitor waits until a monitor says it is healthy and logs in to
// its API; errExited if it ends meanwhile.
func (e *entLab) waitMonitor(mon, logName string) error {
	e.monMu.Lock()
	p := e.mons[mon]
	e.monMu.Unlock()
	deadline := time.Now().Add(monitorStartLimit)
	for {
		resp, err := http.Get(e.api(mon) + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("/healthz: %s", resp.Status)
		}
		select {
		case <-p.exited:
			return e.notUp(logName, errExited)
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return e.notUp(logName, err)
		}
	}
	// Still up a moment later: a monitor can fail just after its API
	// answers (a stream it was making lost to a JetStream restart).
	select {
	case <-p.exited:
		return e.notUp(logName, errExited)
	case <-time.After(2 * time.Second):
	}
	return dashboardLogin(e.api(mon), e.pw)
}

// killMonitor kills a monitor outright (SIGKILL: no clean stop).
func (e *entLab) killMonitor(mon string) error {
	e.monMu.Lock()
	p := e.mons[mon]
	e.monMu.Unlock()
	if p == nil || p.cmd.Process == nil {
		return fmt.Errorf("no monitor %s to kill", mon)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("monitor %s did not end after SIGKILL", mon)
	}
}

// addLabAccount makes the lab's viewer account, with the password pw, in
// another monitor's data directory.
func addLabAccount(vigil, dataDir, pw string) error {
	cmd := exec.Command(vigil, "users", "add", labUser, "--role", "viewer", "--replace", "--data", dataDir)
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating the dashboard's account in %s: %w: %s", dataDir, err, out)
	}
	return nil
}

// startSensors starts domain d's network sensor on its gateway's outside
// link, publishing with its certificate to the domain's bus.
func (e *entLab) startSensors(d int) error {
	name := gatewayName(d)
	args := append([]string{e.o.Vigil, "netsensor", "--iface", e.wanIf(d), "--id", name,
		"--internal", fmt.Sprintf("10.%d.%d.0/24", e.n, d),
		"--services", fmt.Sprintf("%s:8000/tcp,%s:25/tcp", e.webIP(d), e.mailIP(d)),
		"--spool-dir", filepath.Join(e.o.Dir, name, "spool"), "--log-level", "warn"}, e.busFlags(d, name)...)
	if e.o.Fast {
		args = append(args, "--summary-interval", "5s")
	}
	_, err := e.start(fmt.Sprintf("gw%d", d), name, args...)
	return err
}
