package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/control"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/sensor/host"
)

// AgentControl answers the configuration requests of the agent of host
// hostID on conn (bus.AgentCtlSubject: sample faster for a while,
// docs/AGENT.md) until stopped. An identity that may not take them
// leaves the agent sampling at its own interval, and says so.
func AgentControl(ag *host.Agent, hostID string, conn *bus.Conn, log *slog.Logger) Component {
	return SensorControl("agent", hostID, ag.ApplyControl, conn, log)
}

// SensorControl answers a sensor's configuration requests on conn
// (bus.AgentCtlSubject of its id: an agent's host id, a network sensor's
// id) with apply until stopped. An identity that may not take them
// leaves the sensor as configured, and says so.
func SensorControl(what, id string, apply func(controlmsg.Request, time.Time) controlmsg.Reply, conn *bus.Conn, log *slog.Logger) Component {
	return Component{Name: what + " control", Run: func(ctx context.Context) error {
		rc := control.New(control.Options{Name: id, Subject: bus.AgentCtlSubject(id), Apply: apply, Clock: clock.Real{}, Logger: log})
		stop, err := rc.Subscribe(conn.NC)
		if err != nil {
			log.Warn("configuration requests are not taken", "sensor", what, "err", err)
			<-ctx.Done()
			return nil
		}
		<-ctx.Done()
		stop()
		return nil
	}}
}
