package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/sensor/deliver"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/netsensor"
	"github.com/vigil-ids/vigil/internal/timerslack"
)

// SensorOptions say where a sensor's records go: as JSON lines to Stdout
// when it is set, else durably to the bus of Bus through a spool.
type SensorOptions struct {
	Stdout io.Writer
	Bus    config.BusClient
	Logger *slog.Logger
}

// RunAgent runs the host sensor of an agent section (validated) until ctx
// ends: the agent, the system call counter when the section turns it on,
// and, on the bus, their deliverer and the bus connection.
func RunAgent(ctx context.Context, a config.Agent, o SensorOptions) error {
	log := o.Logger
	setMaxProcs(a.MaxProcs, log)
	setTimerSlack(a.TimerSlack, log)
	if o.Stdout != nil {
		sink := host.NewJSONSink(o.Stdout)
		cs, err := AgentTo(a, sink, sink.VectorWriter(), log)
		if err != nil {
			return err
		}
		if a.Effector.Enabled {
			log.Warn("effector off: it answers requests on the bus, and observations go to standard output")
		}
		return RunSensor(ctx, cs, nil, log)
	}
	conn, publish, err := SensorBus(ctx, o.Bus, "vigil agent", log)
	if err != nil {
		return err
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
	r, err := deliver.NewAgentRun(a, publish, sendCV, log)
	if err != nil {
		conn.Close()
		return err
	}
	cs := append(agentComponents(r), AgentControl(r.Agent(), r.HostID(), conn, log))
	busURL := o.Bus.URL
	if busURL == "" {
		busURL = config.DefaultBusURL
	}
	eff, err := Effector(a, conn, busURL, 0, nil, log)
	if err != nil {
		conn.Close()
		return err
	}
	if eff != nil {
		cs = append(cs, *eff)
	}
	return RunSensor(ctx, cs, conn, log)
}

// setMaxProcs sets how many threads may run the agent process's Go code
// at once (agent.max_procs; 0 leaves the runtime's choice).
func setMaxProcs(n int, log *slog.Logger) {
	if n <= 0 {
		return
	}
	was := runtime.GOMAXPROCS(n)
	log.Debug("agent threads set", "max_procs", n, "was", was)
}

// setTimerSlack sets the agent process's timer slack (agent.timer_slack):
// a refusal (without CAP_SYS_NICE) is logged, and the agent runs on.
func setTimerSlack(d time.Duration, log *slog.Logger) {
	if d <= 0 {
		return
	}
	n, err := timerslack.Set(d)
	switch {
	case errors.Is(err, timerslack.ErrUnsupported):
		log.Debug("timer slack not set", "err", err)
	case err != nil:
		log.Warn("the agent's timer slack is not set on every thread; it runs on", "timer_slack", d, "threads_set", n, "err", err)
	default:
		log.Debug("timer slack set", "timer_slack", d, "threads", n)
	}
}

// Delivery after a network sensor stopped: what a live capture had in
// hand, or all of a capture file's records (within this bound).
const (
	LiveDrain = 2 * time.Second
	FileDrain = 30 * time.Second
)

// RunNetsensor runs the network sensor of a netsensor section (validated)
// over src until ctx ends or the capture file does; fromFile says src is
// a file (whose records are all delivered before it returns, within
// FileDrain).
func RunNetsensor(ctx context.Context, sec config.NetSensor, src netsensor.Source, fromFile bool, o SensorOptions) error {
	log := o.Logger
	cfg, err := netsensor.OptionsFrom(sec)
	if err != nil {
		return err
	}
	if !fromFile {
		log.Info("netsensor capturing", "id", cfg.ID)
	}
	if o.Stdout != nil {
		return RunSensor(ctx, []Component{Netsensor(cfg, src, host.NewJSONSink(o.Stdout).Write, log)}, nil, log)
	}
	conn, publish, err := SensorBus(ctx, o.Bus, "vigil netsensor "+cfg.ID, log)
	if err != nil {
		return err
	}
	if sec.SpoolDir == "" {
		sec.SpoolDir = filepath.Join(config.DefaultDataDir, "netsensor-spool")
	}
	drain := LiveDrain
	if fromFile {
		drain = FileDrain
	}
	cs, sensor, err := NetsensorToBus(cfg, src, sec, publish, drain, log)
	if err != nil {
		conn.Close()
		return err
	}
	cs = append(cs, SensorControl("network sensor "+cfg.ID, cfg.ID, sensor.ApplyControl, conn, log))
	return RunSensor(ctx, cs, conn, log)
}

// SensorBus connects a sensor to the bus of its section, retrying until
// the bus is there, and returns what publishes its records (see
// makeStreams: a sensor may start before any monitor).
func SensorBus(ctx context.Context, bc config.BusClient, client string, log *slog.Logger) (*bus.Conn, deliver.Publisher, error) {
	opts, err := ClientOptions(bc, client, DefaultIdentity(bus.SensorIdentityFile))
	if err != nil {
		return nil, nil, err
	}
	opts.Logger, opts.RetryOnFailedConnect = log, true
	conn, err := bus.Connect(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return conn, makeStreams(conn, conn.PublishPackedEvents), nil
}

// Publisher connects to the bus of bc at once (no retry) and returns what
// publishes events and what closes the connection: for a one-off
// publisher such as vigil ingest.
func Publisher(ctx context.Context, bc config.BusClient, client string, log *slog.Logger) (func(context.Context, []event.Event) (int, error), func(), error) {
	opts, err := ClientOptions(bc, client, DefaultIdentity(bus.SensorIdentityFile))
	if err != nil {
		return nil, nil, err
	}
	opts.Logger = log
	conn, err := bus.Connect(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return makeStreams(conn, conn.PublishEvents), conn.Close, nil
}

// makeStreams wraps publish: when no stream takes the records yet, it
// makes the streams once, if this identity may (a sensor identity may
// not: its records wait, in the spool, for a monitor to make them), and
// publishes what is left.
func makeStreams[T any](conn *bus.Conn, publish func(context.Context, []T) (int, error)) func(context.Context, []T) (int, error) {
	var tried atomic.Bool
	return func(ctx context.Context, recs []T) (int, error) {
		n, err := publish(ctx, recs)
		if err == nil || !bus.IsNoStream(err) || !conn.MayMakeStreams() || tried.Swap(true) {
			return n, err
		}
		if serr := conn.EnsureStreams(ctx, bus.StreamLimits{}); serr != nil {
			return n, fmt.Errorf("%w (making the streams: %v)", err, serr)
		}
		m, err := publish(ctx, recs[n:])
		return n + m, err
	}
}
