package lab

// vigil lab enterprise: the hierarchy of issue 19 built on one machine
// with real parts. Three domains, each in network namespaces of its own
// (two servers running host agents, a web server on one and Debian's
// postfix on the other; a gateway running the network sensor on its
// outside link and the domain monitor on the domain's own embedded bus,
// JetStream domain d1, d2, d3), and an enterprise monitor in a namespace
// of its own whose bus accepts leaf-node connections, which every domain's
// bus dials out to. Every bus is mutual TLS with certificates of a CA the
// lab makes with vigil pki. An attacker and a client outside reach the
// domains through a core network; the lab's own process reaches the
// monitors' APIs over a management link to that network.
//
// The scenarios (enterprise_scenarios.go) are driven with real tools
// (nmap, SMTP against postfix, curl, tc netem, kill) and each is judged
// from the monitors' stores through their APIs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The enterprise lab's shape.
const (
	entDomains = 3
	entName    = "ent"
	// entHeartbeat is every monitor's heartbeat interval in the lab.
	entHeartbeat = time.Second
	// entLostAfter is the intervals of silence after which a child is
	// lost (the resource object's default).
	entLostAfter = 3
)

// Tools the enterprise lab needs, and the Debian packages that have them.
var enterpriseTools = map[string]string{
	"ip": "iproute2", "tc": "iproute2", "unshare": "util-linux", "apache2": "apache2", "nmap": "nmap",
	"curl": "curl", "postfix": "postfix", "ncat": "ncat",
}

