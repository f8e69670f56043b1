package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/bench"
	"github.com/vigil-ids/vigil/internal/config"
)

func benchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Vigil's parts under load, beside a baseline from the same run",
	}
	cmd.AddCommand(benchBusCmd(e), benchAgentCmd(e), benchNetsensorCmd(e), benchSignatureCmd(e), benchTrackCmd(e), benchProfileCmd(e), benchSyscallsCmd(e), benchResolverCmd(e), benchHierarchyCmd(e), benchClassifyCmd(e), benchSyscallsWorkerCmd())
	return cmd
}

// summary is a benchmark's result: printed as JSON, or as its summary
// after the run's progress.
type summary interface{ WriteSummary(io.Writer) error }

// benchVerb is the verb `vigil bench NAME`: its progress goes to
// *progress (standard output, unless --json), then run's result is
// printed. The caller registers the benchmark's own flags.
func benchVerb[R summary](e *env, use, short string, progress *io.Writer, run func(ctx context.Context) (R, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: use, Short: short, Long: help("bench-" + strings.Fields(use)[0]), Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				*progress = e.stdout
			}
			res, err := run(cmd.Context())
			if err != nil {
				return fail(err)
			}
			if asJSON {
				return e.printJSON(res)
			}
			return failed(res.WriteSummary(e.stdout))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func benchClassifyCmd(e *env) *cobra.Command {
	var o bench.ClassifyOptions
	cmd := benchVerb(e, "classify", "Measure the process classifier's sequences per second on one core and its training time, for each model kind", &o.Progress,
		func(ctx context.Context) (bench.ClassifyResult, error) { return bench.RunClassify(ctx, o) })
	fs := cmd.Flags()
	fs.StringSliceVar(&o.Kinds, "kinds", nil, "model kinds to measure (default every kind)")
	fs.IntVar(&o.Sequences, "sequences", 20_000, "sequences classified per kind")
	fs.IntVar(&o.Epochs, "epochs", 2, "training epochs")
	fs.IntVar(&o.SamplesPerClass, "samples-per-class", 40, "synthetic samples of each class (80% train)")
	fs.IntVar(&o.Processes, "processes", 1000, "processes followed at once while classifying")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the synthetic lab and of training")
	return cmd
}

func benchTrackCmd(e *env) *cobra.Command {
	var o bench.TrackOptions
	cmd := benchVerb(e, "track", "Measure the track engine's events per second and memory per key at growing key counts", &o.Progress,
		func(context.Context) (bench.TrackResult, error) { return bench.RunTrack(o) })
	fs := cmd.Flags()
	fs.StringSliceVar(&o.Models, "model", nil, "model files (default models/m3.yaml, models/m4.yaml)")
	fs.IntSliceVar(&o.Keys, "keys", []int{2_000, 20_000, 200_000}, "key counts to measure")
	fs.IntVar(&o.Events, "events", 1_000_000, "events at each size")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the event stream")
	return cmd
}

func benchSignatureCmd(e *env) *cobra.Command {
	var o bench.SignatureOptions
	cmd := benchVerb(e, "signature", "Measure the signature engine's events per second on one core, beside the monitor's decoding", &o.Progress,
		func(context.Context) (bench.SignatureResult, error) { return bench.RunSignature(o) })
	fs := cmd.Flags()
	fs.IntVar(&o.Rules, "rules", 1000, "rules generated and compiled")
	fs.IntVar(&o.Events, "events", 2_000_000, "events each phase handles")
	fs.IntVar(&o.Pool, "pool", 1_000_000, "distinct events generated beforehand and cycled")
	fs.IntVar(&o.Keys, "keys", 100_000, "distinct outside addresses (the thresholds' group keys)")
	fs.Float64Var(&o.EventRate, "event-rate", 100_000, "events a second of event time")
	fs.IntVar(&o.MaxGroups, "max-groups", 0, "threshold groups per rule (0: the engine's default)")
	fs.IntVar(&o.MaxInstances, "max-instances", 0, "partial sequences per rule (0: the engine's default)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the rules and events")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the engine phase's CPU profile to this file")
	return cmd
}

func benchNetsensorCmd(e *env) *cobra.Command {
	var o bench.NetBenchOptions
	cmd := benchVerb(e, "netsensor --pcap FILE [--pcap FILE...]", "Measure the network sensor's packets and records per second on one core, beside tcpdump", &o.Progress,
		func(ctx context.Context) (bench.NetBenchResult, error) { return bench.RunNetsensor(ctx, o) })
	fs := cmd.Flags()
	fs.StringArrayVar(&o.Pcaps, "pcap", nil, "capture to loop (repeatable)")
	fs.IntVar(&o.Packets, "packets", 5_000_000, "packets in the looped capture, at least")
	fs.StringVar(&o.Tcpdump, "tcpdump", "/usr/bin/tcpdump", "tcpdump binary timed as the reference")
	fs.StringVar(&o.Dir, "dir", "", "directory for the looped capture (default: a temporary one)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the looped run's CPU profile to this file")
	fs.IntVar(&o.Flood, "flood", 1_000_000, "distinct sources of the SYN flood run (negative: no flood run)")
	return cmd
}

func benchAgentCmd(e *env) *cobra.Command {
	var o bench.AgentBenchOptions
	cmd := benchVerb(e, "agent", "Measure the host sensor's own CPU and memory, beside Prometheus node_exporter", &o.Progress,
		func(ctx context.Context) (bench.AgentBenchResult, error) {
			var err error
			if o.Vigil, err = os.Executable(); err != nil {
				return bench.AgentBenchResult{}, err
			}
			return bench.RunAgent(ctx, o)
		})
	fs := cmd.Flags()
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "length of each measurement")
	fs.DurationSliceVar(&o.Intervals, "intervals", []time.Duration{config.DefaultAgentInterval, time.Second}, "sampling intervals to measure at")
	fs.IntVar(&o.Procs, "procs", 500, "processes that must run during the measurement")
	fs.StringVar(&o.NodeExporter, "node-exporter", "/usr/bin/prometheus-node-exporter", "node_exporter binary measured beside the agent")
	return cmd
}

