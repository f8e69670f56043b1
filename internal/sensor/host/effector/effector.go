// Package effector is the host agent's effector (seed 000 section 5: the
// self-healing effectors): it answers a monitor's requests, on the bus
// subject of its own host (bus.EffectSubject), to signal a process or to
// restart a service, and says in its reply what it did or why it refused.
//
// The effector trusts no request: a process is named by pid, start time
// (field 22 of /proc/PID/stat) and executable, and is signalled only when
// all three still hold (through a pidfd, so a pid reused between the check
// and the signal is not hit); pid 1, the agent itself, its parent, the bus
// server it uses, kernel threads and the configured names and executables
// are refused whatever the request says; each kind of action has a rate
// budget; a repeated request id is answered with the first reply without
// acting again. Every request, acted on or refused, is logged and counted.
// Who may ask is the bus's decision: only a monitor's identity may publish
// on the effect subjects (internal/bus).
package effector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/effectmsg"
)

// Options configure an effector.
type Options struct {
	// Host is the host id the effector acts for; requests for another
	// host are refused.
	Host string
	// Proc is the root of the proc filesystem (default /proc). Signals go
	// to the pids of this process's own pid namespace.
	Proc string
	// Config is the agent's effector section (validated).
	Config config.AgentEffector
	// ProtectPIDs are further processes never signalled: the bus server's
	// process, when the agent knows it.
	ProtectPIDs []int
	// BusPort is the TCP port of a bus server on this machine (0: none):
	// the process listening there is never signalled. It is looked up
	// when a request comes (the server may start after the agent).
	BusPort int
	// Units restarts systemd units; nil: the system D-Bus (SystemdUnits)
	// when the section turns units on.
	Units  UnitRestarter
	Clock  clock.Clock
	Logger *slog.Logger
	// Registerer, when set, receives the effector's counters.
	Registerer prometheus.Registerer
}

// UnitRestarter restarts a systemd unit and says what it did.
type UnitRestarter interface {
	RestartUnit(ctx context.Context, unit string) (string, error)
}

// Effector carries out effector requests.
type Effector struct {
	o         Options
	log       *slog.Logger
	protected map[int]string
	names     map[string]bool
	exes      map[string]bool
	units     map[string]bool
	budget    *budgets
	seen      *memory
	counts    *prometheus.CounterVec

	mu    sync.Mutex
	tally map[string]uint64

	busMu    sync.Mutex
	busPID   int
	busStart uint64
}

// MaxConcurrent bounds the requests carried out at once.
const MaxConcurrent = 8

// New makes an effector. Its own pid and its parent's are protected.
func New(o Options) (*Effector, error) {
	if o.Host == "" {
		return nil, fmt.Errorf("effector: no host id")
	}
	if o.Proc == "" {
		o.Proc = config.DefaultProc
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Config.Remember <= 0 {
		o.Config.Remember = config.DefaultEffectorRemember
	}
	e := &Effector{
		o:   o,
		log: o.Logger.With("component", "effector"),
		protected: map[int]string{
			1:            "pid 1 (init)",
			os.Getpid():  "the agent's own process",
			os.Getppid(): "the agent's parent",
		},
		names:  set(o.Config.ProtectedNames),
		exes:   set(o.Config.ProtectedExes),
		units:  map[string]bool{},
		budget: newBudgets(o.Config.Budgets),
		seen:   newMemory(o.Config.Remember),
		counts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_effector_requests_total",
			Help: "Effector requests by action and outcome (done, refused, failed, repeat, malformed).",
		}, []string{"action", "outcome"}),
		tally: map[string]uint64{},
	}
	for _, pid := range o.ProtectPIDs {
		if _, ok := e.protected[pid]; pid > 0 && !ok {
			e.protected[pid] = "the bus server's process"
		}
	}
	for _, u := range o.Config.ProtectedUnits {
		e.units[unitName(u)] = true
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(e.counts); err != nil {
			return nil, fmt.Errorf("effector: metrics: %w", err)
		}
	}
	if e.o.Units == nil && o.Config.Units {
		e.o.Units = SystemdUnits{}
	}
	return e, nil
}

