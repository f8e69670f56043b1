package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// syscallFlags are the system call counter's flags of vigil agent (and of
// vigil up, prefixed).
type syscallFlags struct {
	enabled         bool
	interval        time.Duration
	mapEntries      int
	procs, excluded []string
}

func (f *syscallFlags) register(cmd *cobra.Command, prefix string) {
	fs := cmd.Flags()
	fs.BoolVar(&f.enabled, prefix+"syscalls", false, "also count system calls per process with eBPF and send a count vector per active process every interval (needs root, or CAP_BPF and CAP_PERFMON)")
	fs.DurationVar(&f.interval, prefix+"syscall-interval", time.Second, "length of each system call count interval")
	fs.IntVar(&f.mapEntries, prefix+"syscall-map-entries", syscount.DefaultMapEntries, "(process, system call) pairs the kernel map holds per interval; beyond it calls are lost and reported")
	fs.StringSliceVar(&f.procs, prefix+"syscall-procs", nil, "count vectors only for these process names (comma-separated; default all)")
	fs.StringSliceVar(&f.excluded, prefix+"syscall-exclude", nil, "no count vectors for these process names")
}

// apply lays the flags that were given over the section.
func (f *syscallFlags) apply(changed func(string) bool, s config.AgentSyscalls) config.AgentSyscalls {
	if changed("syscalls") {
		s.Enabled = f.enabled
	}
	if changed("syscall-interval") {
		s.Interval = f.interval
	}
	if changed("syscall-map-entries") {
		s.MapEntries = f.mapEntries
	}
	if changed("syscall-procs") {
		s.Procs = f.procs
	}
	if changed("syscall-exclude") {
		s.Exclude = f.excluded
	}
	return s
}

// openSyscalls starts the system call counter when the agent section asks
// for it. When it cannot run here it logs exactly what is missing and
// returns nil: the /proc sensor goes on alone.
func openSyscalls(e *env, a config.Agent) *syscount.Counter {
	if !a.Syscalls.Enabled {
		return nil
	}
	o := counterOptions(e, a)
	c, err := syscount.Open(o)
	if err != nil {
		var ue *syscount.UnavailableError
		if errors.As(err, &ue) {
			e.log.Error("system call counting is off; the /proc sensor goes on without it", "reason", err)
		} else {
			e.log.Error("system call counting failed to start; the /proc sensor goes on without it", "err", err)
		}
		return nil
	}
	e.log.Info("counting system calls", "interval", c.Interval(), "map_entries", c.MapEntries(), "host", o.Host)
	return c
}

// counterOptions are the system call counter's options from an agent
// section.
func counterOptions(e *env, a config.Agent) syscount.Options {
	hostID, ip := agentIdentity(a)
	return syscount.Options{
		Interval: a.Syscalls.Interval, MapEntries: a.Syscalls.MapEntries, Host: hostID, IP: ip,
		Procs: a.Syscalls.Procs, Exclude: a.Syscalls.Exclude, ProcRoot: a.Proc, Logger: e.log,
	}
}

// agentIdentity is the host id and IP address the agent reports under.
func agentIdentity(a config.Agent) (hostID, ip string) {
	hostID, ip = host.Identity(a.Proc)
	if a.HostID != "" {
		hostID = a.HostID
	}
	if a.IP != "" {
		ip = a.IP
	}
	return hostID, ip
}

// runSyscalls drains the counter every interval until ctx ends, handing
// the vectors to send. Counts the kernel map had no room for, and vectors
// send could not deliver, are reported as SENSOR.DROPPED observations
// through report (and logged); neither stops the counter.
func runSyscalls(ctx context.Context, e *env, c *syscount.Counter, send func(context.Context, []event.CountVector) (int, error), report host.Sink, ids event.IDSource, hostID string) error {
	defer c.Close()
	if ids == nil {
		ids = event.NewRandomIDs()
	}
	drop := func(now time.Time, n uint64, what, reason string) {
		e.log.Warn("system call counts dropped", "what", what, "count", n, "reason", reason)
		ev := event.Event{
			ID: ids.NewID(now), Time: now.UTC(), Type: deliver.TypeDropped, Host: hostID, Source: "agent",
			Attrs: map[string]any{"dropped": int64(n), "what": what, "reason": reason},
		}
		if err := report.Write([]event.Event{ev}); err != nil {
			e.log.Error("reporting dropped system call counts", "err", err)
		}
	}
	return c.Run(ctx, func(vs []event.CountVector, st syscount.IntervalStats) error {
		end := st.Start.Add(st.Interval)
		if st.Lost > 0 {
			drop(end, st.Lost, "system calls", syscount.LossReason(c.MapEntries()))
		}
		if st.Missed > 0 {
			drop(end, st.Missed, "system calls", syscount.MissReason)
		}
		e.log.Debug("system call interval", "processes", st.Processes, "entries", st.Entries, "calls", st.Calls, "vectors", len(vs), "drain", st.Drain)
		if len(vs) == 0 {
			return nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(c.Interval(), 5*time.Second))
		defer cancel()
		n, err := send(sctx, vs)
		if err != nil {
			drop(end, uint64(len(vs)-n), "count vectors", fmt.Sprintf("not delivered: %v", err))
		}
		return nil
	})
}

// jsonVectors writes count vectors as JSON lines through the agent's JSON
// sink, so they never interleave with its observations.
func jsonVectors(sink *host.JSONSink) func(context.Context, []event.CountVector) (int, error) {
	var buf bytes.Buffer
	return func(_ context.Context, vs []event.CountVector) (int, error) {
		buf.Reset()
		if err := syscalls.WriteVectors(&buf, vs); err != nil {
			return 0, err
		}
		if err := sink.WriteRaw(buf.Bytes()); err != nil {
			return 0, err
		}
		return len(vs), nil
	}
}
