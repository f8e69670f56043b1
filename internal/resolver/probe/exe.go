package probe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Defaults and bounds of an exe-probe.
const (
	DefaultMaxProcesses = 256
	maxMaxProcesses     = 4096
	maxExeNames         = 64
	maxBaseline         = 1024
	// maxExeName is the longest file name (NAME_MAX).
	maxExeName = 255
	maxHostLen = 253
)

// ExeSettings are an exe-probe's section of a resource object.
type ExeSettings struct {
	// Names are executables' base names: every running process whose
	// executable is so named is checked, beside the decision's subject
	// process when it names one.
	Names []string `yaml:"names"`
	// Dpkg compares an executable with the MD5 that the Debian package
	// listing it gives.
	Dpkg bool `yaml:"dpkg"`
	// Baseline maps executables' absolute paths to their SHA-256; an
	// executable it names is compared with it, whatever Dpkg says.
	Baseline map[string]string `yaml:"baseline"`
	// Host is the id under which reports name this host (default: its
	// hostname); a subject process on another host is not probed.
	Host string `yaml:"host"`
	// DpkgInfoDir holds the packages' md5sums lists.
	DpkgInfoDir string `yaml:"dpkg_info_dir"`
	// MaxFileBytes bounds each executable read.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxProcesses bounds the processes checked in one run.
	MaxProcesses int `yaml:"max_processes"`

	base string
}

func newExeSettings() config.Settings {
	host, _ := os.Hostname()
	return &ExeSettings{Host: host, DpkgInfoDir: DefaultDpkgInfoDir, MaxFileBytes: DefaultMaxFileBytes, MaxProcesses: DefaultMaxProcesses}
}

// Validate checks the names, the expectations (dpkg or a baseline of
// SHA-256 sums by absolute path), the host and the bounds.
func (s *ExeSettings) Validate(p *config.Problems, path string) {
	s.base = p.BaseDir
	names := config.Join(path, "names")
	if len(s.Names) > maxExeNames {
		p.Addf(names, "%d names: at most %d", len(s.Names), maxExeNames)
	}
	seen := map[string]bool{}
	for i, n := range s.Names {
		at := config.Index(names, i)
		switch {
		case n == "":
			p.Addf(at, "empty: an executable's base name (apache2, sshd)")
		case strings.ContainsRune(n, '/'):
			p.Addf(at, "%q holds a slash: want the executable's base name (apache2, not /usr/sbin/apache2)", action.Clip(n, 200))
		case n == "." || n == "..":
			p.Addf(at, "%q is no file name", n)
		case len(n) > maxExeName:
			p.Addf(at, "%d bytes: a file name has at most %d", len(n), maxExeName)
		case !printable(n):
			p.Addf(at, "%q holds a control character or is not UTF-8", action.Clip(n, 200))
		case seen[n]:
			p.Addf(at, "%q is named twice", n)
		}
		seen[n] = true
	}
	base := config.Join(path, "baseline")
	if len(s.Baseline) > maxBaseline {
		p.Addf(base, "%d executables: at most %d", len(s.Baseline), maxBaseline)
	}
	for exe, sum := range s.Baseline {
		at := config.Join(base, exe)
		switch {
		case !filepath.IsAbs(exe):
			p.Addf(at, "%q is not an absolute path", action.Clip(exe, 200))
		case filepath.Clean(exe) != exe:
			p.Addf(at, "%q is not a clean path: write %q, as /proc/PID/exe names it", action.Clip(exe, 200), action.Clip(filepath.Clean(exe), 200))
		case !isHex(sum, sha256.Size*2):
			p.Addf(at, "want 64 hex digits (sha256sum's output), got %q", action.Clip(sum, 80))
		}
	}
	if !s.Dpkg && len(s.Baseline) == 0 {
		p.Addf(path, "missing: dpkg: true or a baseline (executable path: SHA-256), what executables are compared with")
	}
	if s.Host != "" && (len(s.Host) > maxHostLen || !printable(s.Host) || strings.ContainsFunc(s.Host, unicode.IsSpace)) {
		p.Addf(config.Join(path, "host"), "%q is not a host id (printable, no spaces, at most %d bytes)", action.Clip(s.Host, 80), maxHostLen)
	}
	checkMaxFileBytes(p, path, s.MaxFileBytes)
	if s.MaxProcesses < 1 || s.MaxProcesses > maxMaxProcesses {
		p.Addf(config.Join(path, "max_processes"), "must be between 1 and %d", maxMaxProcesses)
	}
	if s.Dpkg {
		checkDpkgDir(p, path, s.base, s.DpkgInfoDir, "dpkg: true asks for it")
	}
}

