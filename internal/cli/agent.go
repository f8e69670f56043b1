package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/node"
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
	fs.DurationVar(&f.interval, prefix+"interval", config.DefaultAgentInterval, "time between samples of /proc")
	fs.IntVar(&f.window, prefix+"window", config.DefaultAgentWindow, "samples in each running average")
	fs.StringSliceVar(&f.procs, prefix+"procs", nil, "monitor only these process names (comma-separated; default all)")
	fs.StringSliceVar(&f.exclude, prefix+"exclude", nil, "do not monitor these process names")
	fs.StringArrayVar(&f.thresholds, prefix+"threshold", nil, "slope threshold TYPE=ABS[:REL], e.g. PROC.CPU=30 or PROC.MEM=16:0.2 (repeatable)")
	fs.StringVar(&f.hostID, prefix+"host-id", "", "host id in observations (default: the hostname)")
	fs.StringVar(&f.ip, prefix+"ip", "", "IP address in observations (default: that of the default route's interface)")
	fs.StringVar(&f.proc, prefix+"proc", config.DefaultProc, "root of the proc filesystem")
	fs.StringVar(&f.spool, prefix+"spool-dir", "", "directory of the spool that holds observations while the bus is away")
	fs.Int64Var(&f.spoolMax, prefix+"spool-max-bytes", config.DefaultSpoolMaxBytes, "bound of the spool; beyond it the oldest observations are dropped and counted")
	f.sys.register(cmd, prefix)
}

// apply lays the flags that were given over the agent section.
func (f *agentFlags) apply(cmd *cobra.Command, prefix string, a config.Agent) (config.Agent, error) {
	changed := func(name string) bool { return cmd.Flags().Changed(prefix + name) }
	set(changed("interval"), &a.Interval, f.interval)
	set(changed("window"), &a.Window, f.window)
	set(changed("procs"), &a.Procs, f.procs)
	set(changed("exclude"), &a.Exclude, f.exclude)
	set(changed("host-id"), &a.HostID, f.hostID)
	set(changed("ip"), &a.IP, f.ip)
	set(changed("proc"), &a.Proc, f.proc)
	set(changed("spool-dir"), &a.SpoolDir, f.spool)
	set(changed("spool-max-bytes"), &a.SpoolMaxBytes, f.spoolMax)
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

// set stores v in dst when its flag was given.
func set[T any](changed bool, dst *T, v T) {
	if changed {
		*dst = v
	}
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
		Long:  help("agent"),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ro, err := e.optionalConfig(cfgFile)
			if err != nil {
				return err
			}
			a, err := af.apply(cmd, "", ro.Agent)
			if err != nil {
				return fail(err)
			}
			ctx := cmd.Context()
			if stdout {
				sink := host.NewJSONSink(e.stdout)
				cs, err := node.AgentTo(a, sink, sink.VectorWriter(), e.log)
				if err != nil {
					return fail(err)
				}
				return failed(node.RunSensor(ctx, cs, nil, e.log))
			}
			conn, publish, err := node.SensorBus(ctx, bf.apply(ro.Bus, ro.Resolve), "vigil agent", e.log)
			if err != nil {
				return fail(err)
			}
			if a.SpoolDir == "" {
				a.SpoolDir = filepath.Join(config.DefaultDataDir, "agent-spool")
			}
			sendCV := func(ctx context.Context, vs []event.CountVector) (int, error) {
				if _, err := publish(ctx, nil); err != nil { // makes the streams on first use
					return 0, err
				}
				return conn.PublishCountVectors(ctx, vs)
			}
			cs, err := node.Agent(a, publish, sendCV, e.log)
			if err != nil {
				conn.Close()
				return fail(err)
			}
			return failed(node.RunSensor(ctx, cs, conn, e.log))
		},
	}
	af.register(cmd, "")
	bf.register(cmd.Flags())
	cmd.Flags().StringVar(&cfgFile, "config", "", "resource object whose agent (and bus) sections configure the sensor")
	cmd.Flags().BoolVar(&stdout, "stdout", false, "print observations as JSON lines instead of publishing them")
	return cmd
}
