// Package sensitise is the response method kind "sensitise" (seed 002
// section 3.5: the resolver "can also submit runtime configuration
// requests to the analysis engines ... an intrusion report produced by a
// service monitor in one domain could be propagated to an enterprise
// monitor, which in turn sensitizes service monitors in other domains to
// the same activity"). It asks a monitor, this one or another, over the
// bus (bus.CtlSubject, sent as this monitor; the messages of
// internal/controlmsg), to make one
// of its engines more sensitive for a while: turn on a signature engine's
// group of standby rules, or lower a profile engine's alarm threshold for
// the decision's subject; or it asks the host agent of the decision's host
// (bus.AgentCtlSubject) to sample /proc more often for a while. The part
// asked decides whether to act (internal/control) and ends the change by
// itself when its time is up; Undo asks it to end the change sooner.
package sensitise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/resolver/action"
)

// Kind is the kind resource objects name.
const Kind = "sensitise"

// ToChildrenNotReporting is the one value of a method's `to`: ask every
// child of this monitor that has not reported what the decision is about.
const ToChildrenNotReporting = "children-not-reporting"

// Defaults.
const (
	DefaultDuration = 10 * time.Minute
	DefaultTimeout  = 5 * time.Second
)

// ErrRefused is what Execute's error wraps when the receiving monitor
// refused (an unknown engine, group or subject, an asker it does not
// accept): nothing was changed. It wraps action.ErrRefused, so the
// decision is recorded refused.
var ErrRefused error = refusal{}

type refusal struct{}

func (refusal) Error() string { return "refused by the monitor" }
func (refusal) Unwrap() error { return action.ErrRefused }

// Settings are a sensitise method's section of a resource object.
type Settings struct {
	// Monitor is the monitor asked ("": the one the method runs in); for
	// raise-sampling, none: the decision's host's agent is asked.
	Monitor string `yaml:"monitor"`
	// To, instead of Monitor, names the monitors asked by their relation
	// to this one: ToChildrenNotReporting asks each child (monitor.
	// children, else the monitors subscribed to) that the decision's
	// reports do not name as having reported (an enterprise sensitises
	// the domains an attack has not reached yet).
	To string `yaml:"to"`
	// Sensor is the network sensor asked, by its id, for watch-address.
	Sensor string `yaml:"sensor"`
	// Engine is the engine of that monitor to sensitise, by its name
	// (none for raise-sampling).
	Engine string `yaml:"engine"`
	// Action is controlmsg.ActionEnableGroup,
	// controlmsg.ActionLowerThreshold, controlmsg.ActionRaiseSampling or
	// controlmsg.ActionWatchAddress.
	Action string `yaml:"action"`
	// Parameters are the action's: "group"; or "factor", optionally
	// "class", and "subject" (default: the decision's subject, its
	// address or else its host); or "interval"; or "address" (default:
	// the decision's address or prefix).
	Parameters map[string]string `yaml:"parameters"`
	// Duration is how long the change lasts when the decision does not
	// expire; a decision that expires lasts until then.
	Duration time.Duration `yaml:"duration"`
	// Timeout bounds the wait for the reply.
	Timeout time.Duration `yaml:"timeout"`
}