// printable says whether s is UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func exeFactory() action.Factory {
	return action.Factory{
		Kind:  KindExe,
		Needs: []string{"process"},
		// Without names, only the subject's process is checked.
		NeedsFor: func(cs config.Settings) []string {
			if s, ok := cs.(*ExeSettings); ok && len(s.Names) > 0 {
				return nil
			}
			return []string{"process"}
		},
		NewSettings: newExeSettings,
		New: func(_ context.Context, cs config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := cs.(*ExeSettings)
			if !ok {
				return nil, fmt.Errorf("%s: settings of type %T", KindExe, cs)
			}
			return newExeProbe(s, deps), nil
		},
	}
}

// ExeProbe hashes the executables of running processes on the monitor's
// host, as they run (through /proc/PID/exe), and compares them.
type ExeProbe struct {
	names    []string
	named    map[string]bool
	dpkg     bool
	baseline map[string]string
	host     string
	dpkgDir  string
	max      int64
	maxProcs int
	proc     string
}

var _ action.Method = (*ExeProbe)(nil)

func newExeProbe(s *ExeSettings, deps action.Deps) *ExeProbe {
	e := &ExeProbe{names: append([]string(nil), s.Names...), named: map[string]bool{}, dpkg: s.Dpkg,
		baseline: map[string]string{}, host: s.Host, max: s.MaxFileBytes, maxProcs: s.MaxProcesses, proc: "/proc"}
	for _, n := range s.Names {
		e.named[n] = true
	}
	for p, sum := range s.Baseline {
		e.baseline[p] = strings.ToLower(sum)
	}
	if s.Dpkg {
		e.dpkgDir = deps.Path(s.base, s.DpkgInfoDir)
	}
	return e
}

// subject returns the request's subject process, or an error saying why
// it may not be probed here (nil, nil: the request names none).
func (e *ExeProbe) subject(req action.Request) (*action.Process, error) {
	sp := req.Subject.Process
	if sp == nil {
		if len(e.names) == 0 {
			return nil, fmt.Errorf("%s: the subject names no process and no names are configured: nothing to check", KindExe)
		}
		return nil, nil
	}
	if sp.PID < 1 || sp.Start == 0 {
		return nil, fmt.Errorf("%s: %w: the subject's process (pid %d, start %d) lacks its pid or start time: a reused pid could be probed", KindExe, action.ErrRefused, sp.PID, sp.Start)
	}
	if h := req.Subject.Host; h != "" && h != e.host {
		return nil, fmt.Errorf("%s: %w: process %d runs on host %s; this probe reads only its own host (%s)", KindExe, action.ErrRefused, sp.PID, strconv.Quote(h), strconv.Quote(e.host))
	}
	return sp, nil
}

// Plan says which processes would be checked and against what.
func (e *ExeProbe) Plan(req action.Request) (string, error) {
	sp, err := e.subject(req)
	if err != nil {
		return "", err
	}
	var which []string
	if sp != nil {
		exe := ""
		if sp.Exe != "" {
			exe = ", " + strconv.Quote(sp.Exe)
		}
		which = append(which, fmt.Sprintf("process %d (started at tick %d%s) if its pid and start time still match", sp.PID, sp.Start, exe))
	}
	if len(e.names) > 0 {
		which = append(which, "every running process whose executable is named "+quoteOr(e.names))
	}
	var expect []string
	if len(e.baseline) > 0 {
		expect = append(expect, fmt.Sprintf("the SHA-256 of the baseline for %s", quoteAnd(sortedKeys(e.baseline))))
	}
	switch {
	case e.dpkg && len(e.baseline) > 0:
		expect = append(expect, "other executables: the MD5 of the package that lists them in "+e.dpkgDir)
	case e.dpkg:
		expect = append(expect, "the MD5 of the package that lists the executable in "+e.dpkgDir)
	default:
		expect = append(expect, "any other executable is reported as not in the baseline")
	}
	return fmt.Sprintf("hash on this host the running executables (read through /proc/PID/exe) of %s, at most %d %s, at most %d bytes each; expect %s",
		strings.Join(which, " and "), e.maxProcs, plural(e.maxProcs, "process", "processes"), e.max, strings.Join(expect, "; ")), nil
}