func benchBusCmd(e *env) *cobra.Command {
	var o bench.BusOptions
	var cpuProfile string
	cmd := benchVerb(e, "bus", "Push synthetic host events through the bus into a monitor that decodes and stores them", &o.Progress,
		func(ctx context.Context) (bench.BusResult, error) {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return bench.BusResult{}, err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return bench.BusResult{}, err
				}
				defer pprof.StopCPUProfile()
			}
			o.Logger = e.log.With("component", "bench")
			return bench.RunBus(ctx, o)
		})
	fs := cmd.Flags()
	fs.IntVar(&o.Events, "events", 500_000, "events per throughput phase")
	fs.IntVar(&o.LatencyEvents, "latency-events", 200_000, "events per latency phase")
	fs.Float64Var(&o.CoreRate, "core-rate", 100_000, "offered rate of the core NATS latency phase (events/s)")
	fs.Float64Var(&o.JetStreamRate, "jetstream-rate", 25_000, "offered rate of the JetStream latency phase (events/s)")
	fs.IntVar(&o.Hosts, "hosts", 200, "distinct hosts the events come from")
	fs.StringVar(&o.Dir, "dir", "", "directory for the phases' data (default: a temporary one)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&o.Only, "only", "", "run only the phases whose name contains this text")
	fs.BoolVar(&o.TLS, "tls", false, "run each phase in plaintext and then over TLS (a certificate made for the run), and print the ratio")
	return cmd
}

func benchResolverCmd(e *env) *cobra.Command {
	var o bench.ResolverOptions
	cmd := benchVerb(e, "resolver", "Measure the decision unit's reports per second and latency, a report's way to a host effector, and nftables blocks", &o.Progress,
		func(ctx context.Context) (bench.ResolverResult, error) { return bench.RunResolver(ctx, o) })
	fs := cmd.Flags()
	fs.IntVar(&o.Policies, "policies", 100, "policies in the decision unit")
	fs.Float64Var(&o.Rate, "rate", 10_000, "reports offered a second to the decision unit")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long reports are offered")
	fs.IntVar(&o.Sources, "sources", 4096, "distinct source addresses the reports name")
	fs.IntVar(&o.Actions, "actions", 200, fmt.Sprintf("process actions through the bus to the effector (at most %d; each starts a process)", bench.MaxResolverActions))
	fs.IntVar(&o.NftAdd, "nft-add", 10_000, "addresses added to nftables (decisions executed one by one, and in one transaction)")
	fs.IntVar(&o.NftApply, "nft-apply", 100_000, "addresses applied to nftables in one transaction")
	fs.BoolVar(&o.NoNftables, "no-nftables", false, "skip the nftables part")
	fs.StringVar(&o.Dir, "dir", "", "directory for the store and the bus (default: a temporary one)")
	return cmd
}