// Validate implements config.Settings.
func (s *Settings) Validate(p *config.Problems, path string) {
	agent := s.Action == controlmsg.ActionRaiseSampling
	sensor := s.Action == controlmsg.ActionWatchAddress
	if err := controlmsg.Text("monitor", s.Monitor, controlmsg.MaxName, false); err != nil {
		p.Addf(config.Join(path, "monitor"), "%v", err)
	} else if agent && s.Monitor != "" {
		p.Addf(config.Join(path, "monitor"), "%q asks the agent of the decision's host, not a monitor", s.Action)
	} else if sensor && s.Monitor != "" {
		p.Addf(config.Join(path, "monitor"), "%q asks a network sensor (sensor:), not a monitor", s.Action)
	}
	switch {
	case s.To == "":
	case s.To != ToChildrenNotReporting:
		p.Addf(config.Join(path, "to"), "%q: want %q (or leave to out and name the monitor)", s.To, ToChildrenNotReporting)
	case s.Monitor != "":
		p.Addf(config.Join(path, "to"), "to names the monitors asked: leave monitor out")
	case agent || sensor:
		p.Addf(config.Join(path, "to"), "%q asks an agent or a sensor, not monitors: to does not apply", s.Action)
	}
	switch {
	case sensor:
		if err := controlmsg.Text("sensor", s.Sensor, controlmsg.MaxName, true); err != nil {
			p.Addf(config.Join(path, "sensor"), "%v: the id of the network sensor asked", err)
		}
	case s.Sensor != "":
		p.Addf(config.Join(path, "sensor"), "only %q asks a network sensor", controlmsg.ActionWatchAddress)
	}
	if sensor {
		if s.Engine != "" && s.Engine != controlmsg.TargetNetsensor {
			p.Addf(config.Join(path, "engine"), "%q: a network sensor watches the address, not an engine", s.Engine)
		}
	} else if agent {
		if s.Engine != "" && s.Engine != controlmsg.TargetSampler {
			p.Addf(config.Join(path, "engine"), "%q: an agent's sampling is raised, not an engine's", s.Engine)
		}
	} else if err := controlmsg.Text("engine", s.Engine, controlmsg.MaxName, true); err != nil {
		p.Addf(config.Join(path, "engine"), "%v: the name of an engine of the monitor asked", err)
	}
	required := map[string]string{
		controlmsg.ActionEnableGroup:    "group",
		controlmsg.ActionLowerThreshold: "factor",
		controlmsg.ActionRaiseSampling:  "interval",
		controlmsg.ActionWatchAddress:   "", // the decision's address, or a parameter
	}
	if need, ok := required[s.Action]; ok {
		if err := controlmsg.CheckParameters(s.Action, s.Parameters, false); err != nil {
			p.Addf(config.Join(path, "parameters"), "%v", err)
		}
		if _, ok := s.Parameters[need]; !ok && need != "" {
			p.Addf(config.Join(path, "parameters"), "action %q needs parameter %q", s.Action, need)
		}
	} else {
		p.Addf(config.Join(path, "action"), "%q: want %q, %q, %q or %q", s.Action, controlmsg.ActionEnableGroup, controlmsg.ActionLowerThreshold, controlmsg.ActionRaiseSampling, controlmsg.ActionWatchAddress)
	}
	if err := controlmsg.CheckDuration(s.Duration); err != nil {
		p.Addf(config.Join(path, "duration"), "%v", err)
	}
	if s.Timeout < 100*time.Millisecond || s.Timeout > time.Minute {
		p.Addf(config.Join(path, "timeout"), "must be between 100ms and 1m")
	}
}

// Register adds the kind "sensitise" to r.
func Register(r *action.Registry) error {
	return r.Register(action.Factory{
		Kind:  Kind,
		Needs: []string{"host"},
		// Raised sampling goes to the agent of the decision's host; a
		// lowered threshold takes the decision's address or host,
		// whichever it has (the subject may also be a setting); a group
		// acts on no subject.
		NeedsFor: func(settings config.Settings) []string {
			if s, ok := settings.(*Settings); ok && s.Action == controlmsg.ActionRaiseSampling {
				return []string{"host"}
			}
			if s, ok := settings.(*Settings); ok && s.Action == controlmsg.ActionWatchAddress && s.Parameters["address"] == "" {
				return []string{"addr"}
			}
			return nil
		},
		Undoable:    true,
		NewSettings: func() config.Settings { return &Settings{Duration: DefaultDuration, Timeout: DefaultTimeout} },
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
			if s.To == ToChildrenNotReporting && len(deps.Children) == 0 {
				return nil, fmt.Errorf("to: %s: monitor %s has no children (monitor.children) and subscribes to no monitor", ToChildrenNotReporting, deps.Monitor)
			}
			m := &Method{s: *s, deps: deps, monitor: s.Monitor}
			if m.monitor == "" {
				m.monitor = deps.Monitor
			}
			return m, nil
		},
	})
}

