package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/node"
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
	cpuLevel, memLevel      float64
	memLevelMB              float64
	cpuFor, memFor, repeat  time.Duration
	ev                      eventsFlags
	effector                bool
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
	fs.Float64Var(&f.cpuLevel, prefix+"cpu-level", config.DefaultCPULevel, "PROC.CPU.LEVEL: CPU use, % of one core, a process must hold (0: off)")
	fs.DurationVar(&f.cpuFor, prefix+"cpu-level-for", config.DefaultCPULevelFor, "PROC.CPU.LEVEL: how long the CPU level must hold")
	fs.Float64Var(&f.memLevel, prefix+"mem-level", config.DefaultMemLevel, "PROC.MEM.LEVEL: resident memory, % of the host's, a process must hold (0: off)")
	fs.Float64Var(&f.memLevelMB, prefix+"mem-level-mb", 0, "PROC.MEM.LEVEL: resident memory in MB a process must hold (0: off; either level counts)")
	fs.DurationVar(&f.memFor, prefix+"mem-level-for", config.DefaultMemLevelFor, "PROC.MEM.LEVEL: how long the memory level must hold")
	fs.DurationVar(&f.repeat, prefix+"level-repeat", config.DefaultLevelRepeat, "least time between two reports of a level that goes on")
	f.sys.register(cmd, prefix)
	f.ev.register(cmd, prefix)
	fs.BoolVar(&f.effector, prefix+"effector", false, "answer monitors' requests to signal processes and restart services, within agent.effector's protections (docs/RESPONSES.md)")
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
	set(changed("cpu-level"), &a.Levels.CPU, f.cpuLevel)
	set(changed("cpu-level-for"), &a.Levels.CPUFor, f.cpuFor)
	set(changed("mem-level"), &a.Levels.Mem, f.memLevel)
	set(changed("mem-level-mb"), &a.Levels.MemMB, f.memLevelMB)
	set(changed("mem-level-for"), &a.Levels.MemFor, f.memFor)
	set(changed("level-repeat"), &a.Levels.Repeat, f.repeat)
	a.Events = f.ev.apply(changed, a.Events)
	set(changed("effector"), &a.Effector.Enabled, f.effector)
	var err error
	if a.Thresholds, err = config.AddThresholds(a.Thresholds, f.thresholds); err != nil {
		return a, fmt.Errorf("--%sthreshold %w", prefix, err)
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
			o := node.SensorOptions{Bus: bf.apply(ro.Bus, ro.Resolve), Logger: e.log}
			if stdout {
				o.Stdout = e.stdout
			}
			return failed(node.RunAgent(cmd.Context(), a, o))
		},
	}
	af.register(cmd, "")
	bf.register(cmd.Flags())
	cmd.Flags().StringVar(&cfgFile, "config", "", "resource object whose agent (and bus) sections configure the sensor")
	cmd.Flags().BoolVar(&stdout, "stdout", false, "print observations as JSON lines instead of publishing them")
	return cmd
}
