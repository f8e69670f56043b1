package lab

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/vigil-ids/vigil/internal/learn"
)

// The services lab (seed 001's setup, extended): three hosts, each with
// network, pid, mount and UTS namespaces of its own, /etc as an overlay
// and tmpfs mounts over the directories daemons write, joined by veth
// pairs to a bridge in a router namespace. Each runs real Debian daemons
// from configuration and data directories of the lab's own, driven by
// load generators, with a different mix:
//
//   - mail, seed 001's server: postfix receiving SMTP and delivering with
//     procmail, dovecot serving IMAP and POP3, rsyslogd collecting the
//     other hosts' logs over UDP, cron.
//   - client, seed 001's client: fetchmail pulling from mail's dovecot
//     over POP3 and IMAP into procmail, which forwards some messages back
//     through the client's postfix (SMTP relay to mail); a developer's
//     work: git, tar and gzip, gcc; ssh sessions to web; the web, database
//     and cache clients (curl, wrk, psql, pgbench, redis-cli).
//   - web: nginx in front of a small python3 application, apache2,
//     postgresql, redis-server, sshd.
//
// One `vigil record --syscalls` per host, run in the host's namespaces,
// records that host's processes (the counter counts its pid namespace
// only) to DIR/hosts/<host>.jsonl. Known-bad tools run at the same time,
// each in a pid namespace of its own with a recorder limited to the
// tool's process names (DIR/nongrata/<class>.jsonl), and so do the
// masquerading programs (DIR/masquerade/<name>.jsonl). Traffic stays in
// the lab's namespaces; everything ends with the lab, on an interrupt
// too.

// ServicesOptions configure vigil lab services.
type ServicesOptions struct {
	// Duration is how long the recordings run (default 10m; Fast: 90s).
	Duration time.Duration
	// Attack runs the live phase after the recording (services_live.go).
	Attack bool
	// Model is the classifier the live phase runs; empty: one of Kind
	// trained on this run's recording. With a model the recording is
	// left out.
	Model string
	// Kind is the kind trained for the live phase (default lstm; Fast:
	// logreg, which trains in seconds).
	Kind string
	// Healthy is how long the hosts run healthy with the engine live
	// before the attacks (default 5m; Fast: 45s).
	Healthy time.Duration
	// Stride is the classify engine's stride in the live phase (default
	// 1: a sequence every second per process).
	Stride int
	// Persist is the engine's persist in the live phase: consecutive
	// sequences showing a scenario before a report (default 3).
	Persist int
}

// servicesSubnet is the lab's network (inside its namespaces only).
const servicesSubnet = "10.77.0"

// serviceHost is one host of the lab.
type serviceHost struct {
	Name string
	IP   string
	Mix  string
}

var serviceHosts = []serviceHost{
	{"mail", servicesSubnet + ".1", "postfix (smtpd, local) delivering with procmail; dovecot IMAP and POP3; rsyslogd receiving remote logs; cron"},
	{"client", servicesSubnet + ".2", "fetchmail (POP3, IMAP) into procmail, postfix relaying to mail; git, tar, gzip, gcc; ssh sessions; curl, wrk, psql, pgbench, redis-cli clients"},
	{"web", servicesSubnet + ".3", "nginx in front of a python3 application; apache2; postgresql; redis-server; sshd; vsftpd"},
}

const (
	routerIP = servicesSubnet + ".254" // the bridge's address: the reverse shells' listeners
	badIP    = servicesSubnet + ".66"  // the known-bad tools' network
)

// servicesLab is one run of the services lab.
type servicesLab struct {
	*lab
	so    ServicesOptions
	state string         // the hosts' files (readable by the daemons' users)
	inits map[string]int // host -> pid of its first process
}

