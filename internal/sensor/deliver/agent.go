package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/hostevents"
	"github.com/vigil-ids/vigil/internal/sensor/syscount"
)

// The deliverers take the host events' compact records as they are.
var (
	_ host.CompactSink = (*Deliverer)(nil)
	_ host.CompactSink = (*Tracked)(nil)
)

// AgentDrainGrace is how long a stopped agent goes on delivering what it
// sampled last, when the bus does not take it sooner.
const AgentDrainGrace = time.Second

// AgentRun is a host sensor that publishes durably to the bus through an
// on-disk spool: the agent sampling /proc, the system call counter and the
// host event programs when the section turns them on, and the deliverer.
// Its parts run as components of one run group, stopped in this order:
// Sample, Count, Events, Deliver (which then drains what the others
// wrote).
type AgentRun struct {
	agent   *host.Agent
	counter *syscount.Counter
	events  *hostevents.Sensor
	d       *Tracked
	sendCV  func(context.Context, []event.CountVector) (int, error)
	hostID  string
	ids     event.IDSource
	log     *slog.Logger
}

// NewAgentRun builds a host sensor from an agent section: publish stores
// observations on the bus; sendCV stores count vectors.
func NewAgentRun(a config.Agent, publish Publisher, sendCV func(context.Context, []event.CountVector) (int, error), log *slog.Logger) (*AgentRun, error) {
	ids := event.NewRandomIDs()
	hostID, _ := host.IdentityFrom(a)
	d, err := OpenTracked(Options{Dir: a.SpoolDir, MaxBytes: a.SpoolMaxBytes, Publish: publish, HostID: hostID, Source: "agent", IDs: ids, Logger: log})
	if err != nil {
		return nil, err
	}
	o, err := host.OptionsFrom(a, log)
	if err != nil {
		return nil, err
	}
	o.Sink, o.IDs = d, ids
	events := host.OpenEvents(a, log)
	o.Eval.NoSpawn = events != nil
	return &AgentRun{agent: host.NewAgent(o), counter: host.OpenCounter(a, log), events: events, d: d, sendCV: sendCV, hostID: hostID, ids: ids, log: log}, nil
}

// Watching says whether the host event programs run (and Events is a
// part to run).
func (r *AgentRun) Watching() bool { return r.events != nil }

// Events writes the host events to the spool until ctx ends.
func (r *AgentRun) Events(ctx context.Context) error {
	if r.events == nil {
		<-ctx.Done()
		return nil
	}
	return host.RunEvents(ctx, r.events, r.d, r.log)
}

// SpoolDropped is how many observations the full spool dropped.
func (r *AgentRun) SpoolDropped() uint64 { return r.d.Dropped() }

// Counting says whether the system call counter runs (and Count is a
// part to run).
func (r *AgentRun) Counting() bool { return r.counter != nil }

// Sample samples /proc until ctx ends.
func (r *AgentRun) Sample(ctx context.Context) error { return r.agent.Run(ctx) }

// Agent is the agent sampling /proc (its sampling may be raised for a
// while: host.Agent.ApplyControl).
func (r *AgentRun) Agent() *host.Agent { return r.agent }

// HostID is the host id the agent reports under.
func (r *AgentRun) HostID() string { return r.hostID }

// Count drains the system call counter every interval until ctx ends.
func (r *AgentRun) Count(ctx context.Context) error {
	if r.counter == nil {
		<-ctx.Done()
		return nil
	}
	return SendCounts(ctx, r.counter, CountOptions{Send: r.sendCV, Report: r.d, IDs: r.ids, HostID: r.hostID, Logger: r.log})
}

// Deliver forwards the spool to the bus until ctx ends, then until what
// was written has left (at most AgentDrainGrace more), so that what was just
// observed leaves with the agent when the bus is there.
func (r *AgentRun) Deliver(ctx context.Context) error {
	left := r.d.RunDrained(ctx, AgentDrainGrace)
	if left > 0 {
		r.log.Warn("observations left in the spool for the next run", "records", left)
	}
	// This run's account: observations = delivered + dropped + left.
	r.log.Info("host sensor stopped", "observations", r.d.Written(), "delivered", r.d.Acknowledged(),
		"dropped", r.d.Dropped(), "left_in_spool", max(left, 0))
	return nil
}

// CountOptions say where a running system call counter's vectors, and
// the reports of what was lost, go.
type CountOptions struct {
	// Send delivers an interval's vectors and says how many it delivered.
	Send func(context.Context, []event.CountVector) (int, error)
	// Report receives the SENSOR.DROPPED observations (the agent's sink).
	Report host.Sink
	IDs    event.IDSource
	HostID string
	Logger *slog.Logger
}

// SendCounts drains c every interval until ctx ends, handing the vectors
// to o.Send, then closes c. Counts the kernel map had no room for, and
// vectors o.Send could not deliver, are reported as SENSOR.DROPPED
// observations through o.Report (and logged); neither stops the counter.
func SendCounts(ctx context.Context, c *syscount.Counter, o CountOptions) error {
	defer c.Close()
	if o.IDs == nil {
		o.IDs = event.NewRandomIDs()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	drop := func(now time.Time, n uint64, what, reason string) {
		o.Logger.Warn("system call counts dropped", "what", what, "count", n, "reason", reason)
		ev := event.Event{
			ID: o.IDs.NewID(now), Time: now.UTC(), Type: TypeDropped, Host: o.HostID, Source: "agent",
			Attrs: map[string]any{"dropped": int64(n), "what": what, "reason": reason},
		}
		if err := o.Report.Write([]event.Event{ev}); err != nil {
			o.Logger.Error("reporting dropped system call counts", "err", err)
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
		o.Logger.Debug("system call interval", "processes", st.Processes, "entries", st.Entries, "calls", st.Calls, "vectors", len(vs), "drain", st.Drain)
		if len(vs) == 0 {
			return nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(c.Interval(), 5*time.Second))
		defer cancel()
		n, err := o.Send(sctx, vs)
		if err != nil {
			drop(end, uint64(len(vs)-n), "count vectors", fmt.Sprintf("not delivered: %v", err))
		}
		return nil
	})
}
