package host

import (
	"bytes"
	"context"
	"errors"
	"log/slog"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/hostevents"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
	"github.com/vigil-ids/vigil/internal/syscalls"
)

// IdentityFrom is the host id and IP address an agent section reports
// under: its own, or those Identity finds.
func IdentityFrom(a config.Agent) (hostID, ip string) {
	hostID, ip = Identity(a.Proc)
	if a.HostID != "" {
		hostID = a.HostID
	}
	if a.IP != "" {
		ip = a.IP
	}
	return hostID, ip
}

// OptionsFrom turns an agent section (validated when it was loaded) into
// an agent's options; the caller adds the sink and the id source.
func OptionsFrom(a config.Agent, log *slog.Logger) (AgentOptions, error) {
	ex, err := NewExtractor(a.Proc, log)
	if err != nil {
		return AgentOptions{}, err
	}
	hostID, ip := IdentityFrom(a)
	th := map[string]Threshold{}
	for typ, t := range a.Thresholds {
		th[typ] = Threshold{Abs: t.Abs, Rel: t.Rel}
	}
	return AgentOptions{
		Extractor: ex, Interval: a.Interval, HostID: hostID, IP: ip, Logger: log,
		Eval: EvalConfig{Window: a.Window, Procs: a.Procs, Exclude: a.Exclude, Thresholds: th, Levels: LevelsFrom(a.Levels)},
	}, nil
}

// LevelsFrom are the level settings of an agent section.
func LevelsFrom(l config.AgentLevels) Levels {
	return Levels{CPU: l.CPU, CPUFor: l.CPUFor, Mem: l.Mem, MemMB: l.MemMB, MemFor: l.MemFor, Repeat: l.Repeat}
}

// CounterOptions are the system call counter's options from an agent
// section.
func CounterOptions(a config.Agent, log *slog.Logger) syscount.Options {
	hostID, ip := IdentityFrom(a)
	return syscount.Options{
		Interval: a.Syscalls.Interval, MapEntries: a.Syscalls.MapEntries, Host: hostID, IP: ip,
		Procs: a.Syscalls.Procs, Exclude: a.Syscalls.Exclude, ProcRoot: a.Proc, Logger: log,
	}
}

// OpenCounter starts the system call counter when the agent section asks
// for it. When it cannot run here it logs exactly what is missing and
// returns nil: the /proc sensor goes on alone.
func OpenCounter(a config.Agent, log *slog.Logger) *syscount.Counter {
	if !a.Syscalls.Enabled {
		return nil
	}
	o := CounterOptions(a, log)
	c, err := syscount.Open(o)
	if err != nil {
		var ue *syscount.UnavailableError
		if errors.As(err, &ue) {
			log.Error("system call counting is off; the /proc sensor goes on without it", "reason", err)
		} else {
			log.Error("system call counting failed to start; the /proc sensor goes on without it", "err", err)
		}
		return nil
	}
	log.Info("counting system calls", "interval", c.Interval(), "map_entries", c.MapEntries(), "host", o.Host)
	return c
}

// EventsOptions are the host events' options from an agent section: the
// filters and bounds of agent.events, and PROC.SPAWN for the processes the
// agent monitors (in place of the /proc sampler's).
func EventsOptions(a config.Agent, log *slog.Logger) hostevents.Options {
	hostID, ip := IdentityFrom(a)
	return hostevents.Options{
		Host: hostID, IP: ip, Events: a.Events, Spawn: true, Procs: a.Procs, Exclude: a.Exclude,
		ProcRoot: a.Proc, Logger: log,
	}
}

// OpenEvents starts the host event programs when the agent section asks
// for them. When they cannot run here it logs exactly what is missing and
// returns nil: the /proc sensor goes on alone (and reports PROC.SPAWN
// itself).
func OpenEvents(a config.Agent, log *slog.Logger) *hostevents.Sensor {
	if !a.Events.Enabled {
		return nil
	}
	s, err := hostevents.Open(EventsOptions(a, log))
	if err != nil {
		var ue *hostevents.UnavailableError
		if errors.As(err, &ue) {
			log.Error("host events are off; the /proc sensor goes on without them", "reason", err)
		} else {
			log.Error("host events failed to start; the /proc sensor goes on without them", "err", err)
		}
		return nil
	}
	log.Info("host events on", "ring_buffer_bytes", a.Events.RingBufferBytes, "programs_off", len(s.Off))
	return s
}

// RunEvents hands the host events to sink until ctx ends, then closes s:
// in compact form, as they are, to a CompactSink; decoded to any other. A
// write the sink refuses is logged and the events go on, as a sample
// that fails does.
func RunEvents(ctx context.Context, s *hostevents.Sensor, sink Sink, log *slog.Logger) error {
	defer s.Close()
	cs, _ := sink.(CompactSink)
	var evs []event.Event
	return s.Run(ctx, func(recs [][]byte) error {
		var err error
		if cs != nil {
			err = cs.WriteCompact(recs)
		} else {
			evs = evs[:0]
			for _, rec := range recs {
				ev, derr := event.DecodeCompact(rec)
				if derr != nil {
					log.Error("host event not decoded", "err", derr)
					continue
				}
				evs = append(evs, ev)
			}
			err = sink.Write(evs)
		}
		if err != nil {
			log.Error("host events not written", "events", len(recs), "err", err)
		}
		return nil
	})
}

// VectorWriter writes count vectors as JSON lines through the sink, so
// they never interleave with its observations.
func (s *JSONSink) VectorWriter() func(context.Context, []event.CountVector) (int, error) {
	var buf bytes.Buffer
	return func(_ context.Context, vs []event.CountVector) (int, error) {
		buf.Reset()
		if err := syscalls.WriteVectors(&buf, vs); err != nil {
			return 0, err
		}
		if err := s.WriteRaw(buf.Bytes()); err != nil {
			return 0, err
		}
		return len(vs), nil
	}
}
