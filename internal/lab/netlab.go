package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The parts every lab shares: namespaces and the processes started in
// them, torn down in the end; the lab's directory; waiting for a service.

// lookPath also searches the sbin directories a non-login PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// lab is one run's namespaces and processes.
type lab struct {
	o      Options
	tag    string // unique prefix of namespace and link names
	id     int    // the number in tag, which also picks the lab's subnets
	procs  []*exec.Cmd
	netns  []string
	links  []string
	mu     sync.Mutex
	mgmtIP string
	// www holds the servers' documents and application, readable by the
	// user Apache's workers run as (the lab's directory may not be).
	www string
}

// newLab makes a lab whose namespaces and links are named PREFIX<id>...,
// id being the process's pid modulo 10,000 or, when names with that id
// are already there, the next free one: a lab that was killed before it
// could clean up (SIGKILL, the machine stopped) leaves names behind, and
// they must not make the next run fail.
func newLab(o Options, prefix string) *lab {
	id := os.Getpid() % 10000
	for i := 0; i < 10000 && namesTaken(fmt.Sprintf("%s%d", prefix, id)); i++ {
		id = (id + 1) % 10000
	}
	return &lab{o: o, tag: fmt.Sprintf("%s%d", prefix, id), id: id}
}

// namesTaken reports whether a network namespace (TAG-name) or a link
// (TAG followed by a letter) with the tag exists.
func namesTaken(tag string) bool {
	for _, dir := range []string{"/run/netns", "/sys/class/net"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), tag)
			if ok && rest != "" && (rest[0] < '0' || rest[0] > '9') {
				return true
			}
		}
	}
	return false
}

func (l *lab) ns(name string) string { return l.tag + "-" + name }