// target is one process to check.
type target struct {
	pid   int
	start uint64
	link  string
}

// Execute checks the subject's process (refusing it, with nothing hashed,
// when its pid now belongs to another process) and every running process
// with one of the names. Differences (a hash, an executable deleted or
// replaced since the process started, an executable with no expectation)
// are joined *ErrMismatch errors; a process that cannot be checked, or a
// name that no process runs under, is an error of its own. Every process
// is checked even when one fails.
func (e *ExeProbe) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	sp, err := e.subject(req)
	if err != nil {
		return action.Outcome{}, err
	}
	var targets []target
	if sp != nil {
		t, err := e.subjectTarget(sp)
		if err != nil {
			return action.Outcome{}, err
		}
		targets = append(targets, t)
	}
	var all []error
	ended := 0
	if len(e.names) > 0 {
		found, errs, err := e.scan(ctx, sp)
		if err != nil {
			return action.Outcome{}, fmt.Errorf("%s: %w", KindExe, err)
		}
		targets = append(targets, found...)
		all = append(all, errs...)
	}
	var owners map[string]dpkgEntry
	if e.dpkg {
		var paths []string
		for _, t := range targets {
			if p := strings.TrimSuffix(t.link, deletedSuffix); e.baseline[p] == "" {
				paths = append(paths, p, t.link)
			}
		}
		if len(paths) > 0 {
			if owners, err = ownersOf(ctx, e.dpkgDir, paths); err != nil {
				return action.Outcome{}, fmt.Errorf("%s: %w", KindExe, err)
			}
		}
	}
	sums := map[imageKey]string{}
	checked := 0
	var passes []pass
	for i, t := range targets {
		if err := ctx.Err(); err != nil {
			return action.Outcome{}, fmt.Errorf("%s: %w", KindExe, err)
		}
		p, errs, err := e.check(ctx, t, owners, sums)
		if errors.Is(err, errGone) {
			if i == 0 && sp != nil {
				all = append(all, fmt.Errorf("pid %d (start %d) ended while it was probed; not checked", t.pid, t.start))
			} else {
				ended++
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return action.Outcome{}, fmt.Errorf("%s: %w", KindExe, err)
			}
			all = append(all, err)
			checked++
			continue
		}
		checked++
		all = append(all, errs...)
		if len(errs) == 0 {
			passes = append(passes, p)
		}
	}
	passText := passDetail(passes)
	note := ""
	if ended > 0 {
		note = fmt.Sprintf(" (%d more ended before they were read)", ended)
	}
	if len(all) > 0 {
		msgs := make([]string, len(all))
		for i, err := range all {
			msgs[i] = err.Error()
		}
		detail := "fail: " + strings.Join(msgs, "; ")
		if passText != "" {
			detail += "; pass: " + passText
		}
		return action.Outcome{Detail: detail + note}, fmt.Errorf("%s: %d %s checked, %d %s: %w", KindExe,
			checked, plural(checked, "process", "processes"), len(all), plural(len(all), "failure", "failures"), errors.Join(all...))
	}
	return action.Outcome{Detail: "pass: " + passText + note}, nil
}

