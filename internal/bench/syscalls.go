package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/hostevents"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
	"github.com/vigil-ids/vigil/internal/timerslack"
)

// SyscallBenchOptions configure `vigil bench syscalls`.
type SyscallBenchOptions struct {
	// Vigil is the vigil binary, whose hidden worker makes the getppid
	// loop and the active processes.
	Vigil string
	// Calls is the length of the getppid loop (default 5,000,000).
	Calls int
	// Tree is the directory the realistic workload archives and
	// compresses (tar | gzip -1; default Go's own source tree).
	Tree string
	// Reps is how many times each workload runs in each mode (default 5;
	// strace runs once, it is slow).
	Reps int
	// Strace is the peer; empty or missing skips it (and says so).
	Strace string
	// Lighttpd and Wrk make the web workload: lighttpd serving a small
	// page on loopback, loaded by wrk for WebTime (default 5 s) a run;
	// either missing skips it (and says so).
	Lighttpd, Wrk string
	WebTime       time.Duration
	// Active is how many busy processes the drain is measured with
	// (default 100), for ActiveTime (default 10 s).
	Active     int
	ActiveTime time.Duration
	// Interval is the counter's interval (default 1 s).
	Interval time.Duration
	// Execs is how many processes the exec workload starts, one after
	// another (default 2,000). The paced exec storm starts as many, at
	// ExecRate a second (default 1,000; below 0 skips it).
	Execs, ExecRate int
	// BuildFiles is the size of the C project the build workload makes
	// with `make -j2` (default 40 files); GitFiles the tree the git
	// workload runs `git status` on (default 20,000 files), GitLoops how
	// many times (default 20). Either tool missing skips its workload
	// (and says so); BuildFiles or GitFiles below 0 skips it too.
	BuildFiles, GitFiles, GitLoops int
	// Opens is how many opens of a watched file the event flood makes
	// (default 1,000,000), from FloodWorkers processes at once (default
	// 2), as fast as they can; below 0 skips it. The paced flood makes as
	// many at FloodRate opens a second between them (default 100,000);
	// FloodRate below 0 skips it.
	Opens, FloodWorkers, FloodRate int
	// Exits is the agent's agent.events.exits on its whole path (default
	// all): which process ends are PROC.EXIT observations.
	Exits string
	// Work is where the build and git workloads are made (default a
	// temporary directory, removed at the end).
	Work     string
	Progress io.Writer
	pin      string    // taskset, when the workload is pinned to the last CPU
	bus      *agentBus // events mode: the bus the agent's observations go to
	// slack is this process's timer slack at the start: every workload
	// starts with it, whatever the agent's path set meanwhile.
	slack time.Duration
}

// SyscallMeasure is one workload in one mode.
type SyscallMeasure struct {
	Workload string    `json:"workload"`
	Mode     string    `json:"mode"` // bare, vigil (the counter), events (the host events), strace
	Runs     []float64 `json:"runs_s"`
	Median   float64   `json:"median_s"`
	// Best is the fastest run: interference from the rest of the machine
	// only ever adds time, so the best runs compare the modes most
	// steadily.
	Best float64 `json:"best_s"`
	// CPU is the workload's own CPU time (user and system) in the best
	// run.
	CPU float64 `json:"cpu_s"`
	// Slowdown is the best run over the bare best run, less one;
	// MedianSlowdown the same of the medians.
	Slowdown       float64 `json:"slowdown"`
	MedianSlowdown float64 `json:"median_slowdown"`
	// VigilCPU is the counter's own CPU time while the workload ran
	// (vigil mode), per second of workload.
	VigilCPU float64 `json:"vigil_cpu_s_per_s,omitempty"`
	// Counted is the getppid calls the counter counted for the loop's
	// process (vigil mode of the getppid loop): it must equal Calls.
	Counted uint64 `json:"counted,omitempty"`
	// EventsCPU is the agent's CPU time for the host events (reading,
	// converting, spooling and publishing them to a bus in another
	// process, as `vigil agent` does) per second of workload (events
	// mode); Execs the PROC.EXEC events of the best run, Dropped the
	// records the ring buffer had no room for, Written the observations
	// spooled and Delivered those the bus acknowledged.
	EventsCPU float64 `json:"events_cpu_s_per_s,omitempty"`
	Execs     uint64  `json:"exec_events,omitempty"`
	Dropped   uint64  `json:"dropped,omitempty"`
	Written   uint64  `json:"written,omitempty"`
	Delivered uint64  `json:"delivered,omitempty"`
}