func (l *lab) sh(args ...string) error {
	path, err := lookPath(args[0])
	if err != nil {
		return err
	}
	out, err := exec.Command(path, args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// in runs a command in a namespace, waiting for it.
func (l *lab) in(ns string, args ...string) error {
	return l.sh(append([]string{"ip", "netns", "exec", l.ns(ns)}, args...)...)
}

// addNamespaces makes a network namespace for each name, noted for
// cleanup, with its loopback up.
func (l *lab) addNamespaces(names ...string) error {
	for _, name := range names {
		if err := l.sh("ip", "netns", "add", l.ns(name)); err != nil {
			return err
		}
		l.netns = append(l.netns, l.ns(name))
		if err := l.in(name, "ip", "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	return nil
}

// start starts a long-running command in a namespace; its output goes to
// a log file in the lab's directory.
func (l *lab) start(ns, logName string, args ...string) (*exec.Cmd, error) {
	cmd, _, err := l.startEnv(ns, logName, append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), args...)
	return cmd, err
}

// startEnv starts a command in a network namespace with the environment
// env, its output to a log file in the lab's directory, noted for
// cleanup; the channel receives its outcome (named after its log).
func (l *lab) startEnv(ns, logName string, env []string, args ...string) (*exec.Cmd, <-chan error, error) {
	ipPath, err := lookPath("ip")
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Create(filepath.Join(l.o.Dir, logName+".log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(ipPath, append([]string{"netns", "exec", l.ns(ns)}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", strings.Join(args, " "), err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, cmd)
	l.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		f.Close()
		if err != nil {
			err = fmt.Errorf("%s: %w", logName, err)
		}
		done <- err
	}()
	return cmd, done, nil
}

// cleanup stops every process and removes every namespace and link the lab
// made; it is safe to call more than once.
func (l *lab) cleanup() {
	l.mu.Lock()
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()
	for _, p := range procs {
		if p.Process != nil {
			_ = p.Process.Signal(os.Interrupt)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, p := range procs {
		for p.ProcessState == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if p.ProcessState == nil && p.Process != nil {
			_ = p.Process.Kill()
		}
	}
	for _, n := range l.netns {
		// Killing what is left in the namespace (the servers' PID
		// namespaces die with their first process).
		if out, err := exec.Command("ip", "netns", "pids", n).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
		_ = exec.Command("ip", "netns", "del", n).Run()
	}
	for _, link := range l.links {
		_ = exec.Command("ip", "link", "del", link).Run()
	}
	l.netns, l.links = nil, nil
	if l.www != "" {
		_ = os.RemoveAll(l.www)
		l.www = ""
	}
}

// marker names the file that marks a directory as a lab's: a later run
// may clear what an earlier one left there, and nothing else.
const marker = ".vigil-lab"

// prepareDir makes dir the lab's: new, empty, or a previous lab's, whose
// store, spools and outputs are removed so that each run starts afresh.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("%s is not empty and holds no earlier lab (%s): give the lab a directory of its own", dir, marker)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("files of a vigil lab; a later run replaces them\n"), 0o644)
}

// monitorStartLimit bounds the wait for a lab's monitor to answer (a
// loaded machine running a race-detector build takes its time).
const monitorStartLimit = 60 * time.Second

// notUp says that the lab's process that logs to name.log did not come
// up, with the end of its log, so that the reason travels with the error.
func (l *lab) notUp(name string, err error) error {
	path := filepath.Join(l.o.Dir, name+".log")
	tail := ""
	if b, rerr := os.ReadFile(path); rerr == nil {
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		tail = strings.Join(lines[max(0, len(lines)-15):], "\n")
	}
	return fmt.Errorf("the %s did not come up (log %s, ending:\n%s\n): %w", name, path, tail, err)
}

func waitHTTP(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// The monitor's dashboard listens off loopback (on the management link),
// where its API needs a login: the lab makes a viewer account in the
// monitor's data directory before starting it, its password random and
// kept in the lab's directory (dashboard-login.txt, for a person to use),
// and logs in with dashboardClient once the monitor is up.
const labUser = "lab"

// dashboardClient carries the lab's dashboard session cookie.
var dashboardClient = func() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: time.Minute}
}()

// labAccount creates the lab's viewer account in dataDir and returns its
// password.
func labAccount(vigil, dataDir, dir string) (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(b)
	cmd := exec.Command(vigil, "users", "add", labUser, "--role", "viewer", "--replace", "--data", dataDir)
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("creating the dashboard's account: %w: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-login.txt"), []byte("user "+labUser+"\npassword "+pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// dashboardPasswords are the passwords given to dashboardLogin by base
// URL: getJSON logs in again with one when a session has ended (a lab
// can run longer than a session stays idle).
var dashboardPasswords sync.Map

// dashboardLogin logs dashboardClient in to the dashboard at base.
func dashboardLogin(base, pw string) error {
	dashboardPasswords.Store(base, pw)
	body, _ := json.Marshal(map[string]string{"user": labUser, "password": pw})
	resp, err := dashboardClient.Post(base+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("logging in to the dashboard: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("logging in to the dashboard: %s", resp.Status)
	}
	return nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := dashboardClient.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		base := req.URL.Scheme + "://" + req.URL.Host
		pw, ok := dashboardPasswords.Load(base)
		if !ok {
			return fmt.Errorf("%s: %s (no login for %s)", url, resp.Status, base)
		}
		if err := dashboardLogin(base, pw.(string)); err != nil {
			return err
		}
		if resp, err = dashboardClient.Do(req.Clone(ctx)); err != nil {
			return err
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(bufio.NewReader(resp.Body)).Decode(v)
}

// apacheConfig is the start of a prefork Apache configuration every lab's
// web server shares: its files under root, the port, the modules besides
// the basic ones, workers as nobody.
func apacheConfig(root, name string, port int, modules ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `ServerRoot %[1]s
ServerName %[2]s
Listen %[3]d
PidFile %[1]s/apache2.pid
Mutex file:%[1]s default
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
`, root, name, port)
	for _, m := range modules {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	fmt.Fprintf(&b, `TypesConfig /etc/mime.types
User nobody
Group nogroup
ErrorLog %s/error.log
`, root)
	return b.String()
}
