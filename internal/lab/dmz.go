// Package lab builds, on one machine, the testbed of seed 000 section 4 and
// runs its experiment with real tools: four DMZ servers, each in its own
// network, PID and mount namespaces with a real web server and a host
// agent; an attacker on another network behind a gateway; on the gateway,
// the network sensor and a monitor running the gateway signatures and the
// track engine's M3 and M4 over both observation spaces. It scans the
// servers with nmap, waits, floods one of them with HTTP requests, and
// reports when each server's M3 track reached yellow and red. Its other
// labs (attacks, enterprise, services) share the namespaces and teardown;
// the services lab (services.go) records the process classifier's
// training data from real daemons under load.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/engine/track"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/node"
	"github.com/vigil-ids/vigil/models"
)

// Options configure the lab.
type Options struct {
	// Vigil is the vigil binary the lab runs in the namespaces.
	Vigil string
	// Dir holds the lab's files (configs, web roots, store, results).
	Dir string
	// Fast shortens the waits (for tests); the agents keep the paper's
	// 4 s interval and window of 5.
	Fast   bool
	Logger *slog.Logger
	// Progress receives the timeline as it happens.
	Progress io.Writer
	// Record, for vigil lab attacks, names a directory where each
	// behaviour's events from the service host are written, oldest first,
	// as <behaviour>/events.jsonl: the rule scenarios are recorded so.
	Record string
	// Respond runs the experiment with the resolver enforcing: host 3's
	// web server restarted and its attacker blocked at the gateway when
	// it turns red, then a second phase of forged floods and decoys
	// (respond.go).
	Respond bool
	// OnUp, if set, is called with the dashboard's address once the lab
	// is up, before the experiment starts (a browser can watch it).
	OnUp func(dashboard string)
}

// HostResult is one server's outcome.
type HostResult struct {
	IP string `json:"ip"`
	// YellowAfter and RedAfter are the seconds from the flood's start at
	// which the server's M3 score first reached yellow and red (nil:
	// never; negative: before the flood).
	YellowAfter *float64 `json:"yellow_s"`
	RedAfter    *float64 `json:"red_s"`
	MaxScore    float64  `json:"max_score"`
	// LeftGreenBeforeScan is true when the score left green before the
	// scan began.
	LeftGreenBeforeScan bool `json:"left_green_before_scan"`
	// SeverityAtFloodEnd is the band when the flood ended;
	// MaxSeverityAfterFlood the highest band after it ("" if no report
	// came after it).
	SeverityAtFloodEnd    string `json:"severity_at_flood_end"`
	MaxSeverityAfterFlood string `json:"max_severity_after_flood"`
	// FinalScore and FinalSeverity are the last report's.
	FinalScore    float64 `json:"final_score"`
	FinalSeverity string  `json:"final_severity"`
}

// Result is the experiment's outcome. Its JSON form has the hosts at the
// top level (host1 .. host4) beside the times.
type Result struct {
	// Start is the experiment's start (the lab up), time 0 of Figure 5.
	Start      time.Time
	ScanStart  time.Time
	ScanEnd    time.Time
	FloodStart time.Time
	FloodEnd   time.Time
	End        time.Time
	// Timeout is how long M3 keeps a server Questionable after an alert.
	Timeout time.Duration
	Hosts   map[string]*HostResult
	// Table2 counts each server's observations by type (the network
	// observations as "REPORT": the gateway signatures' reports about
	// it).
	Table2 map[string]map[string]int64
	// Series is Figure 5: each server's M3 score at each report.
	Series []Point
	// Timeline lists the experiment's steps and the M3 state and band
	// changes in order.
	Timeline []string
	// Dashboard is where the monitor's dashboard was served.
	Dashboard string
	// Files are the outputs written in the lab's directory.
	Files []string
	// Respond is the acting run's outcome (Options.Respond).
	Respond *RespondResult
}

// Point is one M3 report about a server: Figure 5's series.
type Point struct {
	// At is the seconds into the experiment.
	At       float64 `json:"t"`
	Host     string  `json:"host"`
	Score    float64 `json:"score"`
	Severity string  `json:"severity"`
	State    string  `json:"state"`
}

