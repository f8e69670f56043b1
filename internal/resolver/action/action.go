// Package action defines the contract between a monitor's decision unit
// and its response methods (seed 002 section 3.5: "response methods in
// the resource object"), and the registry through which method kinds make
// themselves available to resource objects.
//
// A resource object lists configured methods under `responses:` (a kind,
// an instance name, the kind's settings); the resolver's policies name
// instances. The decision unit decides; a method only plans, acts, and
// undoes what it did. Safety (protected addresses and processes, rate
// budgets, monitor mode, spoof awareness) is the decision unit's job and,
// for actions on hosts, the effector's as well; a method must still
// refuse a request it cannot carry out safely (a malformed address, a
// process whose start time differs).
package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"time"

	"github.com/vigil-ids/vigil/internal/clock"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
)

// ErrRefused is what Execute's error wraps when the method, or the host
// acting for it, refused the request and touched nothing (a process
// whose start time or executable differs, a protected process): the
// decision is recorded refused, not failed.
var ErrRefused = errors.New("refused")

// Process names one process so that a reused pid is never hit: the pid,
// its start time in clock ticks since boot (field 22 of /proc/PID/stat),
// and its executable.
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	Exe   string `json:"exe,omitempty"`
}

// Conn names one TCP connection by its two ends, as the host holding it
// sees them.
type Conn struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
}

// Subject is what an action is about. Methods use the parts they need and
// refuse a request that lacks them.
type Subject struct {
	// Host is the host id the action concerns (the agent that carries a
	// process action, the host a report is about).
	Host string `json:"host,omitempty"`
	// Addr is an address to block, probe or name.
	Addr netip.Addr `json:"addr,omitzero"`
	// Prefix is a range to block (a single address is Addr).
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Conn is a connection to end.
	Conn *Conn `json:"conn,omitempty"`
	// Process is a process to signal.
	Process *Process `json:"process,omitempty"`
	// Unit is a systemd unit to restart.
	Unit string `json:"unit,omitempty"`
}

// Request is one decided action: a configured method applied to a subject
// because of some reports.
type Request struct {
	// ID is the decision's id (unique, sortable by time).
	ID string `json:"id"`
	// Policy is the policy that decided; empty for an operator's own
	// request (`vigil respond block`).
	Policy string `json:"policy,omitempty"`
	// Method is the configured method instance's name, Kind its kind.
	Method string `json:"method"`
	Kind   string `json:"kind"`
	// Key identifies the action for idempotence: while an action with the
	// same key is active, the same decision acts once.
	Key     string  `json:"key"`
	Subject Subject `json:"subject"`
	// Reports are the reports that triggered the decision (most recent
	// last); methods that notify send them.
	Reports []event.Report `json:"reports,omitempty"`
	// Reason is one line saying why the decision was made.
	Reason string `json:"reason,omitempty"`
	// Time is when the decision was made; Expires when the action should
	// be undone by itself (zero: it does not expire).
	Time    time.Time `json:"time"`
	Expires time.Time `json:"expires,omitzero"`
}

// Outcome is what a method did.
type Outcome struct {
	// Detail is one line a person can read ("added 192.0.2.7 to
	// vigil/block4 for 10m0s").
	Detail string `json:"detail"`
	// Expires is when what was done ends by itself (an nftables element
	// timeout), when the method knows.
	Expires time.Time `json:"expires,omitzero"`
	// Undo is what Undo needs to reverse the action (opaque to everyone
	// but the method; stored with the decision so it survives restarts).
	Undo json.RawMessage `json:"undo,omitempty"`
}

// Method is one configured response method.
//
// The decision unit calls Plan for every decision, in monitor mode and in
// dry runs too; Execute only when the policy and the monitor enforce.
// Plan and Execute may be called from several goroutines at once. Execute
// honours ctx (a deadline bounds every action) and returns an error that
// says what failed; it must be idempotent for one Request.Key (a second
// Execute of an active action changes nothing, or only extends it).
// A method never logs secrets (webhook keys, passwords).
type Method interface {
	// Plan says, without touching anything, what Execute would do with
	// req, or why it would refuse it (an error: the subject lacks what
	// the method needs, an address outside what it may act on).
	Plan(req Request) (string, error)
	// Execute carries the action out.
	Execute(ctx context.Context, req Request) (Outcome, error)
}

// Undoer is a Method whose actions can be reversed (a block lifted, an
// alert resolved). Undo receives the request and the outcome Execute
// returned, possibly after a restart; undoing what is already gone is not
// an error.
type Undoer interface {
	Method
	Undo(ctx context.Context, req Request, out Outcome) error
}

// Reconciler is a Method that keeps state outside the monitor (nftables
// elements, say). At start the decision unit hands it the actions the
// store says are active; Reconcile removes whatever it finds that is not
// among them (orphans left by a crash) and restores what is missing, and
// says what it changed.
type Reconciler interface {
	Method
	Reconcile(ctx context.Context, active []Active) (string, error)
}

