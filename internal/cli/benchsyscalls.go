package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/bench"
)

func benchSyscallsCmd(e *env) *cobra.Command {
	var o bench.SyscallBenchOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "syscalls",
		Short: "Measure the eBPF system call counter's slowdown of workloads, beside strace",
		Long: `Run two workloads, each --reps times bare and with the system call counter
attached (drained every --interval, as the agent does), then once under
'strace -c -f': a loop of --calls getppid calls (the worst case: nothing but
system calls) and the archiving and gzip compression of --tree. Report each
median, the slowdowns as ratios to the bare run, the counter's own CPU, and
how many times strace's slowdown is the counter's. Then run --active
processes making 20 different system calls ten times a second and measure
the drain's CPU per 100 active processes. Needs root (or CAP_BPF and
CAP_PERFMON). Where lighttpd and wrk are installed, a web workload too:
lighttpd serving a 4 KB page on loopback, pinned to one CPU, loaded by wrk
(16 connections) for --web-time a run; its requests per second are compared
the same way (strace follows the server).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			o.Vigil = self
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunSyscalls(cmd.Context(), o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			for _, w := range []string{bench.WorkloadGetppid, bench.WorkloadCompress} {
				bare, _ := res.Measure(w, "bare")
				v, _ := res.Measure(w, "vigil")
				fmt.Fprintf(e.stdout, "%s: bare %.3f s, vigil %.3f s (best of %d; slowdown %.1f%%, of the medians %.1f%%; counter CPU %.2f%% of a core)",
					w, bare.Best, v.Best, len(v.Runs), 100*v.Slowdown, 100*v.MedianSlowdown, 100*v.VigilCPU)
				if s, ok := res.Measure(w, "strace"); ok {
					fmt.Fprintf(e.stdout, ", strace -c -f %.3f s (slowdown %.1f%%", s.Best, 100*s.Slowdown)
					if r, ok := res.StraceRatio[w]; ok {
						fmt.Fprintf(e.stdout, ", %.0fx vigil's)", r)
					} else {
						fmt.Fprint(e.stdout, "; vigil's is within the noise)")
					}
				}
				fmt.Fprintln(e.stdout)
			}
			for _, w := range res.Web {
				fmt.Fprintf(e.stdout, "web server, %s: %.0f requests/s (best of %d; slowdown %.1f%%, of the medians %.1f%%)\n",
					w.Mode, w.Best, len(w.Runs), 100*w.Slowdown, 100*w.MedianSlow)
			}
			if r, ok := res.StraceRatio[bench.WorkloadWeb]; ok {
				fmt.Fprintf(e.stdout, "web server: strace's slowdown is %.0fx vigil's\n", r)
			}
			if res.WebMissing != "" {
				fmt.Fprintln(e.stdout, "web workload not measured:", res.WebMissing)
			}
			if v, ok := res.Measure(bench.WorkloadGetppid, "vigil"); ok {
				fmt.Fprintf(e.stdout, "getppid calls counted for the loop: %d of %d\n", v.Counted, res.Calls)
			}
			if res.StraceMissing != "" {
				fmt.Fprintln(e.stdout, "strace not measured:", res.StraceMissing)
			}
			fmt.Fprintf(e.stdout, "drain: %.1f processes an interval, %.2f ms, %.3f%% of a core per 100 active processes\n",
				res.Drain.MeanSeen, res.Drain.MeanDrainMS, res.Drain.PctPer100Proc)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Calls, "calls", 5_000_000, "getppid calls in the loop")
	fs.StringVar(&o.Tree, "tree", "", "directory tree to archive and compress (default: Go's source tree)")
	fs.IntVar(&o.Reps, "reps", 5, "runs of each workload bare and with the counter (the best and the median are reported)")
	fs.StringVar(&o.Strace, "strace", "/usr/bin/strace", "strace binary measured as the peer")
	fs.StringVar(&o.Lighttpd, "lighttpd", "/usr/sbin/lighttpd", "web server of the web workload (empty: no web workload)")
	fs.StringVar(&o.Wrk, "wrk", "/usr/bin/wrk", "load generator of the web workload")
	fs.DurationVar(&o.WebTime, "web-time", 5*time.Second, "length of each web run")
	fs.IntVar(&o.Active, "active", 100, "active processes for the drain measurement")
	fs.DurationVar(&o.ActiveTime, "active-time", 10*time.Second, "length of the drain measurement")
	fs.DurationVar(&o.Interval, "interval", time.Second, "the counter's interval")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// benchSyscallsWorkerCmd is the hidden worker `vigil bench syscalls` runs.
func benchSyscallsWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "syscalls-worker getppid N | active",
		Hidden: true,
		Args:   cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			n := 0
			if len(args) == 2 {
				var err error
				if n, err = strconv.Atoi(args[1]); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
			}
			if err := bench.SyscallWorker(args[0], n); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			return nil
		},
	}
}