// Method asks a monitor to sensitise one of its engines, or a host agent
// to sample faster.
type Method struct {
	s       Settings
	deps    action.Deps
	monitor string
}

// peer is who is asked: a monitor, the agent of a host, or a network
// sensor (which answer on the sensors' control subject of their id).
type peer struct {
	Agent  bool   `json:"agent,omitempty"`
	Sensor bool   `json:"sensor,omitempty"`
	Name   string `json:"name"`
}

// subject is where p is asked by monitor sender: a monitor's control
// subject names the sender (the bus lets only its certificate send as
// it), a host agent's or sensor's does not.
func (p peer) subject(sender string) string {
	if p.Agent || p.Sensor {
		return bus.AgentCtlSubject(p.Name)
	}
	return bus.CtlSubject(p.Name, sender)
}

func (p peer) String() string {
	switch {
	case p.Agent:
		return "the agent of host " + p.Name
	case p.Sensor:
		return "network sensor " + p.Name
	}
	return "monitor " + p.Name
}

// undo is what Undo needs: whom to ask to end which request (Peer, or
// for a request sent to several monitors, Peers: those that applied it).
type undo struct {
	Peer    peer   `json:"peer"`
	Peers   []peer `json:"peers,omitempty"`
	Target  string `json:"target"`
	Request string `json:"request"`
}

// asked returns the monitors a request to the children not reporting
// goes to: this monitor's children, in their order, less those the
// decision's reports name as having reported. A report names the
// monitor that made it, and the monitors whose reports a threshold
// counted (its values, when its spread or distinct field is monitor).
func (m *Method) asked(req action.Request) (ask, reported []string) {
	seen := map[string]bool{}
	for _, r := range req.Reports {
		seen[r.Monitor] = true
		if r.Attrs["spread"] != "monitor" && r.Attrs["distinct"] != "monitor" {
			continue
		}
		switch vs := r.Attrs["values"].(type) {
		case []string:
			for _, v := range vs {
				seen[v] = true
			}
		case []any:
			for _, v := range vs {
				if s, ok := v.(string); ok {
					seen[s] = true
				}
			}
		}
	}
	for _, c := range m.deps.Children {
		if c == m.deps.Monitor {
			continue
		}
		if seen[c] {
			reported = append(reported, c)
		} else {
			ask = append(ask, c)
		}
	}
	return ask, reported
}

