// Package control is the receiver of configuration requests (seed 002
// section 3.5: "the resolver can also submit runtime configuration
// requests to the analysis engines"; section 3.2: monitors accept them
// only from those allowed to ask). It answers the requests of
// internal/controlmsg on one subject: a monitor's own
// (bus.CtlListenSubject: vigil.ctl.<monitor>.<sender>, the sender taken
// from the subject), applying them to its engines through
// engine.Sensitiser (Engines), or a host agent's (bus.AgentCtlSubject),
// applying them to its sampler. Each request is decoded strictly, checked
// against who asks (Authorised: a monitor with a parent or peers takes
// only its parent's requests, and its peers' sensitising ones), applied
// for a bounded time, logged, audited, and acknowledged with what was
// done or why it was refused. Every change ends by itself when the clock
// of the part that applied it reaches its end; a revert request ends it
// sooner.
package control

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/bus"
	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/controlmsg"
	"github.com/vigil-ids/vigil/internal/engine"
)

// DefaultRemember is how long a request's reply is kept to answer a
// repeat of its id.
const DefaultRemember = 10 * time.Minute

// maxRemembered bounds the replies kept.
const maxRemembered = 10_000

// Options configure a receiver.
type Options struct {
	// Name is the monitor (or agent) the receiver answers for: replies
	// carry it.
	Name string
	// Subject is where it answers (bus.CtlListenSubject of a monitor,
	// bus.AgentCtlSubject of a host agent).
	Subject string
	// SenderPrefix, when set (bus.PrefixCtl), says the sender of a
	// request is the last token of the subject it came on
	// (bus.CtlSubject: <prefix><target>.<sender>), as the bus routed it:
	// on a bus with mutual TLS only the sender's certificate may publish
	// there. The request's monitor must name the same sender. Empty: the
	// sender is the request's monitor (a host agent's subject).
	SenderPrefix string
	// Apply carries out a checked request whose asker was accepted, at
	// now, and says what was done (Status and Detail, Expires for a
	// change; the receiver fills the rest).
	Apply func(req controlmsg.Request, now time.Time) controlmsg.Reply
	// Authorise says whether the request of sender is taken (nil: every
	// monitor the bus lets publish on the subject, which is monitors'
	// identities only). An error refuses the request, its message the
	// reason (a *NotAuthorisedError is worded for this receiver); such
	// refusals are counted apart (Count(Unauthorised)).
	Authorise func(sender string, req controlmsg.Request) error
	// Audit, when set, receives every request answered (applied,
	// refused, failed; not a repeat answered again): who asked what and
	// what came of it.
	Audit func(Audit)
	// Remember is how long a reply answers a repeated id (default
	// DefaultRemember).
	Remember time.Duration
	Clock    clock.Clock
	Logger   *slog.Logger
}

// Unauthorised is the count (Receiver.Count) of requests refused because
// of who sent them; they are counted refused too.
const Unauthorised = "unauthorised"

// Audit is one answered request, as Options.Audit receives it.
type Audit struct {
	// At is when it was answered, by the receiver's clock.
	At time.Time
	// Sender is who asked (the subject's sender token, or the request's
	// monitor).
	Sender string
	// Request is what was asked (what could be read of it when it was
	// malformed: Reply.Detail says why it was refused).
	Request controlmsg.Request
	// Reply is the answer sent.
	Reply controlmsg.Reply
	// Unauthorised: refused because of who sent it.
	Unauthorised bool
}

// Engines is the Apply of a monitor named monitor whose engines are
// names: with runs fn on the engine of that name while the monitor does
// not run it (between its Handle and Tick calls), and says whether it
// ran (false once the engine has stopped).
func Engines(monitor string, names []string, with func(name string, fn func(engine.Engine)) bool) func(controlmsg.Request, time.Time) controlmsg.Reply {
	return func(req controlmsg.Request, now time.Time) controlmsg.Reply {
		if !slices.Contains(names, req.Target) {
			list := "none"
			if len(names) > 0 {
				list = strings.Join(names, ", ")
			}
			return refused("no engine %q in monitor %s (engines: %s)", req.Target, monitor, list)
		}
		var rep controlmsg.Reply
		ran := with(req.Target, func(e engine.Engine) { rep = applyEngine(e, req, now) })
		if !ran {
			return controlmsg.Reply{Status: controlmsg.StatusFailed, Detail: fmt.Sprintf("engine %s has stopped", req.Target)}
		}
		return rep
	}
}