// busServer is the pid of the bus server listening on BusPort, 0 when
// there is none; found once, checked by its start time after.
func (e *Effector) busServer() int {
	if e.o.BusPort == 0 {
		return 0
	}
	e.busMu.Lock()
	defer e.busMu.Unlock()
	if e.busPID > 0 {
		if st, err := readStat(e.o.Proc, e.busPID); err == nil && st.Start == e.busStart {
			return e.busPID
		}
	}
	e.busPID, e.busStart = 0, 0
	pid, err := ListenerPID(e.o.Proc, e.o.BusPort)
	if err != nil {
		return 0
	}
	if st, err := readStat(e.o.Proc, pid); err == nil {
		e.busPID, e.busStart = pid, st.Start
	}
	return pid
}

func set(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, v := range l {
		m[v] = true
	}
	return m
}

// Subject is the bus subject the effector answers on.
func (e *Effector) Subject() string { return bus.EffectSubject(e.o.Host) }

// Count is how many requests of action ended with outcome ("done",
// "refused", "failed", "repeat", "malformed").
func (e *Effector) Count(action, outcome string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tally[action+"/"+outcome]
}

func (e *Effector) count(action, outcome string) {
	// A malformed request's action is anything: the labels stay few.
	if action != effectmsg.ActionSignal && action != effectmsg.ActionRestart {
		action = "unknown"
	}
	e.counts.WithLabelValues(action, outcome).Inc()
	e.mu.Lock()
	e.tally[action+"/"+outcome]++
	e.mu.Unlock()
}

// Serve answers requests on the effector's subject over nc until ctx
// ends; requests in hand then are ended with it.
func (e *Effector) Serve(ctx context.Context, nc *nats.Conn) error {
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(e.Subject(), msgs)
	if err != nil {
		return fmt.Errorf("effector: subscribing to %s: %w", e.Subject(), err)
	}
	// The server answers a subscription it refuses before the flush's
	// answer: an identity that may not take these requests is an error
	// now, not an effector that never hears anything. A bus not reached
	// yet (an agent started before it) gets the subscription once it is.
	if !nc.IsConnected() {
		e.log.Warn("effector: the bus is not reached yet; requests are taken once it is", "subject", e.Subject())
	} else if err := nc.FlushTimeout(5 * time.Second); err != nil {
		e.log.Warn("effector: the bus did not confirm the subscription", "subject", e.Subject(), "err", err)
	} else if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+e.Subject()+`"`) {
		sub.Unsubscribe()
		return fmt.Errorf("effector: this bus identity may not subscribe to %s (docs/BUS.md): %w", e.Subject(), err)
	}
	e.log.Info("effector answering", "subject", e.Subject(), "host", e.o.Host)
	var wg sync.WaitGroup
	defer func() {
		e.mu.Lock()
		tally := make(map[string]uint64, len(e.tally))
		for k, v := range e.tally {
			tally[k] = v
		}
		e.mu.Unlock()
		e.log.Info("effector stopped", "requests", tally)
	}()
	defer wg.Wait()
	defer sub.Unsubscribe()
	slots := make(chan struct{}, MaxConcurrent)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				reply := e.Handle(ctx, m.Data)
				if m.Reply == "" {
					e.log.Warn("effector request without a reply subject; answer dropped")
					return
				}
				if err := m.Respond(reply); err != nil {
					e.log.Warn("effector reply not sent", "err", err)
				}
			}()
		}
	}
}

// Handle carries out one request and returns the reply to send.
func (e *Effector) Handle(ctx context.Context, data []byte) []byte {
	req, err := effectmsg.DecodeRequest(data)
	if err != nil {
		// What could be read of the request names it in the reply.
		rep := effectmsg.Reply{Version: effectmsg.Version, ID: clip(req.ID), Host: e.o.Host, Status: effectmsg.StatusRefused, Reason: err.Error()}
		e.count(req.Action, "malformed")
		e.log.Warn("effector request refused", "status", rep.Status, "reason", rep.Reason, "bytes", len(data))
		return effectmsg.Encode(rep)
	}
	first, wait := e.seen.claim(req.ID, e.o.Clock.Now())
	if !first {
		reply, ok := wait(ctx)
		if !ok {
			return effectmsg.Encode(effectmsg.Reply{Version: effectmsg.Version, ID: req.ID, Host: e.o.Host, Status: effectmsg.StatusFailed,
				Reason: "the first request with this id was still being carried out when the effector stopped"})
		}
		e.count(req.Action, "repeat")
		e.log.Info("effector request repeated; first reply sent again", "id", req.ID, "monitor", req.Monitor, "action", req.Action)
		return reply
	}
	rep := e.act(ctx, req)
	rep.Version, rep.ID, rep.Host = effectmsg.Version, req.ID, e.o.Host
	out := effectmsg.Encode(rep)
	e.seen.done(req.ID, out, e.o.Clock.Now())
	e.count(req.Action, rep.Status)
	attrs := []any{"id", req.ID, "monitor", req.Monitor, "action", req.Action, "status", rep.Status}
	if req.Process != nil {
		attrs = append(attrs, "signal", req.Signal, "pid", req.Process.PID, "start", req.Process.Start, "exe", req.Process.Exe)
	}
	if req.Service != "" {
		attrs = append(attrs, "service", req.Service)
	}
	if req.Reason != "" {
		attrs = append(attrs, "why", req.Reason)
	}
	switch rep.Status {
	case effectmsg.StatusDone:
		e.log.Info("effector acted", append(attrs, "detail", rep.Detail)...)
	case effectmsg.StatusRefused:
		e.log.Warn("effector request refused", append(attrs, "reason", rep.Reason)...)
	default:
		e.log.Error("effector action failed", append(attrs, "reason", rep.Reason)...)
	}
	return out
}