// CheckServices says why the services lab cannot run here, if it cannot:
// root, and the daemons and tools of its hosts.
func CheckServices() error {
	if os.Geteuid() != 0 {
		return errors.New("the services lab needs root: it creates network, pid and mount namespaces and loads the system call counter")
	}
	var missing []string
	for tool, pkg := range map[string]string{
		"ip": "iproute2", "unshare": "util-linux", "nsenter": "util-linux", "runuser": "util-linux",
		"postfix": "postfix", "dovecot": "dovecot-imapd and dovecot-pop3d", "fetchmail": "fetchmail", "procmail": "procmail",
		"nginx": "nginx", "apache2": "apache2", "redis-server": "redis-server", "redis-cli": "redis-tools",
		"sshd": "openssh-server", "vsftpd": "vsftpd", "ssh": "openssh-client", "ssh-keygen": "openssh-client", "cron": "cron", "rsyslogd": "rsyslog",
		"python3": "python3", "git": "git", "tar": "tar", "gzip": "gzip", "gcc": "gcc", "curl": "curl", "wrk": "wrk",
		"psql": "postgresql-client", "pgbench": "postgresql-client", "logger": "bsdutils", "useradd": "passwd",
		"ping": "iputils-ping", "vmstat": "procps", "top": "procps",
		"ncat": "ncat", "socat": "socat", "nmap": "nmap", "hydra": "hydra", "openssl": "openssl", "stress-ng": "stress-ng",
	} {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
		}
	}
	if _, err := postgresBin(); err != nil {
		missing = append(missing, "postgres and initdb (Debian package postgresql)")
	}
	for _, f := range []string{"/usr/lib/dovecot/imap", "/usr/lib/dovecot/pop3"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f+" (Debian packages dovecot-imapd, dovecot-pop3d)")
		}
	}
	for _, u := range []string{"postfix", "dovecot", "dovenull", "postgres", "redis", "www-data", "sshd"} {
		if _, err := user.Lookup(u); err != nil {
			missing = append(missing, "the "+u+" user (made by its Debian package)")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the services lab needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// postgresBin is the directory of the newest PostgreSQL server installed.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(dirs) == 0 {
		return "", errors.New("no PostgreSQL server in /usr/lib/postgresql")
	}
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return a < b
	})
	bin := filepath.Dir(dirs[len(dirs)-1])
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		return "", err
	}
	return bin, nil
}

// servicesMounts are the directories a host mounts afresh (tmpfs), which
// neither the lab's directory nor the vigil binary may be under.
var servicesMounts = []string{"/etc", "/dev/shm", "/run", "/var/log", "/var/spool", "/var/mail", "/var/cache", "/var/tmp", "/root", "/home",
	"/var/lib/postgresql", "/var/lib/redis", "/var/lib/dovecot", "/var/lib/postfix", "/var/lib/nginx"}

