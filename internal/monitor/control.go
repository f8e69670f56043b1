package monitor

import (
	"sort"
	"sync"
	"time"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/control"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
)

// startControl answers configuration requests on the monitor's control
// subjects (vigil.ctl.<name>.<sender>, internal/control): they reach the
// engines between their calls, like the live views. A monitor declaring
// a parent or peers takes only its parent's requests and its peers'
// sensitising ones (and its own resolver's); a standalone monitor takes
// every monitor's the bus lets through. Every answered request is
// audited as a CONTROL.REQUEST event of the monitor's own pipeline. A
// bus identity that may not take them leaves the monitor running without
// them, and says so.
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
	self := m.cfg.Monitor.Name
	parent, peers := m.cfg.Monitor.Parent, m.cfg.Monitor.Peers
	a := &auditor{m: m, src: m.newSource("control", nil)}
	m.control = control.New(control.Options{
		Name:         self,
		Subject:      bus.CtlListenSubject(self),
		SenderPrefix: bus.PrefixCtl,
		Apply:        control.Engines(self, names, with),
		Authorise: func(sender string, req controlmsg.Request) error {
			if sender == bus.Token(self) {
				return nil // its own resolver's sensitise method
			}
			return control.Authorised(sender, parent, peers, controlmsg.Sensitising(req.Action))
		},
		Audit:  a.record,
		Clock:  m.o.Clock,
		Logger: m.log,
	})
	stop, err := m.control.Subscribe(m.o.Conn.NC)
	if err != nil {
		m.log.Warn("configuration requests are not taken", "err", err)
		return
	}
	m.stopControl = func() {
		stop()
		a.close()
	}
}

// Control is the monitor's receiver of configuration requests (nil
// without a bus).
func (m *Monitor) Control() *control.Receiver { return m.control }

// auditor puts each answered configuration request into the monitor's
// own pipeline as a CONTROL.REQUEST event: stored, shown and matched by
// the engines like any other, so an operator sees who asked what, when,
// and what came of it. It stops before the pipeline closes.
type auditor struct {
	m   *Monitor
	src *source

	mu     sync.Mutex
	closed bool
}

func (a *auditor) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}

func (a *auditor) record(au control.Audit) {
	ev := controlEvent(a.m.cfg.Monitor.Name, a.m.o.IDs.NewID(au.At), au)
	if err := ev.Validate(); err != nil {
		a.m.log.Warn("control audit event not valid; not recorded", "id", au.Request.ID, "err", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.m.push(item{ev: &ev, src: a.src})
}

// controlEvent is the CONTROL.REQUEST event of an answered request.
func controlEvent(monitor, id string, au control.Audit) event.Event {
	req, rep := au.Request, au.Reply
	attrs := map[string]any{
		"request": rep.ID, "sender": au.Sender, "status": rep.Status, "detail": rep.Detail,
		"authorised": !au.Unauthorised,
	}
	for k, v := range map[string]string{"target": req.Target, "action": req.Action, "reason": req.Reason} {
		if v != "" {
			attrs[k] = v
		}
	}
	if len(req.Parameters) > 0 {
		ps := make([]string, 0, len(req.Parameters))
		for k, v := range req.Parameters {
			ps = append(ps, k+"="+v)
		}
		sort.Strings(ps)
		attrs["parameters"] = ps
	}
	if d := time.Duration(req.Duration); d > 0 {
		attrs["duration"] = d.String()
	}
	if !rep.Expires.IsZero() {
		attrs["expires"] = rep.Expires.UTC().Format(time.RFC3339Nano)
	}
	return event.Event{ID: id, Time: au.At, Type: event.TypeControlRequest, Host: monitor, Source: monitor, Attrs: attrs}
}
