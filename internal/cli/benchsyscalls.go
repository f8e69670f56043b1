package cli

import (
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
		Long:  help("bench-syscalls"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return fail(err)
			}
			o.Vigil = self
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunSyscalls(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
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
					return fail(err)
				}
			}
			if err := bench.SyscallWorker(args[0], n); err != nil {
				return fail(err)
			}
			return nil
		},
	}
}