func benchHierarchyCmd(e *env) *cobra.Command {
	var o bench.HierarchyOptions
	var fast bool
	var cpuProfile string
	cmd := benchVerb(e, "hierarchy", "Measure service monitors feeding domain monitors feeding an enterprise monitor, beside one flat monitor", &o.Progress,
		func(ctx context.Context) (bench.HierarchyResult, error) {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return bench.HierarchyResult{}, err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return bench.HierarchyResult{}, err
				}
				defer pprof.StopCPUProfile()
			}
			if fast {
				o.Services, o.Domains, o.Rate, o.Duration = 10, 2, 200, 2*time.Second
				o.HeartbeatWindow, o.Probes = 3*time.Second, 20
			}
			o.Logger = e.log.With("component", "bench")
			return bench.RunHierarchy(ctx, o)
		})
	fs := cmd.Flags()
	fs.IntVar(&o.Services, "services", 100, "service monitors")
	fs.IntVar(&o.Domains, "domains", 10, "domain monitors the services are shared among")
	fs.Float64Var(&o.Rate, "rate", 1000, "observations offered a second across the services (each leads to one report)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long observations are offered")
	fs.StringVar(&o.Dir, "dir", "", "directory for the stores and the bus (default: a temporary one)")
	fs.StringVar(&o.Only, "only", "", "run only the phase whose name contains this text (hierarchy, flat)")
	fs.DurationVar(&o.HeartbeatWindow, "heartbeat-window", 10*time.Second, "how long the hierarchy's heartbeats are counted, before observations are offered")
	fs.IntVar(&o.Probes, "probes", 200, "probes timed per kind (status, tracks) and path (enterprise to domain, domain to service)")
	fs.BoolVar(&fast, "fast", false, "a small tree for a smoke test (10 services, 2 domains, 200/s for 2 s; heartbeats counted for 3 s, 20 probes)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	return cmd
}

func benchProfileCmd(e *env) *cobra.Command {
	var o bench.ProfileOptions
	cmd := benchVerb(e, "profile", "Measure the statistical profiler's events per second and memory per subject", &o.Progress,
		func(context.Context) (bench.ProfileResult, error) { return bench.RunProfile(o) })
	fs := cmd.Flags()
	fs.IntVar(&o.Subjects, "subjects", 10_000, "subjects profiled")
	fs.IntVar(&o.Events, "events", 2_000_000, "events measured")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the event stream")
	return cmd
}

func benchSyscallsCmd(e *env) *cobra.Command {
	var o bench.SyscallBenchOptions
	cmd := benchVerb(e, "syscalls", "Measure the eBPF system call counter's slowdown of workloads, beside strace", &o.Progress,
		func(ctx context.Context) (bench.SyscallBenchResult, error) {
			var err error
			if o.Vigil, err = os.Executable(); err != nil {
				return bench.SyscallBenchResult{}, err
			}
			return bench.RunSyscalls(ctx, o)
		})
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
	fs.DurationVar(&o.Interval, "interval", config.DefaultSyscallInterval, "the counter's interval")
	fs.IntVar(&o.Execs, "execs", 2000, "processes the exec workload starts, one after another")
	fs.IntVar(&o.ExecRate, "exec-rate", 1000, "execs a second of the paced exec storm, as many as --execs (-1: no paced storm)")
	fs.IntVar(&o.BuildFiles, "build-files", 40, "C files of the make -j2 build workload (-1: no build workload)")
	fs.IntVar(&o.GitFiles, "git-files", 20_000, "files in the tree of the git status workload (-1: no git workload)")
	fs.IntVar(&o.GitLoops, "git-loops", 20, "git status runs in the git workload")
	fs.IntVar(&o.Opens, "opens", 1_000_000, "opens of a watched file in the event flood (-1: no flood)")
	fs.IntVar(&o.FloodWorkers, "flood-workers", 2, "processes making the event flood's opens")
	fs.IntVar(&o.FloodRate, "flood-rate", 100_000, "opens a second of the paced event flood, between its processes (-1: no paced flood)")
	fs.StringVar(&o.Exits, "exits", config.DefaultEventsExits, "the agent's agent.events.exits on its whole path: all, signalled or none")
	return cmd
}

// benchSyscallsWorkerCmd is the hidden worker `vigil bench syscalls` runs.
func benchSyscallsWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "syscalls-worker getppid N | exec N | exec-paced N RATE | opens N [RATE] | active | bus",
		Hidden: true,
		Args:   cobra.RangeArgs(1, 3),
		RunE: func(_ *cobra.Command, args []string) error {
			var nums []int
			for _, a := range args[1:] {
				n, err := strconv.Atoi(a)
				if err != nil {
					return fail(err)
				}
				nums = append(nums, n)
			}
			n := 0
			if len(nums) > 0 {
				n = nums[0]
			}
			return failed(bench.SyscallWorker(args[0], n, nums[min(1, len(nums)):]...))
		},
	}
}

// printJSON prints a result as indented JSON.
func (e *env) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}
