package lab

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/node"
)

// The live phase of the services lab (vigil lab services --attack): a
// monitor in the router namespace runs the classify engine with a model
// (one given, or one trained on this run's recording); each host runs
// `vigil agent --syscalls` in its own namespaces, sending its processes'
// count vectors over the lab's bus. The hosts first run healthy for a
// while, and every classifier report then is a false alarm; then the
// known-bad tools and the masquerading programs run, one at a time, on
// the hosts themselves beside their daemons, and the lab waits for the
// report that names each.

// LiveTarget is how soon after its start each attack must be reported
// (seconds): ten one-second vectors make the first sequence.
const LiveTarget = 15

// liveSettle is how long the hosts' daemons run before the live phase's
// agents start when nothing was recorded before it.
const liveSettle = 30 * time.Second

// liveWait is how long the lab waits for an attack's report before it
// counts the attack missed and stops it.
const liveWait = 30 * time.Second

// liveAttack is one behaviour of the live phase.
type liveAttack struct {
	id   string
	host string
	// procs are the process names a report about it may present; exe,
	// when set, must be in the report's executable (a masquerade's copy,
	// not the host's real daemon of that name).
	procs []string
	exe   string
	// scenarios are the reports that count (non-grata, masquerade).
	scenarios []string
	// listener, when not 0, is the port of a listener in the router
	// namespace that feeds the attack's shell commands.
	listener int
	script   string
}

// liveAttacks are the live phase's behaviours: each reverse shell, the
// miner stand-in, the scanner and the brute-forcer (non-grata), and the
// two masquerades, on the hosts whose daemons they hide among.
func liveAttacks() []liveAttack {
	web, client := serviceHosts[2], serviceHosts[1]
	ng := []string{"non-grata"}
	masq := []string{"masquerade", "non-grata"}
	var as []liveAttack
	for i, rs := range reverseShells {
		port := 4451 + i
		procs := []string{"bash", "sh"}
		switch {
		case strings.HasPrefix(rs, "socat"):
			procs = []string{"socat", "sh"}
		case strings.HasPrefix(rs, "ncat"):
			procs = []string{"ncat", "sh"}
		}
		as = append(as, liveAttack{id: "reverse-shell-" + procs[0], host: web.Name, procs: procs, scenarios: ng, listener: port,
			script: fmt.Sprintf(rs, routerIP, port) + " </dev/null >/dev/null 2>&1\n"})
	}
	as = append(as,
		liveAttack{id: "miner-stress-ng", host: web.Name, procs: []string{"stress-ng", "stress-ng-cpu"}, scenarios: ng,
			script: "nice -n 10 stress-ng --cpu 1 --cpu-load 30 --timeout 60s >/dev/null 2>&1\n"},
		liveAttack{id: "scanner-nmap", host: client.Name, procs: []string{"nmap"}, scenarios: ng,
			script: fmt.Sprintf("while :; do nmap -sS -n -Pn --max-rate 300 -p 1-2000 %[1]s.1-3 >/dev/null 2>&1; nmap -sT -n -Pn --max-rate 300 -p 1-1024 %[1]s.1-3 >/dev/null 2>&1; done\n", servicesSubnet)},
		liveAttack{id: "bruteforce-hydra", host: client.Name, procs: []string{"hydra"}, scenarios: ng,
			script: "while :; do hydra -I -l lab -P STATE/passwords.lst -t 2 -W 1 ssh://" + web.IP + " >/dev/null 2>&1; done\n"},
		// The copies live on a tmpfs of a mount namespace of their own, so
		// the host's real nginx and sshd stay as they are.
		liveAttack{id: "masquerade-nginx", host: web.Name, procs: []string{"nginx"}, exe: "/usr/local/bin/nginx", scenarios: masq,
			script: `exec unshare --mount sh -c '
mount -t tmpfs lab /usr/local/bin || exit 1
cp "$(readlink -f "$(command -v nc || command -v ncat)")" /usr/local/bin/nginx
/usr/local/bin/nginx -l -k -p 8088 >/dev/null 2>&1 &
sleep 0.5
while :; do echo "GET / $(date +%s%N)"; sleep 0.5; done | ncat --send-only 127.0.0.1 8088 2>/dev/null
'
`},
		liveAttack{id: "masquerade-sshd", host: web.Name, procs: []string{"sshd"}, exe: "/usr/local/sbin/sshd", scenarios: masq,
			script: `exec unshare --mount sh -c '
mount -t tmpfs lab /usr/local/sbin || exit 1
cp /bin/bash /usr/local/sbin/sshd
while :; do echo "ls -la /etc >/dev/null; id >/dev/null; ps aux >/dev/null; cat /etc/hostname >/dev/null"; sleep 1; done | /usr/local/sbin/sshd -s >/dev/null 2>&1
'
`},
	)
	return as
}

