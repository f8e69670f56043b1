package node

import (
	"context"
	"log/slog"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/control"
	"github.com/vigil-ids/vigil/internal/sensor/host"
)

// AgentControl answers the configuration requests of the agent of host
// hostID on conn (bus.AgentCtlSubject: sample faster for a while,
// docs/AGENT.md) until stopped. An identity that may not take them
// leaves the agent sampling at its own interval, and says so.
func AgentControl(ag *host.Agent, hostID string, conn *bus.Conn, log *slog.Logger) Component {
	return Component{Name: "agent control", Run: func(ctx context.Context) error {
		rc := control.New(control.Options{Name: hostID, Subject: bus.AgentCtlSubject(hostID), Apply: ag.ApplyControl, Clock: clock.Real{}, Logger: log})
		stop, err := rc.Subscribe(conn.NC)
		if err != nil {
			log.Warn("configuration requests to the agent are not taken", "err", err)
			<-ctx.Done()
			return nil
		}
		<-ctx.Done()
		stop()
		return nil
	}}
}
