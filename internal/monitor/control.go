package monitor

import (
	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/control"
	"github.com/vigil-ids/vigil/internal/engine"
)

// startControl answers configuration requests on the monitor's control
// subject (internal/control): they reach the engines between their calls,
// like the live views. A bus identity that may not take them leaves the
// monitor running without them, and says so.
func (m *Monitor) startControl() {
	if m.o.Conn == nil {
		return
	}
	names := make([]string, 0, len(m.runners))
	byName := make(map[string]*runner, len(m.runners))
	for _, r := range m.runners {
		names = append(names, r.name)
		byName[r.name] = r
	}
	with := func(name string, fn func(engine.Engine)) bool {
		r := byName[name]
		return r != nil && r.inspect(fn)
	}
	m.control = control.New(control.Options{
		Name:    m.cfg.Monitor.Name,
		Subject: bus.CtlSubject(m.cfg.Monitor.Name),
		Apply:   control.Engines(m.cfg.Monitor.Name, names, with),
		Clock:   m.o.Clock,
		Logger:  m.log,
	})
	stop, err := m.control.Subscribe(m.o.Conn.NC)
	if err != nil {
		m.log.Warn("configuration requests are not taken", "err", err)
		return
	}
	m.stopControl = stop
}

// Control is the monitor's receiver of configuration requests (nil
// without a bus).
func (m *Monitor) Control() *control.Receiver { return m.control }