// Active is an action the store holds as in force.
type Active struct {
	Request Request
	Outcome Outcome
}

// Closer is a Method holding resources (connections, open files) that the
// monitor releases at stop.
type Closer interface {
	Close() error
}

// Deps are what a monitor gives a method it builds.
type Deps struct {
	// Name is the instance's name from the resource object.
	Name string
	// Monitor is the name of the monitor the method runs in.
	Monitor string
	Clock   clock.Clock
	Logger  *slog.Logger
	// Resolve makes a path from the resource object absolute.
	Resolve func(string) string
	// Request sends data on subject over the monitor's bus connection and
	// returns the reply's data (NATS request/reply), within ctx; nil when
	// the monitor has no bus connection. Methods that ask another part
	// to act (a host agent's effector) use it.
	Request func(ctx context.Context, subject string, data []byte) ([]byte, error)
	// Children are the monitors one layer down (monitor.children, else
	// the monitors this one subscribes to), for methods that address
	// them (a sensitise method's to: children-not-reporting).
	Children []string
}

// Factory makes methods of one kind.
type Factory struct {
	// Kind is the name resource objects use ("webhook", "nftables", ...).
	Kind string
	// Needs says which subject parts the kind acts on, for messages and
	// for checking a policy's subject against its methods at load time:
	// any of "host", "addr", "conn", "process", "unit"; empty: none (a
	// notification).
	Needs []string
	// NeedsFor, when set, says which subject parts a method with these
	// (validated) settings acts on, for a kind whose settings choose
	// (a process method's signal acts on a process, its restart on a
	// unit); Needs is then what the kind may act on at most.
	NeedsFor func(settings config.Settings) []string
	// Undoable says whether the kind's methods implement Undoer.
	Undoable bool
	// UndoableFor, when set, says whether a method with these (validated)
	// settings implements Undoer, for a kind whose settings choose (a
	// process method's STOP is undone by a CONT, its KILL cannot be);
	// Undoable is then ignored.
	UndoableFor func(settings config.Settings) bool
	// NewSettings returns the kind's settings with their defaults.
	NewSettings func() config.Settings
	// New builds a method from validated settings.
	New func(ctx context.Context, settings config.Settings, deps Deps) (Method, error)
}

// Registry holds the method kinds a binary offers. It implements
// config.Kinds, so the resource-object loader can decode and validate each
// method's section.
type Registry struct {
	kinds map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Factory{}} }

// Register adds a kind. Registering a kind twice, or one without a name,
// settings or constructor, is an error.
func (r *Registry) Register(f Factory) error {
	if f.Kind == "" || f.NewSettings == nil || f.New == nil {
		return fmt.Errorf("action: incomplete factory for kind %q", f.Kind)
	}
	if _, dup := r.kinds[f.Kind]; dup {
		return fmt.Errorf("action: kind %q registered twice", f.Kind)
	}
	r.kinds[f.Kind] = f
	return nil
}

// Factory returns the factory of kind.
func (r *Registry) Factory(kind string) (Factory, bool) {
	f, ok := r.kinds[kind]
	return f, ok
}

// NewSettings implements config.Kinds.
func (r *Registry) NewSettings(kind string) (config.Settings, bool) {
	f, ok := r.kinds[kind]
	if !ok {
		return nil, false
	}
	return f.NewSettings(), true
}

// Kinds implements config.Kinds.
func (r *Registry) Kinds() []string {
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Needs implements config.NeedsKinds: the subject parts a method of kind
// with settings acts on (nil for an unknown kind; settings nil: the
// kind's defaults).
func (r *Registry) Needs(kind string, settings config.Settings) []string {
	f, ok := r.kinds[kind]
	if !ok {
		return nil
	}
	if f.NeedsFor == nil {
		return f.Needs
	}
	if settings == nil {
		settings = f.NewSettings()
	}
	return f.NeedsFor(settings)
}

// Undoable says whether a method of kind with settings implements
// Undoer (false for an unknown kind; settings nil: the kind's defaults).
func (r *Registry) Undoable(kind string, settings config.Settings) bool {
	f, ok := r.kinds[kind]
	if !ok {
		return false
	}
	if f.UndoableFor == nil {
		return f.Undoable
	}
	if settings == nil {
		settings = f.NewSettings()
	}
	return f.UndoableFor(settings)
}

// Build makes the method a resource object's spec describes.
func (r *Registry) Build(ctx context.Context, spec config.PluginSpec, deps Deps) (Method, error) {
	f, ok := r.kinds[spec.Kind]
	if !ok {
		return nil, fmt.Errorf("response %s: unknown kind %q (known: %v)", spec.Name, spec.Kind, r.Kinds())
	}
	settings := spec.Settings
	if settings == nil {
		settings = f.NewSettings()
	}
	deps.Name = spec.Name
	m, err := f.New(ctx, settings, deps)
	if err != nil {
		return nil, fmt.Errorf("response %s (%s): %w", spec.Name, spec.Kind, err)
	}
	return m, nil
}

var _ config.NeedsKinds = (*Registry)(nil)
