package node

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/sensor/host"
	"github.com/vigil-ids/vigil/internal/sensor/host/effector"
)

// Effector is the agent's effector answering its host's effect requests
// on conn, or nil when the section leaves it off. busPID is the bus
// server's process when known (0: looked for through busURL, a local
// server's listening port). reg, when set, receives its counters.
func Effector(a config.Agent, conn *bus.Conn, busURL string, busPID int, reg prometheus.Registerer, log *slog.Logger) (*Component, error) {
	if !a.Effector.Enabled {
		return nil, nil
	}
	hostID, _ := host.IdentityFrom(a)
	if busPID == 0 {
		busPID = localServerPID(a.Proc, busURL, log)
	}
	e, err := effector.New(effector.Options{
		Host: hostID, Proc: a.Proc, Config: a.Effector, ProtectPIDs: []int{busPID}, Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	return &Component{Name: "effector", Run: func(ctx context.Context) error { return e.Serve(ctx, conn.NC) }}, nil
}

// localServerPID finds the process of a bus server on this machine from
// the first server of busURL, 0 when it is not on a loopback address or
// cannot be found.
func localServerPID(proc, busURL string, log *slog.Logger) int {
	first, _, _ := strings.Cut(busURL, ",")
	u, err := url.Parse(first)
	if err != nil || u.Hostname() == "" {
		return 0
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		port = 4222
	}
	pid, err := effector.ListenerPID(proc, port)
	if err != nil {
		log.Warn("effector: the local bus server's process not found; it is protected by name only", "port", port, "err", err)
		return 0
	}
	return pid
}