// CheckEnterprise says what is missing to run vigil lab enterprise.
func CheckEnterprise() error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root: it creates network, PID and mount namespaces")
	}
	var missing []string
	for tool, pkg := range enterpriseTools {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	// Debian's postfix package makes the user its daemons run as.
	if _, err := user.Lookup("postfix"); err != nil && len(missing) == 0 {
		missing = append(missing, "the postfix user (Debian package postfix)")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// entLab is one run of the enterprise lab.
type entLab struct {
	*lab
	n   int // the second octet of every address
	pki string
	t0  time.Time
	// mons are the monitors' processes by name (d1, d2, d3, ent), so that
	// one can be killed and started again.
	monMu sync.Mutex
	mons  map[string]*monProc
	// pw is the lab's dashboard password, the same on every monitor.
	pw string
	// timeline of the run, in order.
	tlMu     sync.Mutex
	timeline []string
}

// Addresses. The core network 10.N.0.0/24 joins the gateways' outside
// links (10.N.0.i), the enterprise (.10), the attacker (.66), the client
// (.77) and the management link (.250); domain i's servers are on
// 10.N.i.0/24: web .1, mail .2, the gateway .254.
func (e *entLab) coreIP(host int) string      { return fmt.Sprintf("10.%d.0.%d", e.n, host) }
func (e *entLab) gwIP(d int) string           { return e.coreIP(d) }
func (e *entLab) lanIP(d, host int) string    { return fmt.Sprintf("10.%d.%d.%d", e.n, d, host) }
func (e *entLab) webIP(d int) string          { return e.lanIP(d, 1) }
func (e *entLab) mailIP(d int) string         { return e.lanIP(d, 2) }
func (e *entLab) busIP(d int) string          { return e.lanIP(d, 254) }
func (e *entLab) entIP() string               { return e.coreIP(10) }
func (e *entLab) atkIP() string               { return e.coreIP(66) }
func (e *entLab) cliIP() string               { return e.coreIP(77) }
func (e *entLab) mgmtIP() string              { return e.coreIP(250) }
func domainName(d int) string                 { return fmt.Sprintf("d%d", d) }
func serverName(d int, role string) string    { return fmt.Sprintf("d%d-%s", d, role) }
func gatewayName(d int) string                { return fmt.Sprintf("d%d-gw", d) }
func (e *entLab) api(mon string) string       { return "http://" + e.apiIP(mon) + ":8080" }
func (e *entLab) monDir(mon string) string    { return filepath.Join(e.o.Dir, mon) }
func (e *entLab) monData(mon string) string   { return filepath.Join(e.monDir(mon), "data") }
func (e *entLab) certFile(name string) string { return filepath.Join(e.pki, "issued", name+".crt") }
func (e *entLab) keyFile(name string) string  { return filepath.Join(e.pki, "issued", name+".key") }

// apiIP is where a monitor's dashboard and API listen: its address on
// the core network (the management link reaches it).
func (e *entLab) apiIP(mon string) string {
	if mon == entName {
		return e.entIP()
	}
	d, _ := strconv.Atoi(strings.TrimPrefix(mon, "d"))
	return e.gwIP(d)
}

// monNS is the namespace a monitor runs in.
func monNS(mon string) string {
	if mon == entName {
		return "ent"
	}
	return "gw" + strings.TrimPrefix(mon, "d")
}

func (e *entLab) step(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.say("%s", msg)
	e.tlMu.Lock()
	e.timeline = append(e.timeline, fmt.Sprintf("%7.1fs  %s", time.Since(e.t0).Seconds(), msg))
	e.tlMu.Unlock()
}

// RunEnterprise builds the enterprise lab, runs its scenarios and tears
// everything down, also when ctx ends early or a step fails. The result
// is written as enterprise.json in o.Dir too.
func RunEnterprise(ctx context.Context, o Options) (*EnterpriseResult, error) {
	if err := CheckEnterprise(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	e := &entLab{lab: newLab(o, "ve"), mons: map[string]*monProc{}, t0: time.Now()}
	e.n = e.id%200 + 20
	defer e.cleanup()
	// tc's queueing disciplines live on the namespaces' links and go
	// with them; the namespaces go in cleanup.
	if err := e.build(ctx); err != nil {
		return nil, err
	}
	res, err := e.scenarios(ctx)
	if err != nil {
		return nil, err
	}
	if err := res.write(o.Dir); err != nil {
		return nil, err
	}
	return res, nil
}

// build makes the namespaces, links, certificates, servers, sensors and
// monitors, and waits for each to come up.
func (e *entLab) build(ctx context.Context) error {
	e.step("building: namespaces, certificates, monitors, servers")
	names := []string{"core", "ent", "atk", "cli"}
	for d := 1; d <= entDomains; d++ {
		names = append(names, fmt.Sprintf("gw%d", d), fmt.Sprintf("d%dweb", d), fmt.Sprintf("d%dmail", d))
	}
	if err := e.addNamespaces(names...); err != nil {
		return err
	}
	core := e.ns("core")
	steps := [][]string{
		{"ip", "-n", core, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", core, "link", "set", "br0", "up"},
	}
	// wan joins a namespace (or this one, ns "") to the core bridge.
	wan := func(ns, ifname, ip string) {
		peer := ifname + "c"
		steps = append(steps,
			[]string{"ip", "link", "add", ifname, "type", "veth", "peer", "name", peer},
			[]string{"ip", "link", "set", peer, "netns", core},
			[]string{"ip", "-n", core, "link", "set", peer, "master", "br0"},
			[]string{"ip", "-n", core, "link", "set", peer, "up"})
		if ns == "" {
			steps = append(steps,
				[]string{"ip", "addr", "add", ip + "/24", "dev", ifname},
				[]string{"ip", "link", "set", ifname, "up"})
			return
		}
		steps = append(steps,
			[]string{"ip", "link", "set", ifname, "netns", e.ns(ns)},
			[]string{"ip", "-n", e.ns(ns), "addr", "add", ip + "/24", "dev", ifname},
			[]string{"ip", "-n", e.ns(ns), "link", "set", ifname, "up"})
	}
	wan("", e.tag+"m", e.mgmtIP())
	e.links = append(e.links, e.tag+"m")
	wan("ent", e.tag+"e", e.entIP())
	wan("atk", e.tag+"a", e.atkIP())
	wan("cli", e.tag+"k", e.cliIP())
	for d := 1; d <= entDomains; d++ {
		gw := e.ns(fmt.Sprintf("gw%d", d))
		wan(fmt.Sprintf("gw%d", d), e.wanIf(d), e.gwIP(d))
		steps = append(steps,
			[]string{"ip", "-n", gw, "link", "add", "br0", "type", "bridge"},
			[]string{"ip", "-n", gw, "addr", "add", e.busIP(d) + "/24", "dev", "br0"},
			[]string{"ip", "-n", gw, "link", "set", "br0", "up"},
			[]string{"ip", "netns", "exec", gw, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"})
		// The outside reaches the domain through its gateway.
		for _, ns := range []string{"atk", "cli"} {
			steps = append(steps, []string{"ip", "-n", e.ns(ns), "route", "add", fmt.Sprintf("10.%d.%d.0/24", e.n, d), "via", e.gwIP(d)})
		}
		for host, role := range map[int]string{1: "web", 2: "mail"} {
			ns := e.ns(fmt.Sprintf("d%d%s", d, role))
			hv, gv := fmt.Sprintf("%s%d%s", e.tag, d, role[:1]), fmt.Sprintf("%s%d%sg", e.tag, d, role[:1])
			steps = append(steps,
				[]string{"ip", "link", "add", hv, "type", "veth", "peer", "name", gv},
				[]string{"ip", "link", "set", hv, "netns", ns},
				[]string{"ip", "link", "set", gv, "netns", gw},
				[]string{"ip", "-n", gw, "link", "set", gv, "master", "br0"},
				[]string{"ip", "-n", gw, "link", "set", gv, "up"},
				[]string{"ip", "-n", ns, "addr", "add", e.lanIP(d, host) + "/24", "dev", hv},
				[]string{"ip", "-n", ns, "link", "set", hv, "up"},
				[]string{"ip", "-n", ns, "route", "add", "default", "via", e.busIP(d)})
		}
	}
	for _, s := range steps {
		if err := e.sh(s...); err != nil {
			return err
		}
	}
	if err := e.makePKI(); err != nil {
		return err
	}
	// The enterprise first (the domains' leaf nodes dial out to it), then
	// the domains, then their sensors and servers.
	if err := e.startMonitors(); err != nil {
		return err
	}
	if err := e.makeServers(); err != nil {
		return err
	}
	for d := 1; d <= entDomains; d++ {
		if err := e.startSensors(d); err != nil {
			return err
		}
	}
	for d := 1; d <= entDomains; d++ {
		if err := waitHTTPIn(e.lab, "cli", fmt.Sprintf("http://%s:8000/", e.webIP(d)), 30*time.Second); err != nil {
			return fmt.Errorf("domain %d's web server (see %s): %w", d, filepath.Join(e.o.Dir, serverName(d, "web"), "error.log"), err)
		}
		if err := e.waitSMTP(ctx, d, 30*time.Second); err != nil {
			return err
		}
	}
	e.step("lab up: 3 domains (servers d1-web .. d3-mail, agents every 4 s; gateways with the network sensor and the domain monitor on its own bus), enterprise monitor %s joined by leaf nodes; dashboards %s (enterprise), %s, %s, %s",
		e.entIP(), e.api(entName), e.api("d1"), e.api("d2"), e.api("d3"))
	return nil
}

// wanIf is domain d's gateway's outside link (where its network sensor
// listens and where tc adds loss).
func (e *entLab) wanIf(d int) string { return fmt.Sprintf("%sw%d", e.tag, d) }

// makePKI makes the lab's CA and every certificate: the buses' (a monitor
// certificate for the address the bus listens on), the domains' leaf
// nodes' (a monitor certificate in the domain monitor's name), the agents'
// and the network sensors'.
func (e *entLab) makePKI() error {
	e.pki = filepath.Join(e.o.Dir, "pki")
	run := func(args ...string) error {
		out, err := exec.Command(e.o.Vigil, append(args, "--dir", e.pki, "--log-level", "warn")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("vigil %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("pki", "init"); err != nil {
		return err
	}
	issue := [][2]string{{"monitor", e.entIP()}}
	for d := 1; d <= entDomains; d++ {
		issue = append(issue, [2]string{"monitor", e.busIP(d)}, [2]string{"monitor", domainName(d)},
			[2]string{"netsensor", gatewayName(d)}, [2]string{"agent", serverName(d, "web")}, [2]string{"agent", serverName(d, "mail")})
	}
	for _, c := range issue {
		if err := run("pki", "issue", "--role", c[0], "--name", c[1]); err != nil {
			return err
		}
	}
	return nil
}

// busFlags are a sensor's flags for domain d's bus with its certificate.
func (e *entLab) busFlags(d int, name string) []string {
	return []string{"--bus", fmt.Sprintf("tls://%s:4222", e.busIP(d)), "--bus-ca", filepath.Join(e.pki, "ca.crt"),
		"--bus-crl", filepath.Join(e.pki, "crl.pem"), "--bus-cert", e.certFile(name), "--bus-key", e.keyFile(name)}
}

// makeServers writes and starts every domain's servers: Apache on the
// web server, postfix on the mail server, each with its agent, in PID
// and mount namespaces of their own.
func (e *entLab) makeServers() error {
	www, err := os.MkdirTemp("", "vigil-lab-srv-")
	if err != nil {
		return err
	}
	e.www = www
	if err := os.Chmod(www, 0o755); err != nil {
		return err
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("the postfix user: %w", err)
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	for d := 1; d <= entDomains; d++ {
		web, mail := serverName(d, "web"), serverName(d, "mail")
		webDir := filepath.Join(e.o.Dir, web)
		if err := writeWebServer(webDir, filepath.Join(www, web), d); err != nil {
			return err
		}
		mailDir := filepath.Join(www, mail)
		if err := writePostfix(mailDir, mail, e.mailIP(d), pfUID); err != nil {
			return err
		}
		// As in the DMZ lab, the system-wide metrics are the machine's in
		// every namespace: their observations are switched off.
		agent := func(name, ip, procs string) string {
			return fmt.Sprintf(`exec %s agent %s --host-id %s --ip %s --procs %s --interval 4s --window 5 --spool-dir %s --log-level warn \
  --threshold SYS.CPU=1000 --threshold SYS.MEM=1000 --threshold SYS.DISK.IO=1000000000 --threshold SYS.NET.RX=1000000000 --threshold SYS.NET.TX=1000000000`,
				e.o.Vigil, strings.Join(e.busFlags(d, name), " "), name, ip, procs, filepath.Join(e.o.Dir, name, "spool"))
		}
		webScript := fmt.Sprintf("setsid apache2 -f %s/apache2.conf -DFOREGROUND &\n%s", webDir, agent(web, e.webIP(d), "apache2,sh"))
		if _, err := e.start(fmt.Sprintf("d%dweb", d), web, "unshare", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", webScript); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(e.o.Dir, mail), 0o755); err != nil {
			return err
		}
		// postfix runs from its own configuration directory, queue and
		// data directory, and logs to its own file: nothing of this
		// machine's postfix is read or touched.
		mailScript := fmt.Sprintf("postfix -c %s/conf start-fg &\n%s", mailDir, agent(mail, e.mailIP(d), "master,smtpd,qmgr,pickup,sh"))
		if _, err := e.start(fmt.Sprintf("d%dmail", d), mail, "unshare", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", mailScript); err != nil {
			return err
		}
	}
	return nil
}

// writePostfix writes a postfix instance of its own under dir: main.cf
// and master.cf in dir/conf (every daemon outside a chroot, SMTP on ip
// only), the queue in dir/queue, its data in dir/data and its log in
// dir/maillog. VRFY is answered (postfix's default); EXPN is refused as
// postfix refuses it.
func writePostfix(dir, name, ip string, uid int) error {
	for _, sub := range []string{"conf", "queue", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		return err
	}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
inet_interfaces = %[2]s
inet_protocols = ipv4
myhostname = %[3]s.lab.invalid
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8
relay_domains =
alias_maps =
alias_database =
smtpd_banner = $myhostname ESMTP
biff = no
`, dir, ip, name)
	master := `smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`
	if err := os.WriteFile(filepath.Join(dir, "conf", "main.cf"), []byte(main), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "conf", "master.cf"), []byte(master), 0o644)
}

// waitSMTP waits until domain d's postfix greets a client outside.
func (e *entLab) waitSMTP(ctx context.Context, d int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		out, err := e.smtp(ctx, "cli", e.mailIP(d), "QUIT")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("domain %d's postfix does not answer on %s:25 (log %s): %v: %s", d, e.mailIP(d),
				filepath.Join(e.www, serverName(d, "mail"), "maillog"), err, out)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// smtp speaks SMTP from a namespace: a greeting, the commands, QUIT, each
// line its own segment after the one before was answered (the network
// sensor reads the first segment of each command). It answers with the
// server's replies.
func (e *entLab) smtp(ctx context.Context, ns, ip string, cmds ...string) (string, error) {
	var b strings.Builder
	b.WriteString("{ sleep 0.3; printf 'HELO outside.lab.invalid\\r\\n'; sleep 0.2; ")
	for _, c := range cmds {
		if c != "QUIT" {
			fmt.Fprintf(&b, "printf '%s\\r\\n'; sleep 0.2; ", c)
		}
	}
	fmt.Fprintf(&b, "printf 'QUIT\\r\\n'; sleep 0.3; } | ncat -w 5 --idle-timeout 3 %s 25", ip)
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", e.ns(ns), "sh", "-c", b.String()).CombinedOutput()
	if strings.Contains(string(out), "221 ") {
		// The server said goodbye: the session ran to its end, whatever
		// ncat makes of the close.
		err = nil
	} else if err == nil {
		err = errors.New("no goodbye (221) from the server")
	}
	return string(out), err
}

// execIn runs a program in a namespace to its end, bounded by ctx, and
// answers with its output.
func execIn(ctx context.Context, ns, path string, args ...string) (string, error) {
	ipPath, err := lookPath("ip")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, ipPath, append([]string{"netns", "exec", ns, path}, args...)...)
	// What it started and left holding its output does not keep the
	// lab waiting once ctx has ended it.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}