// subjectTarget checks that the subject's pid still belongs to the
// process the decision names: the same start time and, when the subject
// gives it, the same executable. Otherwise the request is refused and
// nothing is read beyond the process's stat and link.
func (e *ExeProbe) subjectTarget(sp *action.Process) (target, error) {
	start, err := procStart(e.proc, sp.PID)
	if errors.Is(err, errGone) {
		return target{}, fmt.Errorf("%s: %w: process %d no longer runs; nothing probed", KindExe, action.ErrRefused, sp.PID)
	}
	if err != nil {
		return target{}, fmt.Errorf("%s: %w", KindExe, err)
	}
	if start != sp.Start {
		return target{}, fmt.Errorf("%s: %w: pid %d belongs to a process started at tick %d, not %d: a reused pid is never probed; nothing probed",
			KindExe, action.ErrRefused, sp.PID, start, sp.Start)
	}
	link, err := procExeLink(e.proc, sp.PID)
	if errors.Is(err, errGone) {
		return target{}, fmt.Errorf("%s: %w: process %d has no executable (it ended, or is a kernel thread); nothing probed", KindExe, action.ErrRefused, sp.PID)
	}
	if err != nil {
		return target{}, fmt.Errorf("%s: process %d: %w", KindExe, sp.PID, err)
	}
	if sp.Exe != "" && strings.TrimSuffix(sp.Exe, deletedSuffix) != strings.TrimSuffix(link, deletedSuffix) {
		return target{}, fmt.Errorf("%s: %w: process %d now runs %s, not %s; nothing probed", KindExe, action.ErrRefused, sp.PID, strconv.Quote(link), strconv.Quote(sp.Exe))
	}
	return target{pid: sp.PID, start: sp.Start, link: link}, nil
}

// scan finds the running processes whose executable has one of the names
// (skipping the subject's), at most maxProcs in all with the subject. A
// name no process runs under, and processes beyond the bound, come back
// as errors.
func (e *ExeProbe) scan(ctx context.Context, sp *action.Process) ([]target, []error, error) {
	ents, err := os.ReadDir(e.proc)
	if err != nil {
		return nil, nil, err
	}
	room := e.maxProcs
	if sp != nil {
		room--
	}
	var found []target
	matched := map[string]int{}
	denied, over := 0, 0
	for _, ent := range ents {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid < 1 || (sp != nil && pid == sp.PID) {
			continue
		}
		link, err := procExeLink(e.proc, pid)
		if err != nil {
			if !errors.Is(err, errGone) {
				denied++
			}
			continue
		}
		name := exeBase(link)
		if !e.named[name] {
			continue
		}
		start, err := procStart(e.proc, pid)
		if err != nil {
			if !errors.Is(err, errGone) {
				denied++
			}
			continue
		}
		// The start time is that of the process whose link was read only
		// if the link is still the same (the pid went to no other).
		if again, err := procExeLink(e.proc, pid); err != nil || again != link {
			continue
		}
		matched[name]++
		if len(found) >= room {
			over++
			continue
		}
		found = append(found, target{pid: pid, start: start, link: link})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].pid < found[j].pid })
	var errs []error
	for _, n := range e.names {
		if matched[n] == 0 {
			why := ""
			if denied > 0 {
				why = fmt.Sprintf(" (the executables of %d %s could not be read)", denied, plural(denied, "process", "processes"))
			}
			errs = append(errs, fmt.Errorf("no running process named %s%s", strconv.Quote(n), why))
		}
	}
	if over > 0 {
		errs = append(errs, fmt.Errorf("%d more running %s named %s beyond max_processes %d; not checked", over, plural(over, "process", "processes"), quoteOr(e.names), e.maxProcs))
	}
	return found, errs, nil
}

// imageKey names a running image's file and version, so that processes
// running one file are hashed once per run.
type imageKey struct {
	dev, ino   uint64
	size       int64
	mtim, ctim syscall.Timespec
	what       string
}

// pass is a process whose executable matched.
type pass struct {
	pid     int
	start   uint64
	path    string
	matched string
}

