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
// server's process when known; otherwise a server on this machine (busURL
// on a loopback address) is found by its listening port when a request
// comes. reg, when set, receives its counters.
func Effector(a config.Agent, conn *bus.Conn, busURL string, busPID int, reg prometheus.Registerer, log *slog.Logger) (*Component, error) {
	if !a.Effector.Enabled {
		return nil, nil
	}
	hostID, _ := host.IdentityFrom(a)
	o := effector.Options{Host: hostID, Proc: a.Proc, Config: a.Effector, Logger: log, Registerer: reg}
	if busPID > 0 {
		o.ProtectPIDs = []int{busPID}
	} else {
		o.BusPort = localPort(busURL)
	}
	e, err := effector.New(o)
	if err != nil {
		return nil, err
	}
	return &Component{Name: "effector", Run: func(ctx context.Context) error { return e.Serve(ctx, conn.NC) }}, nil
}

// localPort is the port of the first server of busURL when it is on a
// loopback address, else 0.
func localPort(busURL string) int {
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
		return 4222
	}
	return port
}
