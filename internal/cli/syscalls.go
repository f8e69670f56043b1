package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
)

// syscallFlags are the system call counter's flags of vigil agent (and of
// vigil up, prefixed, and vigil record).
type syscallFlags struct {
	enabled         bool
	interval        time.Duration
	mapEntries      int
	procs, excluded []string
}

func (f *syscallFlags) register(cmd *cobra.Command, prefix string) {
	fs := cmd.Flags()
	fs.BoolVar(&f.enabled, prefix+"syscalls", false, "also count system calls per process with eBPF and send a count vector per active process every interval (needs root, or CAP_BPF and CAP_PERFMON)")
	fs.DurationVar(&f.interval, prefix+"syscall-interval", config.DefaultSyscallInterval, "length of each system call count interval")
	fs.IntVar(&f.mapEntries, prefix+"syscall-map-entries", config.DefaultSyscallMapEntries, "(process, system call) pairs the kernel map holds per interval; beyond it calls are lost and reported")
	fs.StringSliceVar(&f.procs, prefix+"syscall-procs", nil, "count vectors only for these process names (comma-separated; default all)")
	fs.StringSliceVar(&f.excluded, prefix+"syscall-exclude", nil, "no count vectors for these process names")
}

// apply lays the flags that were given over the section.
func (f *syscallFlags) apply(changed func(string) bool, s config.AgentSyscalls) config.AgentSyscalls {
	set(changed("syscalls"), &s.Enabled, f.enabled)
	set(changed("syscall-interval"), &s.Interval, f.interval)
	set(changed("syscall-map-entries"), &s.MapEntries, f.mapEntries)
	set(changed("syscall-procs"), &s.Procs, f.procs)
	set(changed("syscall-exclude"), &s.Exclude, f.excluded)
	return s
}
