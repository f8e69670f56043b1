package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/monitor"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
	"github.com/vigil-ids/vigil/internal/web"
)

// Web is the HTTP server: it stops taking requests when stopped.
func Web(s *web.Server) Component {
	return Component{Name: "web", Run: s.Serve}
}

// Monitor is a monitor with its store: stopped, it drains what it received
// to its engines and its store, commits, acknowledges and closes the store.
func Monitor(m *monitor.Monitor) Component {
	return Component{Name: "monitor", Run: m.Run}
}

// BusConn is a connection to the bus, closed (after a drain) when stopped.
func BusConn(c *bus.Conn) Component {
	return Component{Name: "bus connection", Run: func(ctx context.Context) error {
		<-ctx.Done()
		c.Close()
		return nil
	}}
}

// BusServer is the embedded bus server, shut down when stopped.
func BusServer(s *bus.Server) Component {
	return Component{Name: "bus server", Run: func(ctx context.Context) error {
		<-ctx.Done()
		s.Shutdown()
		return nil
	}}
}

// agentComponents are a host sensor publishing to the bus through its
// spool: the host agent, the system call counter and the host events when
// the section turns them on, and their deliverer, in that order.
func agentComponents(r *deliver.AgentRun) []Component {
	cs := []Component{{Name: "host agent", Run: r.Sample}}
	if r.Counting() {
		cs = append(cs, Component{Name: "syscall counter", Run: r.Count})
	}
	if r.Watching() {
		cs = append(cs, Component{Name: "host events", Run: r.Events})
	}
	return append(cs, Component{Name: "agent delivery", Run: r.Deliver})
}

// AgentTo is a host sensor writing to sink (JSON lines): the host agent,
// and the system call counter when the section turns it on, its vectors
// written through sendCV.
func AgentTo(a config.Agent, sink host.Sink, sendCV func(context.Context, []event.CountVector) (int, error), log *slog.Logger) ([]Component, error) {
	o, err := host.OptionsFrom(a, log)
	if err != nil {
		return nil, err
	}
	o.Sink = sink
	events := host.OpenEvents(a, log)
	o.Eval.NoSpawn = events != nil
	ag := host.NewAgent(o)
	cs := []Component{{Name: "host agent", Run: ag.Run}}
	if events != nil {
		cs = append(cs, Component{Name: "host events", Run: func(ctx context.Context) error { return host.RunEvents(ctx, events, sink, log) }})
	}
	if c := host.OpenCounter(a, log); c != nil {
		co := deliver.CountOptions{Send: sendCV, Report: sink, HostID: o.HostID, Logger: log}
		cs = append(cs, Component{Name: "syscall counter", Run: func(ctx context.Context) error { return deliver.SendCounts(ctx, c, co) }})
	}
	return cs, nil
}

// Netsensor is a network sensor over src whose records go to write
// (JSON lines), and which logs its counts when it stops.
func Netsensor(cfg netsensor.Config, src netsensor.Source, write func([]event.Event) error, log *slog.Logger) Component {
	return netsensorRun(netsensor.NewRunner(cfg, src, write, log), log)
}

func netsensorRun(r *netsensor.Runner, log *slog.Logger) Component {
	return Component{Name: "netsensor", Run: func(ctx context.Context) error {
		err := r.Run(ctx)
		st := r.Sensor.Stats()
		log.Info("netsensor done", "packets", st.Packets, "records", st.Records, "decode_errors", st.DecodeErrors,
			"skipped", st.Skipped, "capture_damage", st.CaptureDamage, "suppressed", st.Suppressed, "flows_evicted", st.FlowsEvicted, "kernel_drops", st.KernelDrops)
		return err
	}}
}

// NetsensorToBus is a network sensor over src publishing to the bus
// through a spool: the sensor, then its deliverer, which goes on after the
// sensor stopped until what it recorded has left (at most grace more).
func NetsensorToBus(cfg netsensor.Config, src netsensor.Source, sec config.NetSensor, publish deliver.Publisher, grace time.Duration, log *slog.Logger) ([]Component, *netsensor.Sensor, error) {
	d, err := deliver.OpenTracked(deliver.Options{Dir: sec.SpoolDir, MaxBytes: sec.SpoolMaxBytes, HostID: cfg.ID, Source: cfg.ID, Logger: log, Publish: publish})
	if err != nil {
		return nil, nil, err
	}
	r := netsensor.NewRunner(cfg, src, d.Write, log)
	return []Component{
		netsensorRun(r, log),
		{Name: "netsensor delivery", Run: func(ctx context.Context) error {
			if left := d.RunDrained(ctx, grace); left > 0 {
				log.Warn("records left in the spool for the next run", "records", left, "spool", sec.SpoolDir)
			}
			return nil
		}},
	}, r.Sensor, nil
}

// RunSensor runs a sensor's components, and the bus connection they
// publish on (nil for none), as one group until ctx ends or the sensor's
// work is done.
func RunSensor(ctx context.Context, cs []Component, conn *bus.Conn, log *slog.Logger) error {
	g := NewGroup(log)
	for _, c := range cs {
		g.Add(c)
	}
	if conn != nil {
		g.Add(BusConn(conn))
	}
	return g.Run(ctx)
}
