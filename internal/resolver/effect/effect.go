// Package effect is the response method kind "process": it asks a host
// agent's effector, over the bus (bus.EffectSubject, request/reply in the
// messages of internal/effectmsg), to signal a process or to restart a
// service, and turns the effector's reply into an outcome or an error that
// names the refusal. The effector decides for itself whether to act (its
// protections, budgets and checks of the process); this method only says
// what it would ask, and asks.
package effect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/effectmsg"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Kind is the kind resource objects name.
const Kind = "process"

// Restart is the action that restarts a service rather than signal a
// process.
const Restart = "restart"

// DefaultTimeout bounds a request when the settings give no timeout.
const DefaultTimeout = 15 * time.Second

// ErrRefused is what Execute's error wraps when the effector refused (a
// protected process, a start time or executable that differs, its budget
// spent): nothing was touched. It wraps action.ErrRefused, so the
// decision is recorded refused.
var ErrRefused error = refusal{}

type refusal struct{}

func (refusal) Error() string { return "refused by the effector" }
func (refusal) Unwrap() error { return action.ErrRefused }

// Settings are a process method's section of a resource object.
type Settings struct {
	// Action is a signal (TERM, KILL, STOP, CONT) sent to the subject's
	// process, or "restart": restart the subject's unit (a service with a
	// restart command at the agent, or a systemd unit).
	Action string `yaml:"action"`
	// Timeout bounds the wait for the effector's reply.
	Timeout time.Duration `yaml:"timeout"`
}

// Validate implements config.Settings.
func (s *Settings) Validate(p *config.Problems, path string) {
	if !validAction(s.Action) {
		p.Addf(config.Join(path, "action"), "%q: want a signal (TERM, KILL, STOP, CONT) or %q", s.Action, Restart)
	}
	if s.Timeout < 100*time.Millisecond || s.Timeout > 10*time.Minute {
		p.Addf(config.Join(path, "timeout"), "must be between 100ms and 10m")
	}
}

func validAction(a string) bool {
	if a == Restart {
		return true
	}
	for _, s := range effectmsg.Signals {
		if a == s {
			return true
		}
	}
	return false
}

// Stop is the signal whose action can be undone: a process stopped is
// let run again by a CONT.
const Stop = "STOP"

// Register adds the kind "process" to r.
func Register(r *action.Registry) error {
	return r.Register(action.Factory{
		Kind:  Kind,
		Needs: []string{"host", "process", "unit"},
		// A STOP is undone by a CONT; the other actions cannot be.
		UndoableFor: func(settings config.Settings) bool {
			s, ok := settings.(*Settings)
			return ok && s.Action == Stop
		},
		// A signal acts on a host's process, a restart on its unit.
		NeedsFor: func(settings config.Settings) []string {
			if s, ok := settings.(*Settings); ok && s.Action == Restart {
				return []string{"host", "unit"}
			}
			return []string{"host", "process"}
		},
		NewSettings: func() config.Settings { return &Settings{Action: "TERM", Timeout: DefaultTimeout} },
		New: func(_ context.Context, settings config.Settings, deps action.Deps) (action.Method, error) {
			s, ok := settings.(*Settings)
			if !ok {
				return nil, fmt.Errorf("settings of kind %s are %T", Kind, settings)
			}
			var p config.Problems
			s.Validate(&p, "")
			if p.Len() > 0 {
				return nil, fmt.Errorf("settings: %v", p.List())
			}
			if deps.Clock == nil {
				deps.Clock = clock.Real{}
			}
			if deps.Logger == nil {
				deps.Logger = slog.Default()
			}
			m := &Method{s: *s, deps: deps}
			if s.Action == Stop {
				return &Stopper{Method: m}, nil
			}
			return m, nil
		},
	})
}

// Method asks hosts' effectors to act.
type Method struct {
	s    Settings
	deps action.Deps
}

// request builds what the effector is asked for req, or says what req
// lacks.
func (m *Method) request(req action.Request) (effectmsg.Request, error) {
	sub := req.Subject
	// The effector answers an id it has seen (within agent.effector.
	// remember) with its first reply, acting once: the key as the id makes
	// the same action executed twice act once (action.Method's contract).
	// A decision meant to act again on the same subject needs another key.
	id := req.Key
	if id == "" || m.s.Action == Stop {
		// A STOP can be undone: a process stopped, let run again and
		// stopped by a later decision about it (the same key) is stopped
		// again. Stopping a stopped process changes nothing, so the
		// decision's id keeps Execute idempotent all the same.
		id = req.ID
	}
	r := effectmsg.Request{Version: effectmsg.Version, ID: id, Host: sub.Host, Monitor: m.deps.Monitor, Reason: clip(req.Reason)}
	if sub.Host == "" {
		return r, errors.New("the subject names no host: a process action goes to the effector of one host")
	}
	if m.s.Action == Restart {
		if sub.Unit == "" {
			return r, errors.New("the subject names no unit to restart")
		}
		r.Action, r.Service = effectmsg.ActionRestart, sub.Unit
	} else {
		p := sub.Process
		if p == nil {
			return r, errors.New("the subject names no process to signal")
		}
		r.Action, r.Signal = effectmsg.ActionSignal, m.s.Action
		r.Process = &effectmsg.Process{PID: p.PID, Start: p.Start, Exe: p.Exe}
	}
	if err := r.Check(); err != nil {
		return r, err
	}
	return r, nil
}

