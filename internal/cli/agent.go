package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/sensor/host"
)

// agentFlags are the host sensor's flags; they override the resource
// object's agent section.
type agentFlags struct {
	interval                time.Duration
	window                  int
	procs, exclude          []string
	thresholds              []string
	hostID, ip, proc, spool string
	spoolMax                int64
	sys                     syscallFlags
}

func (f *agentFlags) register(cmd *cobra.Command, prefix string) {
	fs := cmd.Flags()
	fs.DurationVar(&f.interval, prefix+"interval", 4*time.Second, "time between samples of /proc")
	fs.IntVar(&f.window, prefix+"window", 5, "samples in each running average")
	fs.StringSliceVar(&f.procs, prefix+"procs", nil, "monitor only these process names (comma-separated; default all)")
	fs.StringSliceVar(&f.exclude, prefix+"exclude", nil, "do not monitor these process names")
	fs.StringArrayVar(&f.thresholds, prefix+"threshold", nil, "slope threshold TYPE=ABS[:REL], e.g. PROC.CPU=30 or PROC.MEM=16:0.2 (repeatable)")
	fs.StringVar(&f.hostID, prefix+"host-id", "", "host id in observations (default: the hostname)")
	fs.StringVar(&f.ip, prefix+"ip", "", "IP address in observations (default: that of the default route's interface)")
	fs.StringVar(&f.proc, prefix+"proc", "/proc", "root of the proc filesystem")
	fs.StringVar(&f.spool, prefix+"spool-dir", "", "directory of the spool that holds observations while the bus is away")
	fs.Int64Var(&f.spoolMax, prefix+"spool-max-bytes", 64<<20, "bound of the spool; beyond it the oldest observations are dropped and counted")
	f.sys.register(cmd, prefix)
}

// apply lays the flags that were given over the agent section.
func (f *agentFlags) apply(cmd *cobra.Command, prefix string, a config.Agent) (config.Agent, error) {
	changed := func(name string) bool { return cmd.Flags().Changed(prefix + name) }
	if changed("interval") {
		a.Interval = f.interval
	}
	if changed("window") {
		a.Window = f.window
	}
	if changed("procs") {
		a.Procs = f.procs
	}
	if changed("exclude") {
		a.Exclude = f.exclude
	}
	if changed("host-id") {
		a.HostID = f.hostID
	}
	if changed("ip") {
		a.IP = f.ip
	}
	if changed("proc") {
		a.Proc = f.proc
	}
	if changed("spool-dir") {
		a.SpoolDir = f.spool
	}
	if changed("spool-max-bytes") {
		a.SpoolMaxBytes = f.spoolMax
	}
	a.Syscalls = f.sys.apply(changed, a.Syscalls)
	for _, t := range f.thresholds {
		typ, val, ok := strings.Cut(t, "=")
		if !ok {
			return a, fmt.Errorf("--%sthreshold %q: want TYPE=ABS[:REL]", prefix, t)
		}
		absS, relS, _ := strings.Cut(val, ":")
		var th config.Threshold
		var err error
		if th.Abs, err = strconv.ParseFloat(absS, 64); err != nil {
			return a, fmt.Errorf("--%sthreshold %q: bad absolute threshold %q", prefix, t, absS)
		}
		if relS != "" {
			if th.Rel, err = strconv.ParseFloat(relS, 64); err != nil {
				return a, fmt.Errorf("--%sthreshold %q: bad relative threshold %q", prefix, t, relS)
			}
		}
		if a.Thresholds == nil {
			a.Thresholds = map[string]config.Threshold{}
		}
		a.Thresholds[typ] = th
	}
	return a, config.ValidateAgent(a)
}

// newAgent builds a host sensor from an agent section.
func newAgent(e *env, a config.Agent, sink host.Sink, ids event.IDSource) (*host.Agent, string, error) {
	ex, err := host.NewExtractor(a.Proc, e.log)
	if err != nil {
		return nil, "", err
	}
	hostID, ip := agentIdentity(a)
	th := map[string]host.Threshold{}
	for typ, t := range a.Thresholds {
		th[typ] = host.Threshold{Abs: t.Abs, Rel: t.Rel}
	}
	ag := host.NewAgent(host.AgentOptions{
		Extractor: ex, Interval: a.Interval, HostID: hostID, IP: ip, Sink: sink, IDs: ids, Logger: e.log,
		Eval: host.EvalConfig{Window: a.Window, Procs: a.Procs, Exclude: a.Exclude, Thresholds: th},
	})
	return ag, hostID, nil
}

// runAgentToBus runs a host sensor publishing through a spool until ctx
// ends; publish stores events on the bus. With the system call counter on,
// sendCV stores its count vectors.
func runAgentToBus(ctx context.Context, e *env, a config.Agent, publish deliver.Publisher, sendCV func(context.Context, []event.CountVector) (int, error)) error {
	ids := event.NewRandomIDs()
	hostID, _ := agentIdentity(a)
	d, err := deliver.Open(deliver.Options{Dir: a.SpoolDir, MaxBytes: a.SpoolMaxBytes, Publish: publish, HostID: hostID, Source: "agent", IDs: ids, Logger: e.log})
	if err != nil {
		return err
	}
	ag, _, err := newAgent(e, a, d, ids)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	sampled := make(chan struct{})
	if c := openSyscalls(e, a); c != nil {
		counted := make(chan struct{})
		g.Go(func() error { defer close(counted); return runSyscalls(gctx, e, c, sendCV, d, ids, hostID) })
		g.Go(func() error { defer close(sampled); err := ag.Run(gctx); <-counted; return err })
	} else {
		g.Go(func() error { defer close(sampled); return ag.Run(gctx) })
	}
	g.Go(func() error {
		// Keep delivering until sampling has stopped and a moment after,
		// so what was just observed leaves with us when the bus is there
		// and nothing is written to a spool already closed.
		dctx, cancel := context.WithCancel(context.WithoutCancel(gctx))
		go func() {
			<-sampled
			time.Sleep(time.Second)
			cancel()
		}()
		d.Run(dctx)
		return nil
	})
	return g.Wait()
}

