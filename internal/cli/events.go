package cli

import (
	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
)

// eventsFlags are the host event programs' flags of vigil agent (and of
// vigil up, prefixed).
type eventsFlags struct {
	enabled   bool
	ringBytes int
}

func (f *eventsFlags) register(cmd *cobra.Command, prefix string) {
	fs := cmd.Flags()
	fs.BoolVar(&f.enabled, prefix+"events", false, "also report process execs and exits, watched files, privilege gains, injection and connections as they happen, with eBPF (needs root, or CAP_BPF and CAP_PERFMON, and kernel BTF)")
	fs.IntVar(&f.ringBytes, prefix+"events-ring-buffer-bytes", config.DefaultEventsRingBufferBytes, "size of the kernel ring buffer host events wait in (a power of two); records that find it full are counted and reported")
}

// apply lays the flags that were given over the section.
func (f *eventsFlags) apply(changed func(string) bool, e config.AgentEvents) config.AgentEvents {
	set(changed("events"), &e.Enabled, f.enabled)
	set(changed("events-ring-buffer-bytes"), &e.RingBufferBytes, f.ringBytes)
	return e
}