func clip(s string) string {
	if len(s) > effectmsg.MaxReason {
		return s[:effectmsg.MaxReason]
	}
	return s
}

// Plan says what would be asked of which host.
func (m *Method) Plan(req action.Request) (string, error) {
	r, err := m.request(req)
	if err != nil {
		return "", err
	}
	return describe(r), nil
}

func describe(r effectmsg.Request) string {
	if r.Action == effectmsg.ActionRestart {
		return fmt.Sprintf("ask the effector of host %s (%s) to restart %s", r.Host, bus.EffectSubject(r.Host), r.Service)
	}
	return fmt.Sprintf("ask the effector of host %s (%s) to send %s to pid %d (%s, %s, started at tick %d)",
		r.Host, bus.EffectSubject(r.Host), r.Signal, r.Process.PID, filepath.Base(r.Process.Exe), r.Process.Exe, r.Process.Start)
}

// Execute sends the request and reads the reply. A refusal is an error
// wrapping ErrRefused; an action that failed at the host, an error saying
// why.
func (m *Method) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	r, err := m.request(req)
	if err != nil {
		return action.Outcome{}, err
	}
	rep, err := m.ask(ctx, r)
	if err != nil {
		return action.Outcome{}, err
	}
	switch rep.Status {
	case effectmsg.StatusDone:
		return action.Outcome{Detail: "host " + r.Host + ": " + rep.Detail}, nil
	case effectmsg.StatusRefused:
		return action.Outcome{}, fmt.Errorf("host %s: %w: %s", r.Host, ErrRefused, rep.Reason)
	default:
		return action.Outcome{}, fmt.Errorf("host %s: the action failed: %s", r.Host, rep.Reason)
	}
}

// ask sends r to its host's effector and returns the reply, checked to
// be the one to r.
func (m *Method) ask(ctx context.Context, r effectmsg.Request) (effectmsg.Reply, error) {
	if m.deps.Request == nil {
		return effectmsg.Reply{}, errors.New("this monitor has no bus connection to reach effectors")
	}
	ctx, cancel := context.WithTimeout(ctx, m.s.Timeout)
	defer cancel()
	subject := bus.EffectSubject(r.Host)
	data, err := m.deps.Request(ctx, subject, effectmsg.Encode(r))
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return effectmsg.Reply{}, fmt.Errorf("no effector answers on %s (the host's agent is not running, its effector is off, or this monitor's identity may not publish there): %w", subject, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return effectmsg.Reply{}, fmt.Errorf("the effector on %s did not answer within %v: %w", subject, m.s.Timeout, err)
	case err != nil:
		return effectmsg.Reply{}, fmt.Errorf("asking the effector on %s: %w", subject, err)
	}
	rep, err := effectmsg.DecodeReply(data)
	if err != nil {
		return effectmsg.Reply{}, fmt.Errorf("the effector on %s: %w", subject, err)
	}
	if rep.ID != r.ID || rep.Host != r.Host {
		return effectmsg.Reply{}, fmt.Errorf("the effector on %s answered for request %q of host %q, not %q of %q", subject, rep.ID, rep.Host, r.ID, r.Host)
	}
	return rep, nil
}

// Stopper is a process method whose action is STOP. Its Undo lets the
// process run again: it asks the same effector to send CONT to the same
// process, named by the same pid, start time and executable, which the
// effector checks as for any signal.
type Stopper struct {
	*Method
	seq atomic.Uint64
}

// Plan says what would be asked, and that an undo lets the process run
// again.
func (s *Stopper) Plan(req action.Request) (string, error) {
	plan, err := s.Method.Plan(req)
	if err != nil {
		return "", err
	}
	return plan + "; undone by a CONT to the same process", nil
}

// Undo sends CONT to the process the decision stopped. A process that is
// gone (it ended, or another process holds its pid now) has nothing left
// to continue: that is not an error. A refusal (the effector's budget
// spent) or a failure is, so the decision unit tries again.
func (s *Stopper) Undo(ctx context.Context, req action.Request, _ action.Outcome) error {
	r, err := s.request(req)
	if err != nil {
		return err
	}
	r.Signal = "CONT"
	// Each attempt has an id of its own: the effector answers a repeated
	// id with its first reply, and a CONT refused once (a budget spent)
	// must be asked again; a CONT sent twice changes nothing.
	r.ID = fmt.Sprintf("cont:%s:%d.%d", action.Clip(req.ID, 64), s.deps.Clock.Now().UnixNano(), s.seq.Add(1))
	r.Reason = clip("undo of decision " + req.ID + ": " + req.Reason)
	rep, err := s.ask(ctx, r)
	if err != nil {
		return err
	}
	switch {
	case rep.Status == effectmsg.StatusDone:
		return nil
	case rep.Gone:
		s.deps.Logger.Info("stopped process gone; nothing to continue", "decision", req.ID, "host", r.Host,
			"pid", r.Process.PID, "start", r.Process.Start, "exe", r.Process.Exe, "reason", rep.Reason)
		return nil
	case rep.Status == effectmsg.StatusRefused:
		return fmt.Errorf("host %s: CONT %w: %s", r.Host, ErrRefused, rep.Reason)
	default:
		return fmt.Errorf("host %s: CONT failed: %s", r.Host, rep.Reason)
	}
}

var (
	_ action.Method = (*Method)(nil)
	_ action.Undoer = (*Stopper)(nil)
)