// applyEngine carries a request out on engine e.
func applyEngine(e engine.Engine, req controlmsg.Request, now time.Time) controlmsg.Reply {
	s, ok := e.(engine.Sensitiser)
	if !ok {
		return refused("engine %s takes no configuration requests", req.Target)
	}
	if req.Action == controlmsg.ActionRevert {
		id := req.Parameters["request"]
		if detail, ok := s.Desensitise(id, now); ok {
			return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: "engine " + req.Target + ": " + detail}
		}
		return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: fmt.Sprintf("engine %s: request %s is not in force (it expired, was reverted, or was never applied)", req.Target, id)}
	}
	until := now.Add(time.Duration(req.Duration))
	detail, err := s.Sensitise(engine.Change{ID: req.ID, By: req.Monitor, Action: req.Action, Params: req.Parameters, Until: until}, now)
	if err != nil {
		return refused("engine %s: %v", req.Target, err)
	}
	return controlmsg.Reply{Status: controlmsg.StatusDone, Detail: "engine " + req.Target + ": " + detail, Expires: until}
}

// Receiver applies configuration requests to a monitor's engines.
type Receiver struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	replies map[string]remembered
	order   []string // ids in the order remembered
	tally   map[string]uint64
}

type remembered struct {
	data []byte
	at   time.Time
}

// New makes a receiver.
func New(o Options) *Receiver {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Remember <= 0 {
		o.Remember = DefaultRemember
	}
	return &Receiver{o: o, log: o.Logger.With("component", "control"), replies: map[string]remembered{}, tally: map[string]uint64{}}
}

// Subject is where the receiver answers.
func (r *Receiver) Subject() string { return r.o.Subject }

// Count is how many requests ended with status ("done", "refused",
// "failed", "repeat").
func (r *Receiver) Count(status string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tally[status]
}

// Subscribe answers requests on the receiver's subject over nc until stop
// is called. An identity that may not subscribe there is an error.
func (r *Receiver) Subscribe(nc *nats.Conn) (stop func(), err error) {
	subject := r.Subject()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		reply := r.Handle(m.Subject, m.Data)
		if m.Reply == "" {
			r.log.Warn("control request without a reply subject; answer dropped", "subject", m.Subject)
			return
		}
		if err := m.Respond(reply); err != nil {
			r.log.Warn("control reply not sent", "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("control: subscribing to %s: %w", subject, err)
	}
	// A refused subscription is answered before the flush.
	if nc.IsConnected() {
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			r.log.Warn("control: the bus did not confirm the subscription", "subject", subject, "err", err)
		} else if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
			_ = sub.Unsubscribe()
			return nil, fmt.Errorf("control: this bus identity may not subscribe to %s (docs/BUS.md): %w", subject, err)
		}
	}
	r.log.Info("control requests taken", "subject", subject)
	return func() { _ = sub.Unsubscribe() }, nil
}

// Handle answers one request that came on subject and returns the reply
// to send.
func (r *Receiver) Handle(subject string, data []byte) []byte {
	now := r.o.Clock.Now()
	sender, fromSubject := "", false
	if r.o.SenderPrefix != "" {
		s, ok := bus.SubjectSender(subject, r.o.SenderPrefix)
		if !ok {
			return r.malformed(controlmsg.Request{}, "", fmt.Errorf("control request on %q: the subject names no sender (want %s<target>.<sender>)", clip(subject), r.o.SenderPrefix), len(data), now)
		}
		sender, fromSubject = s, true
	}
	req, err := controlmsg.DecodeRequest(data)
	if err != nil {
		return r.malformed(req, sender, err, len(data), now)
	}
	if !fromSubject {
		sender = req.Monitor
	}
	if out, ok := r.repeat(req.ID, now); ok {
		r.count("repeat")
		r.log.Info("control request repeated; first reply sent again", "id", req.ID, "by", sender)
		return out
	}
	rep, unauthorised := r.apply(sender, fromSubject, req, now)
	rep.Version, rep.ID, rep.Monitor = controlmsg.Version, req.ID, r.o.Name
	out := controlmsg.Encode(rep)
	r.remember(req.ID, out, now)
	r.count(rep.Status)
	if unauthorised {
		r.count(Unauthorised)
	}
	attrs := []any{"id", req.ID, "by", sender, "engine", req.Target, "action", req.Action, "parameters", req.Parameters, "status", rep.Status}
	if d := time.Duration(req.Duration); d > 0 {
		attrs = append(attrs, "duration", d)
	}
	if req.Reason != "" {
		attrs = append(attrs, "why", req.Reason)
	}
	switch rep.Status {
	case controlmsg.StatusDone:
		if !rep.Expires.IsZero() {
			attrs = append(attrs, "expires", rep.Expires)
		}
		r.log.Info("control request applied", append(attrs, "detail", rep.Detail)...)
	case controlmsg.StatusRefused:
		r.log.Warn("control request refused", append(attrs, "reason", rep.Detail)...)
	default:
		r.log.Error("control request failed", append(attrs, "reason", rep.Detail)...)
	}
	r.audit(Audit{At: now, Sender: sender, Request: req, Reply: rep, Unauthorised: unauthorised})
	return out
}