// ServicesLive is the outcome of the live phase.
type ServicesLive struct {
	// Model is the model file the classify engine ran, Kind its kind;
	// Trained says it was trained on this run's recording.
	Model   string `json:"model"`
	Kind    string `json:"kind"`
	Trained bool   `json:"trained"`
	Stride  int    `json:"stride"`
	Persist int    `json:"persist"`
	// Healthy is how long the hosts ran healthy with the engine live
	// (seconds, from the agents' start to the first attack), and
	// HealthyReports the classifier's reports in that time: false alarms.
	Healthy        float64       `json:"healthy_seconds"`
	HealthyReports []string      `json:"healthy_reports"`
	Attacks        []LiveOutcome `json:"attacks"`
	// Others are reports during the attacks that name none of them.
	Others []string `json:"other_reports"`
}

// LiveOutcome is one attack of the live phase.
type LiveOutcome struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	Start   time.Time `json:"start"`
	Caught  bool      `json:"caught"`
	Seconds float64   `json:"seconds,omitempty"` // from its start to the report's arrival at the API
	Report  string    `json:"report,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// Passed reports whether every attack was reported within LiveTarget
// seconds.
func (lv *ServicesLive) Passed() bool {
	for _, a := range lv.Attacks {
		if !a.Caught || a.Seconds > LiveTarget {
			return false
		}
	}
	return len(lv.Attacks) > 0
}

func (l *servicesLab) liveDashboard() string {
	return fmt.Sprintf("http://10.%d.252.2:8080", l.id%200+20)
}

// train trains the live phase's model on this run's recording.
func (l *servicesLab) train(ctx context.Context, dir, model, kind string) error {
	// Up to 40 classes: every daemon and session of the hosts with enough
	// samples is named (a shell session the model does not know may only
	// be taken for a known-bad tool, and a masquerade shows only as
	// another known program).
	args := []string{"train", "classifier", "--data", dir, "--model", model, "--kind", kind, "--max-classes", "40", "--log-level", "warn"}
	if l.o.Fast {
		// A recording of a minute and a half holds few sequences of the
		// rarer processes.
		args = append(args, "--min-samples", "3")
	}
	l.say("training a %s classifier on the recording", kind)
	cmd := exec.CommandContext(ctx, l.o.Vigil, args...)
	out, err := cmd.CombinedOutput()
	if werr := os.WriteFile(filepath.Join(l.o.Dir, "train.log"), out, 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("vigil train classifier (log in %s): %w", filepath.Join(l.o.Dir, "train.log"), err)
	}
	return nil
}

// live runs the live phase with the model file, its files under dir.
func (l *servicesLab) live(ctx context.Context, dir string, lv *ServicesLive, healthy time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The management link: the monitor's API, from this namespace.
	n := l.id%200 + 20
	mh, mr := l.tag+"m", l.tag+"r"
	for _, s := range [][]string{
		{"ip", "link", "add", mh, "type", "veth", "peer", "name", mr},
		{"ip", "link", "set", mr, "netns", l.ns("rt")},
		{"ip", "addr", "add", fmt.Sprintf("10.%d.252.1/30", n), "dev", mh},
		{"ip", "link", "set", mh, "up"},
		{"ip", "-n", l.ns("rt"), "addr", "add", fmt.Sprintf("10.%d.252.2/30", n), "dev", mr},
		{"ip", "-n", l.ns("rt"), "link", "set", mr, "up"},
	} {
		if err := l.sh(s...); err != nil {
			return err
		}
		if s[2] == "add" && s[3] == mh {
			l.links = append(l.links, mh)
		}
	}
	cfg := filepath.Join(dir, "monitor.yaml")
	conf := fmt.Sprintf(`# The services lab's monitor: the classify engine on the hosts' count vectors.