// WebMeasure is the web workload in one mode: requests per second (best
// and median runs) and the slowdown, bare over this, less one.
type WebMeasure struct {
	Mode       string    `json:"mode"`
	Runs       []float64 `json:"runs_rps"`
	Best       float64   `json:"best_rps"`
	Median     float64   `json:"median_rps"`
	Slowdown   float64   `json:"slowdown"`
	MedianSlow float64   `json:"median_slowdown"`
}

// DrainMeasure is the counter's cost with many active processes.
type DrainMeasure struct {
	Processes     int     `json:"processes"`
	Seconds       float64 `json:"seconds"`
	Intervals     int     `json:"intervals"`
	MeanSeen      float64 `json:"mean_processes_per_interval"`
	MeanEntries   float64 `json:"mean_entries_per_interval"`
	MeanDrainMS   float64 `json:"mean_drain_ms"`
	CPUPctOfCore  float64 `json:"cpu_pct_of_one_core"`
	PctPer100Proc float64 `json:"cpu_pct_per_100_processes"`
}

// SyscallBenchResult is the whole run.
type SyscallBenchResult struct {
	Calls int `json:"calls"`
	// PinnedCPU is the CPU the workloads ran on (-1: not pinned).
	PinnedCPU int              `json:"pinned_cpu"`
	Tree      string           `json:"tree"`
	Measures  []SyscallMeasure `json:"measures"`
	// StraceRatio is, per workload, strace's slowdown over Vigil's.
	StraceRatio   map[string]float64 `json:"strace_over_vigil_slowdown,omitempty"`
	StraceMissing string             `json:"strace_missing,omitempty"`
	// Web is the web server's requests per second in each mode.
	Web        []WebMeasure `json:"web,omitempty"`
	WebMissing string       `json:"web_missing,omitempty"`
	// Execs is the exec workload's length; EventsMissing says why the
	// host events were not measured.
	Execs int `json:"execs"`
	// Exits is the agent's agent.events.exits in the exec storm.
	Exits         string `json:"exits"`
	EventsMissing string `json:"events_missing,omitempty"`
	// ExecCostUS is what one exec costs the agent (its CPU for the host
	// events during the exec storm, spooling and publishing included,
	// over the execs), in microseconds;
	// CoreAt1000 the share of a core that makes at 1,000 execs a second.
	ExecCostUS float64 `json:"exec_cost_us,omitempty"`
	CoreAt1000 float64 `json:"core_share_at_1000_execs_per_s,omitempty"`
	// PacedExecs is the agent's CPU measured while processes start at a
	// set rate; PacedExecsMissing says why it was not measured.
	PacedExecs        *PacedExecMeasure `json:"paced_execs,omitempty"`
	PacedExecsMissing string            `json:"paced_execs_missing,omitempty"`
	// BuildMissing and GitMissing say why those workloads were skipped.
	BuildMissing string `json:"build_missing,omitempty"`
	GitMissing   string `json:"git_missing,omitempty"`
	// Flood is the event flood through the ring buffer, as fast as the
	// workers can; PacedFlood the same at FloodRate.
	Flood      *FloodMeasure `json:"flood,omitempty"`
	PacedFlood *FloodMeasure `json:"paced_flood,omitempty"`
	Drain      DrainMeasure  `json:"drain"`
}

