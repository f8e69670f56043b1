package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/bench"
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
		Long: `Load the process models (--model, default models/m3.yaml and models/m4.yaml)
and feed the track engine, on one core, a mixed stream of host observations
and NIDS alerts (the types of seed 000 Table 1, some the models do not
follow) over --keys hosts (each size in turn), --events events a size, the
engine ticked every second of event time. Print events/s, nanoseconds per
event, (key, model) pairs, bytes of heap per pair, and how much the cost per
event grows from the smallest size to the largest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunTrack(o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			fmt.Fprintf(e.stdout, "cost per event, largest size / smallest: %.2f\n", res.Flatness)
			return nil
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
		Long: `Generate --rules rules (70% matches, 20% thresholds grouped by source, 10%
sequences) and compile them; generate --pool events shaped like the network
and host sensors' (from --keys outside addresses, --event-rate of them a
second of event time) and encode them in the bus's compact form. Then, each
phase on one core (GOMAXPROCS=1) over --events events, the pool cycled with
time going on:

  decode only                 the monitor's decoding of each message: the reference
  signature engine            the engine handling decoded events, ticked every
                              second of event time
  decode + signature engine   both, as the monitor runs them (the engine keeps
                              events it holds in its state)

and print the engine's state (groups, instances, evictions) and reports.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunSignature(o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			fmt.Fprintf(e.stdout, "signature engine / decode only:             %.2f\n", res.Ratio)
			fmt.Fprintf(e.stdout, "decode + signature engine / decode only:    %.2f\n", res.MonitorRatio)
			verdict := "met"
			if res.EngineRate < 1e6 || res.Ratio < 2 {
				verdict = "not met"
			}
			fmt.Fprintf(e.stdout, "target (engine >= 1,000,000 events/s and >= 2x decode only): %s\n", verdict)
			return nil
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
		Long: `Concatenate the captures and loop them (time kept increasing) into one pcap
of at least --packets packets, run the network sensor over it on one core
(GOMAXPROCS=1), and in the same run time 'tcpdump -n -r FILE > /dev/null'
(pinned to one core) on the same file as a reference. Then write a spoofed
SYN flood (one SYN from each of --flood distinct sources, a microsecond
apart) and run the sensor over it: the flow table must hold at its bound,
evicting, with the heap bounded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunNetsensor(cmd.Context(), o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			if res.TcpdumpPPS > 0 {
				fmt.Fprintf(e.stdout, "vigil netsensor / tcpdump packets per second: %.2f\n", res.Ratio)
			} else {
				fmt.Fprintln(e.stdout, "tcpdump not measured:", res.TcpdumpMissing)
			}
			return nil
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
		Long: `Run 'vigil agent' on this machine with at least --procs processes running
(sleeping children make up the number), at each of --intervals for
--duration, and measure its CPU time and peak resident memory. In the same
run, measure Debian's prometheus-node-exporter scraped at the same interval,
and print the ratio of CPU per sample.`,
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
			res, err := bench.RunAgent(cmd.Context(), o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			if res.PeerMissing != "" {
				fmt.Fprintln(e.stdout, "peer not measured:", res.PeerMissing)
				return nil
			}
			for _, iv := range o.Intervals {
				var ours, peer bench.AgentMeasure
				for _, m := range res.Measures {
					if m.Interval == iv && m.Subject == "vigil agent" {
						ours = m
					} else if m.Interval == iv {
						peer = m
					}
				}
				if peer.CPUPerSample > 0 {
					fmt.Fprintf(e.stdout, "every %v: vigil agent / node_exporter CPU per sample = %.2f, peak RSS %.1f / %.1f MB\n",
						iv, float64(ours.CPUPerSample)/float64(peer.CPUPerSample), ours.PeakRSSMB, peer.PeakRSSMB)
				}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "length of each measurement")
	fs.DurationSliceVar(&o.Intervals, "intervals", []time.Duration{4 * time.Second, time.Second}, "sampling intervals to measure at")
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
		Long: `Measure the path from sensors to the store on this machine, each phase on a
fresh embedded NATS server and a fresh store:

  raw core pub/sub          the ceiling: NATS publish/subscribe of same-size messages
  monitor via core NATS     events decoded per second by a real monitor
  raw JetStream publish     the durable ceiling: acknowledged JetStream publishes
  monitor via JetStream     events stored per second, durably, by a real monitor
  latency phases            paced at half the targets, publish-to-decode (core)
                            and publish-to-commit (JetStream) p50 and p99`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				defer pprof.StopCPUProfile()
			}
			o.Logger = e.log.With("component", "bench")
			res, err := bench.RunBus(cmd.Context(), o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			byName := map[string]bench.Phase{}
			for _, p := range res.Phases {
				byName[p.Name] = p
			}
			if o.Only != "" {
				return nil
			}
			core, rawCore := byName["monitor decode+store via core NATS"], byName["raw core pub/sub (ceiling)"]
			js, rawJS, rawJSC := byName["monitor stored via JetStream"], byName["raw JetStream publish (ceiling)"], byName["raw JetStream publish+consume (ceiling)"]
			fmt.Fprintf(e.stdout, "monitor via core NATS / raw core pub/sub:              %.2f\n", core.Rate/rawCore.Rate)
			fmt.Fprintf(e.stdout, "monitor via JetStream / raw JetStream publish:         %.2f\n", js.Rate/rawJS.Rate)
			fmt.Fprintf(e.stdout, "monitor via JetStream / raw JetStream publish+consume: %.2f\n", js.Rate/rawJSC.Rate)
			return nil
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
		return &exitError{code: ExitFailure, err: err}
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
		Long: `Feed the statistical profiler, on one core, a stream of connection events
over --subjects subjects, each profiled on twelve measures (five categorical,
five continuous, an intensity and the event distribution), after a warm-up
that gives every subject a long-term profile, so that every event is learnt
and scored. Print events/s beside the same loop reading the twelve fields
only (the baseline, as a ratio), and heap bytes per subject.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if !asJSON {
				o.Progress = e.stdout
			}
			res, err := bench.RunProfile(o)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			if asJSON {
				return e.printJSON(res)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Subjects, "subjects", 10_000, "subjects profiled")
	fs.IntVar(&o.Events, "events", 2_000_000, "events measured")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the event stream")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