func clip(s string) string {
	if len(s) > effectmsg.MaxID {
		s = s[:effectmsg.MaxID]
	}
	return strings.ToValidUTF8(s, "?")
}

func refused(format string, args ...any) effectmsg.Reply {
	return effectmsg.Reply{Status: effectmsg.StatusRefused, Reason: fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) effectmsg.Reply {
	return effectmsg.Reply{Status: effectmsg.StatusFailed, Reason: fmt.Sprintf(format, args...)}
}

func (e *Effector) act(ctx context.Context, req effectmsg.Request) effectmsg.Reply {
	if req.Host != e.o.Host {
		return refused("request for host %q reached the effector of host %q", req.Host, e.o.Host)
	}
	switch req.Action {
	case effectmsg.ActionSignal:
		return e.signal(req.Signal, *req.Process)
	case effectmsg.ActionRestart:
		return e.restart(ctx, req.Service)
	}
	return refused("action %q", req.Action)
}

// budgets bound the actions of each kind in a sliding window.
type budgets struct {
	mu    sync.Mutex
	conf  map[string]config.Budget
	taken map[string][]time.Time
}

func newBudgets(conf map[string]config.Budget) *budgets {
	return &budgets{conf: conf, taken: map[string][]time.Time{}}
}

// take spends one action of kind at now, or says why it may not.
func (b *budgets) take(kind string, now time.Time) error {
	c, ok := b.conf[kind]
	if !ok {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.taken[kind]
	i := 0
	for i < len(t) && !t[i].After(now.Add(-c.Per)) {
		i++
	}
	t = t[i:]
	if len(t) >= c.Count {
		b.taken[kind] = t
		return fmt.Errorf("budget of %d %s actions per %v spent (the next is allowed in %v)", c.Count, kind, c.Per, t[0].Add(c.Per).Sub(now).Round(time.Millisecond))
	}
	b.taken[kind] = append(t, now)
	return nil
}

// memory remembers request ids and their replies for a while.
type memory struct {
	mu    sync.Mutex
	keep  time.Duration
	byID  map[string]*seen
	order []string
}

type seen struct {
	at    time.Time
	reply []byte
	ready chan struct{}
}

// maxRemembered bounds the ids remembered, whatever their age.
const maxRemembered = 1 << 16

func newMemory(keep time.Duration) *memory {
	return &memory{keep: keep, byID: map[string]*seen{}}
}

// claim says whether id is new (the caller acts and calls done); for an id
// already seen it returns what waits for the first reply.
func (m *memory) claim(id string, now time.Time) (bool, func(context.Context) ([]byte, bool)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The oldest go first, once answered, when expired or beyond the bound.
	for len(m.order) > 0 {
		old := m.byID[m.order[0]]
		if old.reply == nil || (now.Sub(old.at) < m.keep && len(m.order) <= maxRemembered) {
			break
		}
		delete(m.byID, m.order[0])
		m.order = m.order[1:]
	}
	if s, ok := m.byID[id]; ok {
		return false, func(ctx context.Context) ([]byte, bool) {
			select {
			case <-s.ready:
				return s.reply, true
			case <-ctx.Done():
				return nil, false
			}
		}
	}
	m.byID[id] = &seen{at: now, ready: make(chan struct{})}
	m.order = append(m.order, id)
	return true, nil
}

func (m *memory) done(id string, reply []byte, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byID[id]; ok {
		s.reply, s.at = reply, now
		close(s.ready)
	}
}