// FloodMeasure is the host events under a flood of watched opens: how
// many were made, how many events came through the ring buffer, how many
// records it dropped, and the reader's CPU.
type FloodMeasure struct {
	Workers int `json:"workers"`
	// Rate is the opens a second offered (0: as fast as they can).
	Rate         int     `json:"offered_per_s,omitempty"`
	Opens        int     `json:"opens"`
	Seconds      float64 `json:"seconds"`
	OpensPerSec  float64 `json:"opens_per_s"`
	Events       uint64  `json:"events"`
	EventsPerSec float64 `json:"events_per_s"`
	// Span is the time from the workers' first open to their last, by
	// the kernel's timestamps on the events read (Seconds adds the
	// workers' start and end as processes); SpanEventsPerSec is the
	// events read a second over it: the rate through the ring buffer.
	Span             float64 `json:"span_s"`
	SpanEventsPerSec float64 `json:"span_events_per_s"`
	Dropped          uint64  `json:"dropped"`
	// Missed is the runs of the event programs the kernel skipped while
	// another BPF program held a CPU (hostevents.Stats.Missed).
	Missed    uint64  `json:"missed"`
	ReaderCPU float64 `json:"reader_cpu_share_of_a_core"`
}

// Measure returns the measure of a workload in a mode.
func (r *SyscallBenchResult) Measure(workload, mode string) (SyscallMeasure, bool) {
	for _, m := range r.Measures {
		if m.Workload == workload && m.Mode == mode {
			return m, true
		}
	}
	return SyscallMeasure{}, false
}

// Workload names.
const (
	WorkloadGetppid  = "getppid loop"
	WorkloadCompress = "compress tree"
	WorkloadWeb      = "web server"
	WorkloadExec     = "exec storm"
	WorkloadBuild    = "make -j2 build"
	WorkloadGit      = "git status loop"
)

// floodFile is the watched file the event flood opens (a credential file
// every agent watches).
const floodFile = "/etc/shadow"

