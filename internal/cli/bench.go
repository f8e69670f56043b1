package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
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
	cmd.AddCommand(benchBusCmd(e), benchAgentCmd(e), benchNetsensorCmd(e), benchSignatureCmd(e), benchTrackCmd(e), benchProfileCmd(e), benchSyscallsCmd(e), benchSyscallsWorkerCmd())
	return cmd
}

func benchTrackCmd(e *env) *cobra.Command {
	var o bench.TrackOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "track",
		Short: "Measure the track engine's events per second and memory per key at growing key counts",
		Long:  help("bench-track"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunTrack(o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&o.Models, "model", nil, "model files (default models/m3.yaml, models/m4.yaml)")
	fs.IntSliceVar(&o.Keys, "keys", []int{2_000, 20_000, 200_000}, "key counts to measure")
	fs.IntVar(&o.Events, "events", 1_000_000, "events at each size")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the event stream")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func benchSignatureCmd(e *env) *cobra.Command {
	var o bench.SignatureOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "signature",
		Short: "Measure the signature engine's events per second on one core, beside the monitor's decoding",
		Long:  help("bench-signature"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunSignature(o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
		},
	}
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
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func benchNetsensorCmd(e *env) *cobra.Command {
	var o bench.NetBenchOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "netsensor --pcap FILE [--pcap FILE...]",
		Short: "Measure the network sensor's packets and records per second on one core, beside tcpdump",
		Long:  help("bench-netsensor"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunNetsensor(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.Pcaps, "pcap", nil, "capture to loop (repeatable)")
	fs.IntVar(&o.Packets, "packets", 5_000_000, "packets in the looped capture, at least")
	fs.StringVar(&o.Tcpdump, "tcpdump", "/usr/bin/tcpdump", "tcpdump binary timed as the reference")
	fs.StringVar(&o.Dir, "dir", "", "directory for the looped capture (default: a temporary one)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the looped run's CPU profile to this file")
	fs.IntVar(&o.Flood, "flood", 1_000_000, "distinct sources of the SYN flood run (negative: no flood run)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func benchAgentCmd(e *env) *cobra.Command {
	var o bench.AgentBenchOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Measure the host sensor's own CPU and memory, beside Prometheus node_exporter",
		Long:  help("bench-agent"),
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
			res, err := bench.RunAgent(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "length of each measurement")
	fs.DurationSliceVar(&o.Intervals, "intervals", []time.Duration{config.DefaultAgentInterval, time.Second}, "sampling intervals to measure at")
	fs.IntVar(&o.Procs, "procs", 500, "processes that must run during the measurement")
	fs.StringVar(&o.NodeExporter, "node-exporter", "/usr/bin/prometheus-node-exporter", "node_exporter binary measured beside the agent")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func benchBusCmd(e *env) *cobra.Command {
	var o bench.BusOptions
	var asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bus",
		Short: "Push synthetic host events through the bus into a monitor that decodes and stores them",
		Long:  help("bench-bus"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fail(err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fail(err)
				}
				defer pprof.StopCPUProfile()
			}
			o.Logger = e.log.With("component", "bench")
			res, err := bench.RunBus(cmd.Context(), o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Events, "events", 500_000, "events per throughput phase")
	fs.IntVar(&o.LatencyEvents, "latency-events", 200_000, "events per latency phase")
	fs.Float64Var(&o.CoreRate, "core-rate", 100_000, "offered rate of the core NATS latency phase (events/s)")
	fs.Float64Var(&o.JetStreamRate, "jetstream-rate", 25_000, "offered rate of the JetStream latency phase (events/s)")
	fs.IntVar(&o.Hosts, "hosts", 200, "distinct hosts the events come from")
	fs.StringVar(&o.Dir, "dir", "", "directory for the phases' data (default: a temporary one)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&o.Only, "only", "", "run only the phases whose name contains this text")
	return cmd
}

// printJSON prints a benchmark's result as indented JSON.
func (e *env) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}

func benchProfileCmd(e *env) *cobra.Command {
	var (
		o      bench.ProfileOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Measure the statistical profiler's events per second and memory per subject",
		Long:  help("bench-profile"),
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunProfile(o)
			if err != nil {
				return fail(err)
			}
			return e.printResult(res, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Subjects, "subjects", 10_000, "subjects profiled")
	fs.IntVar(&o.Events, "events", 2_000_000, "events measured")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the event stream")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// printResult prints a benchmark's result as JSON, or its summary.
func (e *env) printResult(res interface{ WriteSummary(io.Writer) error }, asJSON bool) error {
	if asJSON {
		return e.printJSON(res)
	}
	return failed(res.WriteSummary(e.stdout))
}