// RunServices builds the services lab, records its hosts, the known-bad
// tools and the masquerading programs for so.Duration into o.Dir, and
// tears everything down.
func RunServices(ctx context.Context, o Options, so ServicesOptions) (*ServicesResult, error) {
	if err := CheckServices(); err != nil {
		return nil, err
	}
	if so.Duration == 0 {
		so.Duration = 10 * time.Minute
		if o.Fast {
			so.Duration = 90 * time.Second
		}
	}
	if so.Healthy == 0 {
		so.Healthy = 5 * time.Minute
		if o.Fast {
			so.Healthy = 45 * time.Second
		}
	}
	if so.Kind == "" {
		so.Kind = "lstm"
		if o.Fast {
			so.Kind = "logreg"
		}
	}
	if so.Stride == 0 {
		so.Stride = 1
	}
	if so.Persist == 0 {
		so.Persist = 3
	}
	if so.Model != "" && !so.Attack {
		return nil, errors.New("a model is for the live phase: --model needs --attack")
	}
	if so.Model != "" {
		abs, err := filepath.Abs(so.Model)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("--model: %w", err)
		}
		so.Model = abs
	}
	if so.Duration < 20*time.Second {
		return nil, fmt.Errorf("--duration %v: want at least 20s (sequences are ten one-second vectors)", so.Duration)
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range servicesMounts {
		if o.Dir == d || strings.HasPrefix(o.Dir, d+"/") || strings.HasPrefix(o.Vigil, d+"/") {
			return nil, fmt.Errorf("the lab's directory and the vigil binary must not be under %s, which the hosts mount afresh", d)
		}
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	for _, sub := range []string{"hosts", "nongrata", "masquerade", "logs"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	l := &servicesLab{lab: newLab(o, "vs"), so: so, inits: map[string]int{}}
	l.o.Dir = filepath.Join(o.Dir, "logs") // the processes' logs
	defer func() {
		l.cleanup()
		l.removeState()
	}()
	res := &ServicesResult{Dir: o.Dir, Duration: so.Duration.Seconds()}
	l.say("services lab: building the network and %d hosts", len(serviceHosts))
	if err := l.buildNet(); err != nil {
		return nil, err
	}
	if err := l.buildHosts(ctx); err != nil {
		return nil, err
	}
	if so.Model == "" {
		l.say("recording for %v: %d hosts, %d known-bad tools, %d masquerading programs", so.Duration, len(serviceHosts), len(nongrata), len(masquerades))
		res.Start = time.Now().UTC()
		if err := l.record(ctx, o.Dir); err != nil {
			return nil, err
		}
		res.End = time.Now().UTC()
		if err := os.WriteFile(filepath.Join(o.Dir, "masquerade", "README"), []byte(masqueradeReadme), 0o644); err != nil {
			return nil, err
		}
		if err := res.summarize(); err != nil {
			return nil, err
		}
	} else {
		res.Duration = 0
	}
	if !so.Attack {
		return res, nil
	}
	lv := &ServicesLive{Model: so.Model, Kind: so.Kind, Stride: so.Stride, Persist: so.Persist}
	res.Live = lv
	if lv.Model == "" {
		lv.Model, lv.Trained = filepath.Join(o.Dir, "live", "classifier.vgm"), true
		if err := os.MkdirAll(filepath.Dir(lv.Model), 0o755); err != nil {
			return nil, err
		}
		if err := l.train(ctx, o.Dir, lv.Model, so.Kind); err != nil {
			return nil, err
		}
	} else if f, err := learn.LoadFile(lv.Model); err != nil {
		return nil, err
	} else {
		lv.Kind = f.Kind
	}
	if err := l.live(ctx, filepath.Join(o.Dir, "live"), lv, so.Healthy); err != nil {
		return nil, err
	}
	return res, nil
}

// removeState removes the daemons' directory once the processes killed
// with the lab's namespaces have stopped writing there.
func (l *servicesLab) removeState() {
	if l.state == "" {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.RemoveAll(l.state)
		if err == nil {
			if _, serr := os.Stat(l.state); errors.Is(serr, os.ErrNotExist) {
				return
			}
		}
		if time.Now().After(deadline) {
			l.o.Logger.Warn("the lab's daemon directory could not be removed", "dir", l.state, "err", err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildNet makes the router namespace with the lab's bridge, one network
// namespace per host and one for the known-bad tools, each joined to the
// bridge by a veth pair.
func (l *servicesLab) buildNet() error {
	names := []string{"rt", "bad"}
	for _, h := range serviceHosts {
		names = append(names, h.Name)
	}
	if err := l.addNamespaces(names...); err != nil {
		return err
	}
	rt := l.ns("rt")
	steps := [][]string{
		{"ip", "-n", rt, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", rt, "addr", "add", routerIP + "/24", "dev", "br0"},
		{"ip", "-n", rt, "link", "set", "br0", "up"},
	}
	join := func(name, ip string, i int) {
		a, b := fmt.Sprintf("%s-%d", l.tag, i), fmt.Sprintf("%s-%dp", l.tag, i)
		steps = append(steps,
			[]string{"ip", "link", "add", a, "type", "veth", "peer", "name", b},
			[]string{"ip", "link", "set", a, "netns", rt},
			[]string{"ip", "link", "set", b, "netns", l.ns(name)},
			[]string{"ip", "-n", rt, "link", "set", a, "master", "br0"},
			[]string{"ip", "-n", rt, "link", "set", a, "up"},
			[]string{"ip", "-n", l.ns(name), "link", "set", b, "name", "eth0"},
			[]string{"ip", "-n", l.ns(name), "addr", "add", ip + "/24", "dev", "eth0"},
			[]string{"ip", "-n", l.ns(name), "link", "set", "eth0", "up"},
			[]string{"ip", "-n", l.ns(name), "route", "add", "default", "via", routerIP},
		)
	}
	for i, h := range serviceHosts {
		join(h.Name, h.IP, i)
	}
	join("bad", badIP, len(serviceHosts))
	for _, s := range steps {
		if err := l.sh(s...); err != nil {
			return err
		}
	}
	return nil
}

// buildHosts writes every host's files and starts it: its first process
// mounts the host's own /etc and directories, starts the daemons and the
// load generators, and stays.
func (l *servicesLab) buildHosts(ctx context.Context) error {
	state, err := os.MkdirTemp("", "vigil-svc-")
	if err != nil {
		return err
	}
	l.state = state
	if err := os.Chmod(state, 0o755); err != nil {
		return err
	}
	cfg, err := l.writeHostFiles(state)
	if err != nil {
		return err
	}
	for _, h := range serviceHosts {
		script := cfg.prologue(h) + cfg.scripts[h.Name] + "\nwhile :; do wait; sleep 5; done\n"
		cmd, err := l.start(h.Name, "host-"+h.Name, "unshare", "--pid", "--mount", "--uts", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script)
		if err != nil {
			return err
		}
		if l.inits[h.Name], err = firstChild(cmd.Process.Pid, 10*time.Second); err != nil {
			return l.notUp("host-"+h.Name, err)
		}
	}
	// Wait for each host's daemons to answer from another host.
	checks := []struct{ from, what, cmd string }{
		{"client", "mail's SMTP", "printf 'QUIT\\r\\n' | ncat -w 2 " + serviceHosts[0].IP + " 25 | grep -q '^220'"},
		{"client", "mail's POP3", "printf 'QUIT\\r\\n' | ncat -w 2 " + serviceHosts[0].IP + " 110 | grep -q '^+OK'"},
		{"client", "mail's IMAP", "printf 'a LOGOUT\\r\\n' | ncat -w 2 " + serviceHosts[0].IP + " 143 | grep -q OK"},
		{"client", "web's nginx and application", "curl -sf -m 2 http://" + serviceHosts[2].IP + "/app/ >/dev/null"},
		{"client", "web's apache2", "curl -sf -m 2 http://" + serviceHosts[2].IP + ":8080/ >/dev/null"},
		{"client", "web's postgresql", "psql -h " + serviceHosts[2].IP + " -U postgres -d lab -Atc 'select 1' >/dev/null"},
		{"client", "web's redis-server", "redis-cli -h " + serviceHosts[2].IP + " ping | grep -q PONG"},
		{"client", "web's vsftpd", "curl -sf -m 2 ftp://" + serviceHosts[2].IP + "/release.txt >/dev/null"},
		{"client", "web's sshd", "printf '' | ncat -w 2 " + serviceHosts[2].IP + " 22 | grep -q SSH"},
	}
	for _, c := range checks {
		deadline := time.Now().Add(90 * time.Second)
		for {
			err := l.runIn(ctx, c.from, 10*time.Second, c.cmd)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not answer (logs in %s and %s): %w", c.what, l.o.Dir, l.state, err)
			}
			time.Sleep(time.Second)
		}
	}
	l.say("hosts up: %s", serviceHostList())
	return nil
}

func serviceHostList() string {
	var s []string
	for _, h := range serviceHosts {
		s = append(s, h.Name+" "+h.IP)
	}
	return strings.Join(s, ", ")
}

// runIn runs a shell command in host's namespaces (its pid, mount,
// network and UTS namespaces), waiting for it.
func (l *servicesLab) runIn(ctx context.Context, host string, limit time.Duration, script string) error {
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	nsenter, err := lookPath("nsenter")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(cctx, nsenter, "-t", strconv.Itoa(l.inits[host]), "-p", "-m", "-n", "-u", "--", "sh", "-c", script)
	cmd.Env = labEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func labEnv() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
}

// record runs the recorders: one per host in the host's namespaces, one
// per known-bad tool and per masquerading program in a pid namespace of
// its own (in the lab's "bad" network namespace) beside the program,
// limited to its process names. It returns when all have ended.
func (l *servicesLab) record(ctx context.Context, out string) error {
	secs := int(l.so.Duration.Seconds())
	rec := func(file, hostID string, procs []string) string {
		args := []string{l.o.Vigil, "record", "--syscalls", "--duration", fmt.Sprintf("%ds", secs), "--out", file, "--host-id", hostID, "--log-level", "warn"}
		if len(procs) > 0 {
			args = append(args, "--syscall-procs", strings.Join(procs, ","))
		}
		return shellJoin(args)
	}
	var cmds []<-chan error
	for _, h := range serviceHosts {
		cmd, err := l.startDone(h.Name, "record-"+h.Name, "nsenter", "-t", strconv.Itoa(l.inits[h.Name]), "-p", "-m", "-u", "--",
			"sh", "-c", "exec "+rec(filepath.Join(out, "hosts", h.Name+".jsonl"), h.Name, nil))
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	// The reverse shells' listeners, in the router namespace: each feeds
	// its shell a few commands a second.
	for i := range reverseShells {
		if _, err := l.start("rt", fmt.Sprintf("listener-%d", i), "sh", "-c", fmt.Sprintf(
			"(while :; do echo 'id; uname -a; ls -la /etc | wc -l; cat /etc/hostname /proc/loadavg'; sleep 1; done) | ncat -l -p %d >/dev/null", 4441+i)); err != nil {
			return err
		}
	}
	// Every tool's pid namespace starts a labrun (a copy of sh, so that
	// the driving shell is not one of the names recorded), which starts
	// the recorder, waits for it to have opened the counter, runs the
	// tool for the rest of the time and waits for the recorder.
	labrun := filepath.Join(l.state, "bin", "labrun")
	start := func(dir, name string, procs []string, body string) error {
		file := filepath.Join(out, dir, name+".jsonl")
		script := fmt.Sprintf(`cd %[4]s
export TMPDIR=%[4]s/tmp
%[1]s &
r=$!
for i in $(seq 100); do [ -e %[2]s ] && break; sleep 0.1; done
sleep 1
END=$(( $(date +%%s) + %[3]d - 3 ))
# The seconds left, at least 1 (timeout 0 would never end a tool).
left() { l=$(( END - $(date +%%s) )); [ $l -lt 1 ] && l=1; echo $l; }
%[5]s
wait $r
`, rec(file, dir+"-"+name, procs), shellJoin([]string{file}), secs, l.state, body)
		cmd, err := l.startDone("bad", dir+"-"+name, "unshare", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc", labrun, "-c", script)
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		return nil
	}
	for _, t := range nongrata {
		if err := start("nongrata", t.class, t.procs, t.script(l.state)); err != nil {
			return err
		}
	}
	for _, m := range masquerades {
		if err := start("masquerade", m.name, []string{m.name}, m.script(l.state)); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = <-c
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	limit := time.After(l.so.Duration + 90*time.Second)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	began := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit:
			return fmt.Errorf("the recorders did not end %v after the recording's end (logs in %s)", 90*time.Second, l.o.Dir)
		case <-tick.C:
			l.say("recording: %v of %v", time.Since(began).Round(time.Second), l.so.Duration)
		case <-done:
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("recording (logs in %s): %w", l.o.Dir, err)
			}
			return nil
		}
	}
}

// startDone starts a command in a network namespace like start and
// returns a channel that receives its outcome (named after its log).
func (l *servicesLab) startDone(ns, logName string, args ...string) (<-chan error, error) {
	_, done, err := l.startEnv(ns, logName, labEnv(), args...)
	return done, err
}

// shellJoin quotes args for sh.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