const nHosts = 4

// Tools the lab needs, and the Debian packages that have them.
var tools = map[string]string{"ip": "iproute2", "unshare": "util-linux", "apache2": "apache2", "ab": "apache2-utils", "nmap": "nmap"}

// CheckRespond says what is missing to run the lab with --respond: the
// lab's tools, hping3 and nft.
func CheckRespond() error {
	if err := Check(); err != nil {
		return err
	}
	var missing []string
	for tool, pkg := range map[string]string{"hping3": "hping3", "nft": "nftables"} {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing for --respond: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Check says what is missing to run the lab.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root: it creates network, PID and mount namespaces")
	}
	var missing []string
	for tool, pkg := range tools {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Run builds the lab, runs the experiment and tears everything down,
// also when ctx ends early or a step fails. It writes the outputs
// (Figure 5 and Table 2 as CSV, Figure 5 as SVG, the timeline, the
// result as JSON) in o.Dir.
func Run(ctx context.Context, o Options) (*Result, error) {
	check := Check
	if o.Respond {
		check = CheckRespond
	}
	if err := check(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	timeout, err := questionableTimeout()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	l := newLab(o, "vl")
	defer l.cleanup()
	if err := l.build(); err != nil {
		return nil, err
	}
	if o.OnUp != nil {
		o.OnUp(l.dashboard())
	}
	res, err := l.experiment(ctx, timeout)
	if err != nil {
		return nil, err
	}
	if err := res.write(o.Dir); err != nil {
		return nil, err
	}
	return res, nil
}

// questionableTimeout is how long the built-in M3 keeps a server
// Questionable after its last alert: the experiment watches past it.
func questionableTimeout() (time.Duration, error) {
	data, ok := models.Builtin("m3.yaml")
	if !ok {
		return 0, errors.New("no built-in m3.yaml")
	}
	ms, err := track.ParseModels(models.Prefix+"m3.yaml", data)
	if err != nil {
		return 0, err
	}
	m := ms[0]
	q := m.State("Questionable")
	if q < 0 || m.Timeout[q] <= 0 {
		return 0, errors.New("the built-in m3 has no Questionable state with a timeout")
	}
	return m.Timeout[q], nil
}

func (l *lab) say(format string, args ...any) {
	fmt.Fprintf(l.o.Progress, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// build makes the namespaces, links, servers, sensors and monitor.
func (l *lab) build() error {
	n := l.id%200 + 20
	l.mgmtIP = fmt.Sprintf("10.%d.250.2", n)
	names := []string{"gw", "atk"}
	for i := 1; i <= nHosts; i++ {
		names = append(names, fmt.Sprintf("h%d", i))
	}
	if err := l.addNamespaces(names...); err != nil {
		return err
	}
	// The gateway: a bridge for the DMZ, a link to the attacker's
	// network, a management link to this namespace (the dashboard).
	steps := [][]string{
		{"ip", "-n", l.ns("gw"), "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", l.ns("gw"), "addr", "add", "10.10.0.254/24", "dev", "br0"},
		{"ip", "-n", l.ns("gw"), "link", "set", "br0", "up"},
		{"ip", "link", "add", l.tag + "m", "type", "veth", "peer", "name", l.tag + "mg"},
		{"ip", "link", "set", l.tag + "mg", "netns", l.ns("gw")},
		{"ip", "addr", "add", fmt.Sprintf("10.%d.250.1/30", n), "dev", l.tag + "m"},
		{"ip", "link", "set", l.tag + "m", "up"},
		{"ip", "-n", l.ns("gw"), "addr", "add", l.mgmtIP + "/30", "dev", l.tag + "mg"},
		{"ip", "-n", l.ns("gw"), "link", "set", l.tag + "mg", "up"},
		{"ip", "link", "add", l.tag + "a", "type", "veth", "peer", "name", l.tag + "ag"},
		{"ip", "link", "set", l.tag + "a", "netns", l.ns("atk")},
		{"ip", "link", "set", l.tag + "ag", "netns", l.ns("gw")},
		{"ip", "-n", l.ns("atk"), "addr", "add", "10.20.0.1/24", "dev", l.tag + "a"},
		{"ip", "-n", l.ns("atk"), "link", "set", l.tag + "a", "up"},
		{"ip", "-n", l.ns("atk"), "route", "add", "default", "via", "10.20.0.254"},
		{"ip", "-n", l.ns("gw"), "addr", "add", "10.20.0.254/24", "dev", l.tag + "ag"},
		{"ip", "-n", l.ns("gw"), "link", "set", l.tag + "ag", "up"},
		{"ip", "netns", "exec", l.ns("gw"), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
	}
	l.links = append(l.links, l.tag+"m")
	for i := 1; i <= nHosts; i++ {
		h, hv, gv := fmt.Sprintf("h%d", i), fmt.Sprintf("%sh%d", l.tag, i), fmt.Sprintf("%sb%d", l.tag, i)
		steps = append(steps,
			[]string{"ip", "link", "add", hv, "type", "veth", "peer", "name", gv},
			[]string{"ip", "link", "set", hv, "netns", l.ns(h)},
			[]string{"ip", "link", "set", gv, "netns", l.ns("gw")},
			[]string{"ip", "-n", l.ns("gw"), "link", "set", gv, "master", "br0"},
			[]string{"ip", "-n", l.ns("gw"), "link", "set", gv, "up"},
			[]string{"ip", "-n", l.ns(h), "addr", "add", fmt.Sprintf("10.10.0.%d/24", i), "dev", hv},
			[]string{"ip", "-n", l.ns(h), "link", "set", hv, "up"},
			[]string{"ip", "-n", l.ns(h), "route", "add", "default", "via", "10.10.0.254"},
		)
	}
	for _, s := range steps {
		if err := l.sh(s...); err != nil {
			return err
		}
	}
	// The monitor (bus, store, engines, dashboard) on the gateway.
	cfg := filepath.Join(l.o.Dir, "dmz-lab.yaml")
	conf := monitorConfig
	if l.o.Respond {
		rules := filepath.Join(l.o.Dir, "web-clients.yaml")
		if err := os.WriteFile(rules, []byte(webClientRules), 0o644); err != nil {
			return err
		}
		conf = respondConfig(rules)
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return err
	}
	pw, err := labAccount(l.o.Vigil, filepath.Join(l.o.Dir, "data"), l.o.Dir)
	if err != nil {
		return err
	}
	if _, err := l.start("gw", "monitor", l.o.Vigil, "up", "--config", cfg, "--no-agent", "--data", filepath.Join(l.o.Dir, "data"),
		"--bus-listen", "10.10.0.254:4222", "--listen", l.mgmtIP+":8080", "--log-level", "warn"); err != nil {
		return err
	}
	if err := waitHTTP(l.dashboard()+"/healthz", monitorStartLimit); err != nil {
		return l.notUp("monitor", err)
	}
	if err := dashboardLogin(l.dashboard(), pw); err != nil {
		return err
	}
	// The network sensor on the gateway's link to the attacker.
	if _, err := l.start("gw", "netsensor", l.o.Vigil, "netsensor", "--iface", l.tag+"ag", "--bus", "nats://10.10.0.254:4222",
		"--bus-identity", l.sensorIdentity(), "--id", "gateway", "--spool-dir", filepath.Join(l.o.Dir, "netsensor-spool"), "--log-level", "warn"); err != nil {
		return err
	}
	// The servers: a web server and an agent in their own PID and mount
	// namespaces, so each agent sees its host's processes only.
	www, err := os.MkdirTemp("", "vigil-lab-www-")
	if err != nil {
		return err
	}
	l.www = www
	if err := os.Chmod(www, 0o755); err != nil {
		return err
	}
	for i := 1; i <= nHosts; i++ {
		dir := filepath.Join(l.o.Dir, fmt.Sprintf("h%d", i))
		if err := writeWebServer(dir, filepath.Join(www, fmt.Sprintf("h%d", i)), i); err != nil {
			return err
		}
		// The servers share this machine's kernel: /proc/stat, meminfo and
		// the disk counters are the whole machine's in every namespace,
		// so the system-wide metrics' observations are switched off (the
		// paper's servers were separate machines); process-level ones,
		// the process count (PID namespace) and sockets (network
		// namespace) are each server's own.
		effector := ""
		if l.o.Respond {
			agentCfg, err := agentConfig(dir)
			if err != nil {
				return err
			}
			effector = fmt.Sprintf(" --effector --config %s", agentCfg)
		}
		// Apache's parent signals its whole process group when it
		// restarts: it gets a session of its own, so that the group is
		// its workers and not the lab's processes.
		script := fmt.Sprintf(`setsid apache2 -f %s/apache2.conf -DFOREGROUND &
exec %s agent --bus nats://10.10.0.254:4222 --bus-identity %s --host-id host%d --procs apache2,bash,sh --interval 4s --window 5 --spool-dir %s/spool --log-level warn%s \
  --threshold SYS.CPU=1000 --threshold SYS.MEM=1000 --threshold SYS.DISK.IO=1000000000 --threshold SYS.NET.RX=1000000000 --threshold SYS.NET.TX=1000000000`,
			dir, l.o.Vigil, l.sensorIdentity(), i, dir, effector)
		if _, err := l.start(fmt.Sprintf("h%d", i), fmt.Sprintf("host%d", i), "unshare", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", script); err != nil {
			return err
		}
	}
	for i := 1; i <= nHosts; i++ {
		for _, path := range []string{"/", "/app"} {
			if err := waitHTTPIn(l, "atk", fmt.Sprintf("http://10.10.0.%d:8000%s", i, path), 30*time.Second); err != nil {
				return fmt.Errorf("server %d (see %s): %w", i, filepath.Join(l.o.Dir, fmt.Sprintf("h%d", i), "error.log"), err)
			}
		}
	}
	l.say("lab up: 4 servers (10.10.0.1-4, apache2 on port 8000, agents every 4 s), attacker 10.20.0.1, gateway with the network sensor and the monitor; dashboard %s", l.dashboard())
	return nil
}

func (l *lab) dashboard() string { return "http://" + l.mgmtIP + ":8080" }

// sensorIdentity is the identity file the monitor wrote for the sensors.
func (l *lab) sensorIdentity() string {
	return filepath.Join(node.IdentityDir(filepath.Join(l.o.Dir, "data")), bus.SensorIdentityFile)
}

// monitorConfig is the gateway monitor: configs/dmz.yaml with the models
// and rules built into the binary.
const monitorConfig = `monitor: {name: dmz-lab, layer: domain}
# The lab's networks exist only on this machine, inside its namespaces.
server: {allow_insecure: true}
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
    delivery: durable
engines:
  - kind: signature
    name: gateway-signatures
    rules: ["builtin:gateway.yaml"]
    # Every detection is evidence for the tracks: repeats of a scan are
    # not held back here.
    suppress: 0s
  - kind: track
    name: tracks
    reports_from: [gateway-signatures]
    models: ["builtin:m3.yaml", "builtin:m4.yaml"]
    compare:
      - models: [m3, m4]
        alpha: 0.01
        beta: 0.01
        verdicts: ["attack", "isolated failure, not attack"]
resolver: {publish: true, min_severity: green}
`

// appLua is the servers' web application: each request renders a page
// and keeps the rendering in the worker's cache of recent pages, up to
// cacheEntries of them, as many web applications keep sessions or
// rendered fragments. Under a flood, Apache starts workers and each grows
// by what it caches, as the paper's httpd processes grew (seed 000 Table
// 2: PROC.MEM and PROC.SPAWN on the victim only). The cache is bounded,
// so a worker stops growing at about cacheEntries x 8 KB and what the
// collector has not yet freed.
const appLua = `local cache, n = {}, 0
local cacheEntries = 1000
-- Collect continuously, so a worker holds what it caches and little more.
collectgarbage("setpause", 100)

function handle(r)
  n = n + 1
  local page = string.rep(string.format("%s request %d. ", r.hostname, n), 8192 // 24)
  cache[(n - 1) % cacheEntries + 1] = page
  r.content_type = "text/html"
  r:puts("<html><body><p>", r.hostname, " served request ", n, " of this worker.</p></body></html>\n")
  return apache2.OK
end
`

// writeWebServer writes in dir a prefork Apache configuration on port
// 8000 serving from docs a static page (/) and the application (/app,
// appLua): under a flood of requests for /app it starts workers, and they
// grow. The workers read docs as an unprivileged user.
func writeWebServer(dir, docs string, i int) error {
	www := filepath.Join(docs, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{docs, www} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	page := fmt.Sprintf("<html><body><p>host %d</p></body></html>\n", i)
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(page), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(docs, "app.lua"), []byte(appLua), 0o644); err != nil {
		return err
	}
	conf := apacheConfig(dir, fmt.Sprintf("host%d", i), 8000, "lua") + fmt.Sprintf(`DocumentRoot %[1]s/www
DirectoryIndex index.html
LuaScope server
LuaMapHandler ^/app$ %[1]s/app.lua handle
StartServers 2
MinSpareServers 1
MaxSpareServers 80
ServerLimit 80
MaxRequestWorkers 80
`, docs)
	return os.WriteFile(filepath.Join(dir, "apache2.conf"), []byte(conf), 0o644)
}

// waitHTTPIn waits until url answers from a namespace.
// It fails if the server answers with an error.
func waitHTTPIn(l *lab, ns, url string, limit time.Duration) error {
	ipPath, err := lookPath("ip")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		out, err := exec.Command(ipPath, "netns", "exec", l.ns(ns), "ab", "-n", "1", url).CombinedOutput()
		switch {
		case err == nil && strings.Contains(string(out), "Non-2xx responses"):
			return fmt.Errorf("%s answers with an error", url)
		case err == nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%s: %w: %s", url, err, strings.TrimSpace(string(out)))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// experiment runs the paper's scenario and measures it: a baseline, an
// nmap scan of the four servers, a wait, a 30 s HTTP flood against host 3,
// and a watch until M3's Questionable timeout has passed since the scan.
func (l *lab) experiment(ctx context.Context, timeout time.Duration) (*Result, error) {
	base, gap, margin := 60*time.Second, 60*time.Second, 30*time.Second
	if l.o.Fast {
		base, gap, margin = 16*time.Second, 8*time.Second, 10*time.Second
	}
	res := &Result{Hosts: map[string]*HostResult{}, Dashboard: l.dashboard(), Timeout: timeout, Start: time.Now().UTC()}
	step := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		l.say("%s", msg)
		res.Timeline = append(res.Timeline, fmt.Sprintf("%7.1fs  %s", time.Since(res.Start).Seconds(), msg))
	}
	step("baseline: %v of normal operation", base)
	if err := sleep(ctx, base); err != nil {
		return nil, err
	}
	res.ScanStart = time.Now().UTC()
	step("scan: nmap -sS of the four servers from the attacker")
	if err := l.in("atk", "nmap", "-sS", "-T4", "-n", "-Pn", "-p", "1-1000", "10.10.0.1-4"); err != nil {
		return nil, err
	}
	res.ScanEnd = time.Now().UTC()
	step("scan done; waiting %v", gap)
	if err := sleep(ctx, gap); err != nil {
		return nil, err
	}
	res.FloodStart = time.Now().UTC()
	step("flood: ab -c 20 against host 3's application for 30 s")
	if err := l.in("atk", "ab", "-q", "-r", "-s", "5", "-t", "30", "-n", "100000000", "-c", "20", "http://10.10.0.3:8000/app"); err != nil {
		step("ab: %v", err)
	}
	res.FloodEnd = time.Now().UTC()
	if l.o.Respond {
		if err := l.afterFlood(ctx, res, step); err != nil {
			return nil, err
		}
		res.End = time.Now().UTC()
		if err := l.collect(ctx, res); err != nil {
			return nil, err
		}
		return res, nil
	}
	after := time.Until(res.ScanEnd.Add(timeout + margin))
	step("flood over; watching %v more, until M3's %v timeout has passed since the scan", after.Round(time.Second), timeout)
	if err := sleep(ctx, after); err != nil {
		return nil, err
	}
	res.End = time.Now().UTC()
	if err := l.collect(ctx, res); err != nil {
		return nil, err
	}
	return res, nil
}

// collect reads the monitor's reports and events back through its API.
func (l *lab) collect(ctx context.Context, res *Result) error {
	var reps []event.Report
	model := "m3"
	if l.o.Respond {
		model = respondModel
	}
	if err := getJSON(ctx, l.dashboard()+"/api/reports?engine=tracks&model="+model+"&limit=10000", &reps); err != nil {
		return err
	}
	// The store answers newest first (by time, then by arrival): oldest
	// first is the reverse.
	slices.Reverse(reps)
	if l.o.Respond {
		if err := l.collectRespond(ctx, res, reps); err != nil {
			return err
		}
	}
	byIP := map[string]string{}
	for i, name := range hostNames() {
		h := &HostResult{IP: fmt.Sprintf("10.10.0.%d", i+1), SeverityAtFloodEnd: "green"}
		res.Hosts[name] = h
		byIP[h.IP] = name
	}
	for _, r := range reps {
		name := byIP[r.IP]
		if name == "" || r.State == "Verdict" {
			continue
		}
		res.Hosts[name].observe(res, r)
		at := r.Time.Sub(res.FloodStart).Seconds()
		t := r.Time.Sub(res.Start).Seconds()
		res.Series = append(res.Series, Point{At: t, Host: name, Score: r.Score, Severity: r.Severity.String(), State: r.State})
		res.Timeline = append(res.Timeline, fmt.Sprintf("%7.1fs  %s %-10s %-12s %.2f %-6s (flood %+.1fs)", t, name, r.IP, r.State, r.Score, r.Severity, at))
	}
	sort.SliceStable(res.Timeline, func(i, j int) bool { return res.Timeline[i] < res.Timeline[j] })
	var table []struct {
		Host   string           `json:"host"`
		Counts map[string]int64 `json:"counts"`
	}
	if err := getJSON(ctx, l.dashboard()+"/api/observations/by-host", &table); err != nil {
		return err
	}
	res.Table2 = map[string]map[string]int64{}
	for _, name := range hostNames() {
		res.Table2[name] = map[string]int64{}
	}
	for _, row := range table {
		if res.Table2[row.Host] != nil {
			res.Table2[row.Host] = row.Counts
		}
	}
	// The network observations: the gateway signatures' reports about
	// each server.
	for _, name := range hostNames() {
		var gw []event.Report
		if err := getJSON(ctx, l.dashboard()+"/api/reports?engine=gateway-signatures&limit=10000&ip="+res.Hosts[name].IP, &gw); err != nil {
			return err
		}
		res.Table2[name][networkRow] = int64(len(gw))
	}
	return nil
}

// observe folds one of the server's M3 reports into its outcome.
func (h *HostResult) observe(res *Result, r event.Report) {
	at := r.Time.Sub(res.FloodStart).Seconds()
	h.MaxScore = max(h.MaxScore, r.Score)
	if r.Severity >= event.SeverityYellow && r.Time.Before(res.ScanStart) {
		h.LeftGreenBeforeScan = true
	}
	if r.Severity >= event.SeverityYellow && h.YellowAfter == nil {
		h.YellowAfter = &at
	}
	if r.Severity >= event.SeverityRed && h.RedAfter == nil {
		h.RedAfter = &at
	}
	if !r.Time.After(res.FloodEnd) {
		h.SeverityAtFloodEnd = r.Severity.String()
	} else if h.MaxSeverityAfterFlood == "" || r.Severity > mustSeverity(h.MaxSeverityAfterFlood) {
		h.MaxSeverityAfterFlood = r.Severity.String()
	}
	h.FinalScore, h.FinalSeverity = r.Score, r.Severity.String()
}

func mustSeverity(s string) event.Severity {
	sev, _ := event.ParseSeverity(s)
	return sev
}