// RunSyscalls measures the system call counter's cost: a getppid loop and
// the archiving and compression of a directory tree, each bare, with the
// counter attached and under strace -c -f; then the drain's own CPU with
// many active processes.
func RunSyscalls(ctx context.Context, o SyscallBenchOptions) (SyscallBenchResult, error) {
	res := SyscallBenchResult{StraceRatio: map[string]float64{}, PinnedCPU: -1}
	o.slack, _ = timerslack.Get()
	if o.Calls <= 0 {
		o.Calls = 5_000_000
	}
	if o.Tree == "" {
		o.Tree = runtime.GOROOT() + "/src"
	}
	if o.Reps <= 0 {
		o.Reps = 5
	}
	if p, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		o.pin = p
		res.PinnedCPU = runtime.NumCPU() - 1
	}
	if o.Active <= 0 {
		o.Active = 100
	}
	if o.ActiveTime <= 0 {
		o.ActiveTime = 10 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Execs <= 0 {
		o.Execs = 2000
	}
	if o.ExecRate == 0 {
		o.ExecRate = 1000
	}
	if o.BuildFiles == 0 {
		o.BuildFiles = 40
	}
	if o.GitFiles == 0 {
		o.GitFiles = 20_000
	}
	if o.GitLoops <= 0 {
		o.GitLoops = 20
	}
	if o.Opens == 0 {
		o.Opens = 1_000_000
	}
	if o.FloodWorkers <= 0 {
		o.FloodWorkers = 2
	}
	if o.FloodRate == 0 {
		o.FloodRate = 100_000
	}
	if o.Exits == "" {
		o.Exits = config.DefaultEventsExits
	}
	agentEvents := config.DefaultAgentEvents()
	agentEvents.Exits = o.Exits
	if err := config.ValidateAgentEvents(agentEvents); err != nil {
		return res, fmt.Errorf("bench syscalls: %w", err)
	}
	res.Exits = o.Exits
	res.Calls, res.Tree, res.Execs = o.Calls, o.Tree, o.Execs
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if _, err := os.Stat(o.Tree); err != nil {
		return res, fmt.Errorf("tree to compress: %w", err)
	}
	for _, tool := range []string{"tar", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return res, fmt.Errorf("the compression workload needs %s: %w", tool, err)
		}
	}
	if o.Strace == "" {
		res.StraceMissing = "no strace given"
	} else if _, err := os.Stat(o.Strace); err != nil {
		res.StraceMissing = fmt.Sprintf("%s not found (Debian package strace)", o.Strace)
	}
	// Check the counter can run before measuring anything.
	probe, err := syscount.Open(syscount.Options{Host: "bench", Interval: o.Interval})
	if err != nil {
		return res, err
	}
	probe.Close()
	modes := []string{"bare", "vigil"}
	if ev, err := hostevents.Open(hostevents.Options{Host: "bench", Events: config.DefaultAgentEvents()}); err != nil {
		res.EventsMissing = err.Error()
	} else {
		ev.Close()
		b, err := startAgentBus(ctx, o.Vigil)
		if err != nil {
			return res, err
		}
		defer b.close()
		o.bus = b
		modes = append(modes, "events")
	}

	type workload struct {
		name string
		argv []string
	}
	workloads := []workload{
		{WorkloadGetppid, []string{o.Vigil, "bench", "syscalls-worker", "getppid", strconv.Itoa(o.Calls)}},
		{WorkloadCompress, []string{"sh", "-c", `tar -cf - -C "$0" . | gzip -1 > /dev/null`, o.Tree}},
		{WorkloadExec, []string{o.Vigil, "bench", "syscalls-worker", "exec", strconv.Itoa(o.Execs)}},
	}
	work := o.Work
	if work == "" && (o.BuildFiles > 0 || o.GitFiles > 0) {
		dir, err := os.MkdirTemp("", "vigil-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	if o.BuildFiles < 0 {
		res.BuildMissing = "not asked for"
	} else if dir, err := makeCProject(filepath.Join(work, "build"), o.BuildFiles); err != nil {
		res.BuildMissing = err.Error()
	} else {
		workloads = append(workloads, workload{WorkloadBuild, []string{"sh", "-c", `make -s -C "$0" clean && make -s -j2 -C "$0"`, dir}})
	}
	if o.GitFiles < 0 {
		res.GitMissing = "not asked for"
	} else {
		fmt.Fprintf(progress, "making a git tree of %d files\n", o.GitFiles)
		if dir, err := makeGitTree(ctx, filepath.Join(work, "git"), o.GitFiles); err != nil {
			res.GitMissing = err.Error()
		} else {
			workloads = append(workloads, workload{WorkloadGit, []string{"sh", "-c",
				`i=0; while [ $i -lt "$1" ]; do git -C "$0" status --porcelain > /dev/null || exit 1; i=$((i+1)); done`, dir, strconv.Itoa(o.GitLoops)}})
		}
	}
	for _, w := range workloads {
		// One run untimed first: the tree into the page cache, the binary
		// into memory.
		if _, err := runWorkload(ctx, w.argv, "bare", o); err != nil {
			return res, fmt.Errorf("%s: %w", w.name, err)
		}
		runs := map[string][]run{}
		for rep := range o.Reps {
			for _, mode := range modes {
				r, err := runWorkload(ctx, w.argv, mode, o)
				if err != nil {
					return res, fmt.Errorf("%s, %s: %w", w.name, mode, err)
				}
				runs[mode] = append(runs[mode], r)
				fmt.Fprintf(progress, "%s, %s, run %d: %.3f s\n", w.name, mode, rep+1, r.wall.Seconds())
			}
		}
		if res.StraceMissing == "" {
			r, err := runWorkload(ctx, append([]string{o.Strace, "-c", "-f", "-o", "/dev/null"}, w.argv...), "strace", o)
			if err != nil {
				return res, fmt.Errorf("%s under strace: %w", w.name, err)
			}
			runs["strace"] = append(runs["strace"], r)
			fmt.Fprintf(progress, "%s, strace -c -f: %.3f s\n", w.name, r.wall.Seconds())
		}
		bare, bareMed := bestRun(runs["bare"]), medianRun(runs["bare"])
		for _, mode := range []string{"bare", "vigil", "events", "strace"} {
			rs := runs[mode]
			if len(rs) == 0 {
				continue
			}
			m, med := bestRun(rs), medianRun(rs)
			sm := SyscallMeasure{Workload: w.name, Mode: mode, Median: med.wall.Seconds(), Best: m.wall.Seconds(), CPU: m.cpu.Seconds(),
				Slowdown: m.wall.Seconds()/bare.wall.Seconds() - 1, MedianSlowdown: med.wall.Seconds()/bareMed.wall.Seconds() - 1}
			for _, r := range rs {
				sm.Runs = append(sm.Runs, r.wall.Seconds())
			}
			if mode == "vigil" {
				sm.VigilCPU = m.vigilCPU.Seconds() / m.wall.Seconds()
				if w.name == WorkloadGetppid {
					sm.Counted = m.getppids
				}
			}
			if mode == "events" {
				sm.EventsCPU = m.vigilCPU.Seconds() / m.wall.Seconds()
				sm.Execs, sm.Dropped, sm.Written, sm.Delivered = m.execs, m.dropped, m.written, m.delivered
			}
			res.Measures = append(res.Measures, sm)
		}
		v, _ := res.Measure(w.name, "vigil")
		if s, ok := res.Measure(w.name, "strace"); ok && v.Slowdown > 0 {
			res.StraceRatio[w.name] = s.Slowdown / v.Slowdown
		}
	}
	if e, ok := res.Measure(WorkloadExec, "events"); ok && e.Execs > 0 {
		res.ExecCostUS = 1e6 * e.EventsCPU * e.Best / float64(o.Execs)
		res.CoreAt1000 = res.ExecCostUS * 1000 / 1e6
	}
	if res.EventsMissing == "" {
		if o.ExecRate < 0 {
			res.PacedExecsMissing = "not asked for"
		} else if p, err := measurePacedExecs(ctx, o, progress); errors.Is(err, errNoMinimalProgram) {
			res.PacedExecsMissing = err.Error()
		} else if err != nil {
			return res, err
		} else {
			res.PacedExecs = &p
		}
	}
	if res.EventsMissing == "" && o.Opens > 0 {
		f, err := measureFlood(ctx, o, 0, progress)
		if err != nil {
			return res, err
		}
		res.Flood = &f
		if o.FloodRate > 0 {
			p, err := measureFlood(ctx, o, o.FloodRate, progress)
			if err != nil {
				return res, err
			}
			res.PacedFlood = &p
		}
	}
	if err := measureWeb(ctx, o, &res, progress); err != nil {
		return res, err
	}
	d, err := measureDrain(ctx, o, progress)
	if err != nil {
		return res, err
	}
	res.Drain = d
	return res, nil
}