# The bus listens on the lab's bridge, inside the lab's namespaces only.
monitor: {name: services-lab, layer: service}
server: {allow_insecure: true}
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
engines:
  - kind: classify
    name: classifier
    model: %q
    stride: %d
    persist: %d
    suppress: 1h
`, lv.Model, lv.Stride, lv.Persist)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	pw, err := labAccount(l.o.Vigil, data, dir)
	if err != nil {
		return err
	}
	if _, err := l.start("rt", "live-monitor", l.o.Vigil, "up", "--config", cfg, "--no-agent", "--data", data,
		"--bus-listen", routerIP+":4222", "--listen", fmt.Sprintf("10.%d.252.2:8080", n), "--log-level", "warn"); err != nil {
		return err
	}
	if err := waitHTTP(l.liveDashboard()+"/healthz", monitorStartLimit); err != nil {
		return l.notUp("live-monitor", err)
	}
	if err := dashboardLogin(l.liveDashboard(), pw); err != nil {
		return err
	}
	if !lv.Trained {
		// With a model given nothing was recorded: the daemons started
		// moments ago. Their start is not what the healthy run measures
		// (the recording saw little of it), so they settle first.
		l.say("live: letting the hosts' daemons settle for %v", liveSettle)
		if err := sleep(ctx, liveSettle); err != nil {
			return err
		}
	}
	identity := filepath.Join(node.IdentityDir(data), bus.SensorIdentityFile)
	for _, h := range serviceHosts {
		if _, err := l.start(h.Name, "live-agent-"+h.Name, "nsenter", "-t", strconv.Itoa(l.inits[h.Name]), "-p", "-m", "-u", "--",
			l.o.Vigil, "agent", "--syscalls", "--bus", "nats://"+routerIP+":4222", "--bus-identity", identity,
			"--host-id", h.Name, "--spool-dir", filepath.Join(dir, "spool-"+h.Name), "--log-level", "warn"); err != nil {
			return err
		}
	}
	attacks := liveAttacks()
	began := time.Now()
	l.say("live: the classify engine (%s, stride %d, persist %d) on the hosts' count vectors; healthy for %v, then %d attacks; dashboard %s (login in %s)",
		lv.Kind, lv.Stride, lv.Persist, healthy, len(attacks), l.liveDashboard(), filepath.Join(dir, "dashboard-login.txt"))
	if err := sleep(ctx, healthy); err != nil {
		return err
	}
	lv.Healthy = time.Since(began).Seconds()
	reps, err := l.classifierReports(ctx, began.Add(-time.Minute))
	if err != nil {
		return err
	}
	for _, r := range reps {
		lv.HealthyReports = append(lv.HealthyReports, describeReport(r))
	}
	l.say("live: %d classifier reports in %.0f s of healthy hosts", len(lv.HealthyReports), lv.Healthy)

	attacksFrom := time.Now()
	for _, a := range attacks {
		out := l.liveAttack(ctx, a)
		lv.Attacks = append(lv.Attacks, out)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if out.Caught {
			l.say("live: %-20s reported after %.1f s: %s", a.id, out.Seconds, out.Report)
		} else {
			l.say("live: %-20s MISSED within %v %s", a.id, liveWait, out.Error)
		}
	}
	// Reports during the attacks that name none of them.
	reps, err = l.classifierReports(ctx, attacksFrom)
	if err != nil {
		return err
	}
	for _, r := range reps {
		if !slices.ContainsFunc(attacks, func(a liveAttack) bool { return a.matches(r) }) {
			lv.Others = append(lv.Others, describeReport(r))
		}
	}
	return nil
}

// matches reports whether r is about a's process.
func (a liveAttack) matches(r event.Report) bool {
	if r.Host != a.host || !slices.Contains(a.scenarios, fmt.Sprint(r.Attrs["scenario"])) {
		return false
	}
	name, _ := r.Attrs["process"].(string)
	if !slices.Contains(a.procs, name) {
		return false
	}
	if a.exe != "" {
		exe, _ := r.Attrs["exe"].(string)
		return strings.Contains(exe, a.exe)
	}
	return true
}

// liveAttack runs one attack in its host's namespaces until its report
// arrives or liveWait passes, then stops it.
func (l *servicesLab) liveAttack(ctx context.Context, a liveAttack) (out LiveOutcome) {
	out = LiveOutcome{ID: a.id, Host: a.host}
	if a.listener != 0 {
		if _, err := l.start("rt", "live-listener-"+a.id, "sh", "-c", fmt.Sprintf(
			"(while :; do echo 'id; uname -a; ls -la /etc | wc -l; cat /etc/hostname /proc/loadavg'; sleep 1; done) | ncat -l -p %d >/dev/null", a.listener)); err != nil {
			out.Error = err.Error()
			return out
		}
		time.Sleep(300 * time.Millisecond)
	}
	script := filepath.Join(l.state, "attack-"+a.id+".sh")
	pidFile := filepath.Join(l.state, "attack-"+a.id+".pid")
	body := strings.ReplaceAll(a.script, "STATE", l.state)
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		out.Error = err.Error()
		return out
	}
	// setsid: the attack's processes are one group, which the stop
	// kills; timeout bounds it whatever happens to the lab.
	wrapper := fmt.Sprintf("echo $$ > %s; exec timeout -s KILL %d sh %s", shellJoin([]string{pidFile}), int(liveWait.Seconds())+30, shellJoin([]string{script}))
	out.Start = time.Now().UTC()
	if _, err := l.start(a.host, "live-attack-"+a.id, "nsenter", "-t", strconv.Itoa(l.inits[a.host]), "-p", "-m", "-u", "--",
		"setsid", "sh", "-c", wrapper); err != nil {
		out.Error = err.Error()
		return out
	}
	defer func() {
		// The attack's process group, killed; what is left of it after
		// up to 5 s (a loaded machine reaps slowly) is said.
		stop := fmt.Sprintf(`g=$(cat %[1]s) || exit 0