// check hashes one process's running image and compares it; errGone when
// the process ended (or its pid went to another) before it was read.
func (e *ExeProbe) check(ctx context.Context, t target, owners map[string]dpkgEntry, sums map[imageKey]string) (pass, []error, error) {
	dir := filepath.Join(e.proc, strconv.Itoa(t.pid))
	f, err := os.Open(filepath.Join(dir, "exe"))
	if err != nil {
		if gone(err) {
			return pass{}, nil, errGone
		}
		return pass{}, nil, fmt.Errorf("pid %d (start %d) %s: %w; not checked", t.pid, t.start, strconv.Quote(t.link), err)
	}
	defer f.Close()
	// What was opened is the image of the process named only if the pid
	// still has the same start time and executable afterwards.
	if start, err := procStart(e.proc, t.pid); errors.Is(err, errGone) || err == nil && start != t.start {
		return pass{}, nil, errGone
	} else if err != nil {
		return pass{}, nil, err
	}
	if link, err := procExeLink(e.proc, t.pid); errors.Is(err, errGone) {
		return pass{}, nil, errGone
	} else if err == nil && link != t.link {
		return pass{}, nil, fmt.Errorf("pid %d (start %d) ran %s, then %s, while it was probed; not checked", t.pid, t.start, strconv.Quote(t.link), strconv.Quote(link))
	}
	path, ondisk, err := onDisk(e.proc, t.pid, t.link, f)
	if err != nil {
		return pass{}, nil, fmt.Errorf("pid %d (start %d) %s: %w; not checked", t.pid, t.start, strconv.Quote(t.link), err)
	}
	var diffs []error
	if !ondisk {
		diffs = append(diffs, &ErrMismatch{PID: t.pid, Start: t.start, Target: path, What: "executable",
			Want: "the file on disk", Got: "deleted or replaced since the process started"})
	}
	var exp expectation
	switch sum, ok := e.baseline[path]; {
	case ok:
		exp = sha256Expect(sum, "the baseline's SHA-256")
	case e.dpkg:
		if exp, ok = dpkgExpect(owners, path); !ok {
			m := ownerMismatch(path, e.dpkgDir)
			m.PID, m.Start = t.pid, t.start
			return pass{}, append(diffs, m), nil
		}
	default:
		return pass{}, append(diffs, &ErrMismatch{PID: t.pid, Start: t.start, Target: path, What: "baseline",
			Want: "a SHA-256 for it in baseline", Got: "none; not checked"}), nil
	}
	got, err := e.sum(ctx, f, path, exp, sums)
	if err != nil {
		return pass{}, nil, fmt.Errorf("pid %d (start %d): %w", t.pid, t.start, err)
	}
	if d := exp.compare(path, got); d != nil {
		d.PID, d.Start = t.pid, t.start
		diffs = append(diffs, d)
	}
	return pass{pid: t.pid, start: t.start, path: path, matched: exp.matched(got)}, diffs, nil
}

// sum hashes the open image f, once per image and expectation in a run.
func (e *ExeProbe) sum(ctx context.Context, f *os.File, path string, exp expectation, sums map[imageKey]string) (string, error) {
	var key imageKey
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	sys, cacheable := st.Sys().(*syscall.Stat_t)
	if cacheable {
		key = imageKey{dev: uint64(sys.Dev), ino: sys.Ino, size: sys.Size, mtim: sys.Mtim, ctim: sys.Ctim, what: exp.what}
		if got, ok := sums[key]; ok {
			return got, nil
		}
	}
	got, err := hashOpen(ctx, f, path, e.max, exp.newHash())
	if err != nil {
		return "", err
	}
	if cacheable {
		sums[key] = got
	}
	return got, nil
}

// passDetail names the processes that passed, by executable.
func passDetail(ps []pass) string {
	type group struct {
		path, matched string
		procs         []string
	}
	var groups []*group
	by := map[string]*group{}
	for _, p := range ps {
		k := p.path + "\x00" + p.matched
		g := by[k]
		if g == nil {
			g = &group{path: p.path, matched: p.matched}
			by[k] = g
			groups = append(groups, g)
		}
		g.procs = append(g.procs, fmt.Sprintf("%d (start %d)", p.pid, p.start))
	}
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = fmt.Sprintf("%s of %s %s matches %s", strconv.Quote(g.path), plural(len(g.procs), "pid", "pids"), strings.Join(g.procs, ", "), g.matched)
	}
	return strings.Join(out, "; ")
}

func quoteOr(names []string) string  { return quoteList(names, " or ") }
func quoteAnd(names []string) string { return quoteList(names, " and ") }

func quoteList(names []string, last string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + last + q[len(q)-1]
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