// run is one timed run of a workload.
type run struct {
	wall, cpu, vigilCPU time.Duration
	getppids            uint64
	execs, dropped      uint64 // events mode: PROC.EXEC events, records dropped
	written, delivered  uint64 // events mode: observations spooled, acknowledged by the bus
}

func bestRun(rs []run) run {
	return slices.MinFunc(rs, func(a, b run) int { return int(a.wall - b.wall) })
}

func medianRun(rs []run) run {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b run) int { return int(a.wall - b.wall) })
	return s[len(s)/2]
}

// runWorkload runs argv to its end; in mode "vigil" with the counter
// attached and drained every interval as the agent does (vectors encoded
// as JSON and thrown away), measuring this process's CPU meanwhile.
func runWorkload(ctx context.Context, argv []string, mode string, o SyscallBenchOptions) (run, error) {
	var r run
	var drained []event.CountVector
	var stop func() error
	switch mode {
	case "vigil":
		var err error
		if stop, err = attachCounter(o, func(vs []event.CountVector) { drained = append(drained, vs...) }); err != nil {
			return r, err
		}
	case "events":
		var err error
		if stop, err = attachAgent(&r, o.bus, o.Exits, o.slack); err != nil {
			return r, err
		}
	}
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	if argv[0] != "sh" || !strings.Contains(argv[2], "make") {
		argv = o.pinned(argv, strconv.Itoa(runtime.NumCPU()-1)) // make -j2 has both CPUs
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	start := time.Now()
	err := runQuietly(cmd, o.slack)
	r.wall = time.Since(start)
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if stop != nil {
		if derr := stop(); derr != nil {
			return r, derr
		}
		r.vigilCPU = rusageCPU(&after) - rusageCPU(&before)
		if cmd.Process != nil {
			nrGetppid, _ := event.SyscallNr("getppid")
			for _, v := range drained {
				if int(v.PID) == cmd.Process.Pid {
					for _, cnt := range v.Counts {
						if cnt.Nr == nrGetppid {
							r.getppids += cnt.Count
						}
					}
				}
			}
		}
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w", argv[0], err)
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// runQuietly runs cmd to its end, started with timer slack slack (see
// timerslack.StartWith), waiting for it in Go's poller (its output pipe's
// end) rather than in a blocking wait4: a thread blocked in a system call
// keeps the runtime's monitor thread waking every few microseconds, CPU
// this process would count as the sensor's.
func runQuietly(cmd *exec.Cmd, slack time.Duration) error {
	wait, err := startQuietly(cmd, slack)
	if err != nil {
		return err
	}
	return wait()
}

// startQuietly starts cmd, with timer slack slack; wait waits for its end
// as runQuietly does.
func startQuietly(cmd *exec.Cmd, slack time.Duration) (wait func() error, err error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = timerslack.StartWith(cmd, slack)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	return func() error {
		_, _ = io.Copy(io.Discard, pr)
		pr.Close()
		return cmd.Wait()
	}, nil
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pinned prefixes argv with taskset pinning it to cpus, when the
// workloads are pinned.
func (o SyscallBenchOptions) pinned(argv []string, cpus string) []string {
	if o.pin == "" {
		return argv
	}
	return append([]string{o.pin, "-c", cpus}, argv...)
}

// attachCounter opens the counter and drains it every interval, as the
// agent does (the vectors encoded as JSON, then handed to keep, which may
// be nil), until stop, which drains it a last time and closes it.
func attachCounter(o SyscallBenchOptions, keep func([]event.CountVector)) (stop func() error, err error) {
	c, err := syscount.Open(syscount.Options{Host: "bench", Interval: o.Interval})
	if err != nil {
		return nil, err
	}
	quit := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var buf []byte
		drain := func() error {
			vs, _, err := c.Drain()
			if err != nil {
				return err
			}
			for i := range vs {
				buf = append(vs[i].AppendJSON(buf[:0]), '\n')
			}
			if keep != nil {
				keep(vs)
			}
			return nil
		}
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				done <- drain()
				return
			case <-t.C:
				if err := drain(); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	return func() error {
		close(quit)
		return errors.Join(<-done, c.Close())
	}, nil
}

// measureDrain runs o.Active processes that each make a spread of system
// calls ten times a second and measures the counter's CPU while it drains
// every interval.
func measureDrain(ctx context.Context, o SyscallBenchOptions, progress io.Writer) (DrainMeasure, error) {
	d := DrainMeasure{Processes: o.Active}
	var workers []*exec.Cmd
	defer func() {
		for _, w := range workers { // all at once: a loaded machine reaps slowly
			w.Process.Kill()
		}
		for _, w := range workers {
			w.Wait()
		}
	}()
	for range o.Active {
		w := exec.CommandContext(ctx, o.Vigil, "bench", "syscalls-worker", "active", "0")
		if err := w.Start(); err != nil {
			return d, fmt.Errorf("starting an active process: %w", err)
		}
		workers = append(workers, w)
	}
	c, err := syscount.Open(syscount.Options{Host: "bench", Interval: o.Interval})
	if err != nil {
		return d, err
	}
	defer c.Close()
	time.Sleep(o.Interval) // let them all start
	if _, _, err := c.Drain(); err != nil {
		return d, err
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	var buf []byte
	var seen, entries int
	var drain time.Duration
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for time.Since(start) < o.ActiveTime {
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-t.C:
		}
		vs, st, err := c.Drain()
		if err != nil {
			return d, err
		}
		for i := range vs {
			buf = append(vs[i].AppendJSON(buf[:0]), '\n')
		}
		d.Intervals++
		seen += st.Processes
		entries += st.Entries
		drain += st.Drain
	}
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if d.Intervals == 0 {
		return d, errors.New("no interval drained")
	}
	d.Seconds = elapsed.Seconds()
	d.MeanSeen = float64(seen) / float64(d.Intervals)
	d.MeanEntries = float64(entries) / float64(d.Intervals)
	d.MeanDrainMS = float64(drain) / float64(d.Intervals) / 1e6
	d.CPUPctOfCore = 100 * (rusageCPU(&after) - rusageCPU(&before)).Seconds() / elapsed.Seconds()
	if d.MeanSeen == 0 {
		return d, errors.New("the counter saw no process during the drain measurement")
	}
	d.PctPer100Proc = d.CPUPctOfCore * 100 / d.MeanSeen
	fmt.Fprintf(progress, "drain with %d active processes: %.2f ms an interval, %.2f%% of a core (%.2f%% per 100 processes)\n",
		o.Active, d.MeanDrainMS, d.CPUPctOfCore, d.PctPer100Proc)
	return d, nil
}

// SyscallWorker is the hidden worker of `vigil bench syscalls`: "getppid N"
// makes N getppid calls; "exec N" runs /bin/true N times, one after
// another; "exec-paced N RATE" runs the minimal program (minimal.go) N
// times, one after another, at RATE a second; "opens N [RATE]" opens and closes a watched file N times, at
// RATE a second when given; "active" makes a spread of 20 different cheap
// system calls ten times a second until killed; "bus" runs BusWorker on
// its standard input and output.
func SyscallWorker(kind string, n int, rate ...int) error {
	switch kind {
	case "exec":
		for range n {
			if err := exec.Command("/bin/true").Run(); err != nil {
				return err
			}
		}
		return nil
	case "exec-paced":
		if len(rate) == 0 || rate[0] <= 0 {
			return errors.New("exec-paced needs a rate above 0")
		}
		return execPaced(n, rate[0])
	case "opens":
		per := 0
		if len(rate) > 0 {
			per = rate[0]
		}
		start := time.Now()
		for i := range n {
			// Paced, the worker catches up with its schedule every 64
			// opens.
			if per > 0 && i%64 == 0 {
				pace(start, i, per)
			}
			fd, err := syscall.Open(floodFile, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("opening %s: %w", floodFile, err)
			}
			syscall.Close(fd)
		}
		return nil
	case "bus":
		return BusWorker(os.Stdin, os.Stdout)
	case "getppid":
		for range n {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		return nil
	case "active":
		// Twenty different calls, none with a pointer argument or an effect.
		calls := [][4]uintptr{
			{syscall.SYS_GETPPID}, {syscall.SYS_GETPID}, {syscall.SYS_GETUID}, {syscall.SYS_GETGID},
			{syscall.SYS_GETEUID}, {syscall.SYS_GETEGID}, {syscall.SYS_GETTID}, {syscall.SYS_PRCTL, 3 /* PR_GET_DUMPABLE */},
			{syscall.SYS_GETSID}, {syscall.SYS_SCHED_YIELD}, {syscall.SYS_UMASK, 0o022}, {syscall.SYS_GETPRIORITY},
			{syscall.SYS_SCHED_GETSCHEDULER}, {syscall.SYS_GETPGID}, {syscall.SYS_IOPRIO_GET, 1 /* IOPRIO_WHO_PROCESS */}, {syscall.SYS_TIMES},
			{syscall.SYS_SCHED_GET_PRIORITY_MAX}, {syscall.SYS_SCHED_GET_PRIORITY_MIN},
			{syscall.SYS_PERSONALITY, 0xffffffff}, {syscall.SYS_FCNTL, 0, syscall.F_GETFD},
		}
		for {
			for _, c := range calls {
				syscall.RawSyscall(c[0], c[1], c[2], c[3])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return fmt.Errorf("unknown worker %q (getppid, exec, exec-paced, opens, active or bus)", kind)
}

// measureWeb runs lighttpd (pinned to the last CPU) serving a 4 KB page on
// loopback and loads it with wrk (on the other CPUs) for o.WebTime, o.Reps
// times bare and with the counter attached, and once under strace -c -f.
func measureWeb(ctx context.Context, o SyscallBenchOptions, res *SyscallBenchResult, progress io.Writer) error {
	for _, b := range []string{o.Lighttpd, o.Wrk} {
		if b == "" {
			res.WebMissing = "no web server or load generator given"
			return nil
		}
		if _, err := os.Stat(b); err != nil {
			res.WebMissing = fmt.Sprintf("%s not found (Debian packages lighttpd and wrk)", b)
			return nil
		}
	}
	if o.WebTime <= 0 {
		o.WebTime = 5 * time.Second
	}
	dir, err := os.MkdirTemp("", "vigil-bench-web-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	page := make([]byte, 4096)
	for i := range page {
		page[i] = 'a' + byte(i%26)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("server.document-root = %q\nserver.bind = \"127.0.0.1\"\nserver.port = %d\nserver.errorlog = %q\nserver.pid-file = %q\nindex-file.names = (\"index.html\")\n",
		dir, port, filepath.Join(dir, "error.log"), filepath.Join(dir, "pid"))
	confFile := filepath.Join(dir, "lighttpd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	argv := o.pinned([]string{o.Lighttpd, "-D", "-f", confFile}, strconv.Itoa(runtime.NumCPU()-1))
	server := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if err := server.Start(); err != nil {
		return fmt.Errorf("starting lighttpd: %w", err)
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lighttpd did not listen on %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	load := func(mode string) (float64, error) {
		wargv := o.pinned([]string{o.Wrk, "-t", "1", "-c", "16", "-d", fmt.Sprintf("%ds", max(1, int(o.WebTime.Seconds()))), url},
			"0-"+strconv.Itoa(max(0, runtime.NumCPU()-2)))
		if mode == "strace" {
			// strace follows the server, as it would a real one.
			st := exec.CommandContext(ctx, o.Strace, "-c", "-f", "-o", "/dev/null", "-p", strconv.Itoa(server.Process.Pid))
			if err := st.Start(); err != nil {
				return 0, err
			}
			defer func() { st.Process.Signal(os.Interrupt); st.Wait() }()
			time.Sleep(300 * time.Millisecond)
		}
		if mode == "vigil" {
			stop, err := attachCounter(o, nil)
			if err != nil {
				return 0, err
			}
			defer stop()
		}
		out, err := exec.CommandContext(ctx, wargv[0], wargv[1:]...).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("wrk: %w: %s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Requests/sec:"); ok {
				return strconv.ParseFloat(strings.TrimSpace(rest), 64)
			}
		}
		return 0, fmt.Errorf("no Requests/sec in wrk's output: %s", out)
	}
	if _, err := load("bare"); err != nil { // warm-up
		return err
	}
	runs := map[string][]float64{}
	for rep := range o.Reps {
		for _, mode := range []string{"bare", "vigil"} {
			rps, err := load(mode)
			if err != nil {
				return fmt.Errorf("web, %s: %w", mode, err)
			}
			runs[mode] = append(runs[mode], rps)
			fmt.Fprintf(progress, "web server, %s, run %d: %.0f requests/s\n", mode, rep+1, rps)
		}
	}
	if res.StraceMissing == "" {
		rps, err := load("strace")
		if err != nil {
			return fmt.Errorf("web under strace: %w", err)
		}
		runs["strace"] = append(runs["strace"], rps)
		fmt.Fprintf(progress, "web server, strace -c -f: %.0f requests/s\n", rps)
	}
	bestOf := func(xs []float64) float64 { return slices.Max(xs) }
	medianOf := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
	bare, bareMed := bestOf(runs["bare"]), medianOf(runs["bare"])
	for _, mode := range []string{"bare", "vigil", "strace"} {
		xs := runs[mode]
		if len(xs) == 0 {
			continue
		}
		w := WebMeasure{Mode: mode, Runs: xs, Best: bestOf(xs), Median: medianOf(xs)}
		w.Slowdown, w.MedianSlow = bare/w.Best-1, bareMed/w.Median-1
		res.Web = append(res.Web, w)
	}
	var v, st *WebMeasure
	for i := range res.Web {
		switch res.Web[i].Mode {
		case "vigil":
			v = &res.Web[i]
		case "strace":
			st = &res.Web[i]
		}
	}
	if v != nil && st != nil && v.Slowdown > 0 {
		res.StraceRatio[WorkloadWeb] = st.Slowdown / v.Slowdown
	}
	return nil
}