// malformed refuses a request that could not be read.
func (r *Receiver) malformed(req controlmsg.Request, sender string, err error, size int, now time.Time) []byte {
	rep := controlmsg.Reply{Version: controlmsg.Version, ID: clipID(req.ID), Monitor: r.o.Name, Status: controlmsg.StatusRefused, Detail: err.Error()}
	if rep.ID == "" {
		rep.ID = "-"
	}
	r.count(controlmsg.StatusRefused)
	r.log.Warn("control request refused", "by", sender, "reason", rep.Detail, "bytes", size)
	// Only what is known good of it is audited: the sender (a subject
	// token) and why.
	r.audit(Audit{At: now, Sender: sender, Request: controlmsg.Request{ID: rep.ID}, Reply: rep})
	return controlmsg.Encode(rep)
}

func (r *Receiver) audit(a Audit) {
	if r.o.Audit != nil {
		r.o.Audit(a)
	}
}

func refused(format string, args ...any) controlmsg.Reply {
	return controlmsg.Reply{Status: controlmsg.StatusRefused, Detail: fmt.Sprintf(format, args...)}
}

// apply carries a checked request of sender out; unauthorised says it
// was refused because of who sent it.
func (r *Receiver) apply(sender string, fromSubject bool, req controlmsg.Request, now time.Time) (rep controlmsg.Reply, unauthorised bool) {
	if fromSubject && bus.Token(req.Monitor) != sender {
		return refused("vigil.ctl: the request names monitor %q but was sent by %s", req.Monitor, sender), true
	}
	if r.o.Authorise != nil {
		if err := r.o.Authorise(sender, req); err != nil {
			var na *NotAuthorisedError
			if errors.As(err, &na) {
				return refused("vigil.ctl: %s", na.For(r.o.Name)), true
			}
			return refused("requests of monitor %q are not taken here: %v", sender, err), true
		}
	}
	return r.o.Apply(req, now), false
}

// repeat returns the reply to an id seen within Remember.
func (r *Receiver) repeat(id string, now time.Time) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.replies[id]
	if !ok || now.Sub(m.at) > r.o.Remember {
		return nil, false
	}
	return m.data, true
}

func (r *Receiver) remember(id string, data []byte, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Forget what is too old, and the oldest beyond the bound.
	drop := 0
	for drop < len(r.order) {
		m, ok := r.replies[r.order[drop]]
		if ok && now.Sub(m.at) <= r.o.Remember && len(r.order)-drop < maxRemembered {
			break
		}
		delete(r.replies, r.order[drop])
		drop++
	}
	r.order = r.order[drop:]
	if _, ok := r.replies[id]; !ok {
		r.order = append(r.order, id)
	}
	r.replies[id] = remembered{data: data, at: now}
}

func (r *Receiver) count(status string) {
	r.mu.Lock()
	r.tally[status]++
	r.mu.Unlock()
}

// clip bounds a string quoted in a reply.
func clip(s string) string {
	if len(s) > 128 {
		s = s[:128] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func clipID(s string) string {
	if len(s) > controlmsg.MaxID {
		s = s[:controlmsg.MaxID]
	}
	s = strings.ToValidUTF8(s, "?")
	if controlmsg.Text("id", s, controlmsg.MaxID, false) != nil {
		return "-"
	}
	return s
}