pkill -KILL -g "$g"
for i in $(seq 50); do pgrep -g "$g" >/dev/null || break; sleep 0.1; done
if pgrep -g "$g" >/dev/null; then echo "left running: $(pgrep -l -g "$g" | tr '\n' ' ')"; exit 1; fi
rm -f %[1]s`, shellJoin([]string{pidFile}))
		if err := l.runIn(ctx, a.host, 10*time.Second, stop); err != nil {
			out.Error = strings.TrimSpace(out.Error + " stopping it: " + err.Error())
		}
		// The reports of one attack stay apart from the next's.
		_ = sleep(ctx, 2*time.Second)
	}()
	since := out.Start.Add(-time.Second)
	deadline := out.Start.Add(liveWait)
	for time.Now().Before(deadline) {
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			out.Error = err.Error()
			return out
		}
		reps, err := l.classifierReports(ctx, since)
		if err != nil {
			out.Error = err.Error()
			continue
		}
		for _, r := range reps {
			if a.matches(r) {
				out.Caught = true
				out.Seconds = time.Since(out.Start).Seconds()
				out.Report = describeReport(r)
				return out
			}
		}
	}
	return out
}

// classifierReports are the classify engine's reports since from, oldest
// first.
func (l *servicesLab) classifierReports(ctx context.Context, from time.Time) ([]event.Report, error) {
	var reps []event.Report
	u := fmt.Sprintf("%s/api/reports?engine=classifier&limit=10000&since=%s", l.liveDashboard(), url.QueryEscape(from.UTC().Format(time.RFC3339Nano)))
	if err := getJSON(ctx, u, &reps); err != nil {
		return nil, err
	}
	sort.SliceStable(reps, func(i, j int) bool { return reps[i].Time.Before(reps[j].Time) })
	return reps, nil
}

// describeReport is one line about a classifier report: its host,
// scenario and explanation (which quotes what the process chose).
func describeReport(r event.Report) string {
	return fmt.Sprintf("%s %s %s %.2f: %s", r.Time.UTC().Format("15:04:05.000"), r.Host, r.Model, r.Score, r.Explanation)
}