// request builds what is asked of whom for req, or says what req lacks.
func (m *Method) request(req action.Request) (controlmsg.Request, peer, error) {
	params := maps.Clone(m.s.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	to, target := peer{Name: m.monitor}, m.s.Engine
	switch m.s.Action {
	case controlmsg.ActionLowerThreshold:
		if params["subject"] == "" {
			switch sub := req.Subject; {
			case sub.Addr.IsValid():
				params["subject"] = sub.Addr.Unmap().String()
			case sub.Host != "":
				params["subject"] = sub.Host
			default:
				return controlmsg.Request{}, to, errors.New("the decision names no address or host whose threshold to lower (and the method's parameters no subject)")
			}
		}
	case controlmsg.ActionRaiseSampling:
		if req.Subject.Host == "" {
			return controlmsg.Request{}, to, errors.New("the decision names no host whose agent to ask")
		}
		if err := controlmsg.Text("host", req.Subject.Host, controlmsg.MaxName, true); err != nil {
			return controlmsg.Request{}, to, err
		}
		to, target = peer{Agent: true, Name: req.Subject.Host}, controlmsg.TargetSampler
	case controlmsg.ActionWatchAddress:
		if params["address"] == "" {
			switch sub := req.Subject; {
			case sub.Addr.IsValid():
				params["address"] = sub.Addr.Unmap().String()
			case sub.Prefix.IsValid():
				params["address"] = sub.Prefix.Masked().String()
			default:
				return controlmsg.Request{}, to, errors.New("the decision names no address to watch (and the method's parameters none)")
			}
		}
		to, target = peer{Sensor: true, Name: m.s.Sensor}, controlmsg.TargetNetsensor
	}
	d := m.s.Duration
	if !req.Expires.IsZero() {
		d = req.Expires.Sub(req.Time)
	}
	id := req.ID
	if id == "" {
		id = req.Key
	}
	r := controlmsg.Request{Version: controlmsg.Version, ID: id, Monitor: m.deps.Monitor, Target: target,
		Action: m.s.Action, Parameters: params, Duration: controlmsg.Duration(d), Reason: clip(req.Reason)}
	if err := r.Check(); err != nil {
		return r, to, err
	}
	return r, to, nil
}

func clip(s string) string {
	if len(s) > controlmsg.MaxDetail {
		return s[:controlmsg.MaxDetail]
	}
	return s
}

// Plan says what would be asked of whom.
func (m *Method) Plan(req action.Request) (string, error) {
	r, to, err := m.request(req)
	if err != nil {
		return "", err
	}
	if m.s.To != ToChildrenNotReporting {
		return describe(to, r), nil
	}
	ask, reported := m.asked(req)
	if len(ask) == 0 {
		return fmt.Sprintf("ask nobody: every child has reported it (%s)", strings.Join(reported, ", ")), nil
	}
	parts := make([]string, 0, len(ask))
	for _, c := range ask {
		parts = append(parts, describe(peer{Name: c}, r))
	}
	return strings.Join(parts, "; "), nil
}

func describe(to peer, r controlmsg.Request) string {
	what := ""
	switch r.Action {
	case controlmsg.ActionEnableGroup:
		what = fmt.Sprintf("turn on the standby rules of group %q in engine %s", r.Parameters["group"], r.Target)
	case controlmsg.ActionLowerThreshold:
		in := "every class"
		if c := r.Parameters["class"]; c != "" {
			in = "class " + c
		}
		what = fmt.Sprintf("lower the alarm threshold of subject %q to %s of itself in engine %s (%s)", r.Parameters["subject"], r.Parameters["factor"], r.Target, in)
	case controlmsg.ActionRaiseSampling:
		what = fmt.Sprintf("sample /proc every %s", r.Parameters["interval"])
	case controlmsg.ActionWatchAddress:
		what = fmt.Sprintf("keep every record to or from %s, beyond its record budget", r.Parameters["address"])
	}
	return fmt.Sprintf("ask %s (%s) to %s for %v", to, to.subject(r.Monitor), what, time.Duration(r.Duration))
}

// ask sends r to p and reads the reply.
func (m *Method) ask(ctx context.Context, to peer, r controlmsg.Request) (controlmsg.Reply, error) {
	if m.deps.Request == nil {
		return controlmsg.Reply{}, errors.New("this monitor has no bus connection to reach monitors and agents")
	}
	ctx, cancel := context.WithTimeout(ctx, m.s.Timeout)
	defer cancel()
	subject := to.subject(m.deps.Monitor)
	data, err := m.deps.Request(ctx, subject, controlmsg.Encode(r))
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return controlmsg.Reply{}, fmt.Errorf("nothing answers on %s (%s is not running, or this monitor's identity may not publish there): %w", subject, to, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return controlmsg.Reply{}, fmt.Errorf("%s did not answer on %s within %v: %w", to, subject, m.s.Timeout, err)
	case err != nil:
		return controlmsg.Reply{}, fmt.Errorf("asking %s on %s: %w", to, subject, err)
	}
	rep, err := controlmsg.DecodeReply(data)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", to, err)
	}
	if rep.ID != r.ID {
		return rep, fmt.Errorf("%s answered request %q, not %q", to, rep.ID, r.ID)
	}
	return rep, nil
}