func agentCmd(e *env) *cobra.Command {
	var (
		af      agentFlags
		bf      busFlags
		cfgFile string
		stdout  bool
	)
	cmd := &cobra.Command{
		Use:   "agent [--stdout | --bus URL]",
		Short: "Run the host sensor: sample /proc and report anomalies as observations",
		Long: `Run the user-space host sensor on this machine. Every --interval it samples
/proc: every monitored process (pid, name, executable, state, memory, CPU,
user, parent) and the system (memory, CPU, processes, network traffic per
interface, disk operations, sockets by state). It keeps running averages over
--window samples and reports a sample that exceeds its average by a metric's
threshold (PROC.CPU, PROC.MEM, SYS.CPU, SYS.MEM, SYS.DISK.IO, SYS.NET.RX,
SYS.NET.TX), and discrete events (PROC.SPAWN and PROC.TERM of monitored
process types, SYS.PROCS.GROWTH, SYS.NET.SOCKS.GROWTH).

With --stdout, observations are printed as JSON lines. Otherwise they are
published durably to the bus through an on-disk spool: sampling never waits
for the network, an outage of the bus loses nothing that fits in the spool,
and anything dropped beyond its bound is counted and reported.

With --syscalls, an eBPF program also counts every system call per process
in the kernel, and every --syscall-interval the agent sends one count vector
per process that made system calls (pid, name, executable, interval, counts
by system call) to vigil.cv.<host>, or prints it as a JSON line with
--stdout (docs/SYSCALLS.md). Counts are exact: each lands in one interval.
It needs root, or CAP_BPF and CAP_PERFMON; without them, or without kernel
support, the agent says what is missing and runs the /proc sensor alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ro := config.Default()
			if cfgFile != "" {
				var err error
				if ro, _, err = e.loadConfig(cfgFile); err != nil {
					return err
				}
			}
			a, err := af.apply(cmd, "", ro.Agent)
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			ctx := cmd.Context()
			if stdout {
				sink := host.NewJSONSink(e.stdout)
				ag, hostID, err := newAgent(e, a, sink, nil)
				if err != nil {
					return &exitError{code: ExitFailure, err: err}
				}
				c := openSyscalls(e, a)
				if c == nil {
					return ag.Run(ctx)
				}
				g, gctx := errgroup.WithContext(ctx)
				g.Go(func() error { return ag.Run(gctx) })
				g.Go(func() error { return runSyscalls(gctx, e, c, jsonVectors(sink), sink, nil, hostID) })
				return g.Wait()
			}
			conn, publish, err := sensorBus(ctx, e, bf, ro, "vigil agent")
			if err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			defer conn.Close()
			if a.SpoolDir == "" {
				a.SpoolDir = filepath.Join("vigil-data", "agent-spool")
			}
			sendCV := func(ctx context.Context, vs []event.CountVector) (int, error) {
				if _, err := publish(ctx, nil); err != nil { // makes the streams on first use
					return 0, err
				}
				return conn.PublishCountVectors(ctx, vs)
			}
			if err := runAgentToBus(ctx, e, a, publish, sendCV); err != nil {
				return &exitError{code: ExitFailure, err: err}
			}
			return nil
		},
	}
	af.register(cmd, "")
	bf.register(cmd.Flags(), "")
	cmd.Flags().StringVar(&cfgFile, "config", "", "resource object whose agent (and bus) sections configure the sensor")
	cmd.Flags().BoolVar(&stdout, "stdout", false, "print observations as JSON lines instead of publishing them")
	return cmd
}

// sensorBus connects a sensor to the bus of its resource object (flags
// override), retrying until the bus is there, and returns what publishes
// its records: the observation stream is made on first use, since a
// sensor may start before any monitor.
func sensorBus(ctx context.Context, e *env, bf busFlags, ro *config.ResourceObject, client string) (*bus.Conn, deliver.Publisher, error) {
	bc := bf.apply(ro.Bus, ro.Resolve)
	if bc.URL == "" {
		bc.URL = "nats://127.0.0.1:4222"
	}
	opts, err := clientOptions(bc, client)
	if err != nil {
		return nil, nil, err
	}
	opts.Logger, opts.RetryOnFailedConnect = e.log, true
	conn, err := bus.Connect(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	ensured := false
	publish := func(ctx context.Context, recs [][]byte) (int, error) {
		if !ensured {
			if err := conn.EnsureStreams(ctx, bus.StreamLimits{}); err != nil {
				return 0, err
			}
			ensured = true
		}
		return conn.PublishCompactEvents(ctx, recs)
	}
	return conn, publish, nil
}