// Execute sends the request and reads the reply. A refusal is an error
// wrapping ErrRefused.
func (m *Method) Execute(ctx context.Context, req action.Request) (action.Outcome, error) {
	r, to, err := m.request(req)
	if err != nil {
		return action.Outcome{}, err
	}
	if m.s.To == ToChildrenNotReporting {
		return m.executeAll(ctx, req, r)
	}
	rep, err := m.ask(ctx, to, r)
	if err != nil {
		return action.Outcome{}, err
	}
	switch rep.Status {
	case controlmsg.StatusDone:
		u, _ := json.Marshal(undo{Peer: to, Target: r.Target, Request: r.ID})
		return action.Outcome{Detail: to.String() + ": " + rep.Detail, Expires: rep.Expires, Undo: u}, nil
	case controlmsg.StatusRefused:
		return action.Outcome{}, fmt.Errorf("%s: %w: %s", to, ErrRefused, rep.Detail)
	default:
		return action.Outcome{}, fmt.Errorf("%s: the change failed: %s", to, rep.Detail)
	}
}

// executeAll sends r to every child not reporting, and says what each
// did. It fails only when none applied it (refused, when every one that
// answered refused).
func (m *Method) executeAll(ctx context.Context, req action.Request, r controlmsg.Request) (action.Outcome, error) {
	ask, reported := m.asked(req)
	if len(ask) == 0 {
		u, _ := json.Marshal(undo{Target: r.Target, Request: r.ID})
		return action.Outcome{Detail: fmt.Sprintf("nobody asked: every child has reported it (%s)", strings.Join(reported, ", ")), Undo: u}, nil
	}
	var done []peer
	var details, failures []string
	var expires time.Time
	refused := true
	for _, c := range ask {
		to := peer{Name: c}
		rep, err := m.ask(ctx, to, r)
		switch {
		case err != nil:
			failures, refused = append(failures, err.Error()), false
		case rep.Status == controlmsg.StatusDone:
			done = append(done, to)
			details = append(details, to.String()+": "+rep.Detail)
			if rep.Expires.After(expires) {
				expires = rep.Expires
			}
		case rep.Status == controlmsg.StatusRefused:
			failures = append(failures, fmt.Sprintf("%s refused: %s", to, rep.Detail))
		default:
			failures, refused = append(failures, fmt.Sprintf("%s: the change failed: %s", to, rep.Detail)), false
		}
	}
	if len(done) == 0 {
		if refused {
			return action.Outcome{}, fmt.Errorf("%w: %s", ErrRefused, strings.Join(failures, "; "))
		}
		return action.Outcome{}, fmt.Errorf("no child applied it: %s", strings.Join(failures, "; "))
	}
	detail := strings.Join(details, "; ")
	if len(failures) > 0 {
		detail += "; not applied: " + strings.Join(failures, "; ")
	}
	u, _ := json.Marshal(undo{Peers: done, Target: r.Target, Request: r.ID})
	return action.Outcome{Detail: clip(detail), Expires: expires, Undo: u}, nil
}

// Undo asks the monitor or agent (or each monitor) to end the change now.
// A change that has ended already is not an error.
func (m *Method) Undo(ctx context.Context, req action.Request, out action.Outcome) error {
	var u undo
	if err := json.Unmarshal(out.Undo, &u); err != nil || u.Target == "" || u.Request == "" || (u.Peer.Name == "" && u.Peers == nil && m.s.To != ToChildrenNotReporting) {
		return fmt.Errorf("the outcome holds no request to revert (%q)", out.Undo)
	}
	r := controlmsg.Request{Version: controlmsg.Version, ID: "revert:" + u.Request, Monitor: m.deps.Monitor, Target: u.Target,
		Action: controlmsg.ActionRevert, Parameters: map[string]string{"request": u.Request}}
	if err := r.Check(); err != nil {
		return err
	}
	// Whoever the change was asked of, even if the settings have named
	// another since.
	peers := u.Peers
	if u.Peer.Name != "" {
		peers = append([]peer{u.Peer}, peers...)
	}
	var errs []error
	for _, p := range peers {
		rep, err := m.ask(ctx, p, r)
		switch {
		case err != nil:
			errs = append(errs, err)
		case rep.Status != controlmsg.StatusDone:
			errs = append(errs, fmt.Errorf("%s: reverting request %s: %s: %s", p, u.Request, rep.Status, rep.Detail))
		}
	}
	return errors.Join(errs...)
}

var _ action.Undoer = (*Method)(nil)
